package iceberg_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// defaultPolicy is config.DefaultMaintenance as table.Policy.
var defaultPolicy = table.Policy{CompactDeleteFiles: 8, CompactSmallFiles: 16, SmallFileBytes: 32 << 20,
	KeepVersions: 10, KeepFor: 24 * time.Hour, OrphanAge: 24 * time.Hour}

// microbatch builds one run's change set over a table whose keys are
// 0 … *next-1: n changes on distinct keys, 70% updates and 10% deletes of
// random keys, 20% inserts of new keys; sorted by key, _seq after every
// earlier run's (run is its first bytes).
func microbatch(mem memory.Allocator, rng *rand.Rand, n int, next *int64, run int) arrow.RecordBatch {
	type ch struct {
		k  int64
		op change.Op
	}
	seen := map[int64]bool{}
	var cs []ch
	for len(cs) < n {
		switch p := rng.IntN(10); {
		case p < 2:
			seen[*next] = true
			cs = append(cs, ch{*next, change.OpInsert})
			*next++
		default:
			k := rng.Int64N(*next)
			if seen[k] {
				continue
			}
			seen[k] = true
			op := change.OpUpdate
			if p == 2 {
				op = change.OpDelete
			}
			cs = append(cs, ch{k, op})
		}
	}
	slices.SortFunc(cs, func(a, b ch) int { return int(a.k - b.k) })
	b := array.NewRecordBuilder(mem, change.Schema(benchCols))
	defer b.Release()
	for i, c := range cs {
		b.Field(0).(*array.Int64Builder).Append(c.k)
		b.Field(1).(*array.Int64Builder).Append(int64(run))
		b.Field(2).(*array.Int8Builder).Append(int8(c.op))
		var sb change.SeqBuilder
		b.Field(3).(*array.BinaryBuilder).Append(sb.Uint64(uint64(run)).Uint64(uint64(i)).Bytes())
	}
	return b.NewRecordBatch()
}

// BenchmarkMicrobatches is the table side of benchmarks/maintain.sh, in
// process: a table of rows rows in 16 buckets takes runs runs of changes
// changes each (Begin, Evolve, Apply, Commit), then what a run does
// after its commit: with the default policy on, Due, Maintain when due
// and Files; with it off, Files only. One iteration is the whole series
// on a fresh table; ms/run is the average time of a run's table work,
// maint-ms/run the part after the commit. The small size runs in
// seconds (a CI-size check of the overhead); the large one is the
// script's shape without the raw files and the process.
func BenchmarkMicrobatches(b *testing.B) {
	for _, size := range []struct{ rows, runs, changes int }{{10_000, 20, 200}, {200_000, 100, 1_000}} {
		for _, on := range []bool{false, true} {
			name := fmt.Sprintf("rows=%d/runs=%d/changes=%d/policy=%v", size.rows, size.runs, size.changes, map[bool]string{false: "off", true: "on"}[on])
			b.Run(name, func(b *testing.B) {
				var total, maint time.Duration
				var fs table.FileStats
				for range b.N {
					b.StopTimer()
					ctx := context.Background()
					dir := b.TempDir()
					cat, err := local.Open(filepath.Join(dir, "c.db"), "file://"+filepath.Join(dir, "wh"), nil)
					if err != nil {
						b.Fatal(err)
					}
					mem := memory.NewGoAllocator()
					tbl := iceberg.New(cat, iceberg.Options{Database: "b", Name: "t", Keys: []string{"id"}, Buckets: 16}, mem)
					var bm bookmarks.Bookmark
					commit := func(rec arrow.RecordBatch, run int) {
						x, err := tbl.Begin(ctx)
						if err != nil {
							b.Fatal(err)
						}
						if err := x.Evolve(ctx, benchCols); err != nil {
							b.Fatal(err)
						}
						if _, err := x.Apply(ctx, rec, nil); err != nil {
							b.Fatal(err)
						}
						bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprint("run", run)}})
						if err := x.Commit(ctx, bm); err != nil {
							b.Fatal(err)
						}
					}
					load := changeBatch(mem, size.rows, 0, 1, 0)
					commit(load, 0)
					load.Release()
					rng := rand.New(rand.NewPCG(1, 2))
					next := int64(size.rows)
					b.StartTimer()
					for run := 1; run <= size.runs; run++ {
						b.StopTimer()
						rec := microbatch(mem, rng, size.changes, &next, run)
						b.StartTimer()
						start := time.Now()
						commit(rec, run)
						rec.Release()
						after := time.Now()
						if on {
							due, err := tbl.Due(ctx, defaultPolicy)
							if err != nil {
								b.Fatal(err)
							}
							if due {
								if _, err := tbl.Maintain(ctx, defaultPolicy); err != nil {
									b.Fatal(err)
								}
							}
						}
						if fs, err = tbl.Files(ctx, defaultPolicy.SmallFileBytes); err != nil {
							b.Fatal(err)
						}
						total += time.Since(start)
						maint += time.Since(after)
					}
					b.StopTimer()
					cat.Close()
				}
				runs := float64(b.N * size.runs)
				b.ReportMetric(float64(total.Milliseconds())/runs, "ms/run")
				b.ReportMetric(float64(maint.Milliseconds())/runs, "maint-ms/run")
				b.ReportMetric(float64(fs.DataFiles), "data-files")
				b.ReportMetric(float64(fs.DeleteFiles), "delete-files")
				b.ReportMetric(float64(fs.Versions), "snapshots")
			})
		}
	}
}
