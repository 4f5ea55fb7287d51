package merge

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// Table is everything needed to run one table.
type Table struct {
	Name    string          // id used in events and errors
	Prefix  string          // the table's folder in the raw zone
	Keys    []string        // primary key columns
	Columns []change.Column // configured columns (may be empty when files carry headers)
	// Ignore are globs of objects under Prefix that are not change files
	// and are skipped on purpose (see Pending); any other object that is
	// not a change file of Format stops the run.
	Ignore []string
	// RawLocation names Prefix in the raw zone for messages (e.g.
	// s3://bucket/dms/public/orders/); Prefix when empty.
	RawLocation string
	Raw         Raw
	Format      Format
	Target      Target
	Mem         memory.Allocator
	Observe     Observer // may be nil
	// MaxAttempts bounds commit attempts on conflicts, unknown outcomes and
	// transient failures; 0 means 8.
	MaxAttempts int
	// KeepChanges makes a Run that commits hand the change set it applied
	// to the caller (Result.Applied), for the prepared tables derived from
	// the table.
	KeepChanges bool
	// Journal makes a Run's commit carry, when its Txn is a Journaler, the
	// change set it applied as the commit's journal (the set Applied
	// holds, without _keep), so that a history or changelog table that
	// missed the commit catches up from what the run would have handed it.
	// A change set with partial rows (a _keep bit set), a reload or
	// truncate, or one applied in chunks gets none: the prepared tables
	// catch up from the table's files for those runs anyway.
	Journal bool
	// MemoryBudget bounds, in bytes, the decoded changes a run holds in
	// memory: once they pass half of it, the run spills them to SpillDir,
	// partitioned by primary key, and deduplicates them partition by
	// partition (see the package doc). 0 means no bound.
	MemoryBudget int64
	// SpillDir is where a spilling run creates its temporary folder;
	// os.TempDir() (TMPDIR) when empty.
	SpillDir string
}

// Result is what one Run did.
type Result struct {
	Table    string           `json:"table"`
	Files    int              `json:"files"`   // raw files absorbed
	Ignored  int              `json:"ignored"` // objects matched by the table's ignore globs
	Changes  int64            `json:"changes"` // change rows decoded
	Skipped  int64            `json:"skipped"` // events that are not row changes (schema changes, heartbeats, ...)
	Keys     int64            `json:"keys"`    // distinct keys after dedupe
	Bytes    int64            `json:"bytes"`   // raw bytes read
	Stats    table.ApplyStats `json:"stats"`
	Attempts int              `json:"attempts"`
	UpToDate bool             `json:"up_to_date"` // nothing was pending
	// SpilledRows and SpilledBytes say how many change rows the run
	// spilled to local disk, in how many bytes (compressed); 0 when its
	// changes fit its memory budget.
	SpilledRows  int64 `json:"spilled_rows"`
	SpilledBytes int64 `json:"spilled_bytes"`
	// Chunks is how many pieces the committed change set was handed to
	// the writer in (Chunker): 0 when it was handed whole.
	Chunks int `json:"chunks,omitempty"`
	// Warnings are problems that did not fail the run: a raw location
	// that lists no objects while the bookmark holds absorbed files
	// (Pending.RawEmptied), maintenance after the commit (see Maintainer).
	Warnings []string           `json:"warnings,omitempty"`
	Bookmark bookmarks.Bookmark `json:"-"`
	// With Table.KeepChanges, a Run whose own commit landed (not UpToDate,
	// not found landed by another run) and whose change set was in memory
	// whole (not applied in Chunks: then Applied is nil, and the prepared
	// tables catch up from the table) sets Applied, Parent and
	// TruncateBefore: the change set it applied (one row per key, sorted
	// by key, the table's columns after the commit then _op, _seq,
	// _keep when some rows are partial, and _ts when the decoders gave
	// commit times (change.ColTS; never written to the table); the caller
	// releases it), the
	// bookmark of the table state the commit was made on, and the
	// truncateBefore it was applied with (nil for none).
	Applied        arrow.RecordBatch  `json:"-"`
	Parent         bookmarks.Bookmark `json:"-"`
	TruncateBefore []byte             `json:"-"`
}

func (t *Table) emit(e Event) {
	if t.Observe != nil {
		e.Table = t.Name
		t.Observe(e)
	}
}

// Run absorbs every pending raw file of the table in one commit.
//
// The commit loop reacts to the category of an attempt's error (the
// writer classifies it, table.Retryable): a conflict (another writer
// committed first, or the table moved on under a file the attempt read)
// re-plans from the new table state; an unknown commit outcome reloads the
// table and compares its bookmark with the one it meant to commit (equal:
// the commit landed); a transient failure tries again. Each waits a backoff
// first (select on ctx and a timer), and Run gives up after MaxAttempts.
// Any other error is permanent and fails the table at once, after one
// attempt: access denied, a missing bucket, bad input, a commit that does
// not match its plan.
func (t *Table) Run(ctx context.Context) (Result, error) {
	maxAttempts := t.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 8
	}
	res := Result{Table: t.Name}
	var p *prepared
	defer func() { p.release() }()
	// unknown is the error of the latest commit whose outcome is not known
	// yet; the next Begin resolves it. A run that fails before that says
	// so: a re-run finds out.
	var unknown error
	// retry waits before the next attempt, or says why there is none.
	retry := func(attempt int, err error) error {
		var out error
		switch {
		case !table.Retryable(err):
			out = fmt.Errorf("table %s: %w", t.Name, err)
		case attempt >= maxAttempts:
			out = fmt.Errorf("table %s: gave up after %d attempts: %w", t.Name, attempt, err)
		default:
			if errors.Is(err, table.ErrCommitUnknown) {
				unknown = err
			}
			t.emit(Event{Kind: EventCommitRetry, Attempt: attempt, Err: err})
			out = table.Backoff(ctx, attempt)
		}
		if out != nil && unknown != nil && !errors.Is(out, table.ErrCommitUnknown) {
			out = fmt.Errorf("%w (after a commit whose outcome is unknown: %w)", out, unknown)
		}
		return out
	}
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		txn, err := t.Target.Begin(ctx)
		if err != nil {
			if err := retry(attempt, err); err != nil {
				return res, err
			}
			continue
		}
		unknown = nil
		cur := txn.Bookmark()
		if p != nil && cur.Equal(p.next) {
			// Our previous attempt landed after all (unknown outcome), or a
			// concurrent run committed exactly the files we planned from the
			// same base: the same input gives the same table, so either way
			// the table holds what we meant to commit.
			res.Bookmark = cur
			return res, nil
		}
		if p == nil || !cur.Equal(p.base) {
			// First attempt, or someone else committed: plan from the table's
			// current bookmark.
			p.release()
			if p, err = t.prepare(ctx, txn); err != nil {
				return res, fmt.Errorf("table %s: %w", t.Name, err)
			}
			res.Files, res.Ignored, res.Changes, res.Keys, res.Bytes = len(p.files), p.ignored, p.nchanges, p.keys, p.bytes
			res.Skipped = p.skipped
			res.SpilledRows, res.SpilledBytes = p.spilledRows, p.spilledBytes
			res.Warnings = slices.Clone(p.warnings)
			if len(p.files) == 0 {
				res.UpToDate = true
				res.Bookmark = cur
				return res, nil
			}
		}
		t.emit(Event{Kind: EventCommitAttempt, Attempt: attempt})
		st, applied, err := t.apply(ctx, txn, p)
		if err == nil {
			res.Stats = st
			res.Bookmark = p.next
			if p.chunks != nil {
				res.Chunks = len(p.chunks.files)
			}
			if applied != nil {
				res.Applied, res.Parent, res.TruncateBefore = applied, p.base, p.truncateBefore
			}
			t.emit(Event{Kind: EventCommitted, Attempt: attempt, Stats: st, Files: len(p.files)})
			if m, ok := txn.(Maintainer); ok {
				if err := m.MaintenanceErr(); err != nil {
					res.Warnings = append(res.Warnings, err.Error())
					t.emit(Event{Kind: EventMaintenanceFailed, Err: err})
				}
			}
			return res, nil
		}
		if err := retry(attempt, err); err != nil {
			return res, err
		}
	}
}

// apply applies p in txn and commits it. With KeepChanges, applied is the
// change set it committed (the caller releases it); nil otherwise and on
// error.
func (t *Table) apply(ctx context.Context, txn Txn, p *prepared) (_ table.ApplyStats, applied arrow.RecordBatch, _ error) {
	cols, err := unionColumns(txn, p.cols)
	if err != nil {
		return table.ApplyStats{}, nil, err
	}
	if err := txn.Evolve(ctx, cols); err != nil {
		return table.ApplyStats{}, nil, err
	}
	if p.chunks != nil {
		st, err := t.applyChunks(ctx, txn.(Chunker), cols, p)
		if err != nil {
			return st, nil, err
		}
		t.emit(Event{Kind: EventApplied, Stats: st})
		// The change set was never whole in memory: the prepared tables
		// get none and catch up from the table (Result.Applied).
		return st, nil, txn.Commit(ctx, p.next)
	}
	src := p.changes
	if src == nil {
		// The files held no rows (header-only or empty files): commit the
		// bookmark with an empty change set.
		src = emptyRecord(t.Mem, change.Schema(p.cols))
		defer src.Release()
	}
	// The writers take no _ts (it is not stored); the applied change set
	// handed to the prepared tables keeps it.
	changes, err := conform(t.Mem, src, cols, hasKeep(src), false)
	if err != nil {
		return table.ApplyStats{}, nil, err
	}
	defer changes.Release()
	kept := changes
	if (t.KeepChanges || t.Journal) && hasTS(src) {
		if kept, err = conform(t.Mem, src, cols, hasKeep(src), true); err != nil {
			return table.ApplyStats{}, nil, err
		}
		defer kept.Release()
	}
	if j, ok := txn.(Journaler); ok && t.Journal && p.truncateBefore == nil {
		journal, err := journalOf(kept)
		if err != nil {
			return table.ApplyStats{}, nil, err
		}
		if journal != nil {
			defer journal.Release()
			j.Journal(journal)
		}
	}
	st, err := txn.Apply(ctx, changes, p.truncateBefore)
	if err != nil {
		return st, nil, err
	}
	t.emit(Event{Kind: EventApplied, Stats: st})
	if err := txn.Commit(ctx, p.next); err != nil {
		return st, nil, err
	}
	if t.KeepChanges {
		kept.Retain()
		applied = kept
	}
	return st, applied, nil
}

// journalOf returns the journal of change set b (Table.Journal): b
// without _keep, or nil when a row of b is partial (an insert or update
// with a _keep bit set), whose prepared tables catch up from the table's
// files instead. The caller releases the result; b is borrowed.
func journalOf(b arrow.RecordBatch) (arrow.RecordBatch, error) {
	idx := b.Schema().FieldIndices(change.ColKeep)
	if len(idx) == 0 {
		b.Retain()
		return b, nil
	}
	keep, ok := b.Column(idx[0]).(*array.Binary)
	ops, ok2 := b.Column(b.Schema().FieldIndices(change.ColOp)[0]).(*array.Int8)
	if !ok || !ok2 {
		return nil, fmt.Errorf("journal: %s or %s of an unexpected type", change.ColKeep, change.ColOp)
	}
	for i := range keep.Len() {
		if keep.IsNull(i) || change.Op(ops.Value(i)) == change.OpDelete {
			continue
		}
		if slices.ContainsFunc(keep.Value(i), func(x byte) bool { return x != 0 }) {
			return nil, nil
		}
	}
	fields := slices.Delete(slices.Clone(b.Schema().Fields()), idx[0], idx[0]+1)
	cols := slices.Delete(slices.Clone(b.Columns()), idx[0], idx[0]+1)
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
}

// applyChunks hands the chunks of p to c one by one, each brought to cols,
// then finishes them; the stats are the sums.
func (t *Table) applyChunks(ctx context.Context, c Chunker, cols []change.Column, p *prepared) (table.ApplyStats, error) {
	var st table.ApplyStats
	for i := range p.chunks.files {
		batches, err := p.chunks.read(t.Mem, i)
		if err != nil {
			return st, err
		}
		for j, b := range batches {
			var changes arrow.RecordBatch
			if err == nil {
				changes, err = conform(t.Mem, b, cols, hasKeep(b), false)
			}
			b.Release()
			batches[j] = nil
			if err != nil {
				continue
			}
			var cst table.ApplyStats
			cst, err = c.ApplyChunk(ctx, changes)
			changes.Release()
			st.Add(cst)
		}
		if err != nil {
			return st, err
		}
	}
	fst, err := c.FinishChunks(ctx, p.truncateBefore)
	st.Add(fst)
	return st, err
}

// emptyRecord returns a record of schema with no rows; the caller releases
// it.
func emptyRecord(mem memory.Allocator, schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = array.MakeArrayOfNull(mem, f.Type, 0)
	}
	rec := array.NewRecordBatch(schema, cols, 0)
	for _, c := range cols {
		c.Release()
	}
	return rec
}
