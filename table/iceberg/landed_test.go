package iceberg

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
)

// lostAnswerCatalog applies a create or a commit and then answers as the
// AWS SDK's retry of that request would once the first try had landed:
// Glue's AlreadyExistsException for a create, its
// ConcurrentModificationException (iceberg-go: ErrCommitFailed) for an
// update.
type lostAnswerCatalog struct {
	Catalog
	lose bool
}

func (c *lostAnswerCatalog) CreateTable(ctx context.Context, id icetable.Identifier, sc *ice.Schema, opts ...catalog.CreateTableOpt) (*icetable.Table, error) {
	tbl, err := c.Catalog.CreateTable(ctx, id, sc, opts...)
	if err == nil && c.lose {
		return nil, fmt.Errorf("failed to create table: %w", catalog.ErrTableAlreadyExists)
	}
	return tbl, err
}

func (c *lostAnswerCatalog) CommitTable(ctx context.Context, id icetable.Identifier, reqs []icetable.Requirement, updates []icetable.Update) (icetable.Metadata, string, error) {
	meta, loc, err := c.Catalog.CommitTable(ctx, id, reqs, updates)
	if err == nil && c.lose {
		return nil, "", fmt.Errorf("%w: ConcurrentModificationException", icetable.ErrCommitFailed)
	}
	return meta, loc, err
}

// TestCommitRetriedAfterLanding: a create and a commit that landed, whose
// answer says another writer got there first (the SDK's retry met the
// table the first try made), succeed: the table carries the id the
// request set (CommitProperty). The table is what one clean commit makes.
func TestCommitRetriedAfterLanding(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	lost := &lostAnswerCatalog{Catalog: f.tbl.cat, lose: true}
	f.tbl.cat = lost
	f.commit(change.OpInsert, 1, 1, 2) // the create and the commit both lose their answer
	if got, want := f.state(), "1=v1@1 2=v2@1 "; !hasRows(got, want) {
		t.Fatalf("after the first run: %s, want rows %s", got, want)
	}
	x, _, err := f.stage(change.OpUpdate, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	next := f.bm.Advance([]bookmarks.Entry{{Key: "raw/2"}})
	if err := x.Commit(ctx, next); err != nil {
		t.Fatalf("commit whose answer was lost: %v", err)
	}
	y, err := f.tbl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !y.Bookmark().Equal(next) {
		t.Fatalf("bookmark %s, want %s", y.Bookmark().Summary(), next.Summary())
	}
	if got, want := f.state(), "1=v1@1 2=v2@2 "; !hasRows(got, want) {
		t.Fatalf("after the second run: %s, want rows %s", got, want)
	}
}

// hasRows reports whether the fixture's state holds rows (as state
// renders them), in any order.
func hasRows(state, rows string) bool {
	_, got, _ := strings.Cut(state, "\n")
	a, b := strings.Fields(got), strings.Fields(rows)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
