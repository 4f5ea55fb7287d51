// Package local is an objstore.Store on a folder of the local filesystem,
// for laptop runs, tests and mounted volumes.
//
// Layout and guarantees:
//
//  1. Key "a/b/c.csv" is the file <root>/a/b/c.csv. Keys are slash-separated
//     and relative. Keys that are empty, start with "/", have an empty, "."
//     or ".." segment (so "a//b" and "a/" are refused too), contain a
//     backslash or NUL, or have a segment starting with ".lmtmp-" are
//     refused with an "invalid key" error before the disk is touched. A
//     key therefore always names a path inside root.
//  2. Writes go to a temporary file ".lmtmp-<random>" in the target's
//     folder, which is synced and closed, then renamed over the target (Put)
//     or hard-linked to it (CreateExclusive: the link fails when the target
//     exists, so of concurrent creators exactly one wins); then the folder
//     is synced. Readers never see a partly written object, and a crash
//     leaves at most a temporary file, which List never reports.
//     CreateExclusive needs a filesystem with hard links.
//  3. List reports regular files as objects. It does not follow symlinks,
//     neither to files nor to folders: a symlink, a device, a pipe or a
//     socket under the prefix, and a file whose name cannot be a key, is
//     reported with ObjectInfo.Special saying what it is (so that nothing
//     under a prefix is passed over in silence); Open does not read it.
//  4. On disk a path cannot be both a file and a folder: with "a/b" stored,
//     writing "a" fails, and so does writing "a/b/c". Open and Delete treat
//     a folder as a missing object.
//  5. ETag is the file's modification time in nanoseconds and its size, in
//     hex ("<mtime>-<size>"). It changes when a file is rewritten: Put always
//     writes a new file. On filesystems with coarse timestamps a rewrite
//     with the same size within one timestamp tick keeps the ETag. A store
//     from HashETags reports the MD5 of the content instead (cached), which
//     survives a copy that does not keep timestamps; lakemerge reads its raw
//     zone that way.
//
// Besides objstore.Store, Stat reads an object's info and OpenRange a part
// of its content (pread), for readers that need only parts of large files
// (objstore/icebergio: Parquet footers and column chunks).
//
// Every call returns an error for a canceled context before touching the
// disk; List also checks the context in every folder it reads, and Put and
// CreateExclusive while copying the body.
package local

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/lakemerge/lakemerge/objstore"
)

// tempPrefix starts the names of files being written (invariant 2).
const tempPrefix = ".lmtmp-"

// Store is a folder used as an object store. It holds no state besides the
// root path and is safe for concurrent use, also by several processes.
type Store struct {
	root string  // absolute, cleaned
	hash *hasher // content ETags (HashETags); nil: modification time and size
	// folders: List fails for a prefix whose folder is missing
	// (RequireFolders).
	folders bool
}

var _ objstore.Store = (*Store)(nil)

// Open returns a store on the folder root, made absolute, without creating
// anything: a missing folder lists as empty and reads fail with
// objstore.ErrNotExist (the raw zone, which lakemerge only reads, and
// commands that must not change anything).
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	return &Store{root: abs}, nil
}

// New returns a store on the folder root, made absolute and created (with
// its parents) when missing.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	return &Store{root: abs}, nil
}

// RequireFolders returns a store on the same folder (with the same ETags)
// whose List fails with an error matching objstore.ErrNotExist, naming the
// path, when the folder of the prefix (up to its last "/") does not exist,
// is a file or is reached through a symbolic link, instead of listing
// nothing. It is for a zone lakemerge only reads (the raw zone): there a
// missing folder is a wrong path or an unmounted volume, not a place where
// nothing was written yet.
func (s *Store) RequireFolders() *Store {
	c := *s
	c.folders = true
	return &c
}

// Root is the store's folder, absolute.
func (s *Store) Root() string { return s.root }

// Path returns the filesystem path of key, or an "invalid key" error for a
// key that breaks the rules of invariant 1. It does not touch the disk.
func (s *Store) Path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// checkKey enforces invariant 1.
func checkKey(key string) error {
	if key == "" {
		return errors.New("invalid key: empty")
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("invalid key %q: absolute", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("invalid key %q: %w", key, err)
		}
	}
	return nil
}

// checkSegment checks one slash-free part of a key.
func checkSegment(seg string) error {
	switch {
	case seg == "":
		return errors.New("empty segment")
	case seg == "." || seg == "..":
		return fmt.Errorf("%q segment", seg)
	case strings.ContainsRune(seg, '\\'):
		return errors.New("backslash")
	case strings.ContainsRune(seg, 0):
		return errors.New("NUL byte")
	case strings.HasPrefix(seg, tempPrefix):
		return fmt.Errorf("segment starts with %q, reserved for temporary files", tempPrefix)
	}
	return nil
}

// path is Path after a check of ctx.
func (s *Store) path(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return s.Path(key)
}

// missing reports whether err from the filesystem means "no object there":
// the path does not exist, or one of its folders is a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// List returns the objects whose key starts with prefix, sorted by key.
// Only the folder named by prefix up to its last "/" is read, recursively;
// when that folder is missing, is a file or is reached through a symlink,
// or when no valid key can start with prefix, the list is empty (for a
// store from RequireFolders, the first three fail). Its errors name the
// path listed (the store's folder joined with prefix).
func (s *Store) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", s.where(prefix), err)
	}
	dir := prefix[:strings.LastIndex(prefix, "/")+1] // "public/cust" → "public/"
	ok, err := s.plainDir(dir, prefix[len(dir):])
	if err != nil {
		var fe *folderError
		if errors.As(err, &fe) && dir == prefix && fe.path == filepath.Join(s.root, filepath.FromSlash(dir)) {
			fe.path = "" // the path listed: named once, by the wrap below
		}
		return nil, fmt.Errorf("list %s: %w", s.where(prefix), err)
	}
	var out []objstore.ObjectInfo
	if ok {
		if err := s.walk(ctx, dir, prefix, &out); err != nil {
			return nil, fmt.Errorf("list %s: %w", s.where(prefix), err)
		}
	}
	if s.hash != nil {
		seen := make(map[string]bool, len(out))
		for _, o := range out {
			seen[filepath.Join(s.root, filepath.FromSlash(o.Key))] = true
		}
		s.hash.save(filepath.Join(s.root, filepath.FromSlash(prefix)), seen)
	}
	// Folder order is not key order: "a-b" < "a/b" but folder "a" < "a-b".
	slices.SortFunc(out, func(a, b objstore.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// plainDir reports whether dir ("" or "a/b/") is a list-able folder for
// prefix dir+rest: every segment is valid, rest could start a segment,
// and every folder from root down is a real folder, not a symlink or file.
// For a store from RequireFolders, a folder on the way that is missing or
// is not a plain folder is an error matching objstore.ErrNotExist.
func (s *Store) plainDir(dir, rest string) (bool, error) {
	if strings.ContainsAny(rest, "\\\x00") {
		return false, nil
	}
	if s.folders {
		if err := s.checkRoot(); err != nil {
			return false, err
		}
	}
	if dir == "" {
		return true, nil
	}
	if strings.HasPrefix(dir, "/") {
		return false, nil
	}
	p := s.root
	for seg := range strings.SplitSeq(strings.TrimSuffix(dir, "/"), "/") {
		if checkSegment(seg) != nil {
			return false, nil
		}
		p = filepath.Join(p, seg)
		fi, err := os.Lstat(p)
		switch {
		case missing(err) && s.folders:
			return false, &folderError{path: p}
		case missing(err):
			return false, nil
		case err != nil:
			return false, err
		case !fi.IsDir() && s.folders: // a symlink's mode is not a folder's
			return false, notFolder(p, fi)
		case !fi.IsDir():
			return false, nil
		}
	}
	return true, nil
}

// checkRoot returns an error matching objstore.ErrNotExist when the
// store's folder is missing or not a folder; it may be a symbolic link to
// one (a mount point).
func (s *Store) checkRoot() error {
	fi, err := os.Stat(s.root)
	switch {
	case missing(err):
		return &folderError{path: s.root}
	case err != nil:
		return err
	case !fi.IsDir():
		return notFolder(s.root, fi)
	}
	return nil
}

// notFolder is the error of RequireFolders' List for path p, which is not
// a plain folder.
func notFolder(p string, fi fs.FileInfo) error {
	what := "a file"
	if fi.Mode()&fs.ModeSymlink != 0 {
		what = "a symbolic link (not followed)"
	}
	return &folderError{path: p, what: what}
}

// folderError is the error of RequireFolders' List for a folder on the way
// to the prefix that is missing or not a plain folder. It matches
// objstore.ErrNotExist. An empty path is the folder the error's wrapper
// names (List's own), so that the path is not said twice.
type folderError struct {
	path string // the folder, or "" for the one listed
	what string // what is there instead: "" (nothing), "a file", ...
}

func (e *folderError) Error() string {
	switch {
	case e.path == "" && e.what == "":
		return "no such folder"
	case e.path == "":
		return e.what + ", not a folder"
	case e.what == "":
		return "folder " + e.path + " does not exist"
	}
	return e.path + " is " + e.what + ", not a folder"
}

func (e *folderError) Is(target error) bool { return target == objstore.ErrNotExist }

// where is the filesystem path of prefix, for errors: the store's folder
// joined with it, keeping a final "/".
func (s *Store) where(prefix string) string {
	p := filepath.Join(s.root, filepath.FromSlash(prefix))
	if strings.HasSuffix(prefix, "/") {
		p += string(filepath.Separator)
	}
	return p
}

// walk appends to out the regular files under the folder of key dir ("" or
// ending in "/") whose keys start with prefix. Folders that vanish while
// being read are skipped.
func (s *Store) walk(ctx context.Context, dir, prefix string, out *[]objstore.ObjectInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(dir)))
	if missing(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) {
			continue // ours, being written (invariant 2)
		}
		key := dir + name
		t := e.Type()
		switch {
		case t.IsDir() && checkSegment(name) == nil: // from lstat: never a symlink
			sub := key + "/"
			if strings.HasPrefix(sub, prefix) || strings.HasPrefix(prefix, sub) {
				if err := s.walk(ctx, sub, prefix, out); err != nil {
					return err
				}
			}
			continue
		case !strings.HasPrefix(key, prefix):
			continue
		}
		var special string
		switch {
		case checkSegment(name) != nil:
			special = "a name that cannot be an object key"
		case t&fs.ModeSymlink != 0:
			special = "a symbolic link (not followed)"
		case t.IsDir():
			special = "a folder whose name cannot be a key segment"
		case !t.IsRegular():
			special = "not a regular file (" + t.Type().String() + ")"
		}
		if special != "" {
			*out = append(*out, objstore.ObjectInfo{Key: key, Special: special})
			continue
		}
		fi, err := e.Info()
		if missing(err) {
			continue // deleted while listing
		}
		if err != nil {
			return err
		}
		oi, err := s.info(key, fi)
		if missing(err) {
			continue
		}
		if err != nil {
			return err
		}
		*out = append(*out, oi)
	}
	return nil
}

// info describes the file of key (info fi): with HashETags, its content
// hash, read or cached.
func (s *Store) info(key string, fi fs.FileInfo) (objstore.ObjectInfo, error) {
	oi := objstore.ObjectInfo{
		Key:          key,
		Size:         fi.Size(),
		ETag:         fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size()),
		LastModified: fi.ModTime(),
	}
	if s.hash == nil {
		return oi, nil
	}
	etag, err := s.hash.etag(filepath.Join(s.root, filepath.FromSlash(key)), fi)
	if err != nil {
		return oi, err
	}
	oi.FormerETag, oi.ETag = oi.ETag, etag
	return oi, nil
}

// Open reads one object. A missing key, or one naming a folder, gives an
// error matching objstore.ErrNotExist that names the filesystem path.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	f, err := s.open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open %w", err)
	}
	return f, nil
}

// open opens the file of key; its errors start with the key or path, for
// the caller to prefix with its action.
func (s *Store) open(ctx context.Context, key string) (*os.File, error) {
	p, err := s.path(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	f, err := os.Open(p)
	if missing(err) {
		return nil, fmt.Errorf("%s: %w", p, objstore.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		err = fmt.Errorf("%s: %w (a folder)", p, objstore.ErrNotExist)
	} else if err != nil {
		err = fmt.Errorf("%s: %w", key, err)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Stat returns the info of one object, as List reports it, without
// reading it. A missing key, or one naming a folder, gives an error
// matching objstore.ErrNotExist.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	f, err := s.open(ctx, key)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("stat %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return s.info(key, fi)
}

// OpenRange reads length bytes of one object from offset, or to its end
// when length < 0. A range that runs past the end stops at the end.
func (s *Store) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("open %s: negative offset %d", key, offset)
	}
	f, err := s.open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open %w", err)
	}
	if length < 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("open %s: %w", key, err)
		}
		return f, nil
	}
	return sectionCloser{io.NewSectionReader(f, offset, length), f}, nil
}

// sectionCloser is a section of an open file that closes the file.
type sectionCloser struct {
	*io.SectionReader
	io.Closer
}

// Put stores r under key, replacing any object there (invariant 2).
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	if err := s.write(ctx, key, r, false); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// CreateExclusive stores r under key unless an object has that key, in
// which case the error matches objstore.ErrExists (invariant 2).
func (s *Store) CreateExclusive(ctx context.Context, key string, r io.Reader) error {
	if err := s.write(ctx, key, r, true); err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	return nil
}

// write is Put, or CreateExclusive when exclusive is set.
func (s *Store) write(ctx context.Context, key string, r io.Reader, exclusive bool) error {
	p, err := s.path(ctx, key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	// Folders created here must be synced into their parents too.
	syncFrom := dir
	if _, err := os.Stat(dir); missing(err) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		syncFrom = s.root
	}
	tmp, err := writeTemp(ctx, dir, r)
	if err != nil {
		return err
	}
	if exclusive {
		err = os.Link(tmp, p)
		os.Remove(tmp) // after a successful link the object is stored: ignore failure
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Lstat(p); serr == nil && fi.IsDir() {
				return fmt.Errorf("%s is a folder", p)
			}
			return objstore.ErrExists
		}
	} else if err = os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
	}
	if err != nil {
		return err
	}
	return syncDirs(syncFrom, dir)
}

// writeTemp copies r into a new synced and closed temporary file in dir
// and returns its path. On error it removes the file.
func writeTemp(ctx context.Context, dir string, r io.Reader) (path string, err error) {
	path = filepath.Join(dir, tempPrefix+rand.Text())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// syncDirs syncs folder to and then each parent up to and including top,
// which must be to or one of its ancestors, so that new entries survive a
// crash. Windows cannot sync folders; there it does nothing.
func syncDirs(top, to string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	for d := to; ; d = filepath.Dir(d) {
		f, err := os.Open(d)
		if err != nil {
			return err
		}
		err = errors.Join(f.Sync(), f.Close())
		if err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
		if d == top || d == filepath.Dir(d) {
			return nil
		}
	}
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Delete removes an object. A missing key, or one naming a folder, is not
// an error and changes nothing.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(ctx, key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	fi, err := os.Lstat(p)
	if missing(err) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err != nil && !missing(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}
