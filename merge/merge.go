package merge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
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
	// MaxAttempts bounds commit attempts on conflicts and unknown outcomes;
	// 0 means 8.
	MaxAttempts int
}

// Result is what one Run did.
type Result struct {
	Table    string            `json:"table"`
	Files    int               `json:"files"`   // raw files absorbed
	Ignored  int               `json:"ignored"` // objects matched by the table's ignore globs
	Changes  int64             `json:"changes"` // change rows decoded
	Skipped  int64             `json:"skipped"` // events that are not row changes (schema changes, heartbeats, ...)
	Keys     int64             `json:"keys"`    // distinct keys after dedupe
	Bytes    int64             `json:"bytes"`   // raw bytes read
	Stats    change.ApplyStats `json:"stats"`
	Attempts int               `json:"attempts"`
	UpToDate bool              `json:"up_to_date"` // nothing was pending
	// Warnings are problems that did not fail the run: maintenance after
	// the commit (see Maintainer).
	Warnings []string           `json:"warnings,omitempty"`
	Bookmark bookmarks.Bookmark `json:"-"`
}

func (t *Table) emit(e Event) {
	if t.Observe != nil {
		e.Table = t.Name
		t.Observe(e)
	}
}

// Run absorbs every pending raw file of the table in one commit.
func (t *Table) Run(ctx context.Context) (Result, error) {
	maxAttempts := t.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 8
	}
	res := Result{Table: t.Name}
	var p *prepared
	defer func() { p.release() }()
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		txn, err := t.Target.Begin(ctx)
		if err != nil {
			return res, fmt.Errorf("table %s: %w", t.Name, err)
		}
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
			if len(p.files) == 0 {
				res.UpToDate = true
				res.Bookmark = cur
				return res, nil
			}
		}
		t.emit(Event{Kind: EventCommitAttempt, Attempt: attempt})
		st, err := t.apply(ctx, txn, p)
		if err == nil {
			res.Stats = st
			res.Bookmark = p.next
			t.emit(Event{Kind: EventCommitted, Attempt: attempt, Stats: st, Files: len(p.files)})
			if m, ok := txn.(Maintainer); ok {
				if err := m.MaintenanceErr(); err != nil {
					res.Warnings = append(res.Warnings, err.Error())
					t.emit(Event{Kind: EventMaintenanceFailed, Err: err})
				}
			}
			return res, nil
		}
		if !errors.Is(err, change.ErrConflict) && !errors.Is(err, change.ErrCommitUnknown) {
			return res, fmt.Errorf("table %s: %w", t.Name, err)
		}
		if attempt >= maxAttempts {
			return res, fmt.Errorf("table %s: gave up after %d attempts: %w", t.Name, attempt, err)
		}
		t.emit(Event{Kind: EventCommitRetry, Attempt: attempt, Err: err})
		if err := backoff(ctx, attempt); err != nil {
			return res, err
		}
	}
}

func (t *Table) apply(ctx context.Context, txn Txn, p *prepared) (change.ApplyStats, error) {
	cols, err := unionColumns(txn, p.cols)
	if err != nil {
		return change.ApplyStats{}, err
	}
	if err := txn.Evolve(ctx, cols); err != nil {
		return change.ApplyStats{}, err
	}
	src := p.changes
	if src == nil {
		// The files held no rows (header-only or empty files): commit the
		// bookmark with an empty change set.
		src = emptyRecord(t.Mem, change.Schema(p.cols))
		defer src.Release()
	}
	changes, err := conform(t.Mem, src, cols, hasKeep(src))
	if err != nil {
		return change.ApplyStats{}, err
	}
	defer changes.Release()
	st, err := txn.Apply(ctx, changes, p.truncateBefore)
	if err != nil {
		return st, err
	}
	t.emit(Event{Kind: EventApplied, Stats: st})
	return st, txn.Commit(ctx, p.next)
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

// backoff waits 50ms·2^(attempt-1), at most 5s, or until ctx ends.
func backoff(ctx context.Context, attempt int) error {
	d := 50 * time.Millisecond << min(attempt-1, 7)
	d = min(d, 5*time.Second)
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
