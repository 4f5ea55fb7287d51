// Package local is an objstore.Store on a folder of the local filesystem.
//
// Keys map to paths under the root folder. Writes go to a temporary file
// (named with the prefix ".lmtmp-", never listed) in the target's folder,
// are synced, and then renamed over the target (Put) or hard-linked to it
// (CreateExclusive, which fails when the target exists), so readers never
// see a partly written object and exactly one of several concurrent
// exclusive creators wins.
//
// ETags are the file's modification time in nanoseconds and its size, in
// hex: they change whenever a file is rewritten (on filesystems with
// coarse timestamps, a rewrite within one tick with the same size would go
// unnoticed; rewriting raw files in place is what DMS reloads do, minutes
// apart).
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lakemerge/lakemerge/objstore"
)

// tempPrefix starts the names of files being written.
const tempPrefix = ".lmtmp-"

// Store is a folder used as an object store. Safe for concurrent use.
type Store struct {
	root string
}

var _ objstore.Store = (*Store)(nil)

// New returns a store rooted at root, creating the folder when missing.
func New(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	return &Store{root: abs}, nil
}

// Root is the store's folder.
func (s *Store) Root() string { return s.root }

// Path returns the filesystem path of key. Keys are slash-separated and
// relative; empty, absolute and ".."-containing keys, empty segments,
// backslashes and NUL bytes are rejected.
func (s *Store) Path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty object key")
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("object key %q is absolute", key)
	case strings.ContainsAny(key, "\\\x00"):
		return fmt.Errorf("object key %q contains a backslash or NUL", key)
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "" || seg == ".":
			return fmt.Errorf("object key %q has an empty segment", key)
		case seg == "..":
			return fmt.Errorf("object key %q leaves the store", key)
		case strings.HasPrefix(seg, tempPrefix):
			return fmt.Errorf("object key %q uses the reserved prefix %s", key, tempPrefix)
		}
	}
	return nil
}

// List returns the regular files under root whose key starts with prefix,
// sorted by key. Only the folder that can hold such keys is walked;
// symlinked folders are not followed.
func (s *Store) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir := path.Dir(prefix) // "public/cust" → "public"; "public/t/" → "public/t"
	if strings.HasSuffix(prefix, "/") {
		dir = strings.TrimSuffix(prefix, "/")
	}
	if dir == "." || dir == "" {
		dir = ""
	}
	start := filepath.Join(s.root, filepath.FromSlash(dir))
	var out []objstore.ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tempPrefix) || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while listing
		}
		if err != nil {
			return err
		}
		out = append(out, info(key, fi))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b objstore.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func info(key string, fi fs.FileInfo) objstore.ObjectInfo {
	return objstore.ObjectInfo{
		Key:          key,
		Size:         fi.Size(),
		ETag:         fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size()),
		LastModified: fi.ModTime(),
	}
}

// Stat describes one object.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	p, err := s.path(ctx, key)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return objstore.ObjectInfo{}, notExist("stat", key, err)
	}
	return info(key, fi), nil
}

func (s *Store) path(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return s.Path(key)
}

func notExist(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: %w", op, key, objstore.ErrNotExist)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// Open reads one object.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(ctx, key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist("open", key, err)
	}
	return f, nil
}

// writeTemp writes r to a synced temporary file in key's folder and returns
// its path.
func (s *Store) writeTemp(ctx context.Context, key string, r io.Reader) (string, error) {
	p, err := s.path(ctx, key)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(p), tempPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	return tmp, nil
}

// Put stores r under key, replacing any object there, atomically.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	tmp, err := s.writeTemp(ctx, key, r)
	if err != nil {
		return err
	}
	p, _ := s.Path(key)
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// CreateExclusive stores r under key unless an object has that key.
func (s *Store) CreateExclusive(ctx context.Context, key string, r io.Reader) error {
	tmp, err := s.writeTemp(ctx, key, r)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	p, _ := s.Path(key)
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", key, objstore.ErrExists)
		}
		return fmt.Errorf("create %s: %w", key, err)
	}
	return nil
}

// Delete removes an object; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(ctx, key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}
