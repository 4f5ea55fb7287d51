package delta

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

// TestChunksMatchApply: random runs (inserts, updates, deletes,
// re-inserts, late changes, partial images, reloads, a column added half
// way) go into two tables, whole through Apply into one and in 2 to 5
// chunks (keys split by id modulo, as a spilled run's partitions split
// them) into the other. After every run both hold the reference model's
// rows, the same tombstones and bookmark, and their stats are the model's;
// the chunked commit removes every stored file at most once (as many as
// its stats say it rewrote); and some stored file lost rows to several
// chunks of one commit.
func TestChunksMatchApply(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			_, multi := runChunked(t, store, 5, 24)
			if multi == 0 {
				t.Fatal("no stored file lost rows to more than one chunk of a commit: the test misses the case")
			}
		})
	}
}

// TestChunkedReadByDeltalake: a table written in chunks (runChunked) read
// back by deltalake and DuckDB (testdata/read_delta.py) gives the rows
// lakemerge reads, which are the model's. Runs when LAKEMERGE_PYTHON has
// deltalake and duckdb.
func TestChunkedReadByDeltalake(t *testing.T) {
	py := interopPython(t)
	dir := t.TempDir()
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	runs := 16
	tb, _ := runChunked(t, store, 9, runs)
	compareWithDeltalake(t, py, tb, filepath.Join(dir, "chunked"), int64(runs))
}

// runChunked runs the random workload of seed for runs runs into the
// tables whole/ (Apply) and chunked/ (ApplyChunk, FinishChunks) of store,
// checking each run against the model (see TestChunksMatchApply). It
// returns the chunked table and how many stored files lost rows to more
// than one chunk of their commit.
func runChunked(t *testing.T, store objstore.Store, seed uint64, runs int) (*Table, int) {
	ctx := context.Background()
	m := checkedMem(t)
	clock := newClock()
	opts := Options{Keys: []string{"id"}, TargetFileBytes: 3 << 10, CheckpointInterval: 4}
	whole, chunked := New(store, "whole/", opts, m), New(store, "chunked/", opts, m)
	whole.now, chunked.now = clock.now, clock.now
	cols := slices.Clone(testColumns)
	mod := newModel(cols)
	g := tabletest.NewGen(seed, 150)
	var bm bookmarks.Bookmark
	multi := 0
	for r := range runs {
		if r == runs/2 {
			cols = append(cols, change.Column{Name: "note", Type: arrow.BinaryTypes.String})
			mod.AddColumn(cols[len(cols)-1])
		}
		rows := g.Next(mod, 1+g.R.IntN(80))
		rec := buildChanges(t, m, cols, rows, true)
		var trunc []byte
		var truncSeq *uint64
		if r%6 == 5 {
			s := g.Seq - uint64(g.R.IntN(20))
			truncSeq, trunc = &s, seqBytes(s)
		}
		want := mod.Apply(rec, rows, truncSeq)
		bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%04d.csv", r), ETag: "e", Size: int64(r)}})
		clock.advance(time.Minute)
		wst, _ := run(t, whole, cols, rec, trunc, bm)
		n := 2 + g.R.IntN(4)
		cst, x, several := runChunks(t, chunked, m, cols, rec, n, trunc, bm)
		rec.Release()
		multi += several
		what := fmt.Sprintf("run %d (%d chunks, version %d)", r, n, x.Version())
		for _, st := range []table.ApplyStats{wst, cst} {
			if got := verdicts(st); got != want {
				t.Fatalf("%s: stats %+v, model says %+v", what, got, want)
			}
		}
		diffRows(t, what+" whole", readRows(t, whole), mod.Render())
		diffRows(t, what+" chunked", readRows(t, chunked), mod.Render())
		checkFilesSorted(t, chunked)
		if w, c := tombstonesOf(t, whole), tombstonesOf(t, chunked); !slices.EqualFunc(w, c, slices.Equal) {
			t.Fatalf("%s: tombstones differ: whole %d, chunked %d", what, len(w), len(c))
		}
		info, err := chunked.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Bookmark.Equal(bm) || info.Rows != int64(len(mod.Rows)) || info.Snapshot != x.Version() {
			t.Fatalf("%s: describe %+v; want bookmark %s, %d rows", what, info, bm.Summary(), len(mod.Rows))
		}
		// Each stored file is rewritten at most once per commit.
		acts, err := chunked.readCommit(ctx, x.Version())
		if err != nil {
			t.Fatal(err)
		}
		removed := map[string]bool{}
		for _, a := range acts {
			if a.Remove == nil {
				continue
			}
			if removed[a.Remove.Path] {
				t.Fatalf("%s: the commit removes %s twice", what, a.Remove.Path)
			}
			removed[a.Remove.Path] = true
		}
		if cst.FilesRewritten != int64(len(removed)) {
			t.Fatalf("%s: the stats say %d files rewritten, the commit removes %d", what, cst.FilesRewritten, len(removed))
		}
	}
	return chunked, multi
}

// verdicts is st without what depends on the layout (files, bytes, rows
// scanned), as the model counts.
func verdicts(st table.ApplyStats) table.ApplyStats {
	st.DataFiles, st.BytesWritten, st.FilesScanned, st.RowsScanned, st.FilesRewritten = 0, 0, 0, 0, 0
	return st
}

// runChunks is run with rec applied in n chunks (id modulo n). several is
// how many stored files lost rows to more than one chunk.
func runChunks(t *testing.T, tb *Table, mem memory.Allocator, cols []change.Column, rec arrow.RecordBatch, n int, truncate []byte, bm bookmarks.Bookmark) (_ table.ApplyStats, _ *Txn, several int) {
	t.Helper()
	ctx := context.Background()
	x, err := tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, cols); err != nil {
		t.Fatal(err)
	}
	var st table.ApplyStats
	chunksOf := map[string]int{} // stored file → chunks that dropped rows of it
	dropped := map[string]int{}
	for c := range n {
		chunk := chunkOf(t, mem, rec, n, c)
		cst, err := x.ApplyChunk(ctx, chunk)
		chunk.Release()
		if err != nil {
			t.Fatal(err)
		}
		st.Add(cst)
		for f, cr := range x.chunkRows {
			if len(cr.drop) > dropped[f] {
				chunksOf[f]++
				dropped[f] = len(cr.drop)
			}
		}
	}
	fst, err := x.FinishChunks(ctx, truncate)
	if err != nil {
		t.Fatal(err)
	}
	st.Add(fst)
	if err := x.Commit(ctx, bm); err != nil {
		t.Fatal(err)
	}
	if err := x.MaintenanceErr(); err != nil {
		t.Fatal(err)
	}
	for _, k := range chunksOf {
		if k > 1 {
			several++
		}
	}
	return st, x, several
}

// chunkOf is chunk c of n of rec: its rows whose id modulo n is c, in
// rec's order (possibly none). The caller releases it.
func chunkOf(t *testing.T, mem memory.Allocator, rec arrow.RecordBatch, n, c int) arrow.RecordBatch {
	t.Helper()
	ids := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.Int64)
	b := array.NewBooleanBuilder(mem)
	defer b.Release()
	for i := range ids.Len() {
		b.Append(int(ids.Value(i)%int64(n)) == c)
	}
	mask := b.NewBooleanArray()
	defer mask.Release()
	out, err := compute.FilterRecordBatch(compute.WithAllocator(context.Background(), mem), rec, mask, compute.DefaultFilterOptions())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tombstonesOf lists the table's tombstones as key and _seq pairs.
func tombstonesOf(t *testing.T, tb *Table) [][]byte {
	t.Helper()
	ctx := context.Background()
	x, err := tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tomb, err := tb.readTombstones(ctx, x.state.tombs, tb.mem)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i := range tomb.Keys {
		out = append(out, slices.Concat(tomb.Keys[i], []byte{0}, tomb.Seqs[i]))
	}
	return out
}
