package local

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// HashETags returns a store on the same folder whose ETags are the MD5 of
// each file's content (what S3 reports for an object uploaded in one
// part), so a copy of the folder that did not keep modification times keeps
// its ETags: a raw zone copied with cp or rsync without -t is not taken for
// rewritten files. Computing a hash reads the file, so hashes are kept in
// cacheFile (when not empty), keyed by path, size, modification time, inode
// and change time: an unchanged file is read once, ever. The cache is a
// cache only: a missing, unreadable or stale one costs reading the files
// again, never a wrong ETag. Each listed object also carries its former
// ETag (modification time and size, invariant 5), which bookmarks written
// by earlier versions hold (objstore.ObjectInfo.FormerETag).
func (s *Store) HashETags(cacheFile string) *Store {
	return &Store{root: s.root, hash: &hasher{file: cacheFile}, folders: s.folders}
}

// hasher computes content ETags and keeps them in a cache file.
type hasher struct {
	file string

	mu      sync.Mutex
	loaded  bool
	entries map[string]cached
	dirty   bool
}

// cached is one file's hash with the stamp it was computed for.
type cached struct {
	Size  int64  `json:"s"`
	MTime int64  `json:"m"`
	CTime int64  `json:"c"`
	Ino   uint64 `json:"i"`
	MD5   string `json:"h"`
}

// stamp is what must not have changed for a cached hash to hold.
func stamp(fi fs.FileInfo) cached {
	c := cached{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		c.Ino = st.Ino
		c.CTime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return c
}

// etag returns the MD5 of the file at path (with info fi), from the cache
// when its stamp still holds.
func (h *hasher) etag(path string, fi fs.FileInfo) (string, error) {
	want := stamp(fi)
	h.mu.Lock()
	h.load()
	c, ok := h.entries[path]
	h.mu.Unlock()
	if ok && c.Size == want.Size && c.MTime == want.MTime && c.CTime == want.CTime && c.Ino == want.Ino {
		return c.MD5, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum := md5.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	want.MD5 = `"` + hex.EncodeToString(sum.Sum(nil)) + `"`
	h.mu.Lock()
	h.entries[path] = want
	h.dirty = true
	h.mu.Unlock()
	return want.MD5, nil
}

// load reads the cache file once; h.mu is held.
func (h *hasher) load() {
	if h.loaded {
		return
	}
	h.loaded = true
	h.entries = map[string]cached{}
	if h.file == "" {
		return
	}
	if b, err := os.ReadFile(h.file); err == nil {
		_ = json.Unmarshal(b, &h.entries) // a corrupt cache is an empty one
		if h.entries == nil {
			h.entries = map[string]cached{}
		}
	}
}

// save writes the cache file when it changed: hashes were added, or files
// under the listed path prefix (under) were not seen any more (deleted).
// Best effort: a cache that cannot be written costs reading files again.
func (h *hasher) save(under string, seen map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.file == "" {
		return
	}
	for p := range h.entries {
		if strings.HasPrefix(p, under) && !seen[p] {
			delete(h.entries, p)
			h.dirty = true
		}
	}
	if !h.dirty {
		return
	}
	b, err := json.Marshal(h.entries)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(h.file), 0o755); err != nil {
		return
	}
	tmp, err := writeTemp(context.Background(), filepath.Dir(h.file), bytes.NewReader(b))
	if err != nil {
		return
	}
	if os.Rename(tmp, h.file) != nil {
		os.Remove(tmp)
		return
	}
	h.dirty = false
}
