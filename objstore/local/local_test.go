package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return newStore(t) })
	objstoretest.RunRanges(t, func(t *testing.T) objstoretest.RangeStore { return newStore(t) })
}

// newStore returns a store on a folder "root" inside a fresh temporary
// folder, so tests can check that nothing lands beside root.
func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *Store, key, body string) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func listKeys(t *testing.T, s *Store, prefix string) string {
	t.Helper()
	infos, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	ks := make([]string, len(infos))
	for i, o := range infos {
		ks[i] = o.Key
	}
	return strings.Join(ks, " ")
}

// tempFiles returns the paths of temporary files anywhere under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestNewMakesRootAbsoluteAndCreatesIt(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := New(filepath.Join("rel", "store"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "rel", "store"); s.Root() != want {
		t.Errorf("Root() = %q, want %q", s.Root(), want)
	}
	if fi, err := os.Stat(s.Root()); err != nil || !fi.IsDir() {
		t.Errorf("root not created: %v", err)
	}
	if _, err := New(filepath.Join(s.Root(), "file", "below")); err != nil {
		t.Errorf("nested new root: %v", err)
	}
	write(t, filepath.Join(dir, "afile"), "x")
	if _, err := New(filepath.Join(dir, "afile")); err == nil {
		t.Error("New on a file succeeded")
	}
}

func TestPathAndETag(t *testing.T) {
	s := newStore(t)
	p, err := s.Path("a/b c/d.csv")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.Root(), "a", "b c", "d.csv"); p != want {
		t.Errorf("Path = %q, want %q", p, want)
	}
	put(t, s, "a/b c/d.csv", "hello")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(t.Context(), "")
	if err != nil || len(infos) != 1 {
		t.Fatalf("List: %v %v", infos, err)
	}
	want := objstore.ObjectInfo{Key: "a/b c/d.csv", Size: 5, ETag: fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), 5)}
	if got := infos[0]; got.Key != want.Key || got.Size != want.Size || got.ETag != want.ETag || !got.LastModified.Equal(fi.ModTime()) {
		t.Errorf("listed %+v, want %+v modified %v", got, want, fi.ModTime())
	}
}

// TestOpenMissingNamesPath: the ErrNotExist error says which file is
// missing.
func TestOpenMissingNamesPath(t *testing.T) {
	s := newStore(t)
	_, err := s.Open(t.Context(), "no/such.csv")
	if !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("open: %v", err)
	}
	if p, _ := s.Path("no/such.csv"); !strings.Contains(err.Error(), p) {
		t.Errorf("error %q does not name %s", err, p)
	}
	put(t, s, "file", "x")
	if _, err := s.Open(t.Context(), "file/below"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("open below a file: %v", err)
	}
}

var invalidKeys = []string{
	"", "/abs", "/", "..", "../x", "a/../b", "a/..", ".", "./a", "a/./b",
	"a//b", "a/", "//a", `a\b`, `..\x`, "a\x00b", ".lmtmp-x", "a/.lmtmp-x/b",
}

// TestInvalidKeysRejected: keys that could leave root or are ambiguous are
// refused by every call, with an "invalid key" error, and nothing is
// written anywhere.
func TestInvalidKeysRejected(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for _, key := range invalidKeys {
		if _, err := s.Path(key); err == nil || !strings.Contains(err.Error(), "invalid key") {
			t.Errorf("Path(%q): %v, want an invalid key error", key, err)
		}
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
	entries, err := os.ReadDir(filepath.Dir(s.Root()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("files appeared beside root: %v", entries)
	}
	if got := listKeys(t, s, ""); got != "" {
		t.Errorf("listed %q", got)
	}
}

// TestListPrefixOutsideKeysIsEmpty: a prefix no valid key can start with
// lists nothing, even where the path it spells exists outside root.
func TestListPrefixOutsideKeysIsEmpty(t *testing.T) {
	s := newStore(t)
	put(t, s, "a/b", "x")
	write(t, filepath.Join(filepath.Dir(s.Root()), "outside.csv"), "secret")
	for _, prefix := range []string{"../", "../o", "../root/", "/", "/a", "a//", "a/./", "./a", `a\`, "a/\x00", ".lmtmp-", "a/.lmtmp-"} {
		if got := listKeys(t, s, prefix); got != "" {
			t.Errorf("List(%q) = %q, want nothing", prefix, got)
		}
	}
	if got := listKeys(t, s, "a/.."); got != "" {
		t.Errorf("List(a/..) = %q", got)
	}
}

// TestListSkipsTempFiles: temporary files left by a crash, in any folder,
// are never listed, and keys cannot name them.
func TestListSkipsTempFiles(t *testing.T) {
	s := newStore(t)
	put(t, s, "public/t/b.csv", "bb")
	write(t, filepath.Join(s.Root(), ".lmtmp-xyz"), "crash")
	write(t, filepath.Join(s.Root(), "public", "t", ".lmtmp-xyz"), "crash")
	write(t, filepath.Join(s.Root(), "public", ".lmtmp-dir", "x"), "crash")
	for _, prefix := range []string{"", "public/", "public/t/", "public/t/.", "public/t/.lmtmp"} {
		want := "public/t/b.csv"
		if strings.HasSuffix(prefix, ".") || strings.HasSuffix(prefix, "lmtmp") {
			want = ""
		}
		if got := listKeys(t, s, prefix); got != want {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	if _, err := s.Open(t.Context(), "public/t/.lmtmp-xyz"); err == nil {
		t.Error("opened a temporary file by key")
	}
}

// TestFailedWritesLeaveNoTempFiles: a body that fails mid-way, or a
// CreateExclusive that loses, removes its temporary file.
func TestFailedWritesLeaveNoTempFiles(t *testing.T) {
	s := newStore(t)
	failing := func() io.Reader {
		return io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("boom")))
	}
	if err := s.Put(t.Context(), "d/x", failing()); err == nil {
		t.Error("Put succeeded")
	}
	if err := s.CreateExclusive(t.Context(), "d/y", failing()); err == nil {
		t.Error("CreateExclusive succeeded")
	}
	put(t, s, "d/z", "z")
	if err := s.CreateExclusive(t.Context(), "d/z", strings.NewReader("zz")); !errors.Is(err, objstore.ErrExists) {
		t.Errorf("CreateExclusive over d/z: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := io.MultiReader(strings.NewReader("partial"), readerFunc(func([]byte) (int, error) {
		cancel()
		return 0, nil
	}), strings.NewReader("rest"))
	if err := s.Put(ctx, "d/w", r); !errors.Is(err, context.Canceled) {
		t.Errorf("Put canceled mid-body: %v", err)
	}
	if found := tempFiles(t, s.Root()); len(found) != 0 {
		t.Errorf("temporary files left: %v", found)
	}
	if got := listKeys(t, s, ""); got != "d/z" {
		t.Errorf("listed %q", got)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestSymlinksReportedNotFollowed: List reports symlinks as special
// entries (never as objects) and does not descend into symlinked folders,
// also when the prefix names one; a root that is itself a symlink works.
func TestSymlinksReportedNotFollowed(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	write(t, filepath.Join(outside, "secret.csv"), "secret")
	target := filepath.Join(dir, "target")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	if err := os.Symlink(target, root); err != nil {
		t.Skipf("no symlinks: %v", err)
	}
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "t/a.csv", "a")
	if err := os.Symlink(outside, filepath.Join(target, "t", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(target, "t", "file-link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(target, "top")); err != nil {
		t.Fatal(err)
	}
	for prefix, want := range map[string]string{
		"": "t/a.csv t/file-link.csv t/link top", "t/": "t/a.csv t/file-link.csv t/link", "t/link": "t/link",
		"t/link/": "", "t/link/s": "", "top/": "", "top/x/": "",
	} {
		if got := listKeys(t, s, prefix); got != want {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	objs, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if regular := o.Key == "t/a.csv"; regular != (o.Special == "") || (!regular && (o.ETag != "" || o.Size != 0)) {
			t.Errorf("%s: special %q, etag %q, size %d", o.Key, o.Special, o.ETag, o.Size)
		}
	}
}

// TestHashETags: a store from HashETags reports the MD5 of the content,
// the same after a copy that changes modification times, different after
// a rewrite; the former ETag is modification time and size; a cache file
// spares reading unchanged files (a changed cache entry with a valid stamp
// is believed: that is how the test sees the cache is used).
func TestHashETags(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache", "etags.json")
	raw, err := New(filepath.Join(dir, "raw"))
	if err != nil {
		t.Fatal(err)
	}
	put(t, raw, "t/a.csv", "hello")
	s := raw.HashETags(cache)
	one := func() objstore.ObjectInfo {
		t.Helper()
		objs, err := s.List(context.Background(), "t/")
		if err != nil || len(objs) != 1 {
			t.Fatalf("list: %v %v", objs, err)
		}
		return objs[0]
	}
	o := one()
	if o.ETag != `"5d41402abc4b2a76b9719d911017c592"` { // md5("hello"), as S3 quotes it
		t.Fatalf("etag %s", o.ETag)
	}
	fi, err := os.Stat(filepath.Join(dir, "raw", "t", "a.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size()); o.FormerETag != want {
		t.Errorf("former etag %s, want %s", o.FormerETag, want)
	}
	// A copy without timestamps: same content, same ETag.
	later := fi.ModTime().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "raw", "t", "a.csv"), later, later); err != nil {
		t.Fatal(err)
	}
	if got := one(); got.ETag != o.ETag || got.FormerETag == o.FormerETag {
		t.Errorf("after touch: %+v", got)
	}
	// The cache is used for an unchanged file: poison its hash.
	b, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	poisoned := strings.Replace(string(b), "5d41402abc4b2a76b9719d911017c592", "00000000000000000000000000000000", 1)
	if poisoned == string(b) {
		t.Fatalf("cache does not hold the hash: %s", b)
	}
	if err := os.WriteFile(cache, []byte(poisoned), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := raw.HashETags(cache); true {
		objs, err := got.List(context.Background(), "t/")
		if err != nil || objs[0].ETag != `"00000000000000000000000000000000"` {
			t.Errorf("cached hash not used: %v %v", objs, err)
		}
	}
	// A rewrite changes the stamp, so the hash is computed again.
	put(t, raw, "t/a.csv", "world")
	if got := raw.HashETags(cache); true {
		objs, err := got.List(context.Background(), "t/")
		if err != nil || objs[0].ETag != `"7d793037a0760186574b0282f2f435e7"` {
			t.Errorf("after rewrite: %v %v", objs, err)
		}
	}
}

// TestFolderKeys: a key that names a folder is no object: Open reports it
// missing, Delete leaves it alone, and writes to it fail without ErrExists
// or ErrNotExist; a key below a file cannot be written.
func TestFolderKeys(t *testing.T) {
	s := newStore(t)
	put(t, s, "a/b", "x")
	if _, err := s.Open(t.Context(), "a"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("Open(folder): %v", err)
	}
	if err := s.Delete(t.Context(), "a"); err != nil {
		t.Errorf("Delete(folder): %v", err)
	}
	if err := s.Put(t.Context(), "a", strings.NewReader("y")); err == nil {
		t.Error("Put over a folder succeeded")
	}
	err := s.CreateExclusive(t.Context(), "a", strings.NewReader("y"))
	if err == nil || errors.Is(err, objstore.ErrExists) {
		t.Errorf("CreateExclusive over a folder: %v, want an error not matching ErrExists", err)
	}
	if err := s.Put(t.Context(), "a/b/c", strings.NewReader("y")); err == nil {
		t.Error("Put below a file succeeded")
	}
	if got := listKeys(t, s, ""); got != "a/b" {
		t.Errorf("listed %q", got)
	}
	if found := tempFiles(t, s.Root()); len(found) != 0 {
		t.Errorf("temporary files left: %v", found)
	}
}

// countdownCtx is a context whose Err reports cancellation from the n-th
// call on, to cancel List in the middle of a walk.
type countdownCtx struct {
	context.Context
	n atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestListCanceledDuringWalk(t *testing.T) {
	s := newStore(t)
	for i := range 10 {
		put(t, s, fmt.Sprintf("w/%d/x", i), "x")
	}
	ctx := &countdownCtx{Context: t.Context()}
	ctx.n.Store(3) // List's first check, then root "w/" and one subfolder
	if _, err := s.List(ctx, "w/"); !errors.Is(err, context.Canceled) {
		t.Errorf("List: %v, want context.Canceled", err)
	}
}

// TestRequireFolders: a store from RequireFolders fails to list a prefix
// whose folder, or the store's own folder, is missing or not a plain
// folder, naming the path; an empty folder lists as empty; the plain store
// lists all of these as empty.
func TestRequireFolders(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "root", "a", "empty-sibling.csv"), "x")
	write(t, filepath.Join(dir, "root", "file"), "x")
	if err := os.MkdirAll(filepath.Join(dir, "root", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "root", "a"), filepath.Join(dir, "root", "link")); err != nil {
		t.Fatal(err)
	}
	plain, err := Open(filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	strict := plain.HashETags("").RequireFolders()
	for prefix, want := range map[string]string{
		"missing/":   filepath.Join(dir, "root", "missing"),
		"a/b/c/":     filepath.Join(dir, "root", "a", "b"),
		"file/":      filepath.Join(dir, "root", "file") + "/: a file, not a folder",
		"link/":      filepath.Join(dir, "root", "link") + "/: a symbolic link (not followed), not a folder",
		"file/x/":    filepath.Join(dir, "root", "file") + " is a file, not a folder",
		"missing/ab": filepath.Join(dir, "root", "missing"),
	} {
		if got := listKeys(t, plain, prefix); got != "" {
			t.Errorf("plain List(%q) = %q", prefix, got)
		}
		_, err := strict.List(t.Context(), prefix)
		if !errors.Is(err, objstore.ErrNotExist) || !strings.Contains(err.Error(), want) {
			t.Errorf("List(%q) = %v, want ErrNotExist naming %s", prefix, err, want)
		}
	}
	if got := listKeys(t, strict, "empty/"); got != "" {
		t.Errorf("List(empty/) = %q", got)
	}
	if got := listKeys(t, strict, "a/"); got != "a/empty-sibling.csv" {
		t.Errorf("List(a/) = %q", got)
	}
	gone, err := Open(filepath.Join(dir, "unmounted"))
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"", "x/"} {
		_, err = gone.RequireFolders().List(t.Context(), prefix)
		if !errors.Is(err, objstore.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, "unmounted")) {
			t.Errorf("List(%q) of a missing root = %v", prefix, err)
		}
	}
}
