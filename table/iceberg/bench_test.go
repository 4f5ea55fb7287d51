package iceberg_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

var benchCols = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64},
}

// changeBatch builds n upserts of keys start, start+step, ... (sorted), with
// _seq greater than any earlier batch's (seq is its first byte).
func changeBatch(mem memory.Allocator, n int, start, step int64, seq byte) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, change.Schema(benchCols))
	defer b.Release()
	for i := 0; i < n; i++ {
		k := start + int64(i)*step
		b.Field(0).(*array.Int64Builder).Append(k)
		b.Field(1).(*array.Int64Builder).Append(k * 7)
		b.Field(2).(*array.Int8Builder).Append(int8(change.OpUpdate))
		var sb change.SeqBuilder
		b.Field(3).(*array.BinaryBuilder).Append(sb.Byte(seq).Uint64(uint64(i)).Bytes())
	}
	return b.NewRecordBatch()
}

// BenchmarkApply measures planning and staging one change set against a
// table of rows live rows in 16 buckets: reading key and _seq columns of
// candidate files, writing new data files and position-delete files (not
// committed, so every iteration sees the same table).
func BenchmarkApply(b *testing.B) {
	for _, rows := range []int{1_000_000} {
		for _, changes := range []int{1_000, 100_000} {
			b.Run(fmt.Sprintf("rows=%d/changes=%d", rows, changes), func(b *testing.B) {
				ctx := context.Background()
				dir := b.TempDir()
				cat, err := local.Open(filepath.Join(dir, "c.db"), "file://"+filepath.Join(dir, "wh"), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer cat.Close()
				mem := memory.NewGoAllocator()
				tbl := iceberg.New(cat, iceberg.Options{Database: "b", Name: "t", Keys: []string{"id"}, Buckets: 16}, mem)
				x, err := tbl.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := x.Evolve(ctx, benchCols); err != nil {
					b.Fatal(err)
				}
				base := changeBatch(mem, rows, 0, 1, 1)
				if _, err := x.Apply(ctx, base, nil); err != nil {
					b.Fatal(err)
				}
				base.Release()
				if err := x.Commit(ctx, bookmarks.Bookmark{}.Advance([]bookmarks.Entry{{Key: "load"}})); err != nil {
					b.Fatal(err)
				}
				ch := changeBatch(mem, changes, 3, int64(rows/changes), 2)
				defer ch.Release()
				b.ResetTimer()
				for b.Loop() {
					x, err := tbl.Begin(ctx)
					if err != nil {
						b.Fatal(err)
					}
					st, err := x.Apply(ctx, ch, nil)
					if err != nil {
						b.Fatal(err)
					}
					if st.Updated != int64(changes) {
						b.Fatalf("updated %d, want %d", st.Updated, changes)
					}
				}
				b.ReportMetric(float64(changes)*float64(b.N)/b.Elapsed().Seconds(), "changes/s")
			})
		}
	}
}
