package table

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// ReadCounts counts what a read of a table restricted to a set of keys
// (the writers' ReadKeys) read.
type ReadCounts struct {
	Files     int `json:"files"`      // live data files of the state read
	FilesRead int `json:"files_read"` // files opened: not pruned by partition or key statistics
	// RowGroups and RowGroupsSkipped count the row groups of the opened
	// files that were decoded, and those that their key statistics or
	// bloom filter ruled out.
	RowGroups        int `json:"row_groups"`
	RowGroupsSkipped int `json:"row_groups_skipped"`
	// KeysDecoded counts the stored rows whose key was decoded to find
	// the keys (those of the key pages read), and PagesSkipped the key
	// column pages of the row groups read that page pruning left out
	// (ScanCounts.Rows and PagesSkipped): a read of few keys decodes few
	// pages.
	KeysDecoded  int64 `json:"keys_decoded"`
	PagesSkipped int   `json:"pages_skipped"`
	Rows         int64 `json:"rows"` // rows returned
}

// Add adds what one file's read counted (ScanCounts) to c.
func (c *ReadCounts) Add(s ScanCounts) {
	c.FilesRead++
	c.RowGroups += s.RowGroups
	c.RowGroupsSkipped += s.Skipped
	c.KeysDecoded += s.Rows
	c.PagesSkipped += s.PagesSkipped
}

// Located says where the rows of a read by keys are stored (the writers'
// ReadKeysAt): State is the table state read (as table.Info.Snapshot: an
// Iceberg snapshot id, a Delta version), and Files the data files
// the rows came from, in the order of the rows, each with the file
// positions of its rows. A writer plans from them (ApplyLocated) only
// when the state its commit is built on is State.
type Located struct {
	State int64
	Files []LocatedFile
}

// LocatedFile is a data file of a Located read and the positions of its
// rows (increasing).
type LocatedFile struct {
	Path string
	Pos  []int64
}

// Locate is the Located of a read of state from the files paths, whose
// rows are at the positions pos (ReadFiles; pos[i] of paths[i]): the files
// without a row left out.
func Locate(state int64, paths []string, pos [][]int64) Located {
	at := Located{State: state}
	for i, p := range pos {
		if len(p) > 0 {
			at.Files = append(at.Files, LocatedFile{Path: paths[i], Pos: p})
		}
	}
	return at
}

// IndexKeys indexes the keys of a read by keys: every column of keys is a
// key column (one distinct non-null key per row). It returns the column
// names and the index.
func IndexKeys(keys arrow.RecordBatch) ([]string, *KeyIndex, error) {
	names := make([]string, 0, keys.NumCols())
	for _, f := range keys.Schema().Fields() {
		names = append(names, f.Name)
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("read by keys: no key column")
	}
	x, err := NewKeyIndex(keys, names)
	return names, x, err
}

// RowGroupReader reads row groups of one Parquet data file (their indexes,
// increasing) as batches of a table's columns, in row order: fn gets each
// batch and must not keep it past its return.
type RowGroupReader func(ctx context.Context, rowGroups []int, fn func(rec arrow.RecordBatch) error) error

// ReadKeyRows returns the live rows of the Parquet data file pr whose key
// is one of those x indexes, as batches of the columns read gives (the
// caller releases them), reading as little of the file as that takes:
//
//   - for a single integer key column (x.Ints()), at leaf column keyLeaf
//     of pr, ScanMatchesAt finds the matching rows, skipping the row
//     groups whose key statistics or bloom filter rule out every key of
//     x, and the key pages whose min/max (column index, else page headers
//     read through pp.Raw) hold no key of x (of pp.Lead when set). With
//     cols set, and every leaf of cols.Leaves a flat column of a type
//     rowReader reads, only the matching rows of each column are then
//     put in Arrow arrays (readValues: the pages that hold one decoded,
//     the others skipped through the offset index) and conformed
//     (cols.Conform); otherwise the row groups that hold a match are read
//     whole (read) and their matching rows taken. keyLeaf -1 (a file
//     without the key column) matches nothing.
//   - any other key: every row group is read and each row's key looked up
//     in x (KeyIndex.Probe).
//
// dead are the sorted positions of rows an earlier delete removed (they
// match nothing). A row with a null key matches nothing. The positions
// returned are the file positions of the rows of the batches, in order
// (increasing).
func ReadKeyRows(ctx context.Context, mem memory.Allocator, pp PagePruning, pr *file.Reader, keyLeaf int, x *KeyIndex, dead []int64, read RowGroupReader, cols *FileColumns) ([]arrow.RecordBatch, []int64, ScanCounts, error) {
	var cnt ScanCounts
	nrg := pr.NumRowGroups()
	starts := make([]int64, nrg+1) // file position of each row group's first row
	for rg := range nrg {
		starts[rg+1] = starts[rg] + pr.MetaData().RowGroup(rg).NumRows()
	}
	var groups []int
	// sel are the positions of the matching rows among the rows of groups
	// (nil: every row group is read and probed).
	var sel []int64
	var positions []int64 // file positions of the rows returned
	if x.Ints() {
		if keyLeaf < 0 {
			return nil, nil, cnt, nil
		}
		ms, c, err := ScanMatchesAt(pp, pr, []int{keyLeaf}, -1, x, dead, nil)
		if err != nil {
			return nil, nil, c, err
		}
		cnt = c
		positions = make([]int64, len(ms))
		var rows [][]int64 // the matching rows of each of groups, relative to it
		var before int64   // rows of the groups before the current one
		for i, m := range ms {
			positions[i] = m.Pos
			rg := sort.Search(nrg, func(i int) bool { return starts[i+1] > m.Pos })
			if len(groups) == 0 || groups[len(groups)-1] != rg {
				if len(groups) > 0 {
					before += starts[groups[len(groups)-1]+1] - starts[groups[len(groups)-1]]
				}
				groups = append(groups, rg)
				rows = append(rows, nil)
			}
			sel = append(sel, before+m.Pos-starts[rg])
			rows[len(rows)-1] = append(rows[len(rows)-1], m.Pos-starts[rg])
		}
		if len(groups) == 0 {
			return nil, nil, cnt, nil
		}
		if cols != nil {
			if rr := newRowReader(pr, cols.Leaves); rr != nil {
				out, err := rr.readConformed(ctx, mem, groups, rows, cols)
				if err != nil {
					return nil, nil, cnt, err
				}
				return out, positions, cnt, nil
			}
		}
	} else {
		for rg := range nrg {
			groups = append(groups, rg)
		}
		cnt.RowGroups, cnt.Rows = nrg, pr.NumRows()
	}
	var out []arrow.RecordBatch
	fail := func(err error) ([]arrow.RecordBatch, []int64, ScanCounts, error) {
		for _, r := range out {
			r.Release()
		}
		return nil, nil, cnt, err
	}
	cctx := compute.WithAllocator(ctx, mem)
	var at int64 // position among the rows of groups of the batch's first row
	next := 0    // next index of sel
	d := 0       // next dead position to compare (probe path)
	err := read(ctx, groups, func(rec arrow.RecordBatch) error {
		n := rec.NumRows()
		var rows []int64
		if sel != nil {
			for ; next < len(sel) && sel[next] < at+n; next++ {
				rows = append(rows, sel[next]-at)
			}
		} else {
			probe, err := x.Probe(rec)
			if err != nil {
				return err
			}
			for r := range int(n) {
				if _, ok := probe(r); !ok {
					continue
				}
				pos := at + int64(r)
				for d < len(dead) && dead[d] < pos {
					d++
				}
				if d < len(dead) && dead[d] == pos {
					continue
				}
				rows = append(rows, int64(r))
				positions = append(positions, pos)
			}
		}
		at += n
		if len(rows) == 0 {
			return nil
		}
		taken, err := takeRows(cctx, mem, rec, rows)
		if err != nil {
			return err
		}
		out = append(out, taken)
		return nil
	})
	if err != nil {
		return fail(err)
	}
	if sel != nil && next != len(sel) {
		return fail(fmt.Errorf("read %d rows of the row groups %v, a match is at %d", at, groups, sel[next]))
	}
	return out, positions, cnt, nil
}

// takeRows returns the rows rows (increasing) of rec; the caller releases
// it.
func takeRows(ctx context.Context, mem memory.Allocator, rec arrow.RecordBatch, rows []int64) (arrow.RecordBatch, error) {
	if len(rows) == int(rec.NumRows()) {
		rec.Retain()
		return rec, nil
	}
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.AppendValues(rows, nil)
	idx := ib.NewInt64Array()
	defer idx.Release()
	cols := make([]arrow.Array, 0, rec.NumCols())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, c := range rec.Columns() {
		t, err := compute.TakeArray(ctx, c, idx)
		if err != nil {
			return nil, fmt.Errorf("take rows: %w", err)
		}
		cols = append(cols, t)
	}
	return array.NewRecordBatch(rec.Schema(), slices.Clip(cols), int64(len(rows))), nil
}

// ReadFiles calls read for the files 0 to n-1 of a read by keys, several
// at a time (GOMAXPROCS), as the merge's key scan reads files, and returns
// their batches in file order (the caller releases them), the positions
// read gave with each file's rows (pos[i] for file i), and what they read
// (ReadCounts without Files). read may be called concurrently; on the
// first error the files not started are not read, and every batch read is
// released.
func ReadFiles(ctx context.Context, n int, read func(ctx context.Context, i int) ([]arrow.RecordBatch, []int64, ScanCounts, error)) (recs []arrow.RecordBatch, pos [][]int64, cnt ReadCounts, err error) {
	type result struct {
		recs []arrow.RecordBatch
		pos  []int64
		cnt  ScanCounts
		err  error
	}
	res := make([]result, n)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := &res[i]
				if r.recs, r.pos, r.cnt, r.err = read(wctx, i); r.err != nil {
					cancel()
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case work <- i:
		case <-wctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	err = ctx.Err()
	pos = make([][]int64, n)
	for i, r := range res {
		if err == nil && r.err != nil {
			err = r.err
		}
		recs = append(recs, r.recs...)
		pos[i] = r.pos
		cnt.Add(r.cnt)
		for _, rec := range r.recs {
			cnt.Rows += rec.NumRows()
		}
	}
	if err != nil {
		for _, rec := range recs {
			rec.Release()
		}
		return nil, nil, cnt, err
	}
	return recs, pos, cnt, nil
}
