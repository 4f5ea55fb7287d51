package delta

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

func checkedMem(t testing.TB) *memory.CheckedAllocator {
	m := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { m.AssertSize(t, 0) })
	return m
}

// fakeClock is a clock that moves one millisecond each time it is read.
type fakeClock struct{ ms atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ms.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli())
	return c
}

func (c *fakeClock) now() time.Time { return time.UnixMilli(c.ms.Add(1)).UTC() }

func (c *fakeClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// stores returns the stores every table test runs on: a folder and memory.
func stores(t *testing.T) map[string]objstore.Store {
	l, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]objstore.Store{"local": l, "mem": mem.New()}
}

var (
	tsType  = &arrow.TimestampType{Unit: arrow.Microsecond}
	decType = &arrow.Decimal128Type{Precision: 10, Scale: 2}
)

// The model, change rows and rendering are table/tabletest's, which the
// suite (suite_test.go) runs against this writer; the tests of this
// package check what is Delta's own with them.
type (
	chg   = tabletest.Change
	model = tabletest.Model
)

var (
	testColumns  = tabletest.Columns
	newModel     = tabletest.NewModel
	buildChanges = tabletest.BuildChanges
	render       = tabletest.Render
	seqBytes     = tabletest.SeqBytes
	diffRows     = tabletest.DiffRows
)

// run is one merge run against a table: Begin, Evolve, Apply, Commit.
func run(t testing.TB, tb *Table, cols []change.Column, rec arrow.RecordBatch, truncate []byte, bm bookmarks.Bookmark) (table.ApplyStats, *Txn) {
	t.Helper()
	ctx := context.Background()
	x, err := tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, cols); err != nil {
		t.Fatal(err)
	}
	st, err := x.Apply(ctx, rec, truncate)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Commit(ctx, bm); err != nil {
		t.Fatal(err)
	}
	if err := x.MaintenanceErr(); err != nil {
		t.Fatal(err)
	}
	return st, x
}

// readRows renders the table as tabletest.TableRows does, its key "id".
func readRows(t testing.TB, tb *Table) []string {
	t.Helper()
	ctx := context.Background()
	info, err := tb.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := tb.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	return tabletest.TableRows(t, tbl, info.Columns, "id")
}

// TestFilesStaySorted runs random multi-run change sets (as the suite's
// MatchesModel does) against a table with small files and checkpoints
// every 3 versions, and checks what is Delta's own after every run: every
// data file holds its rows in key order (a rewritten file keeps its key
// range), Describe's version is the commit's, and the log was
// checkpointed.
func TestFilesStaySorted(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			runModel(t, store, "seed1/", 1, 24)
		})
	}
}

func runModel(t *testing.T, store objstore.Store, root string, seed uint64, runs int) (*Table, *model) {
	ctx := context.Background()
	m := checkedMem(t)
	clock := newClock()
	tb := New(store, root, Options{Keys: []string{"id"}, TargetFileBytes: 3 << 10, CheckpointInterval: 3}, m)
	tb.now = clock.now
	cols := slices.Clone(testColumns)
	mod := newModel(cols)
	g := tabletest.NewGen(seed, 120)
	var bm bookmarks.Bookmark
	for r := 0; r < runs; r++ {
		if r == 9 {
			cols = append(cols, change.Column{Name: "note", Type: arrow.BinaryTypes.String})
			mod.AddColumn(cols[len(cols)-1])
		}
		rows := g.Next(mod, 1+g.R.IntN(40))
		rec := buildChanges(t, m, cols, rows, true)
		var trunc []byte
		var truncSeq *uint64
		if r%8 == 7 {
			// A reload: every row older than this run's changes goes unless
			// the run has a change for it.
			s := g.Seq - 5
			truncSeq, trunc = &s, seqBytes(s)
		}
		want := mod.Apply(rec, rows, truncSeq)
		bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%04d.csv", r), ETag: "e", Size: int64(r)}})
		clock.advance(time.Minute)
		st, x := run(t, tb, cols, rec, trunc, bm)
		rec.Release()
		t.Logf("run %d v%d: %+v", r, x.Version(), st)
		got := st
		got.DataFiles, got.BytesWritten, got.FilesScanned, got.RowsScanned, got.FilesRewritten = 0, 0, 0, 0, 0
		if got != want {
			t.Fatalf("run %d: stats %+v, model says %+v", r, got, want)
		}
		diffRows(t, fmt.Sprintf("run %d (version %d)", r, x.Version()), readRows(t, tb), mod.Render())
		checkFilesSorted(t, tb)
		info, err := tb.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Bookmark.Equal(bm) || info.Rows != int64(len(mod.Rows)) || info.Snapshot != x.Version() {
			t.Fatalf("run %d: describe %+v; want bookmark %s, %d rows", r, info, bm.Summary(), len(mod.Rows))
		}
	}
	// The log was checkpointed: a checkpoint and _last_checkpoint exist.
	objs, err := store.List(ctx, root+lastCheckName)
	if err != nil || len(objs) != 1 {
		t.Fatalf("no _last_checkpoint: %v", err)
	}
	return tb, mod
}
