package bookmarks

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func e(key, etag string, size int64) Entry { return Entry{Key: key, ETag: etag, Size: size} }

func TestPendingAndAdvance(t *testing.T) {
	var b Bookmark
	listed := []Entry{e("t/2.csv", "b", 2), e("t/1.csv", "a", 1)}
	fresh, changed, _ := b.Pending(listed)
	if len(fresh) != 2 || len(changed) != 0 {
		t.Fatalf("fresh %v changed %v", fresh, changed)
	}
	b1 := b.Advance(fresh)
	if b1.Runs != 1 || b1.Last != "t/1.csv" || len(b1.Entries) != 2 || b1.Entries[0].Key != "t/1.csv" {
		t.Fatalf("advance: %+v", b1)
	}
	if len(b.Entries) != 0 || b.Runs != 0 {
		t.Fatalf("advance modified its receiver: %+v", b)
	}
	// The input slice is not aliased.
	fresh[0].Key = "zzz"
	if !b1.Contains(e("t/2.csv", "b", 2)) {
		t.Fatalf("advance aliased its input: %+v", b1)
	}

	listed = append(listed, e("t/0.csv", "z", 9))
	listed[1] = e("t/1.csv", "a2", 1) // rewritten in place
	fresh, changed, _ = b1.Pending(listed)
	if len(fresh) != 1 || fresh[0].Key != "t/0.csv" || len(changed) != 1 || changed[0].ETag != "a2" {
		t.Fatalf("fresh %v changed %v", fresh, changed)
	}
	b2 := b1.Advance(append(fresh, changed...))
	want := []Entry{e("t/0.csv", "z", 9), e("t/1.csv", "a2", 1), e("t/2.csv", "b", 2)}
	if len(b2.Entries) != 3 || b2.Entries[0] != want[0] || b2.Entries[1] != want[1] || b2.Entries[2] != want[2] {
		t.Fatalf("entries %v, want %v", b2.Entries, want)
	}
	if b2.Equal(b1) || !b2.Equal(b1.Advance([]Entry{e("t/0.csv", "z", 9), e("t/1.csv", "a2", 1)})) {
		t.Fatal("Equal disagrees with Advance")
	}
	if f, c, _ := b2.Pending(listed); len(f)+len(c) != 0 {
		t.Fatalf("nothing should be pending: %v %v", f, c)
	}
}

func TestAdvanceDuplicateKeysLastWins(t *testing.T) {
	b := Bookmark{}.Advance([]Entry{e("k", "1", 1), e("k", "2", 2)})
	if len(b.Entries) != 1 || b.Entries[0].ETag != "2" {
		t.Fatalf("entries %v", b.Entries)
	}
}

func TestRoundTrip(t *testing.T) {
	b := Bookmark{Generation: 3, Runs: 7}.Advance([]Entry{e("a/LOAD00000001.csv", `"9b2c"`, 1<<40), e("a/ü ß.csv", "", 0)})
	s, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(b) {
		t.Fatalf("round trip: %+v != %+v", got, b)
	}
	if z, err := Decode(""); err != nil || !z.Equal(Bookmark{}) {
		t.Fatalf("empty: %+v %v", z, err)
	}
}

func TestEncodeRejectsUnsorted(t *testing.T) {
	if _, err := (Bookmark{Entries: []Entry{e("b", "", 0), e("a", "", 0)}}).Encode(); err == nil {
		t.Fatal("unsorted entries encoded")
	}
}

// TestDecodeGolden pins the version-1 format: the stored strings must keep
// decoding to the same bookmark across library upgrades. v1.golden predates
// per-object generations (its objects decode with the bookmark's); v1-gen
// has them.
func TestDecodeGolden(t *testing.T) {
	for _, tc := range []struct {
		file  string
		write bool
		b     Bookmark
	}{
		{"v1.golden", false, Bookmark{Generation: 2, Runs: 5, Last: "public/t/20240528-195141380.csv", Entries: []Entry{
			{Key: "public/t/20240528-195141380.csv", ETag: "18d3f-1a", Size: 26, Gen: 2},
			{Key: "public/t/LOAD00000001.csv", ETag: "17a00-400", Size: 1024, Gen: 2},
		}}},
		{"v1-gen.golden", true, Bookmark{Generation: 2, Runs: 5, Last: "public/t/LOAD00000001.csv", Entries: []Entry{
			{Key: "public/t/20240528-195141380.csv", ETag: "18d3f-1a", Size: 26, Gen: 1},
			{Key: "public/t/LOAD00000001.csv", ETag: "17a00-400", Size: 1024, Gen: 2},
		}}},
	} {
		path := filepath.Join("testdata", tc.file)
		if *update && tc.write {
			s, err := tc.b.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(s+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tc.b) {
			t.Errorf("%s decodes to %+v", tc.file, got)
		}
	}
}

// TestAdvanceStampsGeneration: entries remember the generation they were
// absorbed in; identity (Pending, Contains) ignores it.
func TestAdvanceStampsGeneration(t *testing.T) {
	b := Bookmark{}.Advance([]Entry{e("LOAD1", "a", 1), e("cdc1", "b", 1)})
	b.Generation = 1
	b = b.Advance([]Entry{e("LOAD1", "a2", 1)})
	if got, _ := b.Absorbed("LOAD1"); got.Gen != 1 || got.ETag != "a2" {
		t.Fatalf("LOAD1: %+v", got)
	}
	if got, _ := b.Absorbed("cdc1"); got.Gen != 0 {
		t.Fatalf("cdc1: %+v", got)
	}
	if !b.Contains(e("cdc1", "b", 1)) {
		t.Fatal("Contains compares the generation")
	}
	if f, c, _ := b.Pending([]Entry{e("LOAD1", "a2", 1), e("cdc1", "b", 1)}); len(f)+len(c) != 0 {
		t.Fatalf("pending %v %v", f, c)
	}
	bad := Bookmark{Generation: 0, Entries: []Entry{{Key: "k", Gen: 3}}}
	s, err := bad.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(s); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("object from a future generation decoded: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Bookmark{}.Advance([]Entry{e("k", "x", 1)}).Encode()
	for _, s := range []string{"lmb2:abc", "lmb1:!!!", "lmb1:" + "AAAA", good[:len(good)-4], "{}"} {
		if _, err := Decode(s); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(%q) = %v, want ErrCorrupt", s, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Bookmark{Generation: 1}.Advance([]Entry{e("k", "x", 1), e("j", "y", 2)}).Encode()
	f.Add(good)
	f.Add("")
	f.Add("lmb1:")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		if err != nil {
			return
		}
		again, err := b.Encode()
		if err != nil {
			t.Fatalf("decoded bookmark does not encode: %v", err)
		}
		b2, err := Decode(again)
		if err != nil || !b2.Equal(b) {
			t.Fatalf("re-encode round trip failed: %v", err)
		}
	})
}

// TestFormerETags: a listed object whose store changed how it computes
// ETags matches a bookmark entry holding its former ETag (same size); it
// comes back as stale, and Refresh records its new ETag keeping the
// generation it was absorbed in. A different size or former ETag is a
// changed object.
func TestFormerETags(t *testing.T) {
	b := Bookmark{Generation: 2, Runs: 5, Last: "cdc", Entries: []Entry{
		{Key: "LOAD1", ETag: "m1-5", Size: 5, Gen: 1}, {Key: "cdc", ETag: "m2-3", Size: 3, Gen: 2}}}
	listed := []Entry{
		{Key: "LOAD1", ETag: `"h1"`, Former: "m1-5", Size: 5},
		{Key: "cdc", ETag: `"h2"`, Former: "m9-3", Size: 3}, // rewritten
		{Key: "new", ETag: `"h3"`, Former: "m3-1", Size: 1},
	}
	fresh, changed, stale := b.Pending(listed)
	if len(fresh) != 1 || fresh[0].Key != "new" || len(changed) != 1 || changed[0].Key != "cdc" ||
		len(stale) != 1 || stale[0].Key != "LOAD1" {
		t.Fatalf("fresh %v changed %v stale %v", fresh, changed, stale)
	}
	r := b.Refresh(stale)
	if got := r.Entries[0]; got.ETag != `"h1"` || got.Gen != 1 || got.Size != 5 || r.Runs != 5 || r.Last != "cdc" {
		t.Fatalf("refreshed %+v of %+v", got, r)
	}
	if b.Entries[0].ETag != "m1-5" {
		t.Fatal("Refresh modified its receiver")
	}
	if _, _, stale := r.Pending(listed[:1]); len(stale) != 0 {
		t.Fatal("a refreshed entry is still stale")
	}
}
