package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
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
	// data files read, and the journals (each counts as one file).
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
	for _, s := range ch.Steps {
		want := change.Schema(info.Columns)
		if s.Journal {
			want = table.JournalSchema(info.Columns)
		}
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

// concatSteps joins the steps' changes (of a table with user columns
// cols) into one batch: a mirror's one step, or a changelog's steps
// (whose rows the changelog sorts by order key). When a step is a journal
// the batch has _ts too (NULL for the steps that are not), and a
// journal's stale changes are left out, as a run leaves them out of a
// changelog. The caller releases the result.
func concatSteps(mem memory.Allocator, steps []table.Step, cols []change.Column) (arrow.RecordBatch, error) {
	schema := change.Schema(cols)
	if slices.ContainsFunc(steps, func(s table.Step) bool { return s.Journal }) {
		schema = table.JournalSchema(cols)
	}
	if len(steps) == 0 {
		return emptyBatch(mem, schema), nil
	}
	bs := make([]arrow.RecordBatch, 0, len(steps))
	defer func() { releaseAll(bs) }()
	for _, s := range steps {
		b, err := applied(mem, s, schema)
		if err != nil {
			return nil, fmt.Errorf("join the base table's changes: %w", err)
		}
		bs = append(bs, b)
	}
	rec, err := concatBatches(mem, bs)
	if err != nil {
		return nil, fmt.Errorf("join the base table's changes: %w", err)
	}
	return rec, nil
}

// applied returns the changes of step s that the base table applied (a
// journal's but its stale ones), with the columns of schema: s's, and
// _ts NULL when s has none. The caller releases the result.
func applied(mem memory.Allocator, s table.Step, schema *arrow.Schema) (arrow.RecordBatch, error) {
	rec := s.Changes
	rec.Retain()
	if len(s.Stale) > 0 {
		var keep []int64
		for i, j := int64(0), 0; i < rec.NumRows(); i++ {
			if j < len(s.Stale) && s.Stale[j] == i {
				j++
				continue
			}
			keep = append(keep, i)
		}
		taken, err := takeBatchRows(mem, rec, keep)
		rec.Release()
		if err != nil {
			return nil, err
		}
		rec = taken
	}
	if rec.Schema().Equal(schema) {
		return rec, nil
	}
	defer rec.Release()
	if int(rec.NumCols()) != schema.NumFields()-1 || schema.Field(schema.NumFields()-1).Name != change.ColTS {
		return nil, fmt.Errorf("a step with columns %s, not %s", rec.Schema(), schema)
	}
	cols := slices.Clone(rec.Columns())
	for _, c := range cols {
		c.Retain()
	}
	cols = append(cols, array.MakeArrayOfNull(mem, change.TSType(), int(rec.NumRows())))
	out := array.NewRecordBatch(schema, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out, nil
}

// concatBatches joins batches of one schema (at least one; borrowed) into
// one. The caller releases the result.
func concatBatches(mem memory.Allocator, bs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(bs) == 1 {
		bs[0].Retain()
		return bs[0], nil
	}
	schema := bs[0].Schema()
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var n int64
	for _, b := range bs {
		n += b.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(bs))
		for j, b := range bs {
			parts[j] = b.Column(i)
		}
		var err error
		if cols[i], err = array.Concatenate(parts, mem); err != nil {
			return nil, fmt.Errorf("column %s: %w", schema.Field(i).Name, err)
		}
	}
	return array.NewRecordBatch(schema, cols, n), nil
}

// takeBatchRows returns the rows rows of rec. The caller releases it.
func takeBatchRows(mem memory.Allocator, rec arrow.RecordBatch, rows []int64) (arrow.RecordBatch, error) {
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.AppendValues(rows, nil)
	idx := ib.NewInt64Array()
	defer idx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	cols := make([]arrow.Array, 0, rec.NumCols())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i, c := range rec.Columns() {
		t, err := compute.TakeArray(ctx, c, idx)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", rec.Schema().Field(i).Name, err)
		}
		cols = append(cols, t)
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(rows))), nil
}

// historySince merges the base table's steps into the history one after
// the other, as runs of their own within one commit: the rows each step
// writes are, for the next, stored rows (their order key is the commit's
// prefix and the step's number, greater than every earlier row's), and
// of a row several steps write the last step's is written. The upserts of
// a step are versions without a commit time, I or U as the base table
// tells; its deletes are D rows at the deleted version's order key
// followed by a 0 byte (table.Diff). It reads the stored versions of the
// keys the steps touch only (StoredTable.ReadKeys), and returns what that
// read. The caller releases the result.
func (t *Table) historySince(ctx context.Context, txn Txn, prog Program, steps []table.Step, cols []change.Column, next State) (arrow.RecordBatch, int64, *table.ReadCounts, error) {
	var curated []arrow.RecordBatch
	defer func() { releaseAll(curated) }()
	var rows int64
	for _, s := range steps {
		rows += s.Changes.NumRows()
		c, err := prog.Transform(ctx, t.Mem, s.Changes)
		if err != nil {
			return nil, 0, nil, err
		}
		curated = append(curated, c)
	}
	if rows == 0 {
		return emptyBatch(t.Mem, change.Schema(cols)), 0, nil, nil
	}
	touched, err := distinctKeys(t.Mem, curated, t.Keys, cols)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("the steps' keys: %w", err)
	}
	defer touched.Release()
	stored, cnt, err := readHistory(ctx, t.Mem, t.Stored, txn.Bookmark(), touched)
	if err != nil {
		return nil, 0, nil, err
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
	for i, c := range curated {
		var sb change.SeqBuilder
		prefix := append(historyPrefix(next), sb.Uint32(uint32(i)).Bytes()...)
		out, err := historyChanges(t.Mem, historyInput{stored: stored, curated: c}, cols, t.Keys, prefix)
		if err != nil {
			return nil, 0, nil, err
		}
		outs = append(outs, out)
		if i == len(curated)-1 {
			break
		}
		// The next step's stored rows: these, with what this step wrote.
		var both []arrow.RecordBatch
		if stored != nil {
			both = append(both, nil)
			if both[0], err = asChanges(t.Mem, stored, schema); err != nil {
				return nil, 0, nil, fmt.Errorf("the stored rows: %w", err)
			}
			stored.Release()
		}
		out.Retain()
		if stored, _, err = dedupe.Consume(t.Mem, append(both, out), keys); err != nil {
			stored = nil
			return nil, 0, nil, fmt.Errorf("merge step %d into the stored rows: %w", i+1, err)
		}
	}
	if len(outs) == 0 {
		return emptyBatch(t.Mem, schema), 0, cnt, nil
	}
	merged, _, err := dedupe.Consume(t.Mem, slices.Clone(outs), keys)
	outs = nil
	if err != nil {
		return nil, 0, nil, fmt.Errorf("join the steps' history rows: %w", err)
	}
	return merged, rows, cnt, nil
}

// distinctKeys returns the distinct keys of the curated batches (the key
// columns keys, cast to their types in cols), a row each, in the order
// they first appear: the keys ReadKeys reads. The caller releases it.
func distinctKeys(mem memory.Allocator, curated []arrow.RecordBatch, keys []string, cols []change.Column) (arrow.RecordBatch, error) {
	var parts []arrow.RecordBatch
	defer func() { releaseAll(parts) }()
	for _, c := range curated {
		kc, err := keyColumns(mem, c, keys, cols)
		if err != nil {
			return nil, err
		}
		parts = append(parts, kc)
	}
	if len(parts) == 0 {
		return nil, errors.New("no steps")
	}
	all, err := concatBatches(mem, parts)
	if err != nil {
		return nil, err
	}
	defer all.Release()
	enc, err := change.NewKeyEncoder(all, keys)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, all.NumRows())
	var first []int64
	var kb []byte
	for i := range int(all.NumRows()) {
		if kb = enc.Append(kb[:0], i); !seen[string(kb)] {
			seen[string(kb)] = true
			first = append(first, int64(i))
		}
	}
	return takeBatchRows(mem, all, first)
}
