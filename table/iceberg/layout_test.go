package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

var layoutCols = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i", Type: arrow.PrimitiveTypes.Int32},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
	{Name: "s", Type: arrow.BinaryTypes.String},
	{Name: "dec", Type: &arrow.Decimal128Type{Precision: 9, Scale: 2}},
}

// layoutRow is a row of layoutCols; a nil pointer is NULL.
type layoutRow struct {
	id  int64
	i   *int32
	d   *int32 // days since 1970-01-01
	ts  *int64 // µs since 1970-01-01T00:00:00
	s   *string
	dec *int64 // unscaled, scale 2
}

func ptr[T any](v T) *T { return &v }

// layoutTable is a local table laid out by layout, with its allocator.
func layoutTable(t *testing.T, opts Options) (*Table, *memory.CheckedAllocator) {
	t.Helper()
	cat := localCatalog(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	opts.Database, opts.Name, opts.Keys = "db", "t", []string{"id"}
	return New(cat, opts, mem), mem
}

// commitRows upserts rows (order key seq) through one Txn.
func commitRows(t *testing.T, tb *Table, mem memory.Allocator, seq byte, runs int64, rows ...layoutRow) {
	t.Helper()
	ctx := context.Background()
	b := array.NewRecordBuilder(mem, change.Schema(layoutCols))
	defer b.Release()
	slices.SortFunc(rows, func(a, b layoutRow) int { return int(a.id - b.id) })
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		appendOpt(b.Field(1), r.i, func(v int32) { b.Field(1).(*array.Int32Builder).Append(v) })
		appendOpt(b.Field(2), r.d, func(v int32) { b.Field(2).(*array.Date32Builder).Append(arrow.Date32(v)) })
		appendOpt(b.Field(3), r.ts, func(v int64) { b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(v)) })
		appendOpt(b.Field(4), r.s, func(v string) { b.Field(4).(*array.StringBuilder).Append(v) })
		appendOpt(b.Field(5), r.dec, func(v int64) { b.Field(5).(*array.Decimal128Builder).Append(decimal128.FromI64(v)) })
		b.Field(6).(*array.Int8Builder).Append(int8(change.OpUpdate))
		var sb change.SeqBuilder
		b.Field(7).(*array.BinaryBuilder).Append(sb.Byte(seq).Bytes())
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	x, err := tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, layoutCols); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Apply(ctx, rec, nil); err != nil {
		t.Fatal(err)
	}
	if err := x.Commit(ctx, bookmarks.Bookmark{Runs: runs}); err != nil {
		t.Fatal(err)
	}
}

func appendOpt[T any](b array.Builder, v *T, app func(T)) {
	if v == nil {
		b.AppendNull()
		return
	}
	app(*v)
}

// TestPartitionValues: a table created with a partition field of every
// transform writes each row into the partition Iceberg's spec computes
// for it. The expected values: the spec's bucket test vectors (Appendix
// B: murmur3 of 34 as int and long 2017239379, of 14.20 -500754589, of
// 2017-11-16 -653330422, of 2017-11-16T22:31:08 -2047944441, of "iceberg"
// 1210000089; bucket(16) is (hash & MaxInt32) % 16), and for the other
// rows the values pyiceberg 0.12.0's transforms give (negative numbers,
// dates and timestamps before 1970, truncated strings by code points,
// decimals truncated towards negative infinity, NULLs).
func TestPartitionValues(t *testing.T) {
	rows := []layoutRow{
		{id: 34, i: ptr[int32](34), d: ptr[int32](17486), ts: ptr[int64](1510871468000000), s: ptr("iceberg"), dec: ptr[int64](1420)},
		{id: -1, i: ptr[int32](-5), d: ptr[int32](-1), ts: ptr[int64](-1), s: ptr("é"), dec: ptr[int64](-5)},
		{id: -15, i: ptr[int32](-15), d: ptr[int32](-719162), ts: ptr[int64](-62135596800000000), s: ptr("abcdéfgh"), dec: ptr[int64](-12345)},
		{id: 7}, // NULLs but the key
	}
	f := func(tr, col string, param int) table.PartitionField {
		return table.PartitionField{Transform: tr, Column: col, Param: param}
	}
	for _, c := range []struct {
		fields []table.PartitionField
		names  string
		want   map[int64]string // the partition values, in field order, as fmt prints them
	}{
		{
			[]table.PartitionField{f(table.TransformBucket, "id", 16), f(table.TransformBucket, "i", 16), f(table.TransformBucket, "s", 16),
				f(table.TransformBucket, "d", 16), f(table.TransformBucket, "ts", 16), f(table.TransformBucket, "dec", 16),
				f(table.TransformYear, "d", 0), f(table.TransformMonth, "ts", 0)},
			"id_bucket i_bucket s_bucket d_bucket ts_bucket dec_bucket d_year ts_month",
			map[int64]string{
				34:  "3 3 9 10 7 3 47 574",
				-1:  "8 14 7 8 8 2 -1 -1",
				-15: "3 3 4 9 0 13 -1969 -23628",
				7:   "3 <nil> <nil> <nil> <nil> <nil> <nil> <nil>",
			},
		},
		{
			[]table.PartitionField{f(table.TransformDay, "d", 0), f(table.TransformHour, "ts", 0), f(table.TransformTruncate, "i", 10),
				f(table.TransformTruncate, "id", 10), f(table.TransformTruncate, "s", 3), f(table.TransformTruncate, "dec", 50),
				f(table.TransformIdentity, "s", 0)},
			"d_day ts_hour i_trunc id_trunc s_trunc dec_trunc s",
			map[int64]string{
				34:  "17486 419686 30 30 ice 14.00 iceberg",
				-1:  "-1 -1 -10 -10 é -0.50 é",
				-15: "-719162 -17259888 -20 -20 abc -123.50 abcdéfgh",
				7:   "<nil> <nil> <nil> 0 <nil> <nil> <nil>",
			},
		},
	} {
		t.Run(c.names, func(t *testing.T) {
			ctx := context.Background()
			tb, mem := layoutTable(t, Options{Layout: table.Layout{Partition: c.fields}})
			commitRows(t, tb, mem, 1, 1, slices.Clone(rows)...)
			tbl, err := tb.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			spec := tbl.Spec()
			var names []string
			for _, f := range spec.Fields() {
				names = append(names, f.Name)
			}
			if got := strings.Join(names, " "); got != c.names {
				t.Errorf("partition fields %s", got)
			}
			tasks, err := tbl.Scan().PlanFiles(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(tasks) != len(c.want) {
				t.Fatalf("%d data files, want one per row (%d)", len(tasks), len(c.want))
			}
			for _, task := range tasks {
				df := task.File
				id, err := onlyID(tbl, df)
				if err != nil {
					t.Fatal(err)
				}
				part := df.Partition()
				var vals []string
				for _, f := range spec.Fields() {
					vals = append(vals, partitionText(part[f.FieldID]))
				}
				if got := strings.Join(vals, " "); got != c.want[id] {
					t.Errorf("row %d: partition\n%s, want\n%s", id, got, c.want[id])
				}
			}
		})
	}
}

// partitionText prints a partition value: dates as days since 1970.
func partitionText(v any) string {
	if d, ok := v.(ice.Date); ok {
		return fmt.Sprint(int32(d))
	}
	return fmt.Sprint(v)
}

// onlyID reads the id of the one row of data file df.
func onlyID(tbl *icetable.Table, df ice.DataFile) (int64, error) {
	id, ok := tbl.Schema().FindFieldByName("id")
	if !ok {
		return 0, fmt.Errorf("no id column")
	}
	lo := df.LowerBoundValues()[id.ID]
	if df.Count() != 1 || len(lo) != 8 {
		return 0, fmt.Errorf("%s: %d rows", df.FilePath(), df.Count())
	}
	lit, err := ice.LiteralFromBytes(ice.PrimitiveTypes.Int64, lo)
	if err != nil {
		return 0, err
	}
	return lit.(ice.Int64Literal).Value(), nil
}

// TestLayoutEvolves: with EvolveLayout, a table created bucket(4, id) and
// unsorted takes the spec and sort order its layout asks for at the next
// Evolve, in a commit of its own; files written after have the new spec
// and are sorted, the rows of older files are deleted in their own spec's
// partition. Without EvolveLayout the table keeps what it was created
// with.
func TestLayoutEvolves(t *testing.T) {
	ctx := context.Background()
	tb, mem := layoutTable(t, Options{Buckets: 4})
	commitRows(t, tb, mem, 1, 1, layoutRow{id: 1, s: ptr("b")}, layoutRow{id: 2, s: ptr("a")})
	laid := table.Layout{Partition: []table.PartitionField{{Transform: table.TransformIdentity, Column: "s"}},
		Sort: []table.SortField{{Column: "s", Descending: true}}}
	same := New(tb.cat, Options{Database: "db", Name: "t", Keys: []string{"id"}, Layout: laid}, mem)
	commitRows(t, same, mem, 2, 2, layoutRow{id: 3, s: ptr("c")})
	tbl, err := tb.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := tbl.Spec(); s.String() != ice.NewPartitionSpec(ice.PartitionField{SourceIDs: []int{1}, FieldID: 1000, Name: "id_bucket", Transform: ice.BucketTransform{NumBuckets: 4}}).String() ||
		tbl.SortOrder().Len() != 0 {
		t.Fatalf("without EvolveLayout the spec became %s, sort order %s", tbl.Spec(), tbl.SortOrder())
	}
	evolving := New(tb.cat, Options{Database: "db", Name: "t", Keys: []string{"id"}, Layout: laid, EvolveLayout: true}, mem)
	// Key 1 moves from its bucket file to the partition s=z.
	commitRows(t, evolving, mem, 3, 3, layoutRow{id: 1, s: ptr("z")}, layoutRow{id: 4, s: ptr("z")}, layoutRow{id: 5, s: ptr("y")})
	if tbl, err = tb.Load(ctx); err != nil {
		t.Fatal(err)
	}
	var fields []string
	spec := tbl.Spec()
	for _, f := range spec.Fields() {
		fields = append(fields, f.Name+"="+f.Transform.String())
	}
	if got := strings.Join(fields, ","); got != "s=identity" || tbl.SortOrder().Len() != 1 {
		t.Fatalf("evolved spec %s, sort order %s", got, tbl.SortOrder())
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		for _, d := range task.DeleteFiles {
			if d.SpecID() != task.File.SpecID() || fmt.Sprint(d.Partition()) != fmt.Sprint(task.File.Partition()) {
				t.Errorf("delete file %s: spec %d %v, its data file: spec %d %v", d.FilePath(), d.SpecID(), d.Partition(), task.File.SpecID(), task.File.Partition())
			}
		}
	}
	rows, err := tb.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Release()
	if rows.NumRows() != 5 {
		t.Fatalf("%d rows, want 5", rows.NumRows())
	}
}
