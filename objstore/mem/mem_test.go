package mem

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(*testing.T) objstore.Store { return New() })
	objstoretest.RunRanges(t, func(*testing.T) objstoretest.RangeStore { return New() })
}

func TestZeroStoreWorks(t *testing.T) {
	var s Store
	if err := s.Put(t.Context(), "k", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(t.Context(), "")
	if err != nil || len(infos) != 1 || infos[0].LastModified.IsZero() {
		t.Fatalf("List: %+v %v", infos, err)
	}
}

// TestETagIsContentMD5: like S3's single-part ETag; equal bytes keep it.
// LastModified comes from the store's clock.
func TestETagIsContentMD5(t *testing.T) {
	s := New()
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return at }
	for range 2 {
		if err := s.Put(t.Context(), "k", strings.NewReader("hello")); err != nil {
			t.Fatal(err)
		}
		infos, err := s.List(t.Context(), "k")
		if err != nil {
			t.Fatal(err)
		}
		want := objstore.ObjectInfo{Key: "k", Size: 5, ETag: "5d41402abc4b2a76b9719d911017c592", LastModified: at}
		if len(infos) != 1 || infos[0] != want {
			t.Errorf("listed %+v, want %+v", infos, want)
		}
	}
}

// TestStoredBytesAreOwned: changing the caller's buffer after Put changes
// nothing stored.
func TestStoredBytesAreOwned(t *testing.T) {
	s := New()
	buf := []byte("original")
	if err := s.Put(t.Context(), "k", bytes.NewReader(buf)); err != nil {
		t.Fatal(err)
	}
	copy(buf, "CHANGED!")
	r, err := s.Open(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if string(got) != "original" {
		t.Errorf("read %q", got)
	}
}

// TestKeyIsObjectAndPrefix: unlike a folder, "a" and "a/b" can both be
// objects, as on S3.
func TestKeyIsObjectAndPrefix(t *testing.T) {
	s := New()
	for _, k := range []string{"a", "a/b"} {
		if err := s.Put(t.Context(), k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	if infos, _ := s.List(t.Context(), "a"); len(infos) != 2 {
		t.Errorf("listed %+v", infos)
	}
}

// TestInvalidKeysRejected: the keys objstore/local refuses are refused
// here too, by every call.
func TestInvalidKeysRejected(t *testing.T) {
	s := New()
	ctx := t.Context()
	for _, key := range []string{
		"", "/abs", "/", "..", "../x", "a/../b", "a/..", ".", "./a", "a/./b",
		"a//b", "a/", "//a", `a\b`, `..\x`, "a\x00b", ".lmtmp-x", "a/.lmtmp-x/b",
	} {
		_, openErr := s.Open(ctx, key)
		for name, err := range map[string]error{
			"Open":            openErr,
			"Put":             s.Put(ctx, key, strings.NewReader("x")),
			"CreateExclusive": s.CreateExclusive(ctx, key, strings.NewReader("x")),
			"Delete":          s.Delete(ctx, key),
		} {
			if err == nil || !strings.Contains(err.Error(), "invalid key") || errors.Is(err, objstore.ErrNotExist) {
				t.Errorf("%s(%q): %v, want an invalid key error", name, key, err)
			}
		}
	}
	if infos, _ := s.List(ctx, ""); len(infos) != 0 {
		t.Errorf("listed %+v", infos)
	}
}
