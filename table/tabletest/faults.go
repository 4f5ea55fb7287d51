package tabletest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// rounds are the change files of the fault scenarios, in three rounds, so
// that a fault hits a run that has a table to change: a load, then
// updates, deletes and an insert, then a new column, re-inserts of deleted
// keys, an update and a delete.
var roundCols = []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "Name", Type: arrow.BinaryTypes.String}, {Name: "region", Type: arrow.BinaryTypes.String}}

func round(src *source, r int) []change.Column {
	row := func(op change.Op, seq uint64, id int64, name, region string) Change {
		c := Change{Op: op, Seq: seq, Vals: map[string]any{"id": id, "Name": name}}
		if region != "" {
			c.Vals["region"] = region
		}
		return c
	}
	switch r {
	case 0:
		src.add("round0/LOAD1", []Change{row(change.OpInsert, 1, 1, "a", ""), row(change.OpInsert, 1, 2, "b", ""), row(change.OpInsert, 1, 3, "c", "")})
	case 1:
		src.add("round1/cdc1", []Change{row(change.OpUpdate, 2, 1, "a1", ""), del(3, 2), row(change.OpInsert, 4, 4, "d", "")})
	case 2:
		src.add("round2/cdc1", []Change{row(change.OpInsert, 10, 2, "b2", "eu"), row(change.OpUpdate, 11, 4, "d1", "us")})
		src.add("round2/cdc2", []Change{del(12, 3)})
		return roundCols
	}
	return roundCols[:2]
}

// bookmarkShape is a bookmark without what varies between equal runs.
func bookmarkShape(bm bookmarks.Bookmark) string {
	var keys []string
	for _, e := range bm.Entries {
		keys = append(keys, e.Key)
	}
	return fmt.Sprintf("runs=%d gen=%d last=%s objects=%v", bm.Runs, bm.Generation, bm.Last, keys)
}

// crashAtEveryStep: a run that stops at any step of its commit attempt (a
// crash, a failure, an outcome it never learns), followed by a re-run,
// leaves exactly the table and bookmark of runs that never stopped; until
// the re-run, a stop before the commit left the table as it was
// (invariants 1 and 2).
func crashAtEveryStep(t *testing.T, f *fixture) {
	clean := f.fresh(t)
	src := &source{}
	var cols []change.Column
	for r := range 3 {
		cols = round(src, r)
		if _, err := clean.run(clean.open, cols, src, 1, noStep); err != nil {
			t.Fatal(err)
		}
	}
	want, wantBM := clean.rows(roundCols), bookmarkShape(clean.describe().Bookmark)
	for _, s := range []step{afterBegin, afterEvolve, afterApply, afterCommit} {
		for faultRound := range 3 {
			t.Run(fmt.Sprintf("step=%s/round=%d", s, faultRound), func(t *testing.T) {
				f := f.fresh(t)
				src := &source{}
				var prev []change.Column // the table's columns before this round
				for r := range 3 {
					cols := round(src, r)
					if r == faultRound {
						var before table.Info
						var rows []string
						if r > 0 {
							before, rows = f.describe(), f.rows(prev)
						}
						if _, err := f.run(f.open, cols, src, 1, s); !errors.Is(err, errStop) {
							t.Fatalf("run stopped %s: %v", s, err)
						}
						if s != afterCommit && r > 0 {
							if got := f.describe(); !got.Bookmark.Equal(before.Bookmark) {
								t.Fatalf("stopped %s: the bookmark moved to %s", s, got.Bookmark.Summary())
							}
							// A schema change may be committed on its own
							// (Iceberg): a new column, NULL everywhere, that
							// the re-run adds anyway.
							DiffRows(t, "table after the stop", f.readRows(prev, false), rows)
						}
					}
					prev = cols
					if _, err := f.run(f.open, cols, src, 1, noStep); err != nil {
						t.Fatalf("round %d: %v", r, err)
					}
				}
				DiffRows(t, "table after the stop and the re-run", f.rows(roundCols), want)
				if got := bookmarkShape(f.describe().Bookmark); got != wantBM {
					t.Fatalf("bookmark %s, want %s", got, wantBM)
				}
			})
		}
	}
}

// concurrentCommits: two Txns begun from the same state and both applied;
// the first commits, the second's Commit fails with table.ErrConflict and
// leaves nothing of it visible; a run then absorbs its changes. Another
// lakemerge commit always conflicts, whatever keys it touched (fencing),
// also one of the same changes and bookmark: the table then carries the
// bookmark the second meant to commit, but the commit is the first's, and
// the second must not take it for its own (a commit whose answer was lost
// and that landed after all).
func concurrentCommits(t *testing.T, f *fixture) {
	ctx := context.Background()
	mod := NewModel(small)
	var bm bookmarks.Bookmark
	var rows []Change
	for id := int64(1); id <= 20; id++ {
		rows = append(rows, upsert(change.OpInsert, 1, id, "v"))
	}
	f.step(t, "load", small, mod, &bm, rows, "")
	stage := func(rows []Change) (Txn, arrow.RecordBatch) {
		t.Helper()
		x, err := f.open().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Evolve(ctx, small); err != nil {
			t.Fatal(err)
		}
		rec := BuildChanges(t, f.mem, small, rows, false)
		if _, err := x.Apply(ctx, rec, nil); err != nil {
			t.Fatal(err)
		}
		return x, rec
	}
	for _, c := range []struct {
		name   string
		first  []Change
		second []Change
		same   bool // the second commits the first's bookmark
	}{
		{"the same keys", []Change{upsert(change.OpUpdate, 2, 1, "first"), upsert(change.OpUpdate, 2, 2, "first")}, []Change{upsert(change.OpUpdate, 3, 2, "second"), upsert(change.OpUpdate, 3, 3, "second")}, false},
		{"other keys", []Change{upsert(change.OpUpdate, 4, 4, "first")}, []Change{del(5, 19), upsert(change.OpInsert, 5, 30, "second")}, false},
		{"the same files", []Change{upsert(change.OpUpdate, 6, 7, "same")}, []Change{upsert(change.OpUpdate, 6, 7, "same")}, true},
	} {
		a, recA := stage(c.first)
		b, recB := stage(c.second)
		bmA := bm.Advance([]bookmarks.Entry{{Key: c.name + "/a"}})
		bmB := bmA.Advance([]bookmarks.Entry{{Key: c.name + "/b"}})
		if c.same {
			bmB = bmA
		}
		if err := a.Commit(ctx, bmA); err != nil {
			t.Fatalf("%s: first commit: %v", c.name, err)
		}
		mod.Apply(recA, c.first, nil)
		bm = bmA
		err := b.Commit(ctx, bmB)
		if !errors.Is(err, table.ErrConflict) {
			t.Fatalf("%s: second commit from the same state: %v, want a conflict", c.name, err)
		}
		recA.Release()
		recB.Release()
		if got := f.describe(); !got.Bookmark.Equal(bm) {
			t.Fatalf("%s: bookmark after the conflict %s, want the first commit's %s", c.name, got.Bookmark.Summary(), bm.Summary())
		}
		DiffRows(t, c.name+": after the conflict", f.rows(small), mod.Render())
		f.step(t, c.name+": the second's changes again", small, mod, &bm, c.second, "")
	}
}

// concurrentBookkeeping: like concurrentCommits, for commits that write
// no file and move only the table's bookkeeping: a run whose changes were
// all stale keeps its bookmark only, a run that deleted keys with no live
// row changes its tombstones too. Two Txns begun from the same state, in
// every pairing of such a commit with one that writes files: the second
// Commit fails with table.ErrConflict, because committing it would replace
// the first's bookmark (its files absorbed again) or tombstones (a late
// change of a deleted key brings the row back). The table keeps the
// first's bookmark, and the first's deletes hold against late changes.
func concurrentBookkeeping(t *testing.T, f *fixture) {
	ctx := context.Background()
	mod := NewModel(small)
	var bm bookmarks.Bookmark
	var rows []Change
	for id := int64(1); id <= 10; id++ {
		rows = append(rows, upsert(change.OpInsert, 10, id, "v"))
	}
	f.step(t, "load", small, mod, &bm, rows, "10 0 0 0 0")
	stage := func(rows []Change) (Txn, arrow.RecordBatch) {
		t.Helper()
		x, err := f.open().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Evolve(ctx, small); err != nil {
			t.Fatal(err)
		}
		rec := BuildChanges(t, f.mem, small, rows, false)
		if _, err := x.Apply(ctx, rec, nil); err != nil {
			t.Fatal(err)
		}
		return x, rec
	}
	seq := uint64(20)
	absentDelete := func(id int64) []Change { seq++; return []Change{del(seq, id)} }
	staleUpdate := func(id int64) []Change { return []Change{upsert(change.OpUpdate, 1, id, "stale")} }
	update := func(id int64) []Change { seq++; return []Change{upsert(change.OpUpdate, seq, id, "new")} }
	for _, c := range []struct {
		name          string
		first, second []Change
	}{
		{"tombstones then tombstones", absentDelete(101), absentDelete(102)},
		{"tombstones then bookmark", absentDelete(103), staleUpdate(1)},
		{"bookmark then tombstones", staleUpdate(2), absentDelete(104)},
		{"tombstones then files", absentDelete(105), update(3)},
		{"files then tombstones", update(4), absentDelete(106)},
		{"bookmark then files", staleUpdate(5), update(6)},
		{"files then bookmark", update(7), staleUpdate(8)},
	} {
		a, recA := stage(c.first)
		b, recB := stage(c.second)
		bmA := bm.Advance([]bookmarks.Entry{{Key: c.name + "/a"}})
		if err := a.Commit(ctx, bmA); err != nil {
			t.Fatalf("%s: first commit: %v", c.name, err)
		}
		mod.Apply(recA, c.first, nil)
		bm = bmA
		err := b.Commit(ctx, bm.Advance([]bookmarks.Entry{{Key: c.name + "/b"}}))
		recA.Release()
		recB.Release()
		if !errors.Is(err, table.ErrConflict) {
			t.Fatalf("%s: second commit from the same state: %v, want a conflict", c.name, err)
		}
		if got := f.describe(); !got.Bookmark.Equal(bm) {
			t.Fatalf("%s: bookmark after the conflict %s, want the first commit's %s", c.name, got.Bookmark.Summary(), bm.Summary())
		}
		DiffRows(t, c.name+": after the conflict", f.rows(small), mod.Render())
		f.step(t, c.name+": the second's changes again", small, mod, &bm, c.second, "")
	}
	// Every absent key deleted above is remembered: an insert no newer
	// than its delete is stale (invariant 4).
	var late []Change
	for id := int64(101); id <= 106; id++ {
		late = append(late, upsert(change.OpInsert, 21, id, "late"))
	}
	f.step(t, "late inserts of the deleted keys", small, mod, &bm, late, "0 0 0 6 0")
}

// concurrentCreate: two runs create the same table at once; one wins, the
// other fails with table.ErrConflict (at Evolve or Commit) and, begun
// again, commits on top of it.
func concurrentCreate(t *testing.T, f *fixture) {
	ctx := context.Background()
	mod := NewModel(small)
	a, err := f.open().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.open().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rowsA, rowsB := []Change{upsert(change.OpInsert, 1, 1, "a"), upsert(change.OpInsert, 1, 2, "a")}, []Change{upsert(change.OpInsert, 2, 2, "b"), upsert(change.OpInsert, 2, 3, "b")}
	recA := BuildChanges(t, f.mem, small, rowsA, false)
	defer recA.Release()
	recB := BuildChanges(t, f.mem, small, rowsB, false)
	defer recB.Release()
	if err := a.Evolve(ctx, small); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, recA, nil); err != nil {
		t.Fatal(err)
	}
	errB := b.Evolve(ctx, small)
	if errB == nil {
		_, errB = b.Apply(ctx, recB, nil)
	}
	bm := bookmarks.Bookmark{}.Advance([]bookmarks.Entry{{Key: "a"}})
	if err := a.Commit(ctx, bm); err != nil {
		t.Fatal(err)
	}
	mod.Apply(recA, rowsA, nil)
	if errB == nil {
		errB = b.Commit(ctx, bookmarks.Bookmark{}.Advance([]bookmarks.Entry{{Key: "b"}}))
	}
	if !errors.Is(errB, table.ErrConflict) {
		t.Fatalf("second create: %v, want a conflict", errB)
	}
	DiffRows(t, "after the conflict", f.rows(small), mod.Render())
	f.step(t, "the second's changes again", small, mod, &bm, rowsB, "1 1 0 0 0")
}

// concurrentRuns: in each of three rounds, three runs of the same table
// race over the same new files; whichever commits first wins, the others
// begin again, find its bookmark and write nothing. No file is absorbed
// twice and the table equals the model.
func concurrentRuns(t *testing.T, f *fixture) {
	f.backend() // made here, not by the first of the runners
	cols := small
	g := NewGen(5, 40)
	g.Late, g.Partial = false, false
	mod := NewModel(cols)
	src := &source{}
	for r := range 3 {
		for i := range 3 {
			rows := g.Next(mod, 20)
			f.model(mod, cols, rows)
			src.add(fmt.Sprintf("round%d/%d", r, i), rows)
		}
		var wg sync.WaitGroup
		results := make([]runResult, 3)
		errs := make([]error, 3)
		for w := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[w], errs[w] = f.run(f.open, cols, src, 20, noStep)
			}()
		}
		wg.Wait()
		writers := 0
		for w, err := range errs {
			if err != nil {
				t.Fatalf("round %d run %d: %v", r, w, err)
			}
			if results[w].stats.BytesWritten > 0 {
				writers++
			}
		}
		if writers != 1 {
			t.Fatalf("round %d: %d runs committed data, want 1: %+v", r, writers, results)
		}
		DiffRows(t, fmt.Sprint("round ", r), f.rows(cols), mod.Render())
		if got := f.describe().Bookmark; len(got.Entries) != 3*(r+1) || got.Runs != int64(r+1) {
			t.Fatalf("round %d: bookmark %s, want %d files in %d runs", r, got.Summary(), 3*(r+1), r+1)
		}
	}
}

// runsRaceArrivals: runners run the same table over and over while new
// change files (with deletes, so the tombstones change) keep arriving. A
// run that began before others committed never fails on a side file
// (bookmark, tombstones, state) they replaced: every run succeeds, or
// gives up only because it lost the race more often than its attempts
// allow; and the final table equals the model.
func runsRaceArrivals(t *testing.T, f *fixture) {
	f.backend() // made here, not by the first of the runners
	cols := small
	g := NewGen(11, 30)
	g.Late, g.Partial = false, false
	mod := NewModel(cols)
	src := &source{}
	const files, runners = 24, 4
	every := 15 * time.Millisecond
	if f.slow {
		every = 120 * time.Millisecond
	}
	arrive := func(i int) {
		rows := g.Next(mod, 10)
		f.model(mod, cols, rows)
		src.add(fmt.Sprintf("cdc/%03d", i), rows)
	}
	arrive(0)
	done := make(chan struct{})
	var arrivals sync.WaitGroup
	arrivals.Add(1)
	go func() {
		defer arrivals.Done()
		defer close(done)
		for i := 1; i < files; i++ {
			arrive(i)
			pause(every)
		}
	}()
	var (
		wg                    sync.WaitGroup
		mu                    sync.Mutex
		runs, commits, gaveUp int
		failures              []error
	)
	for range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				res, err := f.run(f.open, cols, src, 8, noStep)
				mu.Lock()
				runs++
				switch {
				case err == nil:
					if res.stats.BytesWritten > 0 {
						commits++
					}
				case errors.Is(err, table.ErrConflict) && strings.Contains(err.Error(), "gave up after"):
					gaveUp++
				default:
					failures = append(failures, err)
				}
				mu.Unlock()
				pause(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	arrivals.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d runs failed, the first: %v", len(failures), runs, failures[0])
	}
	if _, err := f.run(f.open, cols, src, 20, noStep); err != nil { // whatever arrived after the last runs
		t.Fatal(err)
	}
	t.Logf("%d runs, %d committed data, %d gave up after conflicts", runs, commits, gaveUp)
	if commits < 2 {
		t.Fatalf("only %d runs committed data: the runs did not overlap the arrivals", commits)
	}
	DiffRows(t, "table", f.rows(cols), mod.Render())
	if got := f.describe().Bookmark; len(got.Entries) != files {
		t.Fatalf("bookmark %s, want %d files", got.Summary(), files)
	}
}

// deniedWrites: a warehouse that refuses to write the table's data files
// or the commit itself (access denied) fails the run at once, after one
// attempt, with an error naming the file, and leaves the table and its
// bookmark as they were: never the delete of an updated row without its
// new version. Once writes work again, the next run absorbs the files.
func deniedWrites(t *testing.T, f *fixture, kind FileKind) {
	cols := small
	mod := NewModel(cols)
	src := &source{}
	load := []Change{upsert(change.OpInsert, 1, 1, "a"), upsert(change.OpInsert, 1, 2, "b"), upsert(change.OpInsert, 1, 3, "c")}
	cdc := []Change{upsert(change.OpUpdate, 2, 1, "a1")}
	for id := int64(10); id < 40; id++ {
		cdc = append(cdc, upsert(change.OpInsert, 2+uint64(id), id, "new"))
	}
	for _, rows := range [][]Change{load, cdc} {
		f.model(mod, cols, rows)
	}
	src.add("LOAD1", load)
	if _, err := f.run(f.open, cols, src, 1, noStep); err != nil {
		t.Fatal(err)
	}
	src.add("cdc1", cdc)
	before, rows := f.describe(), f.rows(cols)

	names, undo := f.backend().Deny(kind)
	res, err := f.run(f.open, cols, src, 8, noStep)
	undo()
	if err == nil || !strings.Contains(err.Error(), names) {
		t.Fatalf("run with %s denied: %v, want an error naming the file (%q)", kind, err, names)
	}
	if res.attempts != 1 || table.Retryable(err) {
		t.Fatalf("a permanent error was retried: %d attempts, %v", res.attempts, err)
	}
	t.Logf("%v", err)
	if got := f.describe(); !got.Bookmark.Equal(before.Bookmark) {
		t.Fatalf("bookmark moved: %s, want %s", got.Bookmark.Summary(), before.Bookmark.Summary())
	}
	DiffRows(t, "table after the failed run", f.rows(cols), rows)

	res, err = f.run(f.open, cols, src, 1, noStep)
	if err != nil || res.stats.Updated != 1 || res.stats.Inserted != 30 {
		t.Fatalf("run after the block was lifted: %+v, %v", res.stats, err)
	}
	DiffRows(t, "table", f.rows(cols), mod.Render())
}

// unreachableWarehouse: a warehouse that does not exist (an S3 bucket
// that does not) fails a run at once, after one attempt.
func unreachableWarehouse(t *testing.T, f *fixture) {
	open := f.backend().Unreachable
	if open == nil {
		t.Skip("the backend has no warehouse that can be missing (only S3's bucket can)")
	}
	src := &source{}
	round(src, 0)
	res, err := f.run(func() Writer { return open(f.opts) }, small, src, 8, noStep)
	if err == nil || res.attempts != 1 || table.Retryable(err) {
		t.Fatalf("run into a missing warehouse: %d attempts, %v; want a permanent error after one attempt", res.attempts, err)
	}
	t.Logf("%v", err)
}

// vacuum: runs that stop after writing their files leave orphans; Vacuum
// deletes exactly the files VacuumPlan listed, and none with a retention
// longer than their age; the table reads the same afterwards and the next
// runs work; a second table in the same warehouse, whose name extends this
// one's, keeps every file (its own orphans too).
func vacuum(t *testing.T, f *fixture) {
	ctx := context.Background()
	sibling := f.opts
	sibling.Name = "items_old"
	openSibling := func() Writer { return f.backend().Open(sibling) }
	src, srcSibling := &source{}, &source{}
	for r := range 3 {
		cols := round(src, r)
		round(srcSibling, r)
		if r > 0 {
			if _, err := f.run(f.open, cols, src, 1, afterApply); !errors.Is(err, errStop) {
				t.Fatalf("round %d: %v", r, err)
			}
			if _, err := f.run(openSibling, cols, srcSibling, 1, afterApply); !errors.Is(err, errStop) {
				t.Fatalf("round %d: %v", r, err)
			}
		}
		if _, err := f.run(f.open, cols, src, 1, noStep); err != nil {
			t.Fatal(err)
		}
		if _, err := f.run(openSibling, cols, srcSibling, 1, noStep); err != nil {
			t.Fatal(err)
		}
	}
	want, bm := f.rows(roundCols), f.describe().Bookmark
	w := f.open()
	if plan, err := w.VacuumPlan(ctx, 24*time.Hour); err != nil || len(plan) != 0 {
		t.Fatalf("vacuum plan with a retention longer than every file's age: %v, %v", plan, err)
	}
	if vs, err := w.Vacuum(ctx, 24*time.Hour); err != nil || vs.FilesDeleted != 0 {
		t.Fatalf("vacuum with a retention longer than every file's age: %+v, %v", vs, err)
	}
	plan, err := w.VacuumPlan(ctx, 0)
	if err != nil || len(plan) == 0 {
		t.Fatalf("vacuum plan after runs that stopped: %v, %v; want their files", plan, err)
	}
	siblingPlan, err := openSibling().VacuumPlan(ctx, 0)
	if err != nil || len(siblingPlan) == 0 {
		t.Fatalf("vacuum plan of the second table: %v, %v", siblingPlan, err)
	}
	var bytes int64
	for _, p := range plan {
		bytes += p.Size
		if strings.Contains(p.Path, "items_old") {
			t.Fatalf("vacuum of items plans %s, a file of items_old", p.Path)
		}
	}
	vs, err := w.Vacuum(ctx, 0)
	if err != nil || vs.FilesDeleted != int64(len(plan)) || vs.BytesDeleted != bytes {
		t.Fatalf("vacuum deleted %+v (%v); the plan listed %d files, %d bytes", vs, err, len(plan), bytes)
	}
	DiffRows(t, "table after vacuum", f.rows(roundCols), want)
	if got := f.describe().Bookmark; !got.Equal(bm) {
		t.Fatalf("bookmark after vacuum %s, want %s", got.Summary(), bm.Summary())
	}
	if again, err := openSibling().VacuumPlan(ctx, 0); err != nil || !slices.Equal(again, siblingPlan) {
		t.Fatalf("vacuum of items changed what items_old has to vacuum: %v (%v), before %v", again, err, siblingPlan)
	}
	if vs, err := f.open().Vacuum(ctx, 0); err != nil || vs.FilesDeleted != 0 {
		t.Fatalf("second vacuum: %+v, %v", vs, err)
	}
	src.add("after-vacuum", []Change{upsert(change.OpUpdate, 20, 1, "a2")})
	if res, err := f.run(f.open, roundCols, src, 1, noStep); err != nil || res.stats.Updated != 1 {
		t.Fatalf("run after vacuum: %+v, %v", res.stats, err)
	}
}

// largeBookmark: a bookmark of 1500 objects (more than catalogs keep in a
// table property) commits and reads back whole, runs keep working, a run
// with nothing new does nothing, and Vacuum keeps what the bookmark needs.
func largeBookmark(t *testing.T, f *fixture) {
	ctx := context.Background()
	cols := small
	g := NewGen(13, 50)
	g.Late, g.Partial = false, false
	mod := NewModel(cols)
	src := &source{}
	for r := range 3 {
		for i := range 500 {
			rows := g.Next(mod, 1)
			f.model(mod, cols, rows)
			src.add(fmt.Sprintf("public/items/20240102-%02d%04d-with-a-long-enough-name.csv", r, i), rows)
		}
		if res, err := f.run(f.open, cols, src, 1, noStep); err != nil || res.files != 500 {
			t.Fatalf("run %d: %+v, %v", r, res, err)
		}
	}
	DiffRows(t, "table", f.rows(cols), mod.Render())
	check := func(what string) {
		t.Helper()
		if bm := f.describe().Bookmark; len(bm.Entries) != 1500 || bm.Runs != 3 {
			t.Fatalf("%s: bookmark %s", what, bm.Summary())
		}
	}
	check("after three runs")
	if res, err := f.run(f.open, cols, src, 1, noStep); err != nil || !res.upToDate {
		t.Fatalf("run with nothing new: %+v, %v", res, err)
	}
	if _, err := f.open().Vacuum(ctx, 0); err != nil {
		t.Fatal(err)
	}
	check("after vacuum")
}
