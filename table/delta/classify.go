package delta

import (
	"context"
	"errors"
	"fmt"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
)

// classify is table/delta's error classifier for everything but the
// conditional put of the log entry (Commit classifies that itself): it
// puts err, met by a commit attempt that began from log version began,
// into its category, by type, never by message:
//
//   - the caller's ctx is done, or err has a category already: err as it
//     is;
//   - a temporary failure (change.FaultOf: throttling, 5xx, timeouts,
//     dropped connections): change.ErrTransient (nothing is committed
//     before the log entry);
//   - a permanent failure by type (access denied, a missing bucket, a bad
//     request, a local permission or file system error): err as it is, so
//     the run fails at once instead of rewriting its files on every
//     attempt;
//   - otherwise (a file that does not exist, an untyped error) the log
//     tells: when a version after began exists, the table moved on and the
//     attempt lost a race (a file of the state it began from was removed
//     and vacuumed): change.ErrConflict; when not, err is permanent. When
//     the log cannot be read, change.ErrTransient.
func (t *Table) classify(ctx context.Context, began int64, err error) error {
	if err == nil || ctx.Err() != nil || change.Retryable(err) {
		return err
	}
	switch fault(err) {
	case change.FaultTemporary:
		return fmt.Errorf("%w: %w", change.ErrTransient, err)
	case change.FaultPermanent:
		return err
	}
	moved, lerr := t.exists(ctx, t.root+commitName(began+1))
	switch {
	case lerr != nil:
		return fmt.Errorf("%w: %w (and the log cannot be read: %w)", change.ErrTransient, err, lerr)
	case moved:
		return fmt.Errorf("%w: the table moved on past version %d: %w", change.ErrConflict, began, err)
	}
	return err
}

// fault is change.FaultOf, with objstore's missing objects.
func fault(err error) change.Fault {
	f := change.FaultOf(err)
	if f == change.FaultUnknown && errors.Is(err, objstore.ErrNotExist) {
		return change.FaultMissing
	}
	return f
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
