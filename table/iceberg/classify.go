package iceberg

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/iceberg-go/catalog"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/change"
)

// phase says where in a commit attempt an error happened.
type phase int

const (
	// beforeCommit: loading the table, reading files, writing files,
	// staging. Nothing of the attempt is visible to anyone.
	beforeCommit phase = iota
	// inCommit: the catalog commit (Transaction.Commit: new metadata file,
	// then the catalog's compare-and-swap). It may have landed.
	inCommit
)

// classify is table/iceberg's error classifier: it puts err, met by a
// commit attempt that began from the table state at metadata location
// began (empty when the table did not exist), into its category, by type,
// never by message:
//
//   - the caller's ctx is done: err as it is (the run stops);
//   - icetable.ErrCommitFailed (the catalog's compare-and-swap failed:
//     Glue's ConcurrentModificationException, the SQL catalog's moved
//     metadata location) or catalog.ErrTableAlreadyExists (another writer
//     created the table first): change.ErrConflict;
//   - a temporary failure (change.FaultOf): change.ErrCommitUnknown in the
//     catalog commit, change.ErrTransient before it;
//   - a permanent failure by type (access denied, a missing bucket, a bad
//     request, a local permission or file system error): err as it is, so
//     the run fails at once instead of rewriting its files on every
//     attempt;
//   - otherwise (an untyped error, or a file that does not exist) the
//     catalog tells: when the table moved on since the attempt began, the
//     attempt lost a race: change.ErrConflict (iceberg-go's requirement
//     checks fail with untyped errors when a concurrent commit changed the
//     branch, schema or spec; a file read from an older state may be gone).
//     In the catalog commit, a table that moved on to a state carrying the
//     bookmark property value this commit wrote (landed) is
//     change.ErrCommitUnknown instead: this commit landed after all, or
//     another run committed the same bookmark; the merge loop's reload
//     tells. When the table did not move, err is permanent. When the catalog cannot be read, the category is
//     ErrCommitUnknown in the catalog commit, ErrTransient before.
func (t *Table) classify(ctx context.Context, p phase, began, landed string, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	if errors.Is(err, icetable.ErrCommitFailed) || errors.Is(err, catalog.ErrTableAlreadyExists) {
		return fmt.Errorf("%w: %w", change.ErrConflict, err)
	}
	switch change.FaultOf(err) {
	case change.FaultTemporary:
		if p == inCommit {
			return fmt.Errorf("%w: %w", change.ErrCommitUnknown, err)
		}
		return fmt.Errorf("%w: %w", change.ErrTransient, err)
	case change.FaultPermanent:
		return err
	}
	cur, lerr := t.Load(ctx)
	if lerr != nil {
		if p == inCommit {
			return fmt.Errorf("%w: %w (and the table cannot be read back: %w)", change.ErrCommitUnknown, err, lerr)
		}
		return fmt.Errorf("%w: %w (and the table cannot be read back: %w)", change.ErrTransient, err, lerr)
	}
	now := ""
	if cur != nil {
		now = cur.MetadataLocation()
	}
	if now == began {
		return err
	}
	if p == inCommit && landed != "" && cur != nil && cur.Properties()[BookmarkProperty] == landed {
		return fmt.Errorf("%w: the table moved on to the bookmark this commit carries: %w", change.ErrCommitUnknown, err)
	}
	return fmt.Errorf("%w: the table moved on since this attempt began: %w", change.ErrConflict, err)
}

// began is the metadata location a Txn began from; "" before the table
// exists.
func (x *Txn) began() string {
	if x.tbl == nil {
		return ""
	}
	return x.tbl.MetadataLocation()
}
