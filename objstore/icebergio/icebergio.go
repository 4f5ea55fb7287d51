// Package icebergio is iceberg-go's file IO over an objstore store, so that
// every byte of an Iceberg table (metadata JSON, manifest lists, manifests,
// data and delete files, lakemerge's bookmark and tombstone files) goes
// through the same store, and so through the same wrappers (fault
// injection, recording), as the Delta writer's files and the raw zone's.
//
// An FS maps the locations under one root URL, the warehouse
// (file:///abs/path or s3://bucket/prefix), to the keys of one store:
// location <root>/<key> is the object <key>. A location outside the root is
// an error naming both, never a reach around the store.
//
// iceberg-go finds a table's IO through a process-wide registry keyed by URL
// scheme (iceberg-go/io.Register) and gives the factory only a context and
// the catalog's string properties. So the composition root registers
// Factory once, for the schemes file, "" (a bare path), s3, s3a and s3n, and
// every call into iceberg-go that may reach a file carries the job's FS in
// its context (NewContext); Factory takes it from there. A context without
// an FS is an error: nothing falls back to iceberg-go's own local or S3 IO.
//
// The IO an FS gives iceberg-go is bound to the context it was obtained
// with (Bind): its calls stop when that context ends, as iceberg-go's blob
// IO does.
//
// Reads: Open returns a file whose ReadAt reads only the requested range
// (Store.OpenRange: a ranged GET on S3, pread on a folder), so a Parquet
// reader fetches footers and column chunks, not whole files; Read streams
// from the current offset. Writes: Create streams into one Store.Put, whose
// outcome Close reports; nothing is visible before Close (the store's Put
// is atomic) and a failed write leaves nothing. WriteFile is one Put.
// Remove is Store.Delete (a missing file is not an error). WalkDir lists
// the store (regular objects only; folders are not reported, except the
// root).
package icebergio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	iceio "github.com/apache/iceberg-go/io"

	"github.com/lakemerge/lakemerge/objstore"
)

// Store is what an FS needs of a store: an objstore.Store that can also
// read an object's info and part of its content. objstore/s3,
// objstore/local, objstore/mem and objstore/fault stores are.
type Store interface {
	objstore.Store
	// Stat returns the info of one object, as List reports it; an error
	// matching objstore.ErrNotExist when there is none.
	Stat(ctx context.Context, key string) (objstore.ObjectInfo, error)
	// OpenRange reads length bytes of one object from offset, or to its
	// end when length < 0. A range that runs past the end stops there;
	// one that starts at or past it reads nothing. The caller closes it.
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// FS is iceberg-go's IO on the objects of one store under one root URL. It
// implements iceberg-go's io.IO, ReadFileIO, WriteFileIO, StatIO and
// ListableIO. It is safe for concurrent use.
type FS struct {
	store Store
	root  string   // as given, without trailing "/"
	loc   location // root, parsed
	ctx   context.Context
}

var (
	_ iceio.ReadFileIO  = (*FS)(nil)
	_ iceio.WriteFileIO = (*FS)(nil)
	_ iceio.StatIO      = (*FS)(nil)
	_ iceio.ListableIO  = (*FS)(nil)
)

// New returns the IO of store, whose keys are the locations under root
// (file:///abs/path, file:/abs/path or s3://bucket/prefix; s3a and s3n are
// taken as s3). Its calls use context.Background until Bind.
func New(store Store, root string) (*FS, error) {
	root = strings.TrimRight(root, "/")
	loc, ok := parseLocation(root)
	if !ok {
		return nil, fmt.Errorf("iceberg io: root %q: want file:///abs/path or s3://bucket/prefix", root)
	}
	return &FS{store: store, root: root, loc: loc, ctx: context.Background()}, nil
}

// Root is the URL the FS maps to its store's keys, without trailing "/".
func (f *FS) Root() string { return f.root }

// Bind returns f with its calls tied to ctx.
func (f *FS) Bind(ctx context.Context) *FS {
	b := *f
	b.ctx = ctx
	return &b
}

// location is a parsed file or S3 URL: scheme class ("file" or "s3"),
// authority (bucket; "" for local files) and path (starting with "/",
// taken literally, not unescaped).
type location struct {
	class, host, path string
}

func parseLocation(s string) (location, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		// file:/abs/path and bare absolute paths.
		p := strings.TrimPrefix(s, "file:")
		if !strings.HasPrefix(p, "/") {
			return location{}, false
		}
		return location{class: "file", path: p}, true
	}
	host, p, _ := strings.Cut(rest, "/")
	loc := location{host: host, path: "/" + p}
	switch strings.ToLower(scheme) {
	case "file":
		if strings.EqualFold(host, "localhost") {
			loc.host = ""
		}
		loc.class = "file"
	case "s3", "s3a", "s3n":
		if host == "" {
			return location{}, false
		}
		loc.class = "s3"
	default:
		return location{}, false
	}
	return loc, true
}

// Key returns the store key of a location under the root.
func (f *FS) Key(name string) (string, error) {
	loc, ok := parseLocation(name)
	dir := strings.TrimSuffix(f.loc.path, "/") + "/"
	if !ok || loc.class != f.loc.class || loc.host != f.loc.host || !strings.HasPrefix(loc.path, dir) || len(loc.path) == len(dir) {
		return "", fmt.Errorf("%s is not a file under the warehouse %s: lakemerge reads and writes Iceberg tables only there", name, f.root)
	}
	return loc.path[len(dir):], nil
}

// walkKey is Key for a folder: the key prefix of the objects under name,
// ending in "/"; "" for the root itself.
func (f *FS) walkKey(name string) (string, error) {
	name = strings.TrimRight(name, "/")
	if loc, ok := parseLocation(name); ok && loc.class == f.loc.class && loc.host == f.loc.host &&
		strings.TrimRight(loc.path, "/") == strings.TrimRight(f.loc.path, "/") {
		return "", nil
	}
	k, err := f.Key(name)
	if err != nil {
		return "", err
	}
	return k + "/", nil
}

// notExist is a store's "no such object" error that also matches
// fs.ErrNotExist, which iceberg-go tests for.
type notExist struct{ error }

func (e notExist) Is(target error) bool { return target == fs.ErrNotExist }
func (e notExist) Unwrap() error        { return e.error }

// fsErr makes a store error match fs.ErrNotExist when it matches
// objstore.ErrNotExist.
func fsErr(err error) error {
	if errors.Is(err, objstore.ErrNotExist) && !errors.Is(err, fs.ErrNotExist) {
		return notExist{err}
	}
	return err
}

// Open opens a file for reading. It reads the object's info, not its
// content; reads fetch what they ask for.
func (f *FS) Open(name string) (iceio.File, error) {
	key, err := f.Key(name)
	if err != nil {
		return nil, err
	}
	info, err := f.store.Stat(f.ctx, key)
	if err != nil {
		return nil, fsErr(err)
	}
	return &file{fs: f, name: name, info: info}, nil
}

// ReadFile reads a whole file.
func (f *FS) ReadFile(name string) ([]byte, error) {
	key, err := f.Key(name)
	if err != nil {
		return nil, err
	}
	r, err := f.store.Open(f.ctx, key)
	if err != nil {
		return nil, fsErr(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// Stat returns a file's info.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	key, err := f.Key(name)
	if err != nil {
		return nil, err
	}
	info, err := f.store.Stat(f.ctx, key)
	if err != nil {
		return nil, fsErr(err)
	}
	return fileInfo{info}, nil
}

// WriteFile stores p as the file name, replacing any file there.
func (f *FS) WriteFile(name string, p []byte) error {
	key, err := f.Key(name)
	if err != nil {
		return err
	}
	return f.store.Put(f.ctx, key, bytes.NewReader(p))
}

// Create starts writing the file name. What is written streams into one
// Store.Put, running in a goroutine until Close, which waits for it and
// returns its error: the caller must Close the writer, also after a failed
// Write. Nothing is visible before Close returns nil, and a write that
// fails stores nothing.
func (f *FS) Create(name string) (iceio.FileWriter, error) {
	key, err := f.Key(name)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &writer{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		w.err = f.store.Put(f.ctx, key, pr)
		if w.err == nil {
			// Put returned without reading to the end: not a stored file.
			if _, err := pr.Read(make([]byte, 1)); err != io.EOF {
				w.err = fmt.Errorf("write %s: the store stopped reading before the end", name)
			}
		}
		// Unblock a Write waiting for a reader that has gone: it gets the
		// Put's error.
		if w.err != nil {
			pr.CloseWithError(w.err)
		} else {
			pr.CloseWithError(errWriterDone)
		}
	}()
	return w, nil
}

// errWriterDone is what a Write after the end of its Put returns.
var errWriterDone = errors.New("file writer finished")

// Remove deletes a file; a missing one is not an error.
func (f *FS) Remove(name string) error {
	key, err := f.Key(name)
	if err != nil {
		return err
	}
	return f.store.Delete(f.ctx, key)
}

// WalkDir calls fn for root (as a folder) and then for every object under
// it, in key order, with its location spelled as root's. Folders below
// root are not reported. fn's fs.SkipDir skips the rest of root (for root)
// or of the object's folder; fs.SkipAll ends the walk.
func (f *FS) WalkDir(root string, fn fs.WalkDirFunc) error {
	prefix, err := f.walkKey(root)
	if err != nil {
		return err
	}
	root = strings.TrimRight(root, "/")
	objs, err := f.store.List(f.ctx, prefix)
	if err != nil {
		return fn(root, nil, err)
	}
	if err := fn(root, dirEntry{name: path.Base(root)}, nil); err != nil {
		if err == fs.SkipDir || err == fs.SkipAll {
			return nil
		}
		return err
	}
	skipped := "" // the folder whose rest fn skipped
	for _, o := range objs {
		dir := path.Dir(o.Key)
		if dir == skipped {
			continue
		}
		name := root + "/" + o.Key[len(prefix):]
		switch err := fn(name, dirEntry{name: path.Base(o.Key), info: o, file: true}, nil); {
		case err == fs.SkipDir:
			skipped = dir
		case err == fs.SkipAll:
			return nil
		case err != nil:
			return err
		}
	}
	return nil
}

// file is an open file: ReadAt reads a range, Read streams from the
// offset that Read and Seek move.
type file struct {
	fs     *FS
	name   string
	info   objstore.ObjectInfo
	off    int64
	stream io.ReadCloser // open at off, nil when none
	closed bool
}

func (r *file) key() string { return r.info.Key }

func (r *file) Stat() (fs.FileInfo, error) { return fileInfo{r.info}, nil }

// ReadAt reads len(p) bytes from off with one ranged read, io.EOF when
// the file ends first.
func (r *file) ReadAt(p []byte, off int64) (int, error) {
	if r.closed {
		return 0, fs.ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", r.name, off)
	}
	if off >= r.info.Size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.info.Size-off)
	rc, err := r.fs.store.OpenRange(r.fs.ctx, r.key(), off, want)
	if err != nil {
		return 0, fsErr(err)
	}
	n, err := io.ReadFull(rc, p[:want])
	rc.Close()
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("read %s at %d: the object has %d bytes, fewer than its size %d: %w",
				r.name, off, off+int64(n), r.info.Size, io.ErrUnexpectedEOF)
		}
		return n, err
	}
	if int64(len(p)) > want {
		return n, io.EOF
	}
	return n, nil
}

// Read reads from the current offset, streaming the rest of the object.
func (r *file) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fs.ErrClosed
	}
	if r.off >= r.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.stream == nil {
		rc, err := r.fs.store.OpenRange(r.fs.ctx, r.key(), r.off, -1)
		if err != nil {
			return 0, fsErr(err)
		}
		r.stream = rc
	}
	n, err := r.stream.Read(p[:min(int64(len(p)), r.info.Size-r.off)])
	r.off += int64(n)
	if err == io.EOF {
		if r.off < r.info.Size {
			return n, fmt.Errorf("read %s: the object ended at %d, before its size %d: %w", r.name, r.off, r.info.Size, io.ErrUnexpectedEOF)
		}
		err = nil
	}
	return n, err
}

// Seek moves the offset of Read.
func (r *file) Seek(offset int64, whence int) (int64, error) {
	if r.closed {
		return 0, fs.ErrClosed
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.info.Size
	default:
		return 0, fmt.Errorf("seek %s: whence %d", r.name, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek %s: negative offset %d", r.name, offset)
	}
	if offset != r.off && r.stream != nil {
		r.stream.Close()
		r.stream = nil
	}
	r.off = offset
	return offset, nil
}

func (r *file) Close() error {
	if r.closed {
		return fs.ErrClosed
	}
	r.closed = true
	if r.stream != nil {
		return r.stream.Close()
	}
	return nil
}

// writer streams a file into a Store.Put running in its own goroutine.
type writer struct {
	pw     *io.PipeWriter
	done   chan struct{}
	err    error // of the Put; read after done is closed
	closed bool
}

func (w *writer) Write(p []byte) (int, error) { return w.pw.Write(p) }

func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{w.pw}, r)
}

// Close ends the file and returns the outcome of its Put.
func (w *writer) Close() error {
	if w.closed {
		return fs.ErrClosed
	}
	w.closed = true
	w.pw.Close()
	<-w.done
	return w.err
}

// fileInfo is an object's info as a file's.
type fileInfo struct{ o objstore.ObjectInfo }

func (i fileInfo) Name() string       { return path.Base(i.o.Key) }
func (i fileInfo) Size() int64        { return i.o.Size }
func (i fileInfo) Mode() fs.FileMode  { return 0o444 }
func (i fileInfo) ModTime() time.Time { return i.o.LastModified }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return i.o }

// dirEntry is an object, or the walk's root folder, as WalkDir reports it.
type dirEntry struct {
	name string
	info objstore.ObjectInfo
	file bool
}

func (d dirEntry) Name() string { return d.name }
func (d dirEntry) IsDir() bool  { return !d.file }
func (d dirEntry) Type() fs.FileMode {
	if d.file {
		return 0
	}
	return fs.ModeDir
}

func (d dirEntry) Info() (fs.FileInfo, error) {
	if d.file {
		return fileInfo{d.info}, nil
	}
	return dirInfo{d.name}, nil
}

// dirInfo is the walk root's info.
type dirInfo struct{ name string }

func (i dirInfo) Name() string       { return i.name }
func (i dirInfo) Size() int64        { return 0 }
func (i dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (i dirInfo) ModTime() time.Time { return time.Time{} }
func (i dirInfo) IsDir() bool        { return true }
func (i dirInfo) Sys() any           { return nil }

// ctxKey is the context key of NewContext.
type ctxKey struct{}

// NewContext returns ctx carrying f, for Factory.
func NewContext(ctx context.Context, f *FS) context.Context {
	return context.WithValue(ctx, ctxKey{}, f)
}

// FromContext returns the FS NewContext put in ctx.
func FromContext(ctx context.Context) (*FS, bool) {
	f, ok := ctx.Value(ctxKey{}).(*FS)
	return f, ok
}

// Factory is an iceberg-go io.SchemeFactory: it returns the FS that ctx
// carries, bound to ctx, and fails for a context without one or a location
// outside its root. props are not used: how the store is reached was
// decided when it was opened.
func Factory(ctx context.Context, parsed *url.URL, _ map[string]string) (iceio.IO, error) {
	f, ok := FromContext(ctx)
	if !ok {
		return nil, fmt.Errorf("iceberg io for %s: no lakemerge warehouse store in the context (the catalog was not opened through cmd/lakemerge/wire)", parsed.Redacted())
	}
	if _, err := f.walkKey(parsed.String()); err != nil {
		return nil, fmt.Errorf("iceberg io: %w", err)
	}
	return f.Bind(ctx), nil
}
