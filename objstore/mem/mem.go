// Package mem is an objstore.Store in memory, for tests.
//
// It behaves like S3 where the two differ from a folder on disk: a key may
// be both an object and the start of other keys ("a" and "a/b"), and the
// ETag is the hex MD5 of the content, as S3 gives for a single-part upload,
// so writing the same bytes again keeps the ETag. Keys are checked by the
// rules of objstore/local, with the same "invalid key" errors, so code
// tested against mem also runs on a folder.
//
// Besides objstore.Store, Stat and OpenRange read an object's info and a
// part of its content, as objstore/s3 and objstore/local do.
//
// Objects are immutable once stored: Put and CreateExclusive store a new
// byte slice and never change an old one, so an open reader keeps reading
// the content it was opened on.
package mem

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lakemerge/lakemerge/objstore"
)

// Store holds objects in a map. The zero Store is empty and ready to use;
// it is safe for concurrent use.
type Store struct {
	// Now stamps LastModified when an object is stored; nil means
	// time.Now. Set it before the store is used, not concurrently.
	Now func() time.Time

	mu struct {
		sync.Mutex
		objects map[string]object
	}
}

type object struct {
	data     []byte // never modified after it is stored
	etag     string
	modified time.Time
}

var _ objstore.Store = (*Store)(nil)

// New returns an empty store whose clock is time.Now.
func New() *Store {
	return &Store{Now: time.Now}
}

// List returns the objects whose key starts with prefix, sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	s.mu.Lock()
	var out []objstore.ObjectInfo
	for k, o := range s.mu.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, o.info(k))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b objstore.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (o object) info(key string) objstore.ObjectInfo {
	return objstore.ObjectInfo{Key: key, Size: int64(len(o.data)), ETag: o.etag, LastModified: o.modified}
}

// Open reads one object. The reader sees the content stored when Open was
// called, whatever is written later.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	o, err := s.get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// Stat returns the info of one object, as List reports it.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	o, err := s.get(ctx, key)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return o.info(key), nil
}

// OpenRange reads length bytes of one object from offset, or to its end
// when length < 0. A range that runs past the end stops at the end.
func (s *Store) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("open %s: negative offset %d", key, offset)
	}
	o, err := s.get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	data := o.data[min(offset, int64(len(o.data))):]
	if length >= 0 && length < int64(len(data)) {
		data = data[:length]
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// get returns the object stored under key.
func (s *Store) get(ctx context.Context, key string) (object, error) {
	if err := check(ctx, key); err != nil {
		return object{}, err
	}
	s.mu.Lock()
	o, ok := s.mu.objects[key]
	s.mu.Unlock()
	if !ok {
		return object{}, objstore.ErrNotExist
	}
	return o, nil
}

// Put stores r under key, replacing any object there. r is read to the
// end before anything is stored.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	if err := s.write(ctx, key, r, false); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// CreateExclusive stores r under key unless an object has that key, in
// which case the error matches objstore.ErrExists. r is read to the end
// before the key is checked.
func (s *Store) CreateExclusive(ctx context.Context, key string, r io.Reader) error {
	if err := s.write(ctx, key, r, true); err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	return nil
}

func (s *Store) write(ctx context.Context, key string, r io.Reader, exclusive bool) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	data, err := io.ReadAll(ctxReader{ctx, r})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return err
	}
	sum := md5.Sum(data)
	now := s.Now
	if now == nil {
		now = time.Now
	}
	o := object{data: data, etag: hex.EncodeToString(sum[:]), modified: now()}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mu.objects[key]; ok && exclusive {
		return objstore.ErrExists
	}
	if s.mu.objects == nil {
		s.mu.objects = make(map[string]object)
	}
	s.mu.objects[key] = o
	return nil
}

// Delete removes an object. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	s.mu.Lock()
	delete(s.mu.objects, key)
	s.mu.Unlock()
	return nil
}

// check returns ctx's error, or the error for an invalid key.
func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return checkKey(key)
}

// tempPrefix is reserved by objstore/local for its temporary files.
const tempPrefix = ".lmtmp-"

// checkKey applies objstore/local's key rules: not empty, not absolute, no
// empty, "." or ".." segments, no backslash or NUL, no segment starting
// with ".lmtmp-".
func checkKey(key string) error {
	if key == "" {
		return errors.New("invalid key: empty")
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("invalid key %q: absolute", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		var why string
		switch {
		case seg == "":
			why = "empty segment"
		case seg == "." || seg == "..":
			why = fmt.Sprintf("%q segment", seg)
		case strings.ContainsRune(seg, '\\'):
			why = "backslash"
		case strings.ContainsRune(seg, 0):
			why = "NUL byte"
		case strings.HasPrefix(seg, tempPrefix):
			why = fmt.Sprintf("segment starts with %q, reserved for temporary files", tempPrefix)
		default:
			continue
		}
		return fmt.Errorf("invalid key %q: %s", key, why)
	}
	return nil
}

// ctxReader stops a read once ctx is done.
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
