package iceberg

import (
	"context"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// TestExpiryDueInBatches: a run's pass expires snapshots only once the
// oldest expirable one is KeepFor/expirySlack past the window, so a table
// fed every few minutes expires a batch every few hours, not a snapshot
// a run.
func TestExpiryDueInBatches(t *testing.T) {
	f := newFixture(t)
	for seq := byte(1); seq <= 3; seq++ {
		f.commit(change.OpInsert, seq, int64(seq))
	}
	tbl, err := f.tbl.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := table.Policy{KeepVersions: 1, KeepFor: 24 * time.Hour}
	newest := time.UnixMilli(tbl.CurrentSnapshot().TimestampMs)
	for _, c := range []struct {
		after     time.Duration // after the newest snapshot
		expirable int
		due       bool
	}{
		{time.Hour, 0, false},
		{25 * time.Hour, 2, false},
		{24*time.Hour + 3*time.Hour - time.Minute, 2, false},
		{24*time.Hour + 3*time.Hour + time.Minute, 2, true},
	} {
		now := newest.Add(c.after)
		if got := len(expirable(tbl, p, now)); got != c.expirable {
			t.Fatalf("%v after the newest snapshot: %d expirable, want %d", c.after, got, c.expirable)
		}
		if got := expiryDue(tbl, p, now); got != c.due {
			t.Fatalf("%v after the newest snapshot: due %v, want %v", c.after, got, c.due)
		}
	}
}

// TestPruneDue: a pass prunes when at least one in pruneMin tombstones
// is past the horizon.
func TestPruneDue(t *testing.T) {
	for _, c := range []struct {
		have, kept int
		due        bool
	}{{0, 0, false}, {10, 10, false}, {2, 1, true}, {16, 14, true}, {17, 15, false}, {1000, 876, false}, {1000, 875, true}} {
		if got := pruneDue(c.have, c.kept); got != c.due {
			t.Errorf("pruneDue(%d, %d) = %v, want %v", c.have, c.kept, got, c.due)
		}
	}
}

// TestCountFilesAgreesWithPlan: the files counted from the manifests
// (Files without a plan of the snapshot) are those the compaction's plan
// counts, through inserts, updates (position deletes), deletes and a
// compaction.
func TestCountFilesAgreesWithPlan(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	check := func(step string) {
		t.Helper()
		tbl, err := f.tbl.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, small := range []int64{1, 32 << 20} {
			got, err := countFiles(ctx, tbl, small)
			if err != nil {
				t.Fatal(err)
			}
			_, want, err := buckets(ctx, tbl, small)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%s, small %d: counted %+v, planned %+v", step, small, got, want)
			}
		}
	}
	f.commit(change.OpInsert, 1, 1, 2, 3, 4, 5, 6, 7, 8)
	check("insert")
	f.commit(change.OpUpdate, 2, 2, 3, 9)
	check("update")
	f.commit(change.OpDelete, 3, 4, 5)
	f.commit(change.OpUpdate, 4, 1, 6)
	check("delete")
	if got, _ := f.tbl.Files(ctx, 32<<20); got.DeleteFiles == 0 || got.DataFiles < 2 {
		t.Fatalf("files %+v: want data and delete files", got)
	}
	st, err := f.tbl.Maintain(ctx, table.Policy{CompactDeleteFiles: 1, SmallFileBytes: 32 << 20})
	if err != nil || st.Compactions == 0 {
		t.Fatalf("compact: %+v, %v", st, err)
	}
	check("compaction")
}
