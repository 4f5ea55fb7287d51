package iceberg

import (
	"strings"
	"testing"
)

func render(t *tombstones) string {
	var b strings.Builder
	for i := range t.keys {
		b.WriteString(string(t.keys[i]) + "=" + string(t.seqs[i]) + " ")
	}
	return strings.TrimSpace(b.String())
}

func TestTombstoneApply(t *testing.T) {
	ts := &tombstones{
		keys: [][]byte{[]byte("a"), []byte("c"), []byte("e")},
		seqs: [][]byte{[]byte("1"), []byte("5"), []byte("7")},
		at:   []int64{100, 50, 100},
	}
	// b added, c cleared (live again), e replaced, f added; nothing pruned.
	got, changed := ts.apply([]tombEdit{
		{key: []byte("b"), seq: []byte("2")},
		{key: []byte("c")},
		{key: []byte("d")}, // clear of a key without tombstone: no-op
		{key: []byte("e"), seq: []byte("8")},
		{key: []byte("f"), seq: []byte("9")},
	}, 200, 0, nil)
	if !changed || render(got) != "a=1 b=2 e=8 f=9" {
		t.Fatalf("got %q changed=%v", render(got), changed)
	}
	if render(ts) != "a=1 c=5 e=7" {
		t.Fatal("apply modified its receiver")
	}
	// Horizon: entries written before the cutoff go.
	got, changed = ts.apply(nil, 200, 60, nil)
	if !changed || render(got) != "a=1 e=7" {
		t.Fatalf("horizon: %q", render(got))
	}
	// Reload floor: entries with a _seq below it go.
	got, changed = ts.apply(nil, 200, 0, []byte("6"))
	if !changed || render(got) != "e=7" {
		t.Fatalf("floor: %q", render(got))
	}
	if _, changed = ts.apply(nil, 200, 0, nil); changed {
		t.Fatal("no edits, nothing pruned, but changed")
	}
	if s, ok := got.seqOf([]byte("e")); !ok || string(s) != "7" {
		t.Fatal("seqOf")
	}
}
