package iceberg

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
)

// TestAppendBucketsMatchesWriter: the bucket AppendBuckets gives a key
// (merge.Bucketer, before the table exists and after) is the partition
// iceberg-go's writer put its row in, for long, int and string keys; and
// bucketTasks plans, for a change set of one bucket's keys, exactly the
// data files of that bucket.
func TestAppendBucketsMatchesWriter(t *testing.T) {
	for _, typ := range []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.BinaryTypes.String} {
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
			if x.Buckets() != buckets {
				t.Fatalf("Buckets before the table exists = %d, want %d", x.Buckets(), buckets)
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
