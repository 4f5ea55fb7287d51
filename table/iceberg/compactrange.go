package iceberg

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/change"
)

// rangeShare is the part of a compaction's memory budget the rows of one
// key range may take, by their Arrow size: while a range is read it holds
// up to 3n rows; at its end up to 2n rows are held as read, gathered into
// one record and taken in key order for the writer, which keeps the last
// of them until it has written them while the next range is read.
const rangeShare = 8

// rangeStats is what rewriting one bucket read and held.
type rangeStats struct {
	live   int64 // the bucket's live rows (every pass reads them all)
	rows   int64 // the most rows held at once
	passes int64 // reads of the bucket's files
}

// writeRanges writes the live rows of tasks in key order holding at most
// 3n of them, n the rows budget/rangeShare bytes hold (by the Arrow size
// of the first batch read; at least 1). Each pass reads the tasks' live
// rows and keeps those whose key is above the last pass's: when it holds
// 2n, it keeps the n lowest (the rows above them wait for the next pass).
// At the end of a pass the rows kept are sorted and handed to one writer
// for all passes, whose files so are of the target size and in key order
// across passes. A pass that kept every row above the last is the last:
// a bucket of less than 2n rows takes one pass, like writeWhole; a larger
// one a pass per n to 2n rows, each reading all of its files again.
//
// Keys are unique among live rows (invariant 3); were they not, the rows
// of a key would still all be written, once, in the same pass.
func (t *Table) writeRanges(ctx context.Context, x *Txn, tasks []icetable.FileScanTask, budget int64) ([]ice.DataFile, rangeStats, error) {
	target, err := icetable.SchemaToArrowSchema(x.tbl.Schema(), nil, false, false)
	if err != nil {
		return nil, rangeStats{}, fmt.Errorf("convert schema: %w", err)
	}
	var rs rangeStats
	var perr error // a pass's error, which the writer may not return
	var lo []byte  // the highest key written; nil before the first pass
	n := int64(0)  // the rows of a range, set by the first batch read
	stream := func(yield func(arrow.RecordBatch, error) bool) {
		for {
			r := &keyRange{mem: t.mem, keys: t.opts.Keys, lo: lo, n: n}
			live, err := t.readRange(ctx, x.tbl, tasks, r, budget)
			if err == nil && rs.passes > 0 && live != rs.live {
				err = fmt.Errorf("the live rows changed from %d to %d between reads", rs.live, live)
			}
			rs.passes++
			rs.live, n, rs.rows = live, r.n, max(rs.rows, r.held)
			var rec arrow.RecordBatch
			if err == nil {
				rec, err = r.sorted(ctx, x, target)
			}
			r.release()
			if err != nil {
				perr = fmt.Errorf("read key range %d: %w", rs.passes, err)
				yield(nil, perr)
				return
			}
			if rec != nil && !yieldAll(rec, yield) {
				return
			}
			if r.hi == nil {
				return
			}
			lo = r.hi
		}
	}
	files, _, _, err := x.writeBatches(ctx, target, stream, icetable.WithMaxWriteWorkers(1))
	if perr != nil && err == nil {
		err = perr
	}
	return files, rs, err
}

// yieldAll yields rec in slices and releases it; false when yield asked
// to stop.
func yieldAll(rec arrow.RecordBatch, yield func(arrow.RecordBatch, error) bool) bool {
	defer rec.Release()
	for s := range recordSlices(rec) {
		if !yield(s, nil) {
			return false
		}
	}
	return true
}

// readRange reads the live rows of tasks into r, setting r.n by the first
// batch when it is unset, and returns how many live rows it read.
func (t *Table) readRange(ctx context.Context, tbl *icetable.Table, tasks []icetable.FileScanTask, r *keyRange, budget int64) (int64, error) {
	_, recs, err := tbl.Scan().ReadTasks(ctx, tasks)
	if err != nil {
		return 0, fmt.Errorf("read files: %w", err)
	}
	var live int64
	for rec, err := range recs {
		if err != nil {
			return 0, fmt.Errorf("read files: %w", err)
		}
		rows := rec.NumRows()
		live += rows
		if r.n == 0 && rows > 0 {
			r.n = max(1, budget/rangeShare/max(1, change.RecordBytes(rec)/rows))
		}
		// In slices of n rows, so that r holds less than 3n.
		for off := int64(0); off < rows && err == nil; off += r.n {
			s := rec.NewSlice(off, min(off+r.n, rows))
			err = r.add(ctx, s)
			s.Release()
		}
		rec.Release()
		if err != nil {
			return 0, err
		}
	}
	return live, nil
}

// keyRange gathers the rows of one pass of writeRanges: those with a key
// above lo (all when lo is nil), and at most hi once set.
type keyRange struct {
	mem  memory.Allocator
	keys []string
	lo   []byte
	n    int64
	hi   []byte // set by cut: rows above it wait for the next pass

	recs    []arrow.RecordBatch
	rowKeys [][]byte // the keys of the rows of recs, in their order
	rows    int64
	held    int64 // the most rows held
	scratch []byte
}

// add takes in the rows of rec in r's range, cutting the range to its n
// lowest keys when it holds 2n.
func (r *keyRange) add(ctx context.Context, rec arrow.RecordBatch) error {
	enc, err := change.NewKeyEncoder(rec, r.keys)
	if err != nil {
		return err
	}
	var idx []int64
	for i := range int(rec.NumRows()) {
		r.scratch = enc.Append(r.scratch[:0], i)
		if r.lo != nil && bytes.Compare(r.scratch, r.lo) <= 0 || r.hi != nil && bytes.Compare(r.scratch, r.hi) > 0 {
			continue
		}
		idx = append(idx, int64(i))
		r.rowKeys = append(r.rowKeys, bytes.Clone(r.scratch))
	}
	if len(idx) == 0 {
		return nil
	}
	taken, err := takeRows(ctx, r.mem, rec, idx)
	if err != nil {
		return err
	}
	r.recs = append(r.recs, taken)
	r.rows += int64(len(idx))
	r.held = max(r.held, r.rows)
	if r.rows >= 2*r.n {
		return r.cut(ctx)
	}
	return nil
}

// cut keeps the n rows of r with the lowest keys and sets hi to the
// highest of them.
func (r *keyRange) cut(ctx context.Context) error {
	sorted := slices.Clone(r.rowKeys)
	slices.SortFunc(sorted, bytes.Compare)
	r.hi = sorted[r.n-1]
	recs, keys := r.recs, r.rowKeys
	r.recs, r.rowKeys, r.rows = nil, nil, 0
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	for _, rec := range recs {
		var idx []int64
		for i := range int(rec.NumRows()) {
			if bytes.Compare(keys[i], r.hi) <= 0 {
				idx = append(idx, int64(i))
				r.rowKeys = append(r.rowKeys, keys[i])
			}
		}
		keys = keys[rec.NumRows():]
		if len(idx) == 0 {
			continue
		}
		taken, err := takeRows(ctx, r.mem, rec, idx)
		if err != nil {
			return err
		}
		r.recs = append(r.recs, taken)
		r.rows += int64(len(idx))
	}
	return nil
}

// sorted returns r's rows in key order with target's columns, nil when
// it holds none; the caller releases it.
func (r *keyRange) sorted(ctx context.Context, x *Txn, target *arrow.Schema) (arrow.RecordBatch, error) {
	if len(r.recs) == 0 {
		return nil, nil
	}
	whole, err := concatBatches(r.mem, r.recs[0].Schema(), r.recs)
	if err != nil {
		return nil, err
	}
	defer whole.Release()
	r.release() // whole holds them now
	order, err := keyOrder(whole, r.keys, r.mem)
	if err != nil {
		return nil, err
	}
	defer order.Release()
	return x.targetRows(ctx, target, whole, order)
}

// release releases the rows r holds.
func (r *keyRange) release() {
	for _, rec := range r.recs {
		rec.Release()
	}
	r.recs, r.rowKeys = nil, nil
}

// takeRows returns the rows of rec at idx; the caller releases it.
func takeRows(ctx context.Context, mem memory.Allocator, rec arrow.RecordBatch, idx []int64) (arrow.RecordBatch, error) {
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.AppendValues(idx, nil)
	ia := ib.NewInt64Array()
	defer ia.Release()
	out, err := compute.Take(compute.WithAllocator(ctx, mem), *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(rec), compute.NewDatumWithoutOwning(ia))
	if err != nil {
		return nil, fmt.Errorf("take rows: %w", err)
	}
	return out.(*compute.RecordDatum).Value, nil
}
