package icebergio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/mem"
)

func newFS(t *testing.T, root string) (*FS, *mem.Store) {
	t.Helper()
	s := mem.New()
	f, err := New(s, root)
	if err != nil {
		t.Fatal(err)
	}
	return f, s
}

func TestKey(t *testing.T) {
	for _, c := range []struct{ root, name, key string }{
		{"file:///wh", "file:///wh/db.db/t/metadata/v1.json", "db.db/t/metadata/v1.json"},
		{"file:///wh/", "file:///wh/a", "a"},
		{"file:///wh", "file:/wh/a/b", "a/b"},
		{"file:///wh", "/wh/a/b", "a/b"},
		{"file:///wh", "file://localhost/wh/a", "a"},
		{"file://localhost/wh", "file:///wh/a", "a"},
		{"s3://bucket/wh", "s3://bucket/wh/db.db/t/data/x=1/f.parquet", "db.db/t/data/x=1/f.parquet"},
		{"s3://bucket/wh", "s3a://bucket/wh/k", "k"},
		{"s3://bucket", "s3://bucket/k", "k"},
		{"s3://bucket/wh", "s3://bucket/wh/a%20b", "a%20b"}, // literal, as written
	} {
		f, _ := newFS(t, c.root)
		got, err := f.Key(c.name)
		if err != nil || got != c.key {
			t.Errorf("root %s: Key(%q) = %q, %v; want %q", c.root, c.name, got, err, c.key)
		}
	}
	for _, c := range []struct{ root, name string }{
		{"file:///wh", "file:///wh"},
		{"file:///wh", "file:///wh/"},
		{"file:///wh", "file:///whx/a"},
		{"file:///wh", "file:///other/a"},
		{"file:///wh", "s3://wh/a"},
		{"file:///wh", "file://host/wh/a"},
		{"s3://bucket/wh", "s3://other/wh/a"},
		{"s3://bucket/wh", "gs://bucket/wh/a"},
		{"s3://bucket/wh", "relative/a"},
	} {
		f, _ := newFS(t, c.root)
		if k, err := f.Key(c.name); err == nil || !strings.Contains(err.Error(), "not a file under the warehouse "+strings.TrimRight(c.root, "/")) {
			t.Errorf("root %s: Key(%q) = %q, %v; want an error naming the warehouse", c.root, c.name, k, err)
		}
	}
	for _, root := range []string{"", "wh", "gs://b/wh", "s3:///wh", "http://x/y"} {
		if _, err := New(mem.New(), root); err == nil {
			t.Errorf("New with root %q succeeded", root)
		}
	}
}

// countingStore counts the bytes read through it.
type countingStore struct {
	*mem.Store
	read atomic.Int64
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}

func (c *countingStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := c.Store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return countingReader{r, &c.read}, nil
}

func (c *countingStore) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	r, err := c.Store.OpenRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	return countingReader{r, &c.read}, nil
}

// TestReadAtReadsOnlyTheRange: ReadAt on a large file transfers only the
// bytes asked for, as a Parquet reader fetching a footer needs.
func TestReadAtReadsOnlyTheRange(t *testing.T) {
	cs := &countingStore{Store: mem.New()}
	f, err := New(cs, "s3://b/wh")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789"), 100_000)
	if err := cs.Put(t.Context(), "t/data/big.parquet", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	file, err := f.Open("s3://b/wh/t/data/big.parquet")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	size, err := file.Seek(0, io.SeekEnd)
	if err != nil || size != int64(len(body)) {
		t.Fatalf("Seek end = %d, %v", size, err)
	}
	p := make([]byte, 8)
	if n, err := file.ReadAt(p, size-8); n != 8 || err != nil || string(p) != "23456789" {
		t.Fatalf("ReadAt footer = %d %v %q", n, err, p)
	}
	if got := cs.read.Load(); got != 8 {
		t.Fatalf("read %d bytes from the store for an 8-byte footer", got)
	}
	// Past the end: io.EOF with what there is.
	if n, err := file.ReadAt(p, size-3); n != 3 || err != io.EOF || string(p[:3]) != "789" {
		t.Fatalf("ReadAt at the end = %d %v %q", n, err, p[:n])
	}
	if n, err := file.ReadAt(p, size); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt past the end = %d %v", n, err)
	}
	// Read streams from the offset Seek set.
	if _, err := file.Seek(999_990, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(file)
	if err != nil || string(rest) != "0123456789" {
		t.Fatalf("read after seek = %q %v", rest, err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(iotest.OneByteReader(file))
	if err != nil || !bytes.Equal(all, body) {
		t.Fatalf("read all: %d bytes, %v", len(all), err)
	}
	if err := iotest.TestReader(mustOpen(t, f, "s3://b/wh/t/data/big.parquet"), body); err != nil {
		t.Fatal(err)
	}
	info, err := file.Stat()
	if err != nil || info.Size() != int64(len(body)) || info.Name() != "big.parquet" || info.IsDir() {
		t.Fatalf("Stat = %+v %v", info, err)
	}
}

func mustOpen(t *testing.T, f *FS, name string) io.Reader {
	t.Helper()
	r, err := f.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestShorterObjectIsAnError: an object shorter than the size Open saw
// (replaced underneath) is a read error, never a short file.
func TestShorterObjectIsAnError(t *testing.T) {
	f, s := newFS(t, "file:///wh")
	if err := s.Put(t.Context(), "x", strings.NewReader("0123456789")); err != nil {
		t.Fatal(err)
	}
	file, err := f.Open("file:///wh/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "x", strings.NewReader("01234")); err != nil {
		t.Fatal(err)
	}
	if _, err := file.ReadAt(make([]byte, 4), 4); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadAt across the new end: %v", err)
	}
	if _, err := io.ReadAll(file); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Read to the new end: %v", err)
	}
}

func TestWriteReadRemove(t *testing.T) {
	f, s := newFS(t, "s3://b/wh")
	ctx := t.Context()
	if err := f.WriteFile("s3://b/wh/t/metadata/v1.json", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	w, err := f.Create("s3://b/wh/t/data/f.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("part one, ")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(strings.NewReader("part two")); err != nil {
		t.Fatal(err)
	}
	// Nothing is visible before Close.
	if _, err := s.Stat(ctx, "t/data/f.parquet"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("file visible before Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	for name, want := range map[string]string{"s3://b/wh/t/metadata/v1.json": `{"v":1}`, "s3://b/wh/t/data/f.parquet": "part one, part two"} {
		got, err := f.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q %v", name, got, err)
		}
		info, err := f.Stat(name)
		if err != nil || info.Size() != int64(len(want)) {
			t.Errorf("Stat(%s) = %v %v", name, info, err)
		}
	}
	if err := f.Remove("s3://b/wh/t/data/f.parquet"); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("s3://b/wh/t/data/f.parquet"); err != nil {
		t.Errorf("removing a missing file: %v", err)
	}
	for _, call := range []func() error{
		func() error { _, err := f.Open("s3://b/wh/t/data/f.parquet"); return err },
		func() error { _, err := f.ReadFile("s3://b/wh/t/data/f.parquet"); return err },
		func() error { _, err := f.Stat("s3://b/wh/t/data/f.parquet"); return err },
	} {
		if err := call(); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("missing file: %v, want an error matching fs.ErrNotExist and objstore.ErrNotExist", err)
		}
	}
	// Outside the warehouse: refused, nothing written.
	if err := f.WriteFile("s3://other/wh/x", []byte("x")); err == nil {
		t.Error("WriteFile outside the warehouse succeeded")
	}
	if _, err := f.Create("s3://b/elsewhere/x"); err == nil {
		t.Error("Create outside the warehouse succeeded")
	}
	if objs, _ := s.List(ctx, ""); len(objs) != 1 {
		t.Errorf("store holds %+v", objs)
	}
}

// failingStore fails every Put after reading part of the body.
type failingStore struct{ *mem.Store }

var errPut = errors.New("put failed")

func (s failingStore) Put(ctx context.Context, key string, r io.Reader) error {
	io.CopyN(io.Discard, r, 3)
	return errPut
}

// TestCreateFailedPut: when the store's Put fails, Write and Close report
// it and nothing is stored.
func TestCreateFailedPut(t *testing.T) {
	s := failingStore{mem.New()}
	f, err := New(s, "file:///wh")
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.Create("file:///wh/t/f")
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for range 100 {
		if _, werr = w.Write(make([]byte, 1024)); werr != nil {
			break
		}
	}
	if !errors.Is(werr, errPut) {
		t.Errorf("Write after the Put failed: %v", werr)
	}
	if err := w.Close(); !errors.Is(err, errPut) {
		t.Errorf("Close: %v, want the Put's error", err)
	}
	if objs, _ := s.List(t.Context(), ""); len(objs) != 0 {
		t.Errorf("store holds %+v", objs)
	}
}

func TestWalkDir(t *testing.T) {
	f, s := newFS(t, "file:///wh")
	for _, k := range []string{"t/data/a=1/x.parquet", "t/data/a=1/y.parquet", "t/data/z.parquet", "t/metadata/v1.json", "t2/other", "u"} {
		if err := s.Put(t.Context(), k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	walk := func(root string, skip string) string {
		var got []string
		err := f.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			got = append(got, p)
			if !d.IsDir() && info.Size() != int64(len(strings.TrimPrefix(p, "file:///wh/"))) {
				t.Errorf("%s: size %d", p, info.Size())
			}
			if strings.HasSuffix(p, skip) {
				return fs.SkipDir
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WalkDir(%s): %v", root, err)
		}
		return strings.Join(got, " ")
	}
	for _, c := range []struct{ root, skip, want string }{
		{"file:///wh/t", "-", "file:///wh/t file:///wh/t/data/a=1/x.parquet file:///wh/t/data/a=1/y.parquet file:///wh/t/data/z.parquet file:///wh/t/metadata/v1.json"},
		{"file:///wh/t/", "-", "file:///wh/t file:///wh/t/data/a=1/x.parquet file:///wh/t/data/a=1/y.parquet file:///wh/t/data/z.parquet file:///wh/t/metadata/v1.json"},
		{"file:///wh/t", "x.parquet", "file:///wh/t file:///wh/t/data/a=1/x.parquet file:///wh/t/data/z.parquet file:///wh/t/metadata/v1.json"},
		{"file:///wh/t", "/t", "file:///wh/t"},
		{"file:///wh", "-", "file:///wh file:///wh/t/data/a=1/x.parquet file:///wh/t/data/a=1/y.parquet file:///wh/t/data/z.parquet file:///wh/t/metadata/v1.json file:///wh/t2/other file:///wh/u"},
		{"file:///wh/missing", "-", "file:///wh/missing"},
	} {
		if got := walk(c.root, c.skip); got != c.want {
			t.Errorf("WalkDir(%s) skipping %s:\n got %s\nwant %s", c.root, c.skip, got, c.want)
		}
	}
	if err := f.WalkDir("file:///elsewhere", func(string, fs.DirEntry, error) error { return nil }); err == nil {
		t.Error("WalkDir outside the warehouse succeeded")
	}
}

// TestFactory: iceberg-go's registry gets the FS of the context, bound to
// it; without one, or for a location outside it, an error.
func TestFactory(t *testing.T) {
	f, s := newFS(t, "s3://b/wh")
	if err := s.Put(t.Context(), "t/x", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("s3://b/wh/t/metadata/v1.json")
	if _, err := Factory(t.Context(), u, nil); err == nil || !strings.Contains(err.Error(), "no lakemerge warehouse store") {
		t.Fatalf("Factory without a store: %v", err)
	}
	ctx, cancel := context.WithCancel(NewContext(t.Context(), f))
	io, err := Factory(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Open("s3://b/wh/t/x"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.Open("s3://b/wh/t/x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open after the context ended: %v", err)
	}
	other, _ := url.Parse("s3://c/wh/t/metadata/v1.json")
	if _, err := Factory(NewContext(t.Context(), f), other, nil); err == nil {
		t.Error("Factory for another bucket succeeded")
	}
}
