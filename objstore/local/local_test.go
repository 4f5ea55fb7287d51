package local

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/objstoretest"
)

func put(t *testing.T, s *Store, key, body string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, s *Store, key string) string {
	t.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func keys(infos []objstore.ObjectInfo) string {
	var ks []string
	for _, o := range infos {
		ks = append(ks, o.Key)
	}
	return strings.Join(ks, " ")
}

func TestConformance(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.Run(t, s)
}

// TestLocalOnly: crash-left temp files are never listed; unsafe keys are
// refused.
func TestLocalOnly(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "public/t/b.csv", "bb")
	if err := os.WriteFile(filepath.Join(s.Root(), "public", "t", tempPrefix+"dead"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.List(context.Background(), ""); keys(got) != "public/t/b.csv" {
		t.Fatalf("listed %q", keys(got))
	}
	if read(t, s, "public/t/b.csv") != "bb" {
		t.Fatal("read")
	}
	for _, bad := range []string{"", "/abs", "../x", "a/../b", "a//b", `a\b`, "a/" + tempPrefix + "x"} {
		if _, err := s.Path(bad); err == nil {
			t.Errorf("key %q accepted", bad)
		}
		if _, err := s.Open(context.Background(), bad); err == nil || errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("open %q: %v, want a key error", bad, err)
		}
	}
}
