package delta

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/table"
)

// ReadKeys returns the live rows of the table's current version (user
// columns and _seq, as Read) whose values of the columns of keys equal
// one of its rows, and what it read. keys holds table columns (the first
// columns of the writer's key, typically), one distinct non-null key per
// row; it is borrowed. The caller releases the result. A table that does
// not exist is an error.
//
// It reads what may hold a key: the data files whose key min/max in the
// log (a single int, long or string key column) hold one, and in them,
// for a single integer key column, only the row groups that
// table.ReadKeyRows finds holding a key, through ranged reads.
func (t *Table) ReadKeys(ctx context.Context, keys arrow.RecordBatch) (arrow.Table, table.ReadCounts, error) {
	var cnt table.ReadCounts
	s, err := t.current(ctx)
	if err != nil {
		return nil, cnt, err
	}
	if s == nil {
		return nil, cnt, fmt.Errorf("table %s does not exist", t.opts.Name)
	}
	var names []string
	for _, f := range keys.Schema().Fields() {
		names = append(names, f.Name)
	}
	x, err := table.NewKeyIndex(keys, names)
	if err != nil {
		return nil, cnt, fmt.Errorf("read keys of %s: %w", t.opts.Name, err)
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
	recs, cnt, err = table.ReadFiles(ctx, len(paths), func(ctx context.Context, i int) ([]arrow.RecordBatch, table.ScanCounts, error) {
		p := paths[i]
		got, c, err := t.readKeyRows(ctx, p, s.files[p].Size, s.cols, names, x)
		if err != nil {
			return nil, c, fmt.Errorf("read keys of %s: %s: %w", t.opts.Name, p, err)
		}
		return got, c, nil
	})
	cnt.Files = len(s.files)
	if err != nil {
		return nil, cnt, err
	}
	return array.NewTableFromRecords(logicalSchema(s.cols), recs), cnt, nil
}

// readKeyRows runs table.ReadKeyRows on the data file at path (size
// bytes), reading the columns cols (readRowGroups).
func (t *Table) readKeyRows(ctx context.Context, path string, size int64, cols []column, keys []string, x *table.KeyIndex) ([]arrow.RecordBatch, table.ScanCounts, error) {
	pr, err := t.openRanged(ctx, path, size)
	if err != nil {
		return nil, table.ScanCounts{}, err
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
	return table.ReadKeyRows(ctx, t.mem, pr, keyLeaf, x, nil, read)
}
