// Package objstore is the blob seam between lakemerge and where its files
// live: the raw zone it reads change files from and the warehouse it writes
// table files to. Every byte of both goes through a Store. Implementations:
// objstore/s3 (a bucket prefix), objstore/local (a folder on disk),
// objstore/mem (in memory, for tests); objstore/fault wraps any of them and
// injects failures. All of them also read an object's info and a range of
// its content (Stat, OpenRange), which objstore/icebergio, iceberg-go's
// file IO over a Store, needs. objstore/objstoretest holds the conformance
// suites every implementation passes.
//
// Keys are slash-separated paths relative to the store's root, never with a
// leading slash. Listing is recursive and returns keys in byte order.
// objstore/local and objstore/mem refuse keys that are empty, absolute, or
// have empty, "." or ".." segments, backslashes or NUL bytes.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is matched by errors for keys that do not exist.
var ErrNotExist = errors.New("object does not exist")

// ErrExists is matched by the error of CreateExclusive when the key exists.
var ErrExists = errors.New("object already exists")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key  string
	Size int64
	// ETag changes whenever the object's content is replaced, and stays
	// the same while it is not. For S3 it is the S3 ETag and for mem the
	// MD5 of the content, so rewriting equal bytes keeps it; for local
	// files it is modification time and size.
	ETag         string
	LastModified time.Time
	// FormerETag is the ETag an earlier version of lakemerge reported for
	// this object, when the store changed how it computes ETags (a local
	// store from HashETags: modification time and size); bookmarks written
	// then hold it. Empty otherwise.
	FormerETag string
	// Special is set on a listed entry that is not an object the store
	// reads (objstore/local: a symbolic link, a device, a name that cannot
	// be a key): it says what it is. Size and ETag are then empty. Stores
	// list such entries instead of leaving them out, so that nothing under
	// a prefix is passed over in silence.
	Special string
}

// Store reads and writes objects. Implementations are safe for concurrent
// use. A call with a canceled ctx fails with an error matching ctx.Err().
// Errors start with the action and the object or prefix as the store
// knows it ("list s3://bucket/root/prefix/: …", "open /raw/key: …"), as
// os.PathError does: callers add what they were doing, not the location
// again.
type Store interface {
	// List returns every object whose key starts with prefix, at any depth,
	// sorted by key. A prefix that matches nothing yields an empty list;
	// only a store made to (objstore/local's RequireFolders, for the raw
	// zone) fails instead with an error matching ErrNotExist when the
	// prefix's folder does not exist. S3 has no folders: an empty prefix
	// is an empty list.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Open reads one object. The caller closes the reader. A missing key,
	// including one that is only the start of other keys (a "folder"),
	// gives an error matching ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Put stores r under key, replacing any object there. Readers never see
	// a partly written object: if r fails, nothing changes.
	Put(ctx context.Context, key string, r io.Reader) error
	// CreateExclusive stores r under key only if no object has that key;
	// otherwise it returns an error matching ErrExists. Of several
	// concurrent callers exactly one succeeds.
	CreateExclusive(ctx context.Context, key string, r io.Reader) error
	// Delete removes an object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}
