package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lakemerge/lakemerge/objstore"
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

func TestStore(t *testing.T) {
	ctx := context.Background()
	s, err := New(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "public/t/b.csv", "bb")
	put(t, s, "public/t/2024/05/a.csv", "a")
	put(t, s, "public/tx/c.csv", "ccc")
	put(t, s, "other/ü ß.csv", "")
	// A temp file left by a crash is never listed.
	if err := os.WriteFile(filepath.Join(s.Root(), "public", "t", tempPrefix+"dead"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for prefix, want := range map[string]string{
		"public/t/": "public/t/2024/05/a.csv public/t/b.csv",
		"public/t":  "public/t/2024/05/a.csv public/t/b.csv public/tx/c.csv",
		"":          "other/ü ß.csv public/t/2024/05/a.csv public/t/b.csv public/tx/c.csv",
		"nope/":     "",
		"public/tx": "public/tx/c.csv",
	} {
		got, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if keys(got) != want {
			t.Errorf("List(%q) = %q, want %q", prefix, keys(got), want)
		}
	}
	infos, _ := s.List(ctx, "public/tx/")
	if infos[0].Size != 3 || infos[0].ETag == "" {
		t.Fatalf("info %+v", infos[0])
	}
	put(t, s, "public/tx/c.csv", "cccc")
	again, _ := s.List(ctx, "public/tx/")
	if again[0].ETag == infos[0].ETag || read(t, s, "public/tx/c.csv") != "cccc" {
		t.Fatalf("rewrite did not change the ETag: %+v %+v", infos[0], again[0])
	}
	if _, err := s.Open(ctx, "public/missing"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
	if err := s.Delete(ctx, "public/tx/c.csv"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "public/tx/c.csv"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
	for _, bad := range []string{"", "/abs", "../x", "a/../b", "a//b", `a\b`, "a/" + tempPrefix + "x"} {
		if _, err := s.Path(bad); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.List(cctx, ""); err == nil {
		t.Fatal("canceled list succeeded")
	}
}

func TestCreateExclusiveOneWinner(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateExclusive(context.Background(), "log/00001.json", bytes.NewReader([]byte{byte('a' + i)}))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, objstore.ErrExists):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	if got := read(t, s, "log/00001.json"); got != string(rune('a'+winner)) {
		t.Fatalf("content %q is not the winner's", got)
	}
	if infos, _ := s.List(context.Background(), ""); len(infos) != 1 {
		t.Fatalf("temp files left: %v", keys(infos))
	}
}
