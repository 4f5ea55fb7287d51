package delta

import (
	"context"
	"fmt"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table"
)

// newFile is a file a commit writes and references: a data file (rows is
// the row count of its Parquet footer) or a state or tombstone file (rows
// is -1). key is its key in the store, size the bytes written.
type newFile struct {
	key  string
	size int64
	rows int64
}

// verify checks the commit against its plan before the log entry is
// written (table.Verify), so that nothing a writer lost is ever committed:
// the rows of the new data files (their Parquet footers' counts) are the
// inserts, updates and the rows kept from the files Apply rewrites; the
// rows of the rewritten files less those kept are the stored rows planned
// to go (every planned delete removed a row); and every file the commit
// wrote (data, state and tombstone files) exists in the store with the
// size written, by a listing of its key (one request on S3; nothing is
// downloaded).
func (x *Txn) verify(ctx context.Context) error {
	w := table.Written{
		Copied:      x.copied,
		Removed:     x.rewrittenRows - x.copied,
		RemovedFrom: fmt.Sprintf("rewritten files held %d rows, %d kept", x.rewrittenRows, x.copied),
	}
	for _, f := range x.newFiles {
		if f.rows > 0 {
			w.Rows += f.rows
		}
		w.Files = append(w.Files, table.File{Path: f.key, Size: f.size})
	}
	return table.Verify(ctx, x.stats, w, x.t.size)
}

// size returns the size of the object key, from a listing of the key as
// prefix (objstore has no stat).
func (t *Table) size(ctx context.Context, key string) (int64, error) {
	objs, err := t.store.List(ctx, key)
	if err != nil {
		return 0, err
	}
	for _, o := range objs {
		if o.Key == key {
			return o.Size, nil
		}
	}
	return 0, objstore.ErrNotExist
}
