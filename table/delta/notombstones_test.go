package delta

import (
	"context"
	"testing"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore/mem"
)

// TestNoTombstones: a table with Options.NoTombstones writes no tombstone
// file for its deletes, and one that kept tombstones before stops
// referencing them at its next commit (an upsert alone); its rows are the
// model's.
func TestNoTombstones(t *testing.T) {
	store := mem.New()
	h := newHarness(t, store, Options{})
	tombsRef := func() *tombFileRef {
		t.Helper()
		x, err := h.tb.Begin(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return x.state.tombs
	}
	h.commit(upserts(1, ids(1, 4)...))
	h.commit([]chg{{Op: change.OpDelete, Seq: 2, Vals: map[string]any{"id": int64(1)}}})
	if tombsRef() == nil {
		t.Fatal("a delete left no tombstone file without NoTombstones")
	}
	h.tb = New(store, "t/", Options{Keys: []string{"id"}, NoTombstones: true}, h.m)
	h.tb.now = h.clock.now
	h.commit(upserts(3, 2))
	if ref := tombsRef(); ref != nil {
		t.Fatalf("the commit after NoTombstones still references %s", ref.Path)
	}
	h.commit([]chg{{Op: change.OpDelete, Seq: 4, Vals: map[string]any{"id": int64(3)}}, {Op: change.OpDelete, Seq: 4, Vals: map[string]any{"id": int64(9)}}})
	if ref := tombsRef(); ref != nil {
		t.Fatalf("deletes with NoTombstones wrote tombstone file %s", ref.Path)
	}
	h.check("after the deletes")
}
