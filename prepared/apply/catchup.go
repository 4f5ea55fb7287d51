package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/merge/dedupe"
	"github.com/lakemerge/lakemerge/table"
)

// CatchUp is how a catch-up read the base table (Result.CatchUp).
type CatchUp struct {
	// From is the base snapshot id or Delta version the prepared table
	// reflected before.
	From int64 `json:"from"`
	// Commits counts the base commits read since From, Steps the net
	// changes made of them (one per commit that changed data for a
	// changelog or history, one in all for a mirror), FilesRead the base
	// data files read.
	Commits   int `json:"commits"`
	Steps     int `json:"steps"`
	FilesRead int `json:"files_read"`
	// Whole is why the whole base table was read instead (its history
	// since From is gone, or the prepared table records no base state);
	// empty when the commits were read.
	Whole string `json:"whole_table,omitempty"`
}

// readSince reads the base table's changes from the state st reflects to
// the one info describes: one step for a mirror, one per base commit
// that changed data otherwise (each). Steps is nil, and CatchUp.Whole
// says why, when the base table's history since that state is gone or
// the table records no state to start from: the caller reads the whole
// base table. The caller releases the steps.
func (t *Table) readSince(ctx context.Context, base Base, st State, info table.Info, each bool) ([]table.Step, CatchUp, error) {
	cu := CatchUp{From: st.BaseSnapshot}
	if st.Runs == 0 || st.Base == "" {
		cu.Whole = "the prepared table records no base table state"
		return nil, cu, nil
	}
	ch, err := base.ChangesSince(ctx, st.BaseSnapshot, info.Snapshot, each)
	if errors.Is(err, table.ErrNoHistory) {
		cu.Whole = err.Error()
		return nil, cu, nil
	}
	if err != nil {
		return nil, cu, fmt.Errorf("read the base table's changes: %w", err)
	}
	cu.Commits, cu.Steps, cu.FilesRead = ch.Commits, len(ch.Steps), ch.FilesRead
	want := change.Schema(info.Columns)
	for _, s := range ch.Steps {
		if !s.Changes.Schema().Equal(want) {
			ch.Release()
			return nil, cu, fmt.Errorf("read the base table's changes: its columns changed while they were read: %w", table.ErrConflict)
		}
	}
	return ch.Steps, cu, nil
}

// releaseSteps releases the steps' changes.
func releaseSteps(steps []table.Step) {
	for _, s := range steps {
		s.Changes.Release()
	}
}

// concatSteps joins the steps' changes (each of schema) into one batch:
// a mirror's one step, or a changelog's steps (whose rows the changelog
// sorts by order key). The caller releases the result.
func concatSteps(mem memory.Allocator, steps []table.Step, schema *arrow.Schema) (arrow.RecordBatch, error) {
	if len(steps) == 0 {
		return emptyBatch(mem, schema), nil
	}
	if len(steps) == 1 {
		steps[0].Changes.Retain()
		return steps[0].Changes, nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var n int64
	for _, s := range steps {
		n += s.Changes.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(steps))
		for j, s := range steps {
			parts[j] = s.Changes.Column(i)
		}
		var err error
		if cols[i], err = array.Concatenate(parts, mem); err != nil {
			return nil, fmt.Errorf("join the base table's changes: %w", err)
		}
	}
	return array.NewRecordBatch(schema, cols, n), nil
}

// historySince merges the base table's steps into the history one after
// the other, as runs of their own within one commit: the rows each step
// writes are, for the next, stored rows (their order key is the commit's
// prefix and the step's number, greater than every earlier row's), and
// of a row several steps write the last step's is written. The upserts of
// a step are versions without a commit time, I or U as the base table
// tells; its deletes are D rows at the deleted version's order key
// followed by a 0 byte (table.Diff). The caller releases the result.
func (t *Table) historySince(ctx context.Context, txn Txn, prog Program, steps []table.Step, cols []change.Column, next State) (arrow.RecordBatch, int64, error) {
	// The whole history table: the steps' keys are known only once each
	// step is transformed (reading only theirs is not built yet).
	stored, _, err := readHistory(ctx, t.Mem, t.Stored, txn.Bookmark(), nil)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if stored != nil {
			stored.Release()
		}
	}()
	keys := HistoryKeys(t.Keys)
	schema := change.Schema(cols)
	var outs []arrow.RecordBatch
	defer func() { releaseAll(outs) }()
	var rows int64
	for i, s := range steps {
		rows += s.Changes.NumRows()
		curated, err := prog.Transform(ctx, t.Mem, s.Changes)
		if err != nil {
			return nil, 0, err
		}
		var sb change.SeqBuilder
		prefix := append(historyPrefix(next), sb.Uint32(uint32(i)).Bytes()...)
		out, err := historyChanges(t.Mem, historyInput{stored: stored, curated: curated}, cols, t.Keys, prefix)
		curated.Release()
		if err != nil {
			return nil, 0, err
		}
		outs = append(outs, out)
		if i == len(steps)-1 {
			break
		}
		// The next step's stored rows: these, with what this step wrote.
		var both []arrow.RecordBatch
		if stored != nil {
			both = append(both, nil)
			if both[0], err = asChanges(t.Mem, stored, schema); err != nil {
				return nil, 0, fmt.Errorf("the stored rows: %w", err)
			}
			stored.Release()
		}
		out.Retain()
		if stored, _, err = dedupe.Consume(t.Mem, append(both, out), keys); err != nil {
			stored = nil
			return nil, 0, fmt.Errorf("merge step %d into the stored rows: %w", i+1, err)
		}
	}
	if len(outs) == 0 {
		return emptyBatch(t.Mem, schema), 0, nil
	}
	merged, _, err := dedupe.Consume(t.Mem, slices.Clone(outs), keys)
	outs = nil
	if err != nil {
		return nil, 0, fmt.Errorf("join the steps' history rows: %w", err)
	}
	return merged, rows, nil
}
