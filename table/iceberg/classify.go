package iceberg

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/iceberg-go/catalog"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/table"
)

// classify is table/iceberg's error classifier: it puts err, met in phase
// p of a commit attempt that began from the table state at metadata
// location began (empty when the table did not exist), into its category,
// by type, never by message:
//
//   - icetable.ErrCommitFailed (the catalog's compare-and-swap failed:
//     Glue's ConcurrentModificationException, the SQL catalog's moved
//     metadata location), catalog.ErrTableAlreadyExists (another writer
//     created the table first) or a *movedError (a commit's plannedState
//     requirement failed: another commit landed since it was planned):
//     table.ErrConflict;
//   - everything else as table.Classify puts it, the catalog telling
//     whether the table moved on since the attempt began (iceberg-go's
//     requirement checks fail with untyped errors when a concurrent commit
//     changed the branch, schema or spec; a file read from an older state
//     may be gone). In the catalog commit, a table that moved on to a
//     state carrying the bookmark property value this commit wrote
//     (landed) moved to ours.
func (t *Table) classify(ctx context.Context, p table.Phase, began, landed string, err error) error {
	if err == nil || ctx.Err() != nil {
		return err
	}
	var moved *movedError
	if errors.Is(err, icetable.ErrCommitFailed) || errors.Is(err, catalog.ErrTableAlreadyExists) || errors.As(err, &moved) {
		return fmt.Errorf("%w: %w", table.ErrConflict, err)
	}
	return table.Classify(ctx, p, err, func(ctx context.Context) (table.Moved, error) {
		cur, err := t.Load(ctx)
		if err != nil {
			return table.Unmoved, err
		}
		now := ""
		if cur != nil {
			now = cur.MetadataLocation()
		}
		switch {
		case now == began:
			return table.Unmoved, nil
		case p == table.InCommit && landed != "" && cur != nil && cur.Properties()[BookmarkProperty] == landed:
			return table.MovedToOurs, nil
		}
		return table.MovedOn, nil
	})
}

// CommitProperty is the table property that a run's commit, and the
// create of a table, set to an id made for that one catalog request (a
// random UUID, newCommitID). It tells a request that landed from one that
// lost: the AWS SDK sends a request again when the connection drops after
// the catalog applied it and before its answer arrived, and the retry then
// meets the table the first try made — Glue answers a CreateTable with
// AlreadyExistsException and an UpdateTable with
// ConcurrentModificationException (its version check). A table whose
// CommitProperty is the id a failed request set holds that request's
// commit: no other request writes the id. The bookmark property cannot
// tell, since two runs that absorb the same files from the same state
// commit the same bookmark.
const CommitProperty = "lakemerge.commit"

// newCommitID is a CommitProperty value for one catalog request.
func newCommitID() string { return uuid.NewString() }

// carrying returns the table as the catalog has it now when it carries id
// as its CommitProperty: the request that set id landed, whatever error
// its caller got (see CommitProperty). When the table cannot be loaded,
// or carries another id (another writer's commit, or a later one on top
// of ours), it returns false, and the error is classified as it is.
func (t *Table) carrying(ctx context.Context, id string) (*icetable.Table, bool) {
	if ctx.Err() != nil {
		return nil, false
	}
	cur, err := t.Load(ctx)
	if err != nil || cur == nil || cur.Properties()[CommitProperty] != id {
		return nil, false
	}
	return cur, true
}

// began is the metadata location a Txn began from; "" before the table
// exists.
func (x *Txn) began() string {
	if x.tbl == nil {
		return ""
	}
	return x.tbl.MetadataLocation()
}
