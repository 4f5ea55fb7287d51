package iceberg

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

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
			tasks, err := x.tbl.Scan().PlanFiles(ctx)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := x.tbl.FS(ctx)
			if err != nil {
				t.Fatal(err)
			}
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
