// Package tabletest is the suite every lakemerge table writer passes: the
// invariants of package merge and the reference model, checked against
// the writer itself, the way iceberg-go's catalog tests run against every
// catalog. A writer's tests call Run with a Factory of fresh tables on each
// storage backend the writer supports (table/iceberg: a local warehouse
// with the SQLite catalog, S3 with Glue; table/delta: a folder, memory,
// S3).
//
// The suite drives a writer through its commit attempt (Txn: Begin,
// Evolve, Apply, Commit), the side of merge.Txn's contract a writer
// keeps, and through table.Table (Describe, Read, Vacuum, VacuumPlan). Where
// a scenario needs runs over change files (concurrent runs, crashes and
// re-runs, split independence), a small driver plays merge's part: it
// plans from the bookmark the Txn began with, commits the next bookmark
// with the changes, and on an error the writer classified retryable
// begins again. Merge's own commit loop is tested in package merge, with
// an in-memory target.
//
// Every table the suite writes is compared with a Model (a map that
// applies the changes one by one), row by row with _seq, after every run;
// the stats a writer reports are compared with the model's too. Each
// scenario's Arrow allocations are checked: nothing may be left allocated.
//
// Only test files import this package (architecture_test.go).
package tabletest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// Txn is one commit attempt of the writer under test, with the contract of
// merge.Txn: call Evolve, then Apply at most once, then Commit once. Its
// errors match table.ErrConflict (nothing landed), table.ErrCommitUnknown
// (the commit may have landed), table.ErrTransient (nothing landed), or
// none of them (permanent).
type Txn interface {
	Bookmark() bookmarks.Bookmark
	Columns() ([]change.Column, error)
	Evolve(ctx context.Context, cols []change.Column) error
	Apply(ctx context.Context, changes arrow.RecordBatch, truncateBefore []byte) (table.ApplyStats, error)
	Commit(ctx context.Context, bm bookmarks.Bookmark) error
}

// Writer is one handle of a table under test, as one run opens it.
type Writer interface {
	Begin(ctx context.Context) (Txn, error)
	table.Table
}

// Options are what the suite asks of a table when it opens a handle.
type Options struct {
	// Name is the table's name: "" for the scenario's table, another name
	// for a second table beside it in the same warehouse (and catalog).
	Name string
	// Keys are the primary key columns; nil means "id".
	Keys []string
	Mem  memory.Allocator
	// Now is the writer's clock (tombstones and their horizon); nil means
	// the writer's default.
	Now              func() time.Time
	TombstoneHorizon time.Duration // 0: the writer's default
	// TargetFileBytes caps data files; 0: the writer's default. The suite
	// sets it small where changes should span many files.
	TargetFileBytes int64
}

// FileKind names the files of a table a backend can refuse to write.
type FileKind int

const (
	// DataFiles are the files that hold rows.
	DataFiles FileKind = iota
	// CommitFiles are the files whose write makes a commit: Iceberg's new
	// metadata file, Delta's log entry.
	CommitFiles
)

func (k FileKind) String() string {
	if k == DataFiles {
		return "data files"
	}
	return "commit files"
}

// Backend is one fresh warehouse (and catalog) of the writer under test.
type Backend struct {
	// Open returns a new handle of a table in the warehouse.
	Open func(o Options) Writer
	// Deny makes the warehouse refuse to write files of kind of the
	// scenario's table, the way the backend refuses (S3: a bucket policy
	// answering AccessDenied; a folder or memory: a permission error),
	// until undo is called. names is a part of the refused files' names
	// that an error about one of them must show.
	Deny func(kind FileKind) (names string, undo func())
	// Unreachable, when set, returns a handle of a table whose warehouse
	// does not exist (S3: a bucket that does not exist): runs must fail at
	// once. Backends without such a state leave it nil, and the scenario
	// says it does not apply.
	Unreachable func(o Options) Writer
}

// Factory makes a fresh Backend for one scenario; it registers its
// cleanup with t.
type Factory func(t *testing.T) Backend

// Run runs every scenario of the suite against the writer newBackend
// makes, each as a subtest on fresh backends. slow says the backend's
// requests take milliseconds each (S3 and Glue): the random scenarios run
// fewer rounds there.
func Run(t *testing.T, newBackend Factory, slow bool) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			s.run(t, newFixture(t, newBackend, slow))
		})
	}
}

// scenarios are the suite's subtests; each names the invariant or rule it
// checks in its doc comment.
var scenarios = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"MatchesModel", matchesModel},
	{"SplitIndependence", splitIndependence},
	{"LateChanges", lateChanges},
	{"TombstoneHorizon", tombstoneHorizon},
	{"PartialImages", partialImages},
	{"Reload", reload},
	{"SchemaChange", schemaChange},
	{"Widening", widening},
	{"CompositeKey", compositeKey},
	{"DescribeAndRead", describeAndRead},
	{"ChangesSince", changesSince},
	{"Journal", journal},
	{"CrashAtEveryStep", crashAtEveryStep},
	{"ConcurrentCommits", concurrentCommits},
	{"ConcurrentBookkeeping", concurrentBookkeeping},
	{"ConcurrentCreate", concurrentCreate},
	{"ConcurrentRuns", concurrentRuns},
	{"RunsRaceArrivals", runsRaceArrivals},
	{"UnwritableDataFiles", func(t *testing.T, f *fixture) { deniedWrites(t, f, DataFiles) }},
	{"DeniedCommit", func(t *testing.T, f *fixture) { deniedWrites(t, f, CommitFiles) }},
	{"UnreachableWarehouse", unreachableWarehouse},
	{"Vacuum", vacuum},
	{"LargeBookmark", largeBookmark},
	{"ChunkedMatchesModel", chunkedMatchesModel},
	{"ChunkedReload", chunkedReload},
	{"ChunkedFault", chunkedFault},
}

// fixture is one (sub)test's backend, made when first used, and
// allocator.
type fixture struct {
	t    *testing.T
	newB Factory
	slow bool
	once sync.Once
	b    Backend
	mem  *memory.CheckedAllocator
	opts Options // how the scenario opens its table
	// chunks > 1 makes commit apply a change set in that many chunks
	// (Chunker), split by key.
	chunks int
}

func newFixture(t *testing.T, newBackend Factory, slow bool) *fixture {
	f := &fixture{t: t, newB: newBackend, slow: slow, mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	f.opts.Mem = f.mem
	t.Cleanup(func() { f.mem.AssertSize(t, 0) })
	return f
}

// fresh is a new fixture on a fresh backend, for subtest t, applying in
// as many chunks as f.
func (f *fixture) fresh(t *testing.T) *fixture {
	n := newFixture(t, f.newB, f.slow)
	n.chunks = f.chunks
	return n
}

// backend is the fixture's backend.
func (f *fixture) backend() Backend {
	f.once.Do(func() { f.b = f.newB(f.t) })
	return f.b
}

// open is a new handle of the scenario's table.
func (f *fixture) open() Writer { return f.backend().Open(f.opts) }

// commit runs one change set through one Txn of a new handle: Begin,
// Evolve(cols), Apply, Commit(bm).
func (f *fixture) commit(cols []change.Column, rec arrow.RecordBatch, truncateBefore []byte, bm bookmarks.Bookmark) (table.ApplyStats, error) {
	ctx := context.Background()
	x, err := f.open().Begin(ctx)
	if err != nil {
		return table.ApplyStats{}, fmt.Errorf("begin: %w", err)
	}
	if err := x.Evolve(ctx, cols); err != nil {
		return table.ApplyStats{}, fmt.Errorf("evolve: %w", err)
	}
	var st table.ApplyStats
	if c, ok := x.(Chunker); ok && f.chunks > 1 {
		st, err = f.applyChunks(ctx, c, rec, f.chunks, truncateBefore, 0, nil)
	} else {
		st, err = x.Apply(ctx, rec, truncateBefore)
	}
	if err != nil {
		return st, fmt.Errorf("apply: %w", err)
	}
	if err := x.Commit(ctx, bm); err != nil {
		return st, fmt.Errorf("commit: %w", err)
	}
	return st, nil
}

// mustCommit is commit, failing the test on an error.
func (f *fixture) mustCommit(cols []change.Column, rec arrow.RecordBatch, truncateBefore []byte, bm bookmarks.Bookmark) table.ApplyStats {
	f.t.Helper()
	st, err := f.commit(cols, rec, truncateBefore, bm)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// rows renders the table as TableRows does, with cols.
func (f *fixture) rows(cols []change.Column) []string {
	f.t.Helper()
	return f.readRows(cols, true)
}

// readRows renders the table with cols; with exact false it may have
// other columns too.
func (f *fixture) readRows(cols []change.Column, exact bool) []string {
	f.t.Helper()
	tbl, err := f.open().Read(context.Background())
	if err != nil {
		f.t.Fatalf("read: %v", err)
	}
	defer tbl.Release()
	return tableRows(f.t, tbl, cols, "id", exact)
}

// describe is the table's Describe.
func (f *fixture) describe() table.Info {
	f.t.Helper()
	info, err := f.open().Describe(context.Background())
	if err != nil {
		f.t.Fatalf("describe: %v", err)
	}
	return info
}

// model applies rows (full images) to mod, as a run that commits them
// does.
func (f *fixture) model(mod *Model, cols []change.Column, rows []Change) table.ApplyStats {
	rec := BuildChanges(f.t, f.mem, cols, rows, false)
	defer rec.Release()
	return mod.Apply(rec, rows, nil)
}

// verdicts are the stats a Model decides: the rest is I/O.
func verdicts(st table.ApplyStats) table.ApplyStats {
	return table.ApplyStats{Inserted: st.Inserted, Updated: st.Updated, Deleted: st.Deleted,
		Stale: st.Stale, Absent: st.Absent, KeptMissing: st.KeptMissing}
}

// ---- runs over change files: the driver --------------------------------

// rawFile is one change file: full row images, distinct keys.
type rawFile struct {
	name string
	rows []Change
}

// entry is the file as a listing shows it: its ETag the MD5 of its name,
// as random as S3's ETags of real files.
func (r rawFile) entry() bookmarks.Entry {
	sum := md5.Sum([]byte(r.name))
	return bookmarks.Entry{Key: r.name, ETag: `"` + hex.EncodeToString(sum[:]) + `"`, Size: int64(len(r.rows))}
}

// source is the raw zone of a scenario: change files that arrive, in the
// order of their changes' _seq.
type source struct {
	mu    sync.Mutex
	files []rawFile
}

func (s *source) add(name string, rows []Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files = append(s.files, rawFile{name: name, rows: rows})
}

// pending are the files bm has not absorbed, in arrival order.
func (s *source) pending(bm bookmarks.Bookmark) []rawFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []rawFile
	for _, f := range s.files {
		if _, ok := bm.Absorbed(f.name); !ok {
			out = append(out, f)
		}
	}
	return out
}

// latest is the change set of files: the change with the greatest _seq of
// each key (full images), sorted by key.
func latest(files []rawFile) []Change {
	byKey := map[int64]Change{}
	for _, f := range files {
		for _, c := range f.rows {
			if old, ok := byKey[c.Key()]; !ok || c.Seq > old.Seq {
				byKey[c.Key()] = c
			}
		}
	}
	out := make([]Change, 0, len(byKey))
	for _, c := range byKey {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Change) int { return int(a.Key() - b.Key()) })
	return out
}

// runResult is what one driver run did.
type runResult struct {
	stats    table.ApplyStats
	files    int
	upToDate bool
	attempts int
}

// errStop is returned by a driver run that stop asked to stop.
var errStop = errors.New("stopped at a step")

// step is a point of a commit attempt where a run can stop (a crash).
type step string

const (
	noStep      step = ""
	afterBegin  step = "after-begin"  // the Txn began, nothing else
	afterEvolve step = "after-evolve" // the schema is evolved (Iceberg: its own catalog commit)
	afterApply  step = "after-apply"  // the files are written, not committed
	afterCommit step = "after-commit" // committed; the run does not know (a crash, an unknown outcome)
)

// run absorbs every file of src that the table has not, as merge's commit
// loop does: plan from the bookmark Begin read, one Txn, commit the next
// bookmark; on a retryable error begin again, re-planning when the table
// moved on and done when it carries the bookmark this run meant to commit.
// It gives up after maxAttempts. With stop set, it stops there on its
// first attempt with errStop.
func (f *fixture) run(w func() Writer, cols []change.Column, src *source, maxAttempts int, stop step) (runResult, error) {
	ctx := context.Background()
	var res runResult
	var (
		planned    bool
		base, next bookmarks.Bookmark
		files      []rawFile
	)
	for attempt := 1; ; attempt++ {
		res.attempts = attempt
		err := func() error {
			x, err := w().Begin(ctx)
			if err != nil {
				return err
			}
			cur := x.Bookmark()
			if planned && cur.Equal(next) {
				return nil // landed (ours, or a run that committed the same)
			}
			if !planned || !cur.Equal(base) {
				planned, base, files = true, cur, src.pending(cur)
				var entries []bookmarks.Entry
				for _, fl := range files {
					entries = append(entries, fl.entry())
				}
				next = base.Advance(entries)
				res.files = len(files)
				if len(files) == 0 {
					res.upToDate = true
					return nil
				}
			}
			if stop == afterBegin {
				return errStop
			}
			have, err := x.Columns()
			if err != nil {
				return err
			}
			if err := x.Evolve(ctx, unionColumns(have, cols)); err != nil {
				return err
			}
			if stop == afterEvolve {
				return errStop
			}
			rec := BuildChanges(f.t, f.mem, cols, latest(files), false)
			st, err := x.Apply(ctx, rec, nil)
			rec.Release()
			if err != nil {
				return err
			}
			if stop == afterApply {
				return errStop
			}
			if err := x.Commit(ctx, next); err != nil {
				return err
			}
			res.stats = st
			if stop == afterCommit {
				return errStop
			}
			return nil
		}()
		if err == nil || !table.Retryable(err) {
			return res, err
		}
		if attempt >= maxAttempts {
			return res, fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return res, err
		}
	}
}

// unionColumns is have extended by cols (cols' types win: the suite only
// widens).
func unionColumns(have, cols []change.Column) []change.Column {
	out := slices.Clone(have)
	for _, c := range cols {
		if i := slices.IndexFunc(out, func(o change.Column) bool { return o.Name == c.Name }); i >= 0 {
			out[i] = c
		} else {
			out = append(out, c)
		}
	}
	return out
}

// backoff waits a few milliseconds, more with every attempt, with jitter,
// so that runs that lost to each other do not meet again in step.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1+rand.IntN(5<<min(attempt, 5))) * time.Millisecond
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// pause waits d (a timer, not a sleep loop).
func pause(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	<-tm.C
}
