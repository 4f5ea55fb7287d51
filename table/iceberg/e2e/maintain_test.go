package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/internal/testkit/pyrun"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/iceberg"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

// tight is a policy that does everything it can at once: any two delete
// files or two small files compact a bucket, every snapshot but the
// newest keep expires, every unreferenced file goes.
var tight = table.Policy{CompactDeleteFiles: 2, CompactSmallFiles: 2, SmallFileBytes: 1 << 20,
	KeepVersions: 4, KeepFor: time.Nanosecond, OrphanAge: time.Nanosecond}

// minor is tight's thresholds with a minor pass: a bucket's largest data
// file is kept (its delete files merged into one) until 30% of its rows
// are deleted; its other files, all small, are bin-packed into one.
var minor = table.Policy{CompactDeleteFiles: 2, CompactSmallFiles: 2, SmallFileBytes: 1 << 20, RewriteDeletedPct: 30,
	KeepVersions: 4, KeepFor: time.Nanosecond, OrphanAge: time.Nanosecond}

// history is the runs of a maintenance scenario: their change sets, and
// the model after each (models[k] holds runs 0 … k-1).
type history struct {
	rounds [][]tabletest.Change
}

// model replays the first k rounds into a fresh model.
func (h *history) model(f *fixture, k int) *tabletest.Model {
	m := tabletest.NewModel(f.cols)
	for _, rows := range h.rounds[:k] {
		rec := tabletest.BuildChanges(f.t, f.mem, f.cols, rows, false)
		m.Apply(rec, rows, nil)
		rec.Release()
	}
	return m
}

// maintain runs one pass of p and checks the table against the model:
// its rows, and its live-row count (which the snapshot summary keeps).
func (f *fixture) maintain(p table.Policy) table.MaintenanceStats {
	f.t.Helper()
	ctx := context.Background()
	st, err := f.table().Maintain(ctx, p)
	if err != nil {
		f.t.Fatal(err)
	}
	f.check(fmt.Sprintf("after maintenance %+v", st))
	info, err := f.table().Describe(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if want := int64(len(f.mod.Render())); info.Rows != want {
		f.t.Fatalf("after maintenance %+v: Describe says %d rows, the model %d", st, info.Rows, want)
	}
	return st
}

// TestMaintainCompactsAndExpires: runs interleaved with maintenance
// passes keep the table equal to the model; compaction bounds the delete
// and small files, expiry the snapshots, and the unreferenced files go.
func TestMaintainCompactsAndExpires(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, b, tabletest.Columns[:4])
			g := wholeRows(5, 200)
			var total table.MaintenanceStats
			for run := range 12 {
				f.commit(g.Next(f.mod, 30), bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
				f.check(fmt.Sprintf("run %d", run))
				if run%3 == 2 {
					total.Add(f.maintain(tight))
				}
			}
			if total.Compactions == 0 || total.DeleteFilesRemoved == 0 || total.VersionsExpired == 0 || total.FilesDeleted == 0 {
				t.Fatalf("maintenance did not do everything: %+v", total)
			}
			fs, err := f.table().Files(ctx, tight.SmallFileBytes)
			if err != nil {
				t.Fatal(err)
			}
			// The last pass compacted every bucket with deletes: at most
			// one run's worth of delete files are left (one per bucket).
			if fs.DeleteFiles > 4 || fs.Versions > int64(tight.KeepVersions)+3 {
				t.Fatalf("after the passes: %+v", fs)
			}
			st := f.maintain(tight)
			if fs2, _ := f.table().Files(ctx, tight.SmallFileBytes); fs2.DeleteFiles != 0 || fs2.SmallFiles > 4 {
				t.Fatalf("after a pass with nothing new: %+v (pass %+v)", fs2, st)
			}
			if got := f.bookmark(); got.Runs != 12 {
				t.Fatalf("bookmark after maintenance: %s", got.Summary())
			}
		})
	}
}

// rollbackScenario makes the table of the rollback tests: ten runs, a
// maintenance pass after every second one. It returns the fixture, the
// runs and the table's rows.
func rollbackScenario(t *testing.T, backend string) (*fixture, *history, []string) {
	f := newFixture(t, backend, tabletest.Columns[:4])
	g := wholeRows(9, 60)
	h := &history{}
	for run := range 10 {
		rows := g.Next(f.mod, 15)
		h.rounds = append(h.rounds, rows)
		f.commit(rows, bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
		if run%2 == 1 {
			f.maintain(tight)
		}
	}
	return f, h, f.mod.Render()
}

// runAgain checks a table rolled back (what) against the model of the
// runs its bookmark says it holds, applies the runs after those again and
// checks that the table is want, that of the runs that never rolled back.
func (h *history) runAgain(f *fixture, what string, want []string) {
	f.t.Helper()
	f.bm = f.bookmark()
	k := int(f.bm.Runs)
	f.mod = h.model(f, k)
	f.check(fmt.Sprintf("%s (run %d)", what, k))
	for run := k; run < len(h.rounds); run++ {
		f.commit(h.rounds[run], bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
	}
	tbl, err := f.table().Read(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	defer tbl.Release()
	tabletest.DiffRows(f.t, fmt.Sprintf("%s (run %d) and run again", what, k), tabletest.TableRows(f.t, tbl, f.cols, "id"), want)
}

// TestMinorPassesInterleaved: runs interleaved with minor passes keep the
// table equal to the model; each pass leaves, in these small buckets
// whose runs' files all get deletes, at most one delete file and two data
// files a bucket (the largest file, the rest bin-packed), merges
// delete files of files it keeps, and rewrites a largest file once 30% of
// its rows are deleted. pyiceberg and DuckDB read the result as the model.
func TestMinorPassesInterleaved(t *testing.T) {
	py := pyrun.New(t, testenv.Python(t))
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, b, tabletest.Columns[:4])
			g := wholeRows(41, 400)
			f.commit(g.Next(f.mod, 400), bookmarks.Entry{Key: "load"})
			var total table.MaintenanceStats
			for run := range 16 {
				f.commit(g.Next(f.mod, 25), bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
				if run%2 == 0 {
					continue
				}
				st := f.maintain(minor)
				total.Add(st)
				fs, err := f.table().Files(ctx, minor.SmallFileBytes)
				if err != nil {
					t.Fatal(err)
				}
				if fs.DeleteFiles > 4 || fs.DataFiles > 8 {
					t.Fatalf("after the pass of run %d (%+v): %+v, want at most a delete file and two data files a bucket", run, st, fs)
				}
				t.Logf("run %d: pass %+v, files %+v", run, st, fs)
			}
			if total.DeleteFilesWritten == 0 || total.DeleteFilesRemoved <= total.DeleteFilesWritten {
				t.Fatalf("the passes merged no delete files: %+v", total)
			}
			// A bucket's largest file is rewritten only by the deleted share:
			// 16 runs of 25 changes spread over 400 keys delete about 20% of
			// the rows of a file of the load in a run of half of them, so
			// some, not all, passes rewrote one.
			if total.FilesRewritten == 0 {
				t.Fatalf("no file was rewritten: %+v", total)
			}
			if got := f.bookmark(); got.Runs != 17 {
				t.Fatalf("bookmark after maintenance: %s", got.Summary())
			}
			readersAgree(t, f, py)
		})
	}
}

// TestRollbackToEveryKeptSnapshot: after runs and maintenance passes,
// pointing the catalog at any retained metadata file whose snapshot is
// kept (a restore) and running again works: the side files it references
// exist, its data files too, and the runs after it applied again give the
// table of the runs that never rolled back.
func TestRollbackToEveryKeptSnapshot(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			f, h, want := rollbackScenario(t, b)
			cur, err := f.e.cat.LoadTable(ctx, icetable.Identifier{f.e.db, "items"})
			if err != nil {
				t.Fatal(err)
			}
			fsys, err := cur.FS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			kept := map[int64]bool{}
			for _, s := range cur.Metadata().Snapshots() {
				kept[s.SnapshotID] = true
			}
			targets := []string{cur.MetadataLocation()}
			for e := range cur.Metadata().PreviousFiles() {
				targets = append(targets, e.MetadataFile)
			}
			tried := 0
			for _, loc := range targets {
				r, err := fsys.Open(loc)
				if errors.Is(err, iofs.ErrNotExist) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				meta, err := icetable.ParseMetadata(r)
				r.Close()
				if err != nil {
					t.Fatal(err)
				}
				s := meta.CurrentSnapshot()
				if s == nil || !kept[s.SnapshotID] {
					continue // expired: its data files may be gone
				}
				tried++
				f.e.rollBack(loc)
				h.runAgain(f, "rolled back to "+loc, want)
				f.e.rollBack(cur.MetadataLocation())
			}
			if tried < tight.KeepVersions {
				t.Fatalf("rolled back to %d metadata files, want at least %d", tried, tight.KeepVersions)
			}
		})
	}
}

// TestRollbackInsideMetadata: after runs and maintenance passes, moving
// the main branch back to any kept snapshot inside the metadata (Spark's
// rollback_to_snapshot: the table properties stay those of the newest
// state) and running again gives the table of the runs that never rolled
// back: the run finds the bookmark and tombstones of the snapshot's line
// in the retained metadata files instead of taking the newer runs' files
// as absorbed (their rows lost).
func TestRollbackInsideMetadata(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			f, h, want := rollbackScenario(t, b)
			ident := icetable.Identifier{f.e.db, "items"}
			cur, err := f.e.cat.LoadTable(ctx, ident)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, s := range cur.Metadata().Snapshots() {
				ids = append(ids, s.SnapshotID)
			}
			tried := 0
			for _, id := range ids {
				if id == cur.CurrentSnapshot().SnapshotID {
					continue
				}
				tbl, err := f.e.cat.LoadTable(ctx, ident)
				if err != nil {
					t.Fatal(err)
				}
				tx := tbl.NewTransaction()
				if err := tx.RollbackToSnapshot(id); err != nil {
					t.Fatalf("roll back to snapshot %d: %v", id, err)
				}
				if _, err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				tried++
				h.runAgain(f, fmt.Sprintf("rolled back to snapshot %d inside the metadata", id), want)
				f.e.rollBack(cur.MetadataLocation())
			}
			if tried < tight.KeepVersions-1 {
				t.Fatalf("rolled back to %d snapshots, want at least %d", tried, tight.KeepVersions-1)
			}
		})
	}
}

// TestMaintainPrunesTombstones: a pass drops tombstones past the horizon
// by the run's rule, and keeps younger ones.
func TestMaintainPrunesTombstones(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "local", small)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return now }
	f.commit([]tabletest.Change{upsert(1, 1, "a"), upsert(1, 2, "b"), upsert(1, 3, "c")}, bookmarks.Entry{Key: "r0"})
	f.commit([]tabletest.Change{{Op: change.OpDelete, Seq: 2, Vals: map[string]any{"id": int64(1)}}}, bookmarks.Entry{Key: "r1"})
	now = now.Add(5 * 24 * time.Hour)
	f.commit([]tabletest.Change{{Op: change.OpDelete, Seq: 3, Vals: map[string]any{"id": int64(2)}}}, bookmarks.Entry{Key: "r2"})
	if st, err := f.table().Maintain(ctx, table.Policy{}); err != nil || st.TombstonesPruned != 0 {
		t.Fatalf("before the horizon: %+v, %v", st, err)
	}
	now = now.Add(3 * 24 * time.Hour) // key 1's tombstone is 8 days old, key 2's 3
	st, err := f.table().Maintain(ctx, table.Policy{})
	if err != nil || st.TombstonesPruned != 1 {
		t.Fatalf("past the horizon of one: %+v, %v", st, err)
	}
	// Key 2 still has its tombstone: a late insert stays stale. Key 1 has
	// none: a late insert comes back (the horizon is the bound on
	// lateness).
	delete(f.mod.Tombs, 1)
	f.commit([]tabletest.Change{upsert(1, 1, "late1"), upsert(2, 2, "late2")}, bookmarks.Entry{Key: "r3"})
	f.check("late changes after pruning")
	if got := f.bookmark(); got.Runs != 4 {
		t.Fatalf("bookmark: %s", got.Summary())
	}
}

// hookCatalog runs hook once, before the first catalog commit with an
// update of action on (icetable.UpdateAddSnapshot when empty: a snapshot
// made by a rewrite): a run that commits between a maintenance step's
// read of the table and its commit.
type hookCatalog struct {
	wire.Catalog
	on   string
	hook func()
}

func (c *hookCatalog) CommitTable(ctx context.Context, ident icetable.Identifier, reqs []icetable.Requirement, updates []icetable.Update) (icetable.Metadata, string, error) {
	on := c.on
	if on == "" {
		on = icetable.UpdateAddSnapshot
	}
	if h := c.hook; h != nil {
		for _, u := range updates {
			if u.Action() == on {
				c.hook = nil
				h()
				break
			}
		}
	}
	return c.Catalog.CommitTable(ctx, ident, reqs, updates)
}

func (c *hookCatalog) LoadTable(ctx context.Context, ident icetable.Identifier) (*icetable.Table, error) {
	tbl, err := c.Catalog.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	// Commits of the table loaded here go through c.
	return icetable.New(tbl.Identifier(), tbl.Metadata(), tbl.MetadataLocation(), tbl.FS, c), nil
}

// TestCompactionConcurrentRun: a run and a compaction of the same files
// race both ways; whichever commits second loses its compare-and-swap and
// goes again from the new state, so no row comes back and none is lost.
//
// The minor pass (a policy with RewriteDeletedPct) races the same way:
// its merged delete files, like its rewritten files, are planned from the
// state it read.
func TestCompactionConcurrentRun(t *testing.T) {
	for _, b := range backends(t) {
		for _, pass := range []struct {
			name string
			pct  int
		}{{"full", 0}, {"minor", 90}} {
			t.Run(b+"/"+pass.name, func(t *testing.T) { compactionConcurrentRun(t, b, pass.pct) })
		}
	}
}

func compactionConcurrentRun(t *testing.T, b string, pct int) {
	ctx := context.Background()
	f := newFixture(t, b, tabletest.Columns[:4])
	g := wholeRows(21, 40)
	for run := range 4 {
		f.commit(g.Next(f.mod, 20), bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
	}
	policy := table.Policy{CompactDeleteFiles: 1, CompactSmallFiles: 2, SmallFileBytes: 1 << 20, RewriteDeletedPct: pct}

	// A run commits while the compaction is between its read and
	// its commit: the compaction retries on the new state.
	hc := &hookCatalog{Catalog: f.e.cat}
	hc.hook = func() { f.commit(g.Next(f.mod, 20), bookmarks.Entry{Key: "during-compaction"}) }
	st, err := iceberg.New(hc, f.e.options(tabletest.Options{}, f.e.db), f.mem).Maintain(ctx, policy)
	if err != nil {
		t.Fatal(err)
	}
	if hc.hook != nil || st.Retries == 0 || st.Compactions == 0 {
		t.Fatalf("the run did not land inside the compaction: %+v", st)
	}
	if pct > 0 && st.DeleteFilesWritten == 0 {
		t.Fatalf("the minor pass merged no delete files: %+v", st)
	}
	f.check("a run inside a compaction")

	// A run that began before a compaction commits after it: its
	// commit conflicts, and the run goes again from the compacted
	// state.
	rows := g.Next(f.mod, 20)
	rec := tabletest.BuildChanges(t, f.mem, f.cols, rows, false)
	defer rec.Release()
	x, err := f.table().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, f.cols); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Apply(ctx, rec, nil); err != nil {
		t.Fatal(err)
	}
	f.commit(g.Next(f.mod, 20), bookmarks.Entry{Key: "more deletes"}) // something to compact
	if st, err := f.table().Maintain(ctx, policy); err != nil || st.Compactions == 0 {
		t.Fatalf("compaction: %+v, %v", st, err)
	}
	err = x.Commit(ctx, f.bm.Advance([]bookmarks.Entry{{Key: "began-before"}}))
	if !errors.Is(err, table.ErrConflict) {
		t.Fatalf("a run that began before the compaction committed after it: %v, want a conflict", err)
	}
	f.check("a run that lost to a compaction")
	f.commit(rows, bookmarks.Entry{Key: "began-before"})
	f.check("the run again")
}

// TestMaintenanceKeepsConcurrentBookkeeping: a run whose commit writes no
// file (its changes were a delete of a key with no live row and a stale
// update: only the bookmark and the tombstones move) lands between a
// maintenance step's read of the table and its commit. Compaction and
// expiry set no property, so they land on top of it and carry its
// bookmark and tombstones forward; tombstone pruning rewrites the
// tombstones, so it loses its compare-and-swap and plans again from the
// run's state (where the run pruned already). Either way the table keeps the run's bookmark, and its
// delete holds against a late insert.
func TestMaintenanceKeepsConcurrentBookkeeping(t *testing.T) {
	for _, b := range backends(t) {
		for _, c := range []struct {
			step   string
			on     string
			policy table.Policy
		}{
			{"compaction", icetable.UpdateAddSnapshot, table.Policy{CompactDeleteFiles: 1, CompactSmallFiles: 2, SmallFileBytes: 1 << 20}},
			{"expiry", icetable.UpdateRemoveSnapshots, table.Policy{KeepVersions: 1, KeepFor: time.Nanosecond}},
			{"pruning", icetable.UpdateSetProperties, table.Policy{}},
		} {
			t.Run(b+"/"+c.step, func(t *testing.T) {
				ctx := context.Background()
				f := newFixture(t, b, small)
				now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				f.now = func() time.Time { return now }
				del := func(seq uint64, id int64) tabletest.Change {
					return tabletest.Change{Op: change.OpDelete, Seq: seq, Vals: map[string]any{"id": id}}
				}
				f.commit([]tabletest.Change{upsert(1, 1, "a"), upsert(1, 2, "b"), upsert(1, 3, "c")}, bookmarks.Entry{Key: "r0"})
				f.commit([]tabletest.Change{del(2, 1), upsert(2, 2, "b2")}, bookmarks.Entry{Key: "r1"})
				now = now.Add(5 * 24 * time.Hour)
				f.commit([]tabletest.Change{del(3, 3)}, bookmarks.Entry{Key: "r2"}) // a tombstone that stays
				if c.step == "pruning" {
					now = now.Add(3 * 24 * time.Hour) // key 1's tombstone is past the horizon
				}
				hc := &hookCatalog{Catalog: f.e.cat, on: c.on}
				hc.hook = func() {
					f.commit([]tabletest.Change{del(3, 9), upsert(1, 3, "stale")}, bookmarks.Entry{Key: "during-" + c.step})
				}
				opts := f.e.options(tabletest.Options{Now: f.now}, f.e.db)
				st, err := iceberg.New(hc, opts, f.mem).Maintain(ctx, c.policy)
				if err != nil {
					t.Fatal(err)
				}
				if hc.hook != nil {
					t.Fatalf("the run did not land inside the %s: %+v", c.step, st)
				}
				switch c.step {
				case "compaction":
					if st.Compactions == 0 {
						t.Fatalf("no compaction: %+v", st)
					}
				case "expiry":
					if st.VersionsExpired == 0 {
						t.Fatalf("nothing expired: %+v", st)
					}
				case "pruning":
					// The run inside pruned key 1's tombstone too, by the
					// same rule; the pass, planned again, finds nothing left.
					if st.TombstonesPruned != 0 {
						t.Fatalf("pruned %d tombstones after the run did: %+v", st.TombstonesPruned, st)
					}
					delete(f.mod.Tombs, 1)
				}
				if got := f.bookmark(); !got.Equal(f.bm) {
					t.Fatalf("bookmark after the %s %s, want the run's %s", c.step, got.Summary(), f.bm.Summary())
				}
				f.check("after the " + c.step)
				// Key 9 was deleted by the run inside the step: an insert
				// older than the delete stays stale.
				f.commit([]tabletest.Change{upsert(2, 9, "late")}, bookmarks.Entry{Key: "late"})
				f.check("a late insert of the key the run deleted")
			})
		}
	}
}

// TestCompactionCrashAtEveryStep: a maintenance pass that fails at any
// write of a compaction (data file, manifest, manifest list, metadata
// file) leaves a table equal to the model that the next pass finishes;
// Vacuum then deletes what the failed pass left.
func TestCompactionCrashAtEveryStep(t *testing.T) {
	// Without a memory budget a bucket is read whole; with 2 KiB, key range
	// by key range (its data files written by one writer across ranges).
	// A minor pass (RewriteDeletedPct 90: the largest file of each
	// bucket is kept) writes merged delete files as well: after the next
	// pass a bucket has at most one.
	for _, c := range []struct {
		budget     int64
		pct        int
		maxDeletes int64
	}{{0, 0, 0}, {2 << 10, 0, 0}, {0, 90, 4}} {
		t.Run(fmt.Sprintf("budget%d/pct%d", c.budget, c.pct), func(t *testing.T) {
			compactionCrashAtEveryStep(t, c.budget, c.pct, c.maxDeletes)
		})
	}
}

func compactionCrashAtEveryStep(t *testing.T, budget int64, pct int, maxDeletes int64) {
	ctx := context.Background()
	policy := table.Policy{CompactDeleteFiles: 1, CompactSmallFiles: 2, SmallFileBytes: 1 << 20, RewriteDeletedPct: pct,
		KeepVersions: 2, KeepFor: time.Nanosecond, MemoryBudget: budget}
	build := func(t *testing.T) *fixture {
		f := newFixture(t, "local", tabletest.Columns[:4])
		g, n := wholeRows(33, 40), 20
		if pct > 0 {
			// A load, then runs that leave its files, the largest of
			// each bucket, with delete files to merge.
			g, n = wholeRows(33, 200), 10
			f.commit(g.Next(f.mod, 200), bookmarks.Entry{Key: "load"})
		}
		for run := range 3 {
			f.commit(g.Next(f.mod, n), bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
		}
		return f
	}
	// Count the writes of a pass that does not fail.
	f := build(t)
	writes := 0
	undo := f.e.gate.Deny(func(string) bool { writes++; return false })
	st := f.maintain(policy)
	undo()
	if writes < 8 {
		t.Fatalf("a pass wrote %d files", writes)
	}
	if budget > 0 && st.RangePasses <= st.Compactions {
		t.Fatalf("a pass under a budget of %d bytes read no bucket by key range: %+v", budget, st)
	}
	if pct > 0 && st.DeleteFilesWritten == 0 {
		t.Fatalf("a minor pass merged no delete files: %+v", st)
	}
	for k := 1; k <= writes; k++ {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			f := build(t)
			n := 0
			undo := f.e.gate.Deny(func(key string) bool { n++; return n == k })
			_, err := f.table().Maintain(ctx, policy)
			undo()
			if err == nil {
				t.Fatalf("write %d failed and the pass did not say so", k)
			}
			f.check(fmt.Sprintf("after a pass that failed at write %d (%v)", k, err))
			f.maintain(policy)
			fs, err := f.table().Files(ctx, policy.SmallFileBytes)
			if err != nil || fs.DeleteFiles > maxDeletes {
				t.Fatalf("after the next pass: %+v, %v", fs, err)
			}
			if _, err := f.table().Vacuum(ctx, time.Nanosecond); err != nil {
				t.Fatal(err)
			}
			f.check("after vacuum")
			f.commit([]tabletest.Change{{Op: change.OpDelete, Seq: 1 << 40, Vals: map[string]any{"id": int64(3)}}}, bookmarks.Entry{Key: "after"})
			f.check("a run after")
		})
	}
}

// readersAgree reads the table with pyiceberg (through the catalog) and,
// on a folder, with DuckDB's iceberg_scan (the current metadata file), and
// compares both with what lakemerge reads, which equals the model.
func readersAgree(t *testing.T, f *fixture, py *pyrun.Python) {
	t.Helper()
	ctx := context.Background()
	tbl, err := f.table().Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := jsonRows(t, tbl, f.cols)
	tbl.Release()
	var names []string
	for _, c := range f.cols {
		names = append(names, c.Name)
	}
	script := filepath.Join("..", "..", "..", "interop", "read_iceberg.py")
	runs := map[string][]string{"pyiceberg": append(append([]string{script}, f.e.catArgs...), f.e.db+".items", "id", strings.Join(names, ","))}
	if f.e.backend == "local" {
		cur, err := f.e.cat.LoadTable(ctx, icetable.Identifier{f.e.db, "items"})
		if err != nil {
			t.Fatal(err)
		}
		runs["duckdb"] = []string{script, "--duckdb", strings.TrimPrefix(cur.MetadataLocation(), "file://"), "id"}
	}
	for engine, args := range runs {
		out, err := py.Output(args...)
		if err != nil {
			t.Fatalf("%s read failed: %v", engine, err)
		}
		var got []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line == "" {
				continue
			}
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s line %q: %v", engine, line, err)
			}
			got = append(got, r)
		}
		if len(got) != len(want) {
			t.Fatalf("%s reads %d rows, lakemerge %d", engine, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s row %d:\n%s: %v\nlakemerge: %v", engine, i, engine, got[i], want[i])
			}
		}
	}
}

// TestReadersAfterMaintenance: pyiceberg and DuckDB read a table that
// compaction rewrote and expiry thinned as lakemerge and the model do.
func TestReadersAfterMaintenance(t *testing.T) {
	py := pyrun.New(t, testenv.Python(t))
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			f := newFixture(t, b, tabletest.Columns[:4])
			g := wholeRows(17, 120)
			for run := range 8 {
				f.commit(g.Next(f.mod, 30), bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
				if run%4 == 3 {
					f.maintain(tight)
				}
			}
			readersAgree(t, f, py)
		})
	}
}

// deadManifests counts the manifests of the table's current snapshot that
// list no live file (only files of status deleted).
func deadManifests(t *testing.T, f *fixture) int {
	t.Helper()
	ctx := context.Background()
	tbl, err := f.e.cat.LoadTable(ctx, icetable.Identifier{f.e.db, "items"})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := tbl.CurrentSnapshot().Manifests(fsys)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		if !m.HasAddedFiles() && !m.HasExistingFiles() {
			n++
		}
	}
	return n
}

// TestCompactionDropsDeadManifests: after a compaction the current
// snapshot lists no manifest without a live file (the rewrite keeps one
// for the data files and one for the delete files it removed; a second
// snapshot leaves them out), the table equals the model, and pyiceberg
// and DuckDB read it as lakemerge does, before and after the next run.
func TestCompactionDropsDeadManifests(t *testing.T) {
	py := pyrun.New(t, testenv.Python(t))
	f := newFixture(t, "local", tabletest.Columns[:4])
	g := wholeRows(21, 80)
	for run := range 3 {
		f.commit(g.Next(f.mod, 20), bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
	}
	if n := deadManifests(t, f); n != 0 {
		t.Fatalf("before any compaction: %d manifests without live files", n)
	}
	st := f.maintain(table.Policy{CompactDeleteFiles: 1, CompactSmallFiles: 2, SmallFileBytes: 1 << 20})
	if st.Compactions == 0 || st.DeleteFilesRemoved == 0 {
		t.Fatalf("the pass compacted nothing: %+v", st)
	}
	if n := deadManifests(t, f); n != 0 {
		t.Fatalf("after the compaction: %d manifests without live files", n)
	}
	readersAgree(t, f, py)
	f.commit(g.Next(f.mod, 20), bookmarks.Entry{Key: "after"})
	f.check("a run after the compaction")
	if n := deadManifests(t, f); n != 0 {
		t.Fatalf("after the next run: %d manifests without live files", n)
	}
	readersAgree(t, f, py)
}

// TestCompactionByKeyRange: with a memory budget that holds a fraction of
// a bucket, compaction rewrites each bucket key range by key range (more
// reads of its files than buckets compacted) holding a bounded number of
// rows, one file a bucket as before (one writer for all its ranges), and
// the table equals the model and reads the same in pyiceberg and DuckDB.
func TestCompactionByKeyRange(t *testing.T) {
	py := pyrun.New(t, testenv.Python(t))
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			f := newFixture(t, b, tabletest.Columns[:4])
			g := wholeRows(41, 2000)
			for run := range 4 {
				f.commit(g.Next(f.mod, 600), bookmarks.Entry{Key: fmt.Sprintf("run%d", run)})
			}
			p := tight
			p.CompactDeleteFiles, p.CompactSmallFiles = 1, 1
			p.MemoryBudget = 16 << 10
			st := f.maintain(p)
			live := int64(len(f.mod.Render()))
			// Four buckets of about live/4 rows each: a range holds less
			// than a quarter of one.
			if st.Compactions != 4 || st.FilesWritten != 4 || st.RangePasses < 4*st.Compactions || st.RowsHeld == 0 || st.RowsHeld*16 > live {
				t.Fatalf("%d live rows, pass %+v: want every bucket read by key range, holding under a sixteenth of the rows", live, st)
			}
			readersAgree(t, f, py)
			f.commit(g.Next(f.mod, 100), bookmarks.Entry{Key: "after"})
			f.check("a run after")
		})
	}
}
