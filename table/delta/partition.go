package delta

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/lakemerge/lakemerge/table"
)

// Partitioned tables (Options.Layout with identity partition fields).
//
// A table created with partition columns lists them (their Delta names) in
// metaData.partitionColumns, and every add and remove carries the file's
// partitionValues, serialized as the protocol's "Partition Value
// Serialization" says: numbers as Go writes them, dates yyyy-mm-dd,
// timestamp_ntz "yyyy-mm-dd hh:mm:ss.ffffff", timestamp (UTC) ISO 8601 with
// Z, booleans true/false, strings as they are; a null is JSON null. An
// empty string reads back as null (the protocol's rule: an empty string is
// a null partition value, as in Spark). Binary columns cannot partition.
//
// Data files live in Hive-style folders, col=value/ per partition column
// (value escaped as Spark escapes path names, nulls as
// __HIVE_DEFAULT_PARTITION__), and the paths in the log are URI-encoded on
// top of that. A data file holds the rows of one partition: the writer
// splits what it writes by partition values, so an update that moves a key
// to another partition removes the old file's row (the file is rewritten
// in its partition) and writes the new row in a file of the new partition.
//
// The partition columns are also written in the data files (materialized,
// as the protocol's IcebergCompatV2 asks of writers): readers take a
// partition column's values from partitionValues and do not read it from
// the file, while lakemerge's own reads (key lookups, rewrites, Read,
// optimize) read every column from the files as in an unpartitioned table.
// The table's configuration says so (partitionsInFiles); Begin refuses a
// partitioned table without it (one another writer created, whose files
// lack the partition columns).

// partitionsInFiles is the configuration key that marks a partitioned
// table whose data files hold the partition columns.
const partitionsInFiles = "lakemerge.partitionColumnsInFiles"

// hiveNull is the folder value of a null partition value.
const hiveNull = "__HIVE_DEFAULT_PARTITION__"

// partitionColumns returns the Delta names of the partition columns of
// layout over cols, checking that each is an identity field of a column
// of a type Delta readers partition by.
func partitionColumns(layout table.Layout, cols []column) ([]string, error) {
	var out []string
	for _, p := range layout.Partition {
		if p.Transform != table.TransformIdentity {
			return nil, fmt.Errorf("partition %s: Delta tables are partitioned by columns only (identity)", p)
		}
		ci := findColumn(cols, p.Column)
		if ci < 0 {
			return nil, fmt.Errorf("partition column %s is not a column", p.Column)
		}
		if !partitionable(cols[ci].typ) {
			return nil, fmt.Errorf("partition column %s is %s, which Delta tables are not partitioned by", p.Column, cols[ci].typ)
		}
		if slices.Contains(out, cols[ci].phys) {
			return nil, fmt.Errorf("partition column %s is named twice", p.Column)
		}
		out = append(out, cols[ci].phys)
	}
	return out, nil
}

// partitionable reports whether a column of type t can be a partition
// column (Athena's list: boolean, integers, decimal, float, double, date,
// timestamp, string).
func partitionable(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64,
		arrow.DECIMAL128, arrow.DATE32, arrow.TIMESTAMP, arrow.STRING:
		return true
	}
	return false
}

// partitionIndexes returns the indexes in cols of the partition columns
// named (Delta names) in pcols.
func partitionIndexes(cols []column, pcols []string) ([]int, error) {
	out := make([]int, 0, len(pcols))
	for _, p := range pcols {
		i := slices.IndexFunc(cols, func(c column) bool { return c.phys == p })
		if i < 0 {
			return nil, fmt.Errorf("%w: partition column %s is not in the schema", ErrUnsupported, p)
		}
		out = append(out, i)
	}
	return out, nil
}

// partitionValue is the serialized partition value of row i of arr, a
// column c; nil for null (and for an empty string).
func partitionValue(c column, arr arrow.Array, i int) (*string, error) {
	if arr.IsNull(i) {
		return nil, nil
	}
	var s string
	switch a := arr.(type) {
	case *array.Boolean:
		s = strconv.FormatBool(a.Value(i))
	case *array.Int8:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int16:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int32:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		s = strconv.FormatInt(a.Value(i), 10)
	case *array.Float32:
		s = strconv.FormatFloat(float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		s = strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Decimal128:
		s = decimalString(a.Value(i), a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Date32:
		s = time.Unix(int64(a.Value(i))*86400, 0).UTC().Format("2006-01-02")
	case *array.Timestamp:
		ts := a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit)
		if c.utc {
			s = ts.UTC().Format("2006-01-02T15:04:05.000000Z")
		} else {
			s = ts.UTC().Format("2006-01-02 15:04:05.000000")
		}
	case *array.String:
		s = a.Value(i)
		if s == "" {
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("partition column %s is %s", c.name, arr.DataType())
	}
	return &s, nil
}

// decimalString writes v with scale digits after the point.
func decimalString(v decimal128.Num, scale int32) string {
	return v.ToString(scale)
}

// escapePathName escapes a partition value for a folder name as Spark does
// (ExternalCatalogUtils.escapePathName): control characters and
// "#%'*/:=?\{[]^ and DEL become %XX.
func escapePathName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// partitionDir is the folder of a file with partition values vals of the
// columns pcols (Delta names): col=value/ each, unescaped for the log
// (store keys; logPath encodes them for the log).
func partitionDir(pcols []string, vals []*string) string {
	var b strings.Builder
	for i, p := range pcols {
		b.WriteString(escapePathName(p))
		b.WriteByte('=')
		if vals[i] == nil {
			b.WriteString(hiveNull)
		} else {
			b.WriteString(escapePathName(*vals[i]))
		}
		b.WriteByte('/')
	}
	return b.String()
}

// logPath is the URI-encoded form of a path relative to the table root, as
// add and remove actions hold it (relKey decodes it).
func logPath(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// partitionGroup is the rows of a batch that share partition values.
type partitionGroup struct {
	values map[string]*string
	dir    string
	rows   []int64
}

// groupByPartition splits the rows of rec (logical, columns cols) by the
// values of the partition columns at parts (indexes into cols, names
// pcols), in the order of their folders; the rows of a group keep their
// order.
func groupByPartition(rec arrow.RecordBatch, cols []column, parts []int, pcols []string) ([]partitionGroup, error) {
	byDir := map[string]*partitionGroup{}
	vals := make([]*string, len(parts))
	for r := range int(rec.NumRows()) {
		for j, ci := range parts {
			v, err := partitionValue(cols[ci], rec.Column(ci), r)
			if err != nil {
				return nil, err
			}
			vals[j] = v
		}
		dir := partitionDir(pcols, vals)
		g, ok := byDir[dir]
		if !ok {
			g = &partitionGroup{values: make(map[string]*string, len(parts)), dir: dir}
			for j, p := range pcols {
				g.values[p] = vals[j]
			}
			byDir[dir] = g
		}
		g.rows = append(g.rows, int64(r))
	}
	out := make([]partitionGroup, 0, len(byDir))
	for _, d := range slices.Sorted(maps.Keys(byDir)) {
		out = append(out, *byDir[d])
	}
	return out, nil
}

// takeRows returns the rows of rec at rows, in that order; the caller
// releases it.
func (t *Table) takeRows(ctx context.Context, rec arrow.RecordBatch, rows []int64) (arrow.RecordBatch, error) {
	ib := array.NewInt64Builder(t.mem)
	defer ib.Release()
	ib.AppendValues(rows, nil)
	idx := ib.NewInt64Array()
	defer idx.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer releaseAll(cols)
	cctx := compute.WithAllocator(ctx, t.mem)
	for i, c := range rec.Columns() {
		var err error
		if cols[i], err = compute.TakeArray(cctx, c, idx); err != nil {
			return nil, fmt.Errorf("take column %s: %w", rec.Schema().Field(i).Name, err)
		}
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(rows))), nil
}

// appendPartitionValues appends a partitionValues map to a checkpoint
// column, a null value as a null item.
func appendPartitionValues(b *array.MapBuilder, m map[string]*string) {
	b.Append(true)
	kb, ib := b.KeyBuilder().(*array.StringBuilder), b.ItemBuilder().(*array.StringBuilder)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kb.Append(k)
		if v := m[k]; v != nil {
			ib.Append(*v)
		} else {
			ib.AppendNull()
		}
	}
}

// partitionValuesAt reads the partitionValues map of row i of a
// checkpoint column.
func partitionValuesAt(a arrow.Array, i int) map[string]*string {
	m, ok := a.(*array.Map)
	if !ok || m == nil || m.IsNull(i) {
		return nil
	}
	start, end := m.ValueOffsets(i)
	out := make(map[string]*string, end-start)
	for j := start; j < end; j++ {
		k, _ := strAt(m.Keys(), int(j))
		if v, ok := strAt(m.Items(), int(j)); ok {
			out[k] = &v
		} else {
			out[k] = nil
		}
	}
	return out
}

// writer is a fileWriter for the Txn's table: its columns, partition
// columns and sort order.
func (x *Txn) writer() *fileWriter {
	m := x.meta
	if m == nil {
		m = x.snap.meta
	}
	// The partition columns were checked when the table was created or
	// loaded (Evolve, snapshot.check).
	w, _ := x.t.newFileWriter(x.cols, m.PartitionColumns)
	return w
}

// newFileWriter returns a writer of data files with columns cols, split by
// the partition columns pcols (Delta names), each file in the table's
// sort order (Options.Layout.Sort; none: as handed over).
func (t *Table) newFileWriter(cols []column, pcols []string) (*fileWriter, error) {
	parts, err := partitionIndexes(cols, pcols)
	if err != nil {
		return nil, err
	}
	return &fileWriter{t: t, cols: cols, pcols: pcols, parts: parts}, nil
}

// evolvePartitions makes the partition columns of an existing table (with
// columns cols after Evolve) those Options.Layout asks for, when they
// differ (a prepared table whose partition_by changed: the change
// rebuilds it). Every data file must hold the partition values of the
// table's partition columns, so the new metaData goes with a rewrite of
// every live file (rewriteAll) in the same commit.
func (x *Txn) evolvePartitions(cols []column) error {
	if x.snap.version < 0 {
		return nil
	}
	want, err := partitionColumns(x.t.opts.Layout, cols)
	if err != nil {
		return fmt.Errorf("evolve %s: %w", x.name(), err)
	}
	m := x.meta
	if m == nil {
		m = x.snap.meta
	}
	if slices.Equal(m.PartitionColumns, want) {
		return nil
	}
	nm := *m
	nm.PartitionColumns = append([]string{}, want...)
	nm.Configuration = maps.Clone(m.Configuration)
	if nm.Configuration == nil {
		nm.Configuration = map[string]string{}
	}
	delete(nm.Configuration, partitionsInFiles)
	if len(want) > 0 {
		nm.Configuration[partitionsInFiles] = "true"
	}
	x.meta = &nm
	x.rewriteAll = true
	return nil
}
