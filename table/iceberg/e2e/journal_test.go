package e2e_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/iceberg"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

// TestJournalExpiryDigestMissing: a snapshot's journal lives as long as
// a metadata file the table retains lists the snapshot: maintenance that
// expires snapshots keeps the journals of the expired ones while the
// metadata log holds a file that lists them, and deletes them once it
// lets go of those; the others stay, and ChangesSince reads them. A
// journal that does not match its digest, or is missing, fails
// ChangesSince with an error naming the file — not table.ErrNoHistory,
// and never a step derived from the files instead.
func TestJournalExpiryDigestMissing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "local", small)
	f.journal = true
	var snaps []int64
	for r := range 6 {
		f.commit([]tabletest.Change{upsert(uint64(r+1), int64(r), "a"), upsert(uint64(r+1), int64(r+1), "b")})
		info, err := f.table().Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, info.Snapshot)
	}
	glob := filepath.Join(f.e.dir, "warehouse", "shop.db", "items", "metadata", "lakemerge-journal-*.parquet")
	journals := func() []string {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if n := len(journals()); n != 6 {
		t.Fatalf("%d journal files, want one per commit", n)
	}
	policy := table.Policy{KeepVersions: 3, KeepFor: time.Nanosecond, OrphanAge: time.Nanosecond}
	f.maintain(policy)
	if left := journals(); len(left) != 6 {
		t.Fatalf("journal files after expiry: %v; want all 6: retained metadata files list the expired snapshots", left)
	}
	// Retain one earlier metadata file only: with the next commit the
	// log lets go of every file that lists the expired snapshots.
	retainOne := icetable.NewSetPropertiesUpdate(map[string]string{"write.metadata.previous-versions-max": "1"})
	if _, _, err := f.e.cat.CommitTable(ctx, icetable.Identifier{f.e.db, "items"}, nil, []icetable.Update{retainOne}); err != nil {
		t.Fatal(err)
	}
	f.commit([]tabletest.Change{upsert(7, 9, "c")})
	info, err := f.table().Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snaps = append(snaps, info.Snapshot)
	f.maintain(policy)
	// The maintenance expired one more snapshot (of 4, 3 kept); the one
	// metadata file retained lists it.
	if left := journals(); len(left) != 4 {
		t.Fatalf("journal files once no retained metadata lists the first expired snapshots: %v; want the 4 that the current and the retained metadata list", left)
	}
	ch, err := f.table().ChangesSince(ctx, snaps[4], snaps[6], true)
	if err != nil {
		t.Fatal(err)
	}
	steps := len(ch.Steps)
	for _, s := range ch.Steps {
		if !s.Journal {
			t.Errorf("the step of snapshot %d is not its journal", s.Snapshot)
		}
	}
	ch.Release()
	if steps != 2 {
		t.Fatalf("%d steps, want 2", steps)
	}
	for _, p := range journals() {
		if err := os.WriteFile(p, []byte("not the journal"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.table().ChangesSince(ctx, snaps[4], snaps[5], true)
	var digest *table.DigestError
	if !errors.As(err, &digest) || !strings.Contains(err.Error(), "lakemerge-journal-") || errors.Is(err, table.ErrNoHistory) {
		t.Fatalf("a journal changed after its commit: %v; want a digest error naming it", err)
	}
	for _, p := range journals() {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.table().ChangesSince(ctx, snaps[4], snaps[5], true)
	if err == nil || !strings.Contains(err.Error(), "lakemerge-journal-") || errors.Is(err, table.ErrNoHistory) {
		t.Fatalf("a journal missing: %v; want an error naming it", err)
	}
}

// TestJournalOfStaleCommit: a commit whose every change is stale writes
// no file, yet its journal needs a snapshot: an empty append, whose
// summary references the journal, which holds the parent's files and
// leaves the table's properties as a row delta would (no name mapping
// added). The rows stay as they were.
func TestJournalOfStaleCommit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "local", small)
	f.journal = true
	f.commit([]tabletest.Change{upsert(5, 1, "a"), upsert(6, 2, "b")})
	before, err := f.table().Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.commit([]tabletest.Change{upsert(3, 1, "late"), upsert(4, 2, "late")})
	f.check("after the stale commit")
	after, err := f.table().Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, p := after.CurrentSnapshot(), before.CurrentSnapshot()
	if s.SnapshotID == p.SnapshotID || s.ParentSnapshotID == nil || *s.ParentSnapshotID != p.SnapshotID {
		t.Fatalf("snapshot %d after the stale commit (parent %v), before %d: want a new child", s.SnapshotID, s.ParentSnapshotID, p.SnapshotID)
	}
	if s.Summary.Operation != icetable.OpAppend || s.Summary.Properties[iceberg.JournalProperty] == "" ||
		s.Summary.Properties["total-data-files"] != p.Summary.Properties["total-data-files"] || s.Summary.Properties["added-data-files"] != "" {
		t.Fatalf("the stale commit's snapshot: %s %v; want an empty append with a journal", s.Summary.Operation, s.Summary.Properties)
	}
	for k := range after.Properties() {
		if _, ok := before.Properties()[k]; !ok {
			t.Errorf("the stale commit added table property %s", k)
		}
	}
	ch, err := f.table().ChangesSince(ctx, p.SnapshotID, s.SnapshotID, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Release()
	if len(ch.Steps) != 1 || !ch.Steps[0].Journal || len(ch.Steps[0].Stale) != 2 {
		t.Fatalf("changes of the stale commit: %+v; want its journal, both changes stale", ch.Steps)
	}
}

// TestJournalAfterCatalogRollback: a catalog pointed back at an earlier
// metadata file (a rollback) after maintenance expired that file's
// snapshots from the current metadata still finds their journals: the
// vacuum kept them, since a retained metadata file lists the snapshots,
// and ChangesSince over them replays the journals.
func TestJournalAfterCatalogRollback(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "local", small)
	f.journal = true
	var snaps []int64
	var early string
	for r := range 6 {
		f.commit([]tabletest.Change{upsert(uint64(r+1), int64(r), "a"), upsert(uint64(r+1), int64(r+1), "b")})
		tbl, err := f.table().Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, tbl.CurrentSnapshot().SnapshotID)
		if r == 2 {
			early = tbl.MetadataLocation()
		}
	}
	f.maintain(table.Policy{KeepVersions: 3, KeepFor: time.Nanosecond, OrphanAge: time.Nanosecond})
	if _, err := f.table().ChangesSince(ctx, snaps[0], snaps[2], true); !errors.Is(err, table.ErrNoHistory) {
		t.Fatalf("changes over expired snapshots before the rollback: %v; want table.ErrNoHistory", err)
	}
	f.e.rollBack(early)
	ch, err := f.table().ChangesSince(ctx, snaps[0], snaps[2], true)
	if err != nil {
		t.Fatalf("changes after the rollback: %v", err)
	}
	defer ch.Release()
	if len(ch.Steps) != 2 || !ch.Steps[0].Journal || !ch.Steps[1].Journal {
		t.Fatalf("changes after the rollback: %d steps; want the journals of the 2 commits", len(ch.Steps))
	}
}
