package merge_test

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/change"
)

// TestKeepChanges: with KeepChanges, a Run that commits hands over the
// change set it applied (one row per key, sorted by key), the bookmark its
// commit was made on and the one it made; without it, or when nothing was
// pending, none. The checked allocator of newEnv sees the set released.
func TestKeepChanges(t *testing.T) {
	e := newEnv(t)
	e.raw.put(prefix+"load-1", body([]change1{{op: 'I', id: 2, name: "b"}, {op: 'I', id: 1, name: "a"}}))
	tb := e.table(e.tbl)
	tb.KeepChanges = true
	res, err := tb.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied == nil || res.Applied.NumRows() != 2 || res.Parent.Runs != 0 || len(res.Parent.Entries) != 0 {
		t.Fatalf("first run: applied %v, parent %+v", res.Applied, res.Parent)
	}
	ids := res.Applied.Column(res.Applied.Schema().FieldIndices("id")[0]).(*array.Int64)
	if ids.Value(0) != 1 || ids.Value(1) != 2 || len(res.Applied.Schema().FieldIndices(change.ColSeq)) != 1 {
		t.Fatalf("applied set: %v", res.Applied)
	}
	// The commit times (_ts) go with the applied set: none for full-load
	// rows without a timestamp column.
	if ts := res.Applied.Schema().FieldIndices(change.ColTS); len(ts) != 1 || res.Applied.Column(ts[0]).NullN() != 2 {
		t.Fatalf("applied set's _ts: %v", res.Applied)
	}
	res.Applied.Release()
	first := e.bookmark()
	if !res.Bookmark.Equal(first) {
		t.Fatalf("bookmark %+v, table %+v", res.Bookmark, first)
	}

	e.writeCDC([]change1{{op: 'D', id: 1, seq: 7}})
	res, err = tb.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied == nil || res.Applied.NumRows() != 1 || !res.Parent.Equal(first) || res.TruncateBefore != nil {
		t.Fatalf("second run: applied %v, parent %+v (want %+v)", res.Applied, res.Parent, first)
	}
	// A CDC row's commit time is the source's (the test format: its seq
	// in seconds).
	if ts := res.Applied.Schema().FieldIndices(change.ColTS); len(ts) != 1 || res.Applied.Column(ts[0]).NullN() != 0 ||
		res.Applied.Column(ts[0]).(*array.Timestamp).Value(0) != arrow.Timestamp(7*1_000_000) {
		t.Fatalf("applied set's _ts: %v", res.Applied)
	}
	res.Applied.Release()

	// Nothing pending: nothing handed over.
	if res, err = tb.Run(context.Background()); err != nil || !res.UpToDate || res.Applied != nil {
		t.Fatalf("up-to-date run: %+v, %v", res, err)
	}
	// Without KeepChanges: nothing handed over.
	e.writeCDC([]change1{{op: 'I', id: 3, name: "c"}})
	if res := e.run(); res.Applied != nil {
		t.Fatalf("run without KeepChanges handed over %v", res.Applied)
	}
}
