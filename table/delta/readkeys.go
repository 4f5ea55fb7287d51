package delta

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/table"
)

// ReadKeys is Read restricted to the rows whose values of the columns of
// keys (borrowed; see table.IndexKeys) equal one of its rows, with what it
// read; the caller releases the table. Only the data files whose key
// min/max in the log (a single int, long or string key column) hold a key
// are opened, through ranged reads, and read as table.ReadKeyRows reads.
func (t *Table) ReadKeys(ctx context.Context, keys arrow.RecordBatch) (arrow.Table, table.ReadCounts, error) {
	tbl, _, cnt, err := t.ReadKeysAt(ctx, keys)
	return tbl, cnt, err
}

// ReadKeysAt is ReadKeys, returning where the rows are as well: the
// version read and each row's data file and position in it, which a Txn
// of that version plans from (Txn.ApplyLocated).
func (t *Table) ReadKeysAt(ctx context.Context, keys arrow.RecordBatch) (arrow.Table, table.Located, table.ReadCounts, error) {
	var cnt table.ReadCounts
	s, err := t.current(ctx)
	if err != nil {
		return nil, table.Located{}, cnt, err
	}
	if s == nil {
		return nil, table.Located{}, cnt, fmt.Errorf("table %s does not exist", t.opts.Name)
	}
	names, x, err := table.IndexKeys(keys)
	if err != nil {
		return nil, table.Located{}, cnt, fmt.Errorf("read keys of %s: %w", t.opts.Name, err)
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	pr := newPruner(keys, names, s.cols)
	var paths []string
	for _, p := range s.paths() {
		if keys.NumRows() > 0 && (pr == nil || pr.mayHold(s.files[p].Stats)) {
			paths = append(paths, p)
		}
	}
	var pos [][]int64
	recs, pos, cnt, err = table.ReadFiles(ctx, len(paths), func(ctx context.Context, i int) ([]arrow.RecordBatch, []int64, table.ScanCounts, error) {
		p := paths[i]
		got, at, c, err := t.readKeyRows(ctx, p, s.files[p].Size, s.cols, names, x)
		if err != nil {
			return nil, nil, c, fmt.Errorf("read keys of %s: %s: %w", t.opts.Name, p, err)
		}
		return got, at, c, nil
	})
	cnt.Files = len(s.files)
	if err != nil {
		return nil, table.Located{}, cnt, err
	}
	return array.NewTableFromRecords(logicalSchema(s.cols), recs), table.Locate(s.version, paths, pos), cnt, nil
}

// readKeyRows runs table.ReadKeyRows on the data file at path (size
// bytes), reading the columns cols (readRowGroups).
func (t *Table) readKeyRows(ctx context.Context, path string, size int64, cols []column, keys []string, x *table.KeyIndex) ([]arrow.RecordBatch, []int64, table.ScanCounts, error) {
	pr, err := t.openRanged(ctx, path, size)
	if err != nil {
		return nil, nil, table.ScanCounts{}, err
	}
	defer pr.Close()
	keyLeaf := -1
	if len(keys) == 1 {
		if ci := findColumn(cols, keys[0]); ci >= 0 {
			keyLeaf = leafIndex(pr.MetaData().Schema, cols[ci].phys)
		}
	}
	read := func(ctx context.Context, rowGroups []int, fn func(arrow.RecordBatch) error) error {
		return t.readRowGroups(ctx, pr, cols, rowGroups, func(rec arrow.RecordBatch, _ int64) error { return fn(rec) })
	}
	// The data files lakemerge writes carry a column index, which prunes
	// their key pages; the page headers of another writer's are not read.
	return table.ReadKeyRows(ctx, t.mem, table.PagePruning{}, pr, keyLeaf, x, nil, read, nil)
}
