package apply

import (
	"testing"

	"github.com/lakemerge/lakemerge/bookmarks"
)

// TestStateRoundTrip: a State survives its bookmark and the bookmark's
// encoding, as a commit stores it.
func TestStateRoundTrip(t *testing.T) {
	s := State{BaseTable: "customers", Base: BaseDigest(bookmarks.Bookmark{Runs: 3, Last: "a.csv",
		Entries: []bookmarks.Entry{{Key: "a.csv", ETag: "e1", Size: 10}}}), BaseSnapshot: -42,
		Fingerprint: "v1:abc", Generation: 7, Runs: 12}
	enc, err := s.Bookmark().Encode()
	if err != nil {
		t.Fatal(err)
	}
	bm, err := bookmarks.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := StateOf(bm)
	if err != nil || got != s {
		t.Fatalf("got %+v (%v), want %+v", got, err, s)
	}
	if got, err := StateOf(bookmarks.Bookmark{}); err != nil || got != (State{}) {
		t.Fatalf("empty bookmark: %+v, %v", got, err)
	}
	// A base table's bookmark is not a prepared table's.
	if _, err := StateOf(bookmarks.Bookmark{Runs: 1, Entries: []bookmarks.Entry{{Key: "public/t/LOAD00000001.csv", ETag: "x", Size: 1}}}); err == nil {
		t.Fatal("a base table's bookmark decoded as a State")
	}
}

// TestBaseDigest: the digest tells base states apart by every part of the
// bookmark, and ignores what a listing adds to an entry (Former, Special).
func TestBaseDigest(t *testing.T) {
	base := bookmarks.Bookmark{Generation: 1, Runs: 2, Last: "b", Entries: []bookmarks.Entry{{Key: "a", ETag: "e", Size: 1, Gen: 1}, {Key: "b", ETag: "f", Size: 2, Gen: 1}}}
	if BaseDigest(bookmarks.Bookmark{}) != "" {
		t.Fatal("the empty bookmark has a digest")
	}
	d := BaseDigest(base)
	clone := func() bookmarks.Bookmark {
		b := base
		b.Entries = append([]bookmarks.Entry(nil), base.Entries...)
		return b
	}
	listed := clone()
	listed.Entries[0].Former = "old"
	if BaseDigest(listed) != d {
		t.Error("Former changes the digest")
	}
	for name, edit := range map[string]func(*bookmarks.Bookmark){
		"generation": func(b *bookmarks.Bookmark) { b.Generation++ },
		"runs":       func(b *bookmarks.Bookmark) { b.Runs++ },
		"last":       func(b *bookmarks.Bookmark) { b.Last = "a" },
		"etag":       func(b *bookmarks.Bookmark) { b.Entries[1].ETag = "g" },
		"size":       func(b *bookmarks.Bookmark) { b.Entries[1].Size = 3 },
		"entry gen":  func(b *bookmarks.Bookmark) { b.Entries[0].Gen = 2 },
		"key split":  func(b *bookmarks.Bookmark) { b.Entries[0].Key, b.Entries[0].ETag = "ae", "" },
		"one less":   func(b *bookmarks.Bookmark) { b.Entries = b.Entries[:1] },
	} {
		b := clone()
		edit(&b)
		if BaseDigest(b) == d {
			t.Errorf("%s: same digest", name)
		}
	}
}
