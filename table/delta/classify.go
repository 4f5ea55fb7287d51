package delta

import (
	"context"
	"errors"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table"
)

// classify is table/delta's error classifier for everything but the
// conditional put of the log entry (Commit classifies that itself,
// putOutcome): it puts err, met by a commit attempt that began from log
// version began, into its category as table.Classify does before the
// commit (nothing is committed before the log entry), the log telling
// whether the table moved on: it did when a version after began exists (a
// file of the state the attempt began from may have been removed and
// vacuumed).
func (t *Table) classify(ctx context.Context, began int64, err error) error {
	return table.Classify(ctx, table.BeforeCommit, err, func(ctx context.Context) (table.Moved, error) {
		moved, err := t.exists(ctx, t.root+commitName(began+1))
		if moved {
			return table.MovedOn, err
		}
		return table.Unmoved, err
	})
}

// exists reports whether the object key exists.
func (t *Table) exists(ctx context.Context, key string) (bool, error) {
	r, err := t.store.Open(ctx, key)
	if errors.Is(err, objstore.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.Close()
	return true, nil
}
