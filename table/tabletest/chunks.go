package tabletest

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/table"
)

// Chunker is the side of merge.Chunker a writer keeps: a Txn that takes a
// change set in pieces within one commit. ApplyChunk once per chunk (one
// row per key, sorted by key, no key in two chunks), then FinishChunks
// once (truncateBefore spans every chunk), then Commit. The chunked
// scenarios are skipped for a writer whose Txn is no Chunker.
type Chunker interface {
	ApplyChunk(ctx context.Context, changes arrow.RecordBatch) (table.ApplyStats, error)
	FinishChunks(ctx context.Context, truncateBefore []byte) (table.ApplyStats, error)
}

// chunkedOrSkip skips t when the writer's Txn is no Chunker.
func (f *fixture) chunkedOrSkip(t *testing.T) {
	t.Helper()
	x, err := f.open().Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := x.(Chunker); !ok {
		t.Skip("the writer takes a change set whole (its Txn is no Chunker)")
	}
}

// splitChunks splits rec (an "id"-keyed change set) into n chunks by id
// modulo n, as a spilled run's partitions split keys: each keeps rec's key
// order. The caller releases them; empty chunks are left out.
func splitChunks(mem memory.Allocator, rec arrow.RecordBatch, n int) ([]arrow.RecordBatch, error) {
	ids := rec.Column(rec.Schema().FieldIndices("id")[0])
	key := func(i int) int64 {
		if a, ok := ids.(*array.Int32); ok {
			return int64(a.Value(i))
		}
		return ids.(*array.Int64).Value(i)
	}
	ctx := compute.WithAllocator(context.Background(), mem)
	var out []arrow.RecordBatch
	for c := range n {
		b := array.NewBooleanBuilder(mem)
		for i := range int(rec.NumRows()) {
			b.Append(((key(i)%int64(n))+int64(n))%int64(n) == int64(c))
		}
		mask := b.NewBooleanArray()
		b.Release()
		chunk, err := compute.FilterRecordBatch(ctx, rec, mask, compute.DefaultFilterOptions())
		mask.Release()
		if err != nil {
			for _, o := range out {
				o.Release()
			}
			return nil, err
		}
		if chunk.NumRows() == 0 {
			chunk.Release()
			continue
		}
		out = append(out, chunk)
	}
	return out, nil
}

// applyChunks applies rec to x in n chunks, then finishes them; the stats
// are their sums. With failAfter > 0, fail is called after that many
// chunks (a fault between chunks).
func (f *fixture) applyChunks(ctx context.Context, x Chunker, rec arrow.RecordBatch, n int, truncateBefore []byte, failAfter int, fail func()) (table.ApplyStats, error) {
	var st table.ApplyStats
	chunks, err := splitChunks(f.mem, rec, n)
	if err != nil {
		return st, err
	}
	defer func() {
		for _, c := range chunks {
			c.Release()
		}
	}()
	for i, c := range chunks {
		if failAfter > 0 && i == failAfter {
			fail()
		}
		cst, err := x.ApplyChunk(ctx, c)
		st.Add(cst)
		if err != nil {
			return st, fmt.Errorf("apply chunk %d of %d: %w", i+1, len(chunks), err)
		}
	}
	fst, err := x.FinishChunks(ctx, truncateBefore)
	st.Add(fst)
	if err != nil {
		return st, fmt.Errorf("finish chunks: %w", err)
	}
	return st, nil
}

// chunkedMatchesModel: matchesModel's random runs (inserts, updates,
// deletes, re-inserts, late changes, partial images, reloads, a column
// added half-way), each change set applied in three chunks within its one
// commit; after every run the table, the summed stats and Describe equal
// the reference model's, so a change set in chunks is the change set
// whole (invariants 3, 4 and 5).
func chunkedMatchesModel(t *testing.T, f *fixture) {
	f.chunkedOrSkip(t)
	f.chunks = 3
	matchesModel(t, f)
}

// chunkedReload: a reload applied in chunks deletes the stored rows whose
// key is in no chunk, and only those: rows of keys in other chunks than
// the one being applied stay.
func chunkedReload(t *testing.T, f *fixture) {
	f.chunkedOrSkip(t)
	f.chunks = 2
	reload(t, f)
}

// chunkedFault: a change set in chunks whose data files cannot be written
// after the first chunk fails and leaves the table as it was; so does an
// attempt that applied and finished every chunk and was never committed
// (a crash before Commit); a re-run then gives the model's table (a
// clean run's), in one commit.
func chunkedFault(t *testing.T, f *fixture) {
	f.chunkedOrSkip(t)
	ctx := context.Background()
	cols := Columns[:4]
	mod := NewModel(cols)
	g := NewGen(3, 60)
	g.Partial = false
	var bm bookmarks.Bookmark
	load := g.Next(mod, 50)
	f.chunks = 3
	f.step(t, "load", cols, mod, &bm, load, "")
	rows := g.Next(mod, 40)
	rec := BuildChanges(t, f.mem, cols, rows, false)
	defer rec.Release()
	before := f.rows(cols)
	next := bm.Advance([]bookmarks.Entry{{Key: "cdc", ETag: "e", Size: 1}})
	trunc := SeqBytes(g.Seq - 3)

	// The warehouse refuses data files from the second chunk on.
	x, err := f.open().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, cols); err != nil {
		t.Fatal(err)
	}
	var undo func()
	_, err = f.applyChunks(ctx, x.(Chunker), rec, 3, trunc, 1, func() { _, undo = f.backend().Deny(DataFiles) })
	if undo != nil {
		undo()
	}
	if err == nil {
		err = x.Commit(ctx, next)
	}
	if err == nil {
		t.Fatal("a change set whose second chunk could not be written committed")
	}
	DiffRows(t, "after a failed chunk", f.rows(cols), before)
	if info := f.describe(); !info.Bookmark.Equal(bm) {
		t.Fatalf("after a failed chunk the bookmark is %s, want %s", info.Bookmark.Summary(), bm.Summary())
	}

	// Every chunk applied and finished, no Commit: nothing visible.
	x, err = f.open().Begin(ctx)
	if err == nil {
		err = x.Evolve(ctx, cols)
	}
	if err == nil {
		_, err = f.applyChunks(ctx, x.(Chunker), rec, 3, trunc, 0, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	DiffRows(t, "after chunks never committed", f.rows(cols), before)

	// The re-run: the model's table, the bookmark moved once.
	s := g.Seq - 3
	want := mod.Apply(rec, rows, &s)
	st := f.mustCommit(cols, rec, trunc, next)
	if got := verdicts(st); got != want {
		t.Fatalf("re-run: stats %+v, model says %+v", got, want)
	}
	DiffRows(t, "re-run", f.rows(cols), mod.Render())
	if info := f.describe(); !info.Bookmark.Equal(next) || info.Rows != int64(len(mod.Rows)) {
		t.Fatalf("re-run: describe says %d rows, bookmark %s; want %d, %s", info.Rows, info.Bookmark.Summary(), len(mod.Rows), next.Summary())
	}
}
