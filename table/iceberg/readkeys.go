package iceberg

import (
	"context"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/table"
)

// ReadKeys returns the live rows of the current snapshot (as Read) whose
// values of the columns of keys (borrowed; see table.IndexKeys) equal one
// of its rows, and what it read; the caller releases the table. It opens
// the data files that partition and manifest key bounds leave (an IN
// filter on a single key column of at most maxInKeys values; more keys
// plan every file), applies their position deletes, and reads in each
// what table.ReadKeyRows reads, its key pages pruned by their headers'
// statistics and, in a table bucketed by its single integer key, by the
// keys of the file's own bucket.
func (t *Table) ReadKeys(ctx context.Context, keys arrow.RecordBatch) (arrow.Table, table.ReadCounts, error) {
	tbl, _, cnt, err := t.ReadKeysAt(ctx, keys)
	return tbl, cnt, err
}

// ReadKeysAt is ReadKeys, returning where the rows are as well: the
// snapshot read (its id; 0 for none) and each row's data file and
// position in it, which a Txn of that snapshot plans from
// (Txn.ApplyLocated).
func (t *Table) ReadKeysAt(ctx context.Context, keys arrow.RecordBatch) (arrow.Table, table.Located, table.ReadCounts, error) {
	var cnt table.ReadCounts
	var at table.Located
	tbl, err := t.Load(ctx)
	if err != nil {
		return nil, at, cnt, err
	}
	if tbl == nil {
		return nil, at, cnt, fmt.Errorf("table %s.%s does not exist", t.opts.Database, t.opts.Name)
	}
	cols, err := userColumns(tbl)
	if err != nil {
		return nil, at, cnt, err
	}
	schema := arrow.NewSchema(arrowFields(cols), nil)
	names, x, err := table.IndexKeys(keys)
	if err != nil {
		return nil, at, cnt, fmt.Errorf("read keys of %s: %w", t.opts.Name, err)
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	snap := tbl.CurrentSnapshot()
	if snap != nil {
		at.State = snap.SnapshotID
	}
	if snap == nil || keys.NumRows() == 0 {
		return array.NewTableFromRecords(schema, nil), at, cnt, nil
	}
	if snap.Summary != nil {
		cnt.Files, _ = strconv.Atoi(snap.Summary.Properties["total-data-files"])
	}
	var opts []icetable.ScanOption
	if f := inFilter(keys, names); f != nil && !keyWidened(tbl, names[0]) {
		opts = append(opts, icetable.WithRowFilter(f))
	}
	tasks, err := tbl.Scan(opts...).PlanFiles(ctx)
	if err != nil {
		return nil, at, cnt, fmt.Errorf("plan files of %s: %w", t.opts.Name, err)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, at, cnt, fmt.Errorf("open table io of %s: %w", t.opts.Name, err)
	}
	dels := newDeleteCache(fs, t.mem)
	deads := make([][]int64, len(tasks))
	paths := make([]string, len(tasks))
	for i, task := range tasks {
		paths[i] = task.File.FilePath()
		if deads[i], err = dels.positionsFor(ctx, paths[i], task.DeleteFiles); err != nil {
			return nil, at, cnt, err
		}
	}
	// A single integer key of a table bucketed by it: a file's key pages
	// are pruned by the keys of its own bucket.
	leads := make([][]int64, len(tasks))
	if len(names) == 1 {
		leads = fileLeads(tbl, keys, names[0], tasks)
	}
	files := cnt.Files
	var pos [][]int64
	recs, pos, cnt, err = table.ReadFiles(ctx, len(tasks), func(ctx context.Context, i int) ([]arrow.RecordBatch, []int64, table.ScanCounts, error) {
		got, p, c, err := t.readKeyRows(ctx, fs, paths[i], schema, names, x, table.PagePruning{Lead: leads[i]}, deads[i])
		if err != nil {
			return nil, nil, c, fmt.Errorf("read keys of %s: %s: %w", t.opts.Name, paths[i], err)
		}
		return got, p, c, nil
	})
	cnt.Files = files
	if err != nil {
		return nil, at, cnt, err
	}
	return array.NewTableFromRecords(schema, recs), table.Locate(at.State, paths, pos), cnt, nil
}

// readKeyRows runs table.ReadKeyRows on the data file at path, reading its
// columns as schema's (by name; a column the file lacks is all null, one
// of an older type is cast): only the matched rows of each column where
// table.ReadKeyRows can. Its key pages are pruned by pp.Lead and by their
// headers' statistics (pp.Raw is set to the file's bytes: iceberg-go
// writes no page index).
func (t *Table) readKeyRows(ctx context.Context, fs iceio.IO, path string, schema *arrow.Schema, keys []string, x *table.KeyIndex, pp table.PagePruning, dead []int64) ([]arrow.RecordBatch, []int64, table.ScanCounts, error) {
	pr, raw, err := openParquetAt(fs, path)
	if err != nil {
		return nil, nil, table.ScanCounts{}, err
	}
	pp.Raw = raw
	defer pr.Close()
	fsch := pr.MetaData().Schema
	keyLeaf := -1
	if len(keys) == 1 {
		keyLeaf = fsch.ColumnIndexByName(keys[0])
	}
	var leaves []int
	at := make([]int, schema.NumFields()) // column of the batches read, -1: not in the file
	for i, fd := range schema.Fields() {
		at[i] = -1
		if l := fsch.ColumnIndexByName(fd.Name); l >= 0 {
			at[i] = len(leaves)
			leaves = append(leaves, l)
		}
	}
	cols := &table.FileColumns{Leaves: leaves, Conform: func(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		return conformBatch(compute.WithAllocator(ctx, t.mem), schema, rec, at)
	}}
	return table.ReadKeyRows(ctx, t.mem, pp, pr, keyLeaf, x, dead, cols.RowGroups(pr, t.mem), cols)
}

// conformBatch returns got (the columns of a data file) as a batch of
// schema: column i of it is column at[i] of got, cast to schema's type
// when the file's is older, or all null when at[i] is -1. The caller
// releases it.
func conformBatch(ctx context.Context, schema *arrow.Schema, got arrow.RecordBatch, at []int) (arrow.RecordBatch, error) {
	n := got.NumRows()
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() { release(cols) }()
	for i, fd := range schema.Fields() {
		if at[i] < 0 {
			cols = append(cols, array.MakeArrayOfNull(compute.GetAllocator(ctx), fd.Type, int(n)))
			continue
		}
		c := got.Column(at[i])
		if arrow.TypeEqual(c.DataType(), fd.Type) {
			c.Retain()
			cols = append(cols, c)
			continue
		}
		cast, err := compute.CastToType(ctx, c, fd.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", fd.Name, err)
		}
		cols = append(cols, cast)
	}
	return array.NewRecordBatch(schema, cols, n), nil
}
