package merge_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/table"
)

// unknownThenDown commits, tells the caller the outcome is unknown, and
// then fails every Begin: the store went away after the commit landed.
type unknownThenDown struct {
	merge.Target
	committed bool
}

func (u *unknownThenDown) Begin(ctx context.Context) (merge.Txn, error) {
	if u.committed {
		return nil, errCrash
	}
	x, err := u.Target.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &unknownTxn{Txn: x, u: u}, nil
}

type unknownTxn struct {
	merge.Txn
	u *unknownThenDown
}

func (x *unknownTxn) Commit(ctx context.Context, bm bookmarks.Bookmark) error {
	if err := x.Txn.Commit(ctx, bm); err != nil {
		return err
	}
	x.u.committed = true
	return fmt.Errorf("injected: %w", table.ErrCommitUnknown)
}

// TestFailureAfterUnknownOutcomeSaysSo: when the attempt that would
// resolve an unknown commit outcome fails, the run's error still says the
// outcome is unknown (the table may hold the run's changes), and a re-run
// resolves it.
func TestFailureAfterUnknownOutcomeSaysSo(t *testing.T) {
	e := newEnv(t)
	e.writeCDC([]change1{{op: 'I', id: 1, name: "a", seq: 1}})
	_, err := e.table(&unknownThenDown{Target: e.tbl}).Run(context.Background())
	if !errors.Is(err, errCrash) || !errors.Is(err, table.ErrCommitUnknown) {
		t.Fatalf("got %v, want the Begin failure and the unknown outcome", err)
	}
	if res := e.run(); !res.UpToDate {
		t.Fatalf("re-run did something: %+v", res)
	}
	diff(t, "table", e.tbl.render(), "1|a\n")
}
