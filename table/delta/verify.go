package delta

import (
	"context"
	"errors"
	"fmt"

	"github.com/lakemerge/lakemerge/objstore"
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
// written, so that nothing a writer lost is ever committed:
//
//   - the rows of the new data files (their Parquet footers' counts) equal
//     the rows Apply planned to write: inserts, updates, and the rows kept
//     from the files it rewrites;
//   - the rows of the rewritten files equal the rows kept plus the rows
//     planned to go (the stored rows of updates and deletes, and of a
//     reload's rows that are gone): every planned delete removed a row;
//   - every file the commit references and wrote (data, state and
//     tombstone files) exists in the store with the size written, by a
//     listing of its key (one request on S3; nothing is downloaded).
//
// A mismatch is permanent: the error names what differs, and nothing is
// committed.
func (x *Txn) verify(ctx context.Context) error {
	var written int64
	for _, f := range x.newFiles {
		if f.rows > 0 {
			written += f.rows
		}
	}
	s := x.stats
	var errs []error
	if want := s.Inserted + s.Updated + x.copied; written != want {
		errs = append(errs, fmt.Errorf("new data files hold %d rows, the plan writes %d (%d inserts, %d updates, %d rows kept from rewritten files)",
			written, want, s.Inserted, s.Updated, x.copied))
	}
	if want := x.copied + s.Updated + s.Deleted; x.rewrittenRows != want {
		errs = append(errs, fmt.Errorf("rewritten files held %d rows, the plan keeps %d and removes %d (%d updated, %d deleted)",
			x.rewrittenRows, x.copied, s.Updated+s.Deleted, s.Updated, s.Deleted))
	}
	for _, f := range x.newFiles {
		size, err := x.t.size(ctx, f.key)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("stat %s: %w", f.key, err))
		case size != f.size:
			errs = append(errs, fmt.Errorf("%s has %d bytes, %d were written", f.key, size, f.size))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("verify against the plan: %w", err)
	}
	return nil
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
