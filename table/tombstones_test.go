package table

import (
	"strings"
	"testing"
)

func renderTombs(t *Tombstones) string {
	var b strings.Builder
	for i := range t.Keys {
		b.WriteString(string(t.Keys[i]) + "=" + string(t.Seqs[i]) + " ")
	}
	return strings.TrimSpace(b.String())
}

func TestTombstoneApply(t *testing.T) {
	ts := &Tombstones{
		Keys: [][]byte{[]byte("a"), []byte("c"), []byte("e")},
		Seqs: [][]byte{[]byte("1"), []byte("5"), []byte("7")},
		At:   []int64{100, 50, 100},
	}
	// b added, c cleared (live again), e replaced, f added; nothing pruned.
	got, changed := ts.Apply([]TombEdit{
		{Key: []byte("b"), Seq: []byte("2")},
		{Key: []byte("c")},
		{Key: []byte("d")}, // clear of a key without tombstone: no-op
		{Key: []byte("e"), Seq: []byte("8")},
		{Key: []byte("f"), Seq: []byte("9")},
	}, 200, 0, nil)
	if !changed || renderTombs(got) != "a=1 b=2 e=8 f=9" {
		t.Fatalf("got %q changed=%v", renderTombs(got), changed)
	}
	if renderTombs(ts) != "a=1 c=5 e=7" {
		t.Fatal("apply modified its receiver")
	}
	// Horizon: entries written before the cutoff go.
	got, changed = ts.Apply(nil, 200, 60, nil)
	if !changed || renderTombs(got) != "a=1 e=7" {
		t.Fatalf("horizon: %q", renderTombs(got))
	}
	// Reload floor: entries with a _seq below it go.
	got, changed = ts.Apply(nil, 200, 0, []byte("6"))
	if !changed || renderTombs(got) != "e=7" {
		t.Fatalf("floor: %q", renderTombs(got))
	}
	if _, changed = ts.Apply(nil, 200, 0, nil); changed {
		t.Fatal("no edits, nothing pruned, but changed")
	}
	if s, ok := got.SeqOf([]byte("e")); !ok || string(s) != "7" {
		t.Fatal("seqOf")
	}
}
