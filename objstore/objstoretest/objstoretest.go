// Package objstoretest is the conformance suite every objstore.Store
// implementation passes: the contract of objstore.Store, as tests.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/lakemerge/lakemerge/objstore"
)

// Run checks an empty store against the objstore.Store contract.
func Run(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		if err := s.Put(ctx, key, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(key string) string {
		t.Helper()
		r, err := s.Open(ctx, key)
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
	keys := func(infos []objstore.ObjectInfo) string {
		var ks []string
		for _, o := range infos {
			ks = append(ks, o.Key)
		}
		return strings.Join(ks, " ")
	}

	t.Run("put-list-open", func(t *testing.T) {
		put("public/t/b.csv", "bb")
		put("public/t/2024/05/a.csv", "a")
		put("public/tx/c.csv", "ccc")
		put("other/ü ß.csv", "")
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
		if got := read("public/t/2024/05/a.csv"); got != "a" {
			t.Fatalf("read %q", got)
		}
		if got := read("other/ü ß.csv"); got != "" {
			t.Fatalf("read %q", got)
		}
	})

	t.Run("rewrite-changes-etag", func(t *testing.T) {
		put("r/x", "one")
		a, _ := s.List(ctx, "r/")
		put("r/x", "three")
		b, _ := s.List(ctx, "r/")
		if len(a) != 1 || len(b) != 1 || a[0].Size != 3 || b[0].Size != 5 || a[0].ETag == "" || a[0].ETag == b[0].ETag {
			t.Fatalf("before %+v after %+v", a, b)
		}
		if read("r/x") != "three" {
			t.Fatal("rewrite not visible")
		}
	})

	t.Run("missing", func(t *testing.T) {
		if _, err := s.Open(ctx, "missing/key"); !errors.Is(err, objstore.ErrNotExist) {
			t.Fatalf("open missing: %v", err)
		}
		if err := s.Delete(ctx, "missing/key"); err != nil {
			t.Fatalf("delete missing: %v", err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		put("d/x", "x")
		if err := s.Delete(ctx, "d/x"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.List(ctx, "d/"); len(got) != 0 {
			t.Fatalf("deleted object listed: %v", keys(got))
		}
	})

	t.Run("create-exclusive", func(t *testing.T) {
		if err := s.CreateExclusive(ctx, "x/1", bytes.NewReader([]byte("first"))); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateExclusive(ctx, "x/1", bytes.NewReader([]byte("second"))); !errors.Is(err, objstore.ErrExists) {
			t.Fatalf("second create: %v", err)
		}
		if read("x/1") != "first" {
			t.Fatal("a failed create changed the object")
		}
	})

	t.Run("create-exclusive-race", func(t *testing.T) {
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.CreateExclusive(ctx, "race/00001.json", bytes.NewReader([]byte{byte('a' + i)}))
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
		if got := read("race/00001.json"); got != string(rune('a'+winner)) {
			t.Fatalf("content %q is not the winner's", got)
		}
		if got, _ := s.List(ctx, "race/"); len(got) != 1 {
			t.Fatalf("extra objects: %v", keys(got))
		}
	})

	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.List(cctx, ""); err == nil {
			t.Fatal("canceled list succeeded")
		}
	})
}
