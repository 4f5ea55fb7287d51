package delta

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

// TestPartitionValue: the partition values of each type, serialized as
// the protocol's Partition Value Serialization says, with negative
// numbers, dates and timestamps before 1970, NULLs and empty strings.
func TestPartitionValue(t *testing.T) {
	m := checkedMem(t)
	ntz := &arrow.TimestampType{Unit: arrow.Microsecond}
	str := func(s string) *string { return &s }
	cases := []struct {
		name string
		col  column
		arr  func() arrow.Array
		want []*string
	}{
		{"long", column{name: "n", typ: arrow.PrimitiveTypes.Int64}, func() arrow.Array {
			b := array.NewInt64Builder(m)
			defer b.Release()
			b.AppendValues([]int64{-5, 0, 9223372036854775807, -9223372036854775808}, nil)
			b.AppendNull()
			return b.NewArray()
		}, []*string{str("-5"), str("0"), str("9223372036854775807"), str("-9223372036854775808"), nil}},
		{"int", column{name: "n", typ: arrow.PrimitiveTypes.Int32}, func() arrow.Array {
			b := array.NewInt32Builder(m)
			defer b.Release()
			b.AppendValues([]int32{-2147483648, 17}, nil)
			return b.NewArray()
		}, []*string{str("-2147483648"), str("17")}},
		{"double", column{name: "f", typ: arrow.PrimitiveTypes.Float64}, func() arrow.Array {
			b := array.NewFloat64Builder(m)
			defer b.Release()
			b.AppendValues([]float64{-1.5, 1e21, 0.1}, nil)
			return b.NewArray()
		}, []*string{str("-1.5"), str("1e+21"), str("0.1")}},
		{"decimal", column{name: "d", typ: decType}, func() arrow.Array {
			b := array.NewDecimal128Builder(m, decType)
			defer b.Release()
			b.AppendValues([]decimal128.Num{decimal128.FromI64(-12345), decimal128.FromI64(5), decimal128.FromI64(100)}, nil)
			return b.NewArray()
		}, []*string{str("-123.45"), str("0.05"), str("1.00")}},
		{"date", column{name: "d", typ: arrow.FixedWidthTypes.Date32}, func() arrow.Array {
			b := array.NewDate32Builder(m)
			defer b.Release()
			b.AppendValues([]arrow.Date32{-1, 0, -719162, 19723}, nil)
			b.AppendNull()
			return b.NewArray()
		}, []*string{str("1969-12-31"), str("1970-01-01"), str("0001-01-01"), str("2024-01-01"), nil}},
		{"timestamp_ntz", column{name: "ts", typ: ntz}, func() arrow.Array {
			b := array.NewTimestampBuilder(m, ntz)
			defer b.Release()
			b.AppendValues([]arrow.Timestamp{-1, 0, 1_700_000_000_123_456}, nil)
			return b.NewArray()
		}, []*string{str("1969-12-31 23:59:59.999999"), str("1970-01-01 00:00:00.000000"), str("2023-11-14 22:13:20.123456")}},
		{"timestamp (UTC)", column{name: "ts", typ: ntz, utc: true}, func() arrow.Array {
			b := array.NewTimestampBuilder(m, ntz)
			defer b.Release()
			b.AppendValues([]arrow.Timestamp{-1, 1_700_000_000_123_456}, nil)
			return b.NewArray()
		}, []*string{str("1969-12-31T23:59:59.999999Z"), str("2023-11-14T22:13:20.123456Z")}},
		{"boolean", column{name: "b", typ: arrow.FixedWidthTypes.Boolean}, func() arrow.Array {
			b := array.NewBooleanBuilder(m)
			defer b.Release()
			b.AppendValues([]bool{true, false}, nil)
			b.AppendNull()
			return b.NewArray()
		}, []*string{str("true"), str("false"), nil}},
		{"string", column{name: "s", typ: arrow.BinaryTypes.String}, func() arrow.Array {
			b := array.NewStringBuilder(m)
			defer b.Release()
			b.AppendValues([]string{"a/b=c%d", "", "é ü"}, nil)
			b.AppendNull()
			return b.NewArray()
		}, []*string{str("a/b=c%d"), nil, str("é ü"), nil}},
	}
	show := func(v *string) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprintf("%q", *v)
	}
	for _, c := range cases {
		arr := c.arr()
		for i, want := range c.want {
			got, err := partitionValue(c.col, arr, i)
			if err != nil || show(got) != show(want) {
				t.Errorf("%s row %d: %s, %v; want %s", c.name, i, show(got), err, show(want))
			}
		}
		arr.Release()
	}
	// Binary columns do not partition.
	if _, err := partitionColumns(table.Layout{Partition: []table.PartitionField{{Transform: table.TransformIdentity, Column: "data"}}},
		[]column{{name: "data", phys: "data", typ: arrow.BinaryTypes.Binary}}); err == nil {
		t.Error("a binary partition column was taken")
	}
}

// TestPartitionPaths: folders escape partition values as Spark does, nulls
// are __HIVE_DEFAULT_PARTITION__, and the log's URI-encoded path decodes
// (relKey) to the store key written.
func TestPartitionPaths(t *testing.T) {
	v := func(s string) *string { return &s }
	for _, c := range []struct {
		vals []*string
		dir  string
		log  string
	}{
		{[]*string{v("2024-01-01"), v("OPEN")}, "d=2024-01-01/s=OPEN/", "d=2024-01-01/s=OPEN/"},
		{[]*string{v("1969-12-31 23:59:59.999999"), nil}, "d=1969-12-31 23%3A59%3A59.999999/s=__HIVE_DEFAULT_PARTITION__/",
			"d=1969-12-31%2023%253A59%253A59.999999/s=__HIVE_DEFAULT_PARTITION__/"},
		{[]*string{v("a/b=c%d#"), v("-5")}, "d=a%2Fb%3Dc%25d%23/s=-5/", "d=a%252Fb%253Dc%2525d%2523/s=-5/"},
	} {
		dir := partitionDir([]string{"d", "s"}, c.vals)
		if dir != c.dir {
			t.Errorf("folder %q, want %q", dir, c.dir)
		}
		rel := dir + "part-1.parquet"
		if got := logPath(rel); got != c.log+"part-1.parquet" {
			t.Errorf("log path %q, want %q", got, c.log+"part-1.parquet")
		}
		if key, err := relKey("t/", logPath(rel)); err != nil || key != "t/"+rel {
			t.Errorf("relKey(logPath(%q)) = %q, %v", rel, key, err)
		}
	}
}

// partitionedLayout is for tabletest's columns: the table is partitioned by
// flag (boolean with NULLs: three partitions) and day (dates, some before
// 1970) and sorted by qty descending.
var partitionedLayout = table.Layout{
	Partition: []table.PartitionField{{Transform: table.TransformIdentity, Column: "flag"}, {Transform: table.TransformIdentity, Column: "day"}},
	Sort:      []table.SortField{{Column: "qty", Descending: true}},
}

// TestPartitionedModel runs random multi-run change sets (updates that
// move keys between partitions, deletes, late changes, partial rows, a
// reload and an added column) into a table partitioned by flag and day
// and sorted by qty, with checkpoints every 3 versions, then optimizes,
// checkpoints and vacuums it. After every step the rows equal the
// reference model, every live file holds the rows of the partition its
// add action records, in its partition's folder, in qty order; deltalake
// reads the same rows.
func TestPartitionedModel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := checkedMem(t)
	clock := newClock()
	tb := New(store, "t/", Options{Keys: []string{"id"}, TargetFileBytes: 2 << 10, CheckpointInterval: 3, Layout: partitionedLayout}, m)
	tb.now = clock.now
	cols := slices.Clone(testColumns)
	mod := newModel(cols)
	g := tabletest.NewGen(5, 60)
	var bm bookmarks.Bookmark
	for r := range 14 {
		if r == 7 {
			cols = append(cols, change.Column{Name: "note", Type: arrow.BinaryTypes.String})
			mod.AddColumn(cols[len(cols)-1])
		}
		rows := g.Next(mod, 1+g.R.IntN(25))
		for i := range rows {
			// Days around 1970, so that some partitions are before it.
			if d, ok := rows[i].Vals["day"].(int32); ok {
				rows[i].Vals["day"] = d%5 - 2
			}
		}
		rec := buildChanges(t, m, cols, rows, true)
		var trunc []byte
		var truncSeq *uint64
		if r == 4 {
			s := g.Seq - 5
			truncSeq, trunc = &s, seqBytes(s)
		}
		mod.Apply(rec, rows, truncSeq)
		bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%04d.csv", r), ETag: "e", Size: int64(r)}})
		clock.advance(time.Minute)
		run(t, tb, cols, rec, trunc, bm)
		rec.Release()
		diffRows(t, fmt.Sprintf("run %d", r), readRows(t, tb), mod.Render())
		checkPartitions(t, tb, fmt.Sprintf("run %d", r))
	}
	before, err := tb.Files(ctx, optimizeAll.SmallFileBytes)
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Hour)
	st, err := tb.Maintain(ctx, optimizeAll)
	if err != nil {
		t.Fatal(err)
	}
	after, err := tb.Files(ctx, optimizeAll.SmallFileBytes)
	if err != nil {
		t.Fatal(err)
	}
	if st.Compactions != 1 || after.DataFiles >= before.DataFiles {
		t.Fatalf("maintain %+v: %d files before, %d after", st, before.DataFiles, after.DataFiles)
	}
	diffRows(t, "after maintain", readRows(t, tb), mod.Render())
	checkPartitions(t, tb, "after maintain")
	if err := tb.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	// Begin reads the partition values back from the checkpoint.
	s, err := tb.current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nulls int
	for _, a := range s.files {
		if len(a.PartitionValues) != 2 {
			t.Fatalf("%s: partition values %v after the checkpoint", a.Path, a.PartitionValues)
		}
		if a.PartitionValues["flag"] == nil {
			nulls++
		}
	}
	if nulls == 0 {
		t.Error("no file of the NULL flag partition")
	}
	diffRows(t, "after checkpoint", readRows(t, tb), mod.Render())
	checkPartitions(t, tb, "after checkpoint")
	// Vacuum finds the unreferenced files in the partition folders.
	clock.advance(400 * 24 * time.Hour)
	vs, err := tb.Vacuum(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk int
	err = filepath.WalkDir(filepath.Join(dir, "t"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") && !strings.Contains(p, "_delta_log") {
			onDisk++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if s, err = tb.current(ctx); err != nil {
		t.Fatal(err)
	}
	if vs.FilesDeleted == 0 || onDisk != len(s.files) {
		t.Fatalf("vacuum %+v left %d data files, %d live", vs, onDisk, len(s.files))
	}
	diffRows(t, "after vacuum", readRows(t, tb), mod.Render())
	if py := interopPython(t); py != "" {
		compareWithDeltalake(t, py, tb, filepath.Join(dir, "t"), bm.Runs)
	}
}

// checkPartitions checks every live data file of tb: its rows have the
// partition values of its add action, it lies in their folder, and its
// rows are in the table's sort order.
func checkPartitions(t *testing.T, tb *Table, what string) {
	t.Helper()
	ctx := context.Background()
	s, err := tb.current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pcols := s.meta.PartitionColumns
	if !slices.Equal(pcols, []string{"flag", "day"}) || s.meta.Configuration[partitionsInFiles] != "true" {
		t.Fatalf("%s: partition columns %q, configuration %v", what, pcols, s.meta.Configuration)
	}
	parts, err := partitionIndexes(s.cols, pcols)
	if err != nil {
		t.Fatal(err)
	}
	qty := findColumn(s.cols, "qty")
	t.Logf("%s: %d files", what, len(s.paths()))
	for _, p := range s.paths() {
		a := s.files[p]
		vals := make([]*string, len(pcols))
		for i, c := range pcols {
			vals[i] = a.PartitionValues[c]
		}
		if !strings.HasPrefix(p, logPath(partitionDir(pcols, vals))) {
			t.Errorf("%s: %s is not in the folder of its partition %s", what, p, partitionDir(pcols, vals))
		}
		rec, err := tb.readFile(ctx, p, s.cols)
		if err != nil {
			t.Fatal(err)
		}
		for r := range int(rec.NumRows()) {
			for j, ci := range parts {
				got, err := partitionValue(s.cols[ci], rec.Column(ci), r)
				if err != nil || fmt.Sprint(deref(got)) != fmt.Sprint(deref(vals[j])) {
					t.Errorf("%s: %s row %d: %s is %v, the log says %v", what, p, r, pcols[j], deref(got), deref(vals[j]))
				}
			}
		}
		q := rec.Column(qty).(*array.Int32)
		for r := 1; r < q.Len(); r++ {
			// Descending, nulls last.
			if q.IsNull(r-1) && q.IsValid(r) || q.IsValid(r-1) && q.IsValid(r) && q.Value(r-1) < q.Value(r) {
				t.Errorf("%s: %s: rows %d and %d are not in qty DESC order", what, p, r-1, r)
				break
			}
		}
		rec.Release()
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
