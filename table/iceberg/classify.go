package iceberg

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/iceberg-go/catalog"
	icetable "github.com/apache/iceberg-go/table"

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

// began is the metadata location a Txn began from; "" before the table
// exists.
func (x *Txn) began() string {
	if x.tbl == nil {
		return ""
	}
	return x.tbl.MetadataLocation()
}
