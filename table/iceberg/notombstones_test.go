package iceberg

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// TestNoTombstones: a table with Options.NoTombstones writes no tombstone
// file for its deletes, and one that kept tombstones before stops
// referencing them at its next commit (an upsert alone).
func TestNoTombstones(t *testing.T) {
	cat := localCatalog(t)
	f := &fixture{t: t, mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	t.Cleanup(func() { f.mem.AssertSize(t, 0) })
	f.tbl = New(cat, Options{Database: "db", Name: "t", Keys: []string{"id"}, Buckets: 4}, f.mem)
	tombsProp := func() string {
		t.Helper()
		tbl, err := f.tbl.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tbl.Properties()[TombstonesProperty]
	}
	f.commit(change.OpInsert, 1, 1, 2, 3, 4)
	f.commit(change.OpDelete, 2, 1)
	if tombsProp() == "" {
		t.Fatal("a delete left no tombstone file without NoTombstones")
	}
	f.tbl = New(cat, Options{Database: "db", Name: "t", Keys: []string{"id"}, Buckets: 4, NoTombstones: true}, f.mem)
	f.commit(change.OpUpdate, 3, 2)
	if p := tombsProp(); p != "" {
		t.Fatalf("the commit after NoTombstones still references %s", p)
	}
	f.commit(change.OpDelete, 4, 3, 9)
	if p := tombsProp(); p != "" {
		t.Fatalf("deletes with NoTombstones wrote tombstone file %s", p)
	}
	// The rows: 2 updated, 4 as inserted.
	_, rows, _ := strings.Cut(f.state(), "\n")
	got := strings.Fields(rows)
	slices.Sort(got)
	if want := []string{"2=v2@3", "4=v4@1"}; !slices.Equal(got, want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
}
