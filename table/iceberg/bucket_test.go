package iceberg

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
)

// TestAppendBucketsMatchesWriter: the bucket AppendBuckets gives a key
// (merge.Bucketer, before the table exists and after) is the partition
// iceberg-go's writer put its row in, for every type a key column can
// have but boolean (which the bucket transform does not take): long, int,
// date, string, binary, decimal (of 4 and of 16 bytes, negative values
// too) and timestamp; the table's rows are written bucket after bucket
// (bucketOrder orders them, where a decimal or timestamp key went through
// the fan-out writer before); and bucketTasks plans, for a change set of
// one bucket's keys, exactly the data files of that bucket.
func TestAppendBucketsMatchesWriter(t *testing.T) {
	for _, typ := range []arrow.DataType{
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.FixedWidthTypes.Date32,
		arrow.BinaryTypes.String, arrow.BinaryTypes.Binary,
		&arrow.Decimal128Type{Precision: 9, Scale: 0}, &arrow.Decimal128Type{Precision: 38, Scale: 10},
		&arrow.TimestampType{Unit: arrow.Microsecond},
	} {
		t.Run(typ.String(), func(t *testing.T) {
			ctx := context.Background()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			const buckets = 8
			cols := []change.Column{{Name: "id", Type: typ}, {Name: "v", Type: arrow.BinaryTypes.String}}
			tb := New(localCatalog(t), Options{Database: "db", Name: "t", Keys: []string{"id"}, Buckets: buckets}, mem)
			var keys []string
			for i := -100; i < 300; i += 3 {
				keys = append(keys, fmt.Sprint(i*7919))
			}
			rec := keyChanges(t, mem, cols, 1, keys)
			defer rec.Release()
			x, err := tb.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := x.Buckets(cols); n != buckets {
				t.Fatalf("Buckets before the table exists = %d, want %d", n, buckets)
			}
			before, err := x.AppendBuckets(nil, rec)
			if err != nil {
				t.Fatal(err)
			}
			var bm bookmarks.Bookmark
			applyCommit(t, tb, cols, &bm, 1, rec)

			if x, err = tb.Begin(ctx); err != nil {
				t.Fatal(err)
			}
			after, err := x.AppendBuckets(nil, rec)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("buckets before the table exists %v, after %v", before, after)
			}
			ib := array.NewInt64Builder(mem)
			for i := range rec.NumRows() {
				ib.Append(i)
			}
			idx := ib.NewInt64Array()
			ib.Release()
			order, ends, err := x.bucketOrder(rec, idx)
			idx.Release()
			if err != nil || order == nil || len(ends) != buckets {
				t.Fatalf("bucketOrder: %v, %d bucket ends, err %v: the rows would not be written bucket after bucket", order, len(ends), err)
			}
			order.Release()
			tasks, fs := liveFiles(t, x)
			filesOf := map[int32]int{}
			rows := 0
			for _, task := range tasks {
				part, ok := task.File.Partition()[1000].(int32)
				if !ok {
					t.Fatalf("%s: partition %v", task.File.FilePath(), task.File.Partition())
				}
				filesOf[part]++
				err := x.scanKeys(ctx, fs, task.File.FilePath(), func(b arrow.RecordBatch, _ int64) error {
					got, err := x.AppendBuckets(nil, b)
					for _, g := range got {
						if g != part {
							return fmt.Errorf("a key of bucket %d in a file of partition %d", g, part)
						}
					}
					rows += len(got)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if rows != len(keys) || len(filesOf) < buckets/2 {
				t.Fatalf("%d rows in %d buckets, want %d rows over most of %d", rows, len(filesOf), len(keys), buckets)
			}
			one := rec.NewSlice(0, 1)
			defer one.Release()
			kept := x.bucketTasks(one, tasks)
			if len(kept) != filesOf[after[0]] {
				t.Fatalf("bucketTasks kept %d files, bucket %d has %d", len(kept), after[0], filesOf[after[0]])
			}
		})
	}
}

// TestMergeWritesBucketAfterBucket: a merge into a table partitioned by
// key bucket alone writes its rows bucket after bucket (writeRows'
// clustered write, in slices of writeSlice rows): more rows than two
// slices, inserted and then a third of them updated, leave one data file
// per bucket and commit, each holding keys of its own bucket only, in key
// order, and the table holds every key once with its latest value.
func TestMergeWritesBucketAfterBucket(t *testing.T) {
	f := newFixture(t)
	const n = 2*writeSlice + 1000
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i)
	}
	f.commit(change.OpInsert, 1, ids...)
	var upd []int64
	for i := int64(0); i < n; i += 3 {
		upd = append(upd, i)
	}
	f.commit(change.OpUpdate, 2, upd...)

	ctx := context.Background()
	x, err := f.tbl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tasks, fs := liveFiles(t, x)
	files := map[int32]int{} // bucket → data files
	for _, task := range tasks {
		part := task.File.Partition()[1000].(int32)
		files[part]++
		last := int64(-1)
		err := x.scanKeys(ctx, fs, task.File.FilePath(), func(b arrow.RecordBatch, _ int64) error {
			got, err := x.AppendBuckets(nil, b)
			for i, g := range got {
				id := b.Column(0).(*array.Int64).Value(i)
				if g != part || id <= last {
					return fmt.Errorf("key %d (bucket %d) after %d in a file of bucket %d", id, g, last, part)
				}
				last = id
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", task.File.FilePath(), err)
		}
	}
	if len(files) != 4 || files[0] != 2 || files[1] != 2 || files[2] != 2 || files[3] != 2 {
		t.Errorf("data files per bucket %v, want 2 in each of 4 (one per commit)", files)
	}
	want := map[int64]string{}
	for _, id := range ids {
		want[id] = fmt.Sprintf("v%d@1", id)
	}
	for _, id := range upd {
		want[id] = fmt.Sprintf("v%d@2", id)
	}
	at := readAll(t, f.tbl)
	defer at.Release()
	if at.NumRows() != n {
		t.Fatalf("table holds %d rows, want %d", at.NumRows(), n)
	}
	ic, vc := at.Schema().FieldIndices("id")[0], at.Schema().FieldIndices("v")[0]
	tr := array.NewTableReader(at, 64<<10)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := range int(rec.NumRows()) {
			id := rec.Column(ic).(*array.Int64).Value(i)
			if v := rec.Column(vc).(*array.String).Value(i); v != want[id] {
				t.Fatalf("key %d holds %q, want %q", id, v, want[id])
			}
			delete(want, id) // a second row of the key holds ""
		}
	}
}

// liveFiles plans the live data files of the table x began on, and opens
// its file IO.
func liveFiles(t *testing.T, x *Txn) ([]icetable.FileScanTask, iceio.IO) {
	t.Helper()
	ctx := context.Background()
	tasks, err := x.tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := x.tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tasks, fs
}

// appendKey appends to kb the key value of k, an integer in text: a date
// of k days, the bytes of k, a decimal of unscaled value k (k×10^25 above
// 18 digits: 16 bytes), a timestamp of k×1000003 µs.
func appendKey(t *testing.T, kb array.Builder, k string) {
	t.Helper()
	var v int64
	fmt.Sscan(k, &v)
	switch kb := kb.(type) {
	case *array.Date32Builder:
		kb.Append(arrow.Date32(v))
	case *array.BinaryBuilder:
		kb.Append([]byte(k))
	case *array.Decimal128Builder:
		u := big.NewInt(v)
		if kb.Type().(*arrow.Decimal128Type).Precision > 18 {
			u.Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(25), nil))
		}
		kb.Append(decimal128.FromBigInt(u))
	case *array.TimestampBuilder:
		kb.Append(arrow.Timestamp(v * 1000003))
	case *array.BooleanBuilder:
		kb.Append(v != 0)
	default:
		t.Fatalf("no key of %T", kb)
	}
}

// TestBooleanKeyUnpartitioned: a table whose first key is a boolean,
// which Iceberg's bucket transform does not take, is created
// unpartitioned whatever Options.Buckets says (iceberg-go wrote its rows
// under a null bucket value, which the spec does not allow), and its rows
// are written and merged. Its Txn says it has no key buckets
// (merge.Bucketer) before the table exists as after: one rule,
// partitionSpec's.
func TestBooleanKeyUnpartitioned(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cols := []change.Column{{Name: "id", Type: arrow.FixedWidthTypes.Boolean}, {Name: "v", Type: arrow.BinaryTypes.String}}
	tb := New(localCatalog(t), Options{Database: "db", Name: "t", Keys: []string{"id"}, Buckets: 8}, mem)
	x, err := tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := x.Buckets(cols); x.Exists() || n != 0 {
		t.Fatalf("before the first commit: Buckets %d (table exists: %v), want 0", n, x.Exists())
	}
	var bm bookmarks.Bookmark
	for seq := byte(1); seq <= 2; seq++ {
		rec := keyChanges(t, mem, cols, seq, []string{"0", "1"})
		applyCommit(t, tb, cols, &bm, seq, rec)
		rec.Release()
	}
	if x, err = tb.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	if n := x.Buckets(cols); n != 0 {
		t.Fatalf("after the first commit: Buckets %d, want 0", n)
	}
	if spec := x.tbl.Spec(); !spec.IsUnpartitioned() {
		t.Fatalf("spec %v, want unpartitioned", spec)
	}
	tasks, _ := liveFiles(t, x)
	rows := int64(0)
	for _, task := range tasks {
		if p := task.File.Partition(); len(p) != 0 {
			t.Errorf("%s: partition %v", task.File.FilePath(), p)
		}
		rows += task.File.Count()
	}
	if rows < 2 {
		t.Fatalf("%d rows in live files, want the 2 keys' rows", rows)
	}
}

// TestAppendBucketsSpecHashes: appendBuckets hashes each value as the
// Iceberg spec's bucket transform does (its appendix B test vectors: with
// 2^31-1 buckets the bucket is the hash's low 31 bits), whatever the
// Arrow type it comes in: int as int8, int16 and int32, time and
// timestamp (with and without a zone) in every Arrow unit, decimal as
// decimal32, 64 and 128, string and binary large or not, fixed and uuid;
// a boolean is errBucketType, a null value an error.
func TestAppendBucketsSpecHashes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ts := time.Date(2017, 11, 16, 22, 31, 8, 0, time.UTC)
	day := int64(ts.Sub(ts.Truncate(24 * time.Hour)))
	tsType := func(u arrow.TimeUnit, zone string) arrow.DataType {
		return &arrow.TimestampType{Unit: u, TimeZone: zone}
	}
	for _, tc := range []struct {
		typ  arrow.DataType
		json string // the value, as array.FromJSON reads it
		hash int32  // the spec's
	}{
		{arrow.PrimitiveTypes.Int8, `[34]`, 2017239379},
		{arrow.PrimitiveTypes.Int16, `[34]`, 2017239379},
		{arrow.PrimitiveTypes.Int32, `[34]`, 2017239379},
		{arrow.PrimitiveTypes.Int64, `[34]`, 2017239379},
		{&arrow.Decimal32Type{Precision: 9, Scale: 2}, `["14.20"]`, -500754589},
		{&arrow.Decimal64Type{Precision: 9, Scale: 2}, `["14.20"]`, -500754589},
		{&arrow.Decimal128Type{Precision: 9, Scale: 2}, `["14.20"]`, -500754589},
		{&arrow.Decimal128Type{Precision: 38, Scale: 2}, `["14.20"]`, -500754589},
		{arrow.FixedWidthTypes.Date32, `["2017-11-16"]`, -653330422},
		{arrow.FixedWidthTypes.Time32s, fmt.Sprintf("[%d]", day/1e9), -662762989},
		{arrow.FixedWidthTypes.Time32ms, fmt.Sprintf("[%d]", day/1e6), -662762989},
		{arrow.FixedWidthTypes.Time64us, fmt.Sprintf("[%d]", day/1e3), -662762989},
		{arrow.FixedWidthTypes.Time64ns, fmt.Sprintf("[%d]", day+999), -662762989},
		{tsType(arrow.Second, ""), fmt.Sprintf("[%d]", ts.Unix()), -2047944441},
		{tsType(arrow.Millisecond, ""), fmt.Sprintf("[%d]", ts.UnixMilli()), -2047944441},
		{tsType(arrow.Microsecond, ""), fmt.Sprintf("[%d]", ts.UnixMicro()), -2047944441},
		{tsType(arrow.Microsecond, "UTC"), fmt.Sprintf("[%d]", ts.UnixMicro()), -2047944441},
		{tsType(arrow.Nanosecond, "America/Los_Angeles"), fmt.Sprintf("[%d]", ts.UnixNano()), -2047944441},
		{tsType(arrow.Microsecond, ""), fmt.Sprintf("[%d]", ts.UnixMicro()+1), -1207196810},
		{tsType(arrow.Nanosecond, ""), fmt.Sprintf("[%d]", ts.UnixNano()+1001), -1207196810},
		{arrow.BinaryTypes.String, `["iceberg"]`, 1210000089},
		{arrow.BinaryTypes.LargeString, `["iceberg"]`, 1210000089},
		{arrow.BinaryTypes.Binary, `["AAECAw=="]`, -188683207},
		{arrow.BinaryTypes.LargeBinary, `["AAECAw=="]`, -188683207},
		{&arrow.FixedSizeBinaryType{ByteWidth: 4}, `["AAECAw=="]`, -188683207},
		{extensions.NewUUIDType(), `["f79c3e09-677c-4bbd-a479-3f349cb785e7"]`, 1488055340},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			arr, _, err := array.FromJSON(mem, tc.typ, strings.NewReader(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			defer arr.Release()
			got, err := appendBuckets(nil, arr, math.MaxInt32)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.hash & math.MaxInt32; len(got) != 1 || got[0] != want {
				t.Fatalf("%s %s: buckets %v, want [%d]", tc.typ, tc.json, got, want)
			}
		})
	}
	for _, tc := range []struct {
		typ  arrow.DataType
		json string
		want error
	}{
		{arrow.FixedWidthTypes.Boolean, `[true]`, errBucketType},
		{arrow.PrimitiveTypes.Int64, `[1, null]`, nil},
	} {
		arr, _, err := array.FromJSON(mem, tc.typ, strings.NewReader(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		_, err = appendBuckets(nil, arr, 16)
		arr.Release()
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s %s: err %v, want %v", tc.typ, tc.json, err, tc.want)
		}
	}
}
