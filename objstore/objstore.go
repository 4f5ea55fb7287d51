// Package objstore is the blob seam between lakemerge and where its files
// live: the raw zone it reads change files from and the warehouse it writes
// table files to. Implementations: objstore/local (a folder on disk),
// objstore/mem (in memory, for tests). objstore/objstoretest holds the
// conformance suite every implementation passes.
//
// Keys are slash-separated paths relative to the store's root, never with a
// leading slash. Listing is recursive and returns keys in byte order.
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
	// ETag changes whenever the object's content is replaced. For S3 it is
	// the S3 ETag; for local files a digest of modification time and size.
	ETag         string
	LastModified time.Time
}

// Store reads and writes objects. Implementations are safe for concurrent
// use.
type Store interface {
	// List returns every object whose key starts with prefix, at any depth,
	// sorted by key. A prefix that matches nothing yields an empty list.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Open reads one object. The caller closes the reader. A missing key
	// gives an error matching ErrNotExist.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Put stores r under key, replacing any object there. Readers never see
	// a partly written object.
	Put(ctx context.Context, key string, r io.Reader) error
	// CreateExclusive stores r under key only if no object has that key;
	// otherwise it returns an error matching ErrExists. Of several
	// concurrent callers exactly one succeeds.
	CreateExclusive(ctx context.Context, key string, r io.Reader) error
	// Delete removes an object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}
