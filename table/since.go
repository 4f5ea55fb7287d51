package table

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// ErrNoHistory is the error of a ChangesSince whose earlier state is not
// in the table's history any more (expired snapshots, a log cleaned up
// past it) or is not an ancestor of the later one: the caller reads the
// whole table instead.
var ErrNoHistory = errors.New("the table's history between those states is not available")

// Changes is what a table changed between two of its states
// (ChangesSince): one Step per commit walked, or one for the whole span.
type Changes struct {
	Steps []Step
	// Commits counts the commits between the two states; FilesRead the
	// data files read, whole or their key columns (a file added and
	// removed again between the states is not read), and the journals.
	Commits   int
	FilesRead int
}

// Release releases the change batches of every step.
func (c *Changes) Release() {
	for _, s := range c.Steps {
		s.Changes.Release()
	}
	c.Steps = nil
}

// Step is the net change of a table from one state to a later one
// (Diff): Changes holds the user columns of the later state, _op and
// _seq, one row per changed key, sorted by key. A step of a commit that
// carries a journal (ChangesSince with each) is that journal instead
// (DecodeJournal): the change set the run applied, which has _ts too
// (JournalSchema) and may hold changes the table found stale (Stale).
type Step struct {
	// Snapshot is the later state's Iceberg snapshot id or Delta version.
	Snapshot int64
	Changes  arrow.RecordBatch
	// Journal is set when Changes is the commit's journal; Stale then
	// lists, sorted, the rows of Changes the table found stale (not
	// applied: an equal or newer row or tombstone was stored).
	Journal bool
	Stale   []int64
}

// Diff is the net change of a table from an earlier state to a later one,
// given what differs between them:
//
//   - gone: the key columns and _seq of rows live in the earlier state in
//     the files the later state dropped or deleted rows of;
//   - still: the key columns and _seq of the rows of those files that are
//     live in the later state too (nil when no file of both states lost
//     rows: copy-on-write);
//   - added: the live rows (user columns and _seq) of the later state in
//     the files added since the earlier one.
//
// A row of added whose key and _seq a row of gone holds was moved (a
// compaction, an optimize, a copy-on-write rewrite), not changed; any
// other is an upsert, U when its key was live before and I otherwise. A
// key of gone live in neither added nor still was deleted: a D row of the
// key alone (the other columns NULL), whose _seq is the deleted row's
// followed by a 0 byte: greater than the row it deletes, less than any
// later change of the key (the delete's own _seq is not in the table). The
// result has cols (a column a batch lacks is NULL) then _op and _seq, one
// row per key, sorted by key (change.KeyEncoder order). The batches are
// borrowed; the caller releases the result.
func Diff(mem memory.Allocator, cols []change.Column, keys []string, gone, still, added []arrow.RecordBatch) (arrow.RecordBatch, error) {
	var keyCols []change.Column
	for _, k := range keys {
		i := slices.IndexFunc(cols, func(c change.Column) bool { return c.Name == k })
		if i < 0 {
			return nil, fmt.Errorf("diff: no key column %s", k)
		}
		keyCols = append(keyCols, cols[i])
	}
	keySchema := rowSchema(keyCols)
	before, err := conformAll(mem, gone, keySchema)
	if err != nil {
		return nil, fmt.Errorf("diff: rows before: %w", err)
	}
	defer before.Release()
	live, err := conformAll(mem, still, keySchema)
	if err != nil {
		return nil, fmt.Errorf("diff: rows kept: %w", err)
	}
	defer live.Release()
	after, err := conformAll(mem, added, rowSchema(cols))
	if err != nil {
		return nil, fmt.Errorf("diff: rows after: %w", err)
	}
	defer after.Release()

	seqOf := func(rec arrow.RecordBatch) *array.Binary {
		return rec.Column(rec.Schema().FieldIndices(change.ColSeq)[0]).(*array.Binary)
	}
	encode := func(rec arrow.RecordBatch) ([]string, error) {
		enc, err := change.NewKeyEncoder(rec, keys)
		if err != nil {
			return nil, err
		}
		out := make([]string, rec.NumRows())
		var buf []byte
		for i := range out {
			buf = enc.Append(buf[:0], i)
			out[i] = string(buf)
		}
		return out, nil
	}
	beforeKeys, err := encode(before)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	wasAt := make(map[string]int, len(beforeKeys))
	for i, k := range beforeKeys {
		wasAt[k] = i
	}
	liveKeys, err := encode(live)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	afterKeys, err := encode(after)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	isLive := make(map[string]bool, len(liveKeys)+len(afterKeys))
	for _, k := range liveKeys {
		isLive[k] = true
	}

	// The rows of the result: upserts (rows of after), then deletes (rows
	// of before), each with its key for the sort.
	type out struct {
		key  string
		row  int // of after, or of before for a delete
		op   change.Op
		gone bool
	}
	var rows []out
	beforeSeq, afterSeq := seqOf(before), seqOf(after)
	for i, k := range afterKeys {
		isLive[k] = true
		j, was := wasAt[k]
		if was && bytes.Equal(beforeSeq.Value(j), afterSeq.Value(i)) {
			continue // moved, not changed
		}
		op := change.OpInsert
		if was {
			op = change.OpUpdate
		}
		rows = append(rows, out{key: k, row: i, op: op})
	}
	for i, k := range beforeKeys {
		if !isLive[k] {
			rows = append(rows, out{key: k, row: i, op: change.OpDelete, gone: true})
		}
	}
	slices.SortFunc(rows, func(a, b out) int { return bytes.Compare([]byte(a.key), []byte(b.key)) })

	// Gather: the upserts' columns from after, the deletes' keys from
	// before, by Take over after ‖ before (key columns) or after ‖ NULLs.
	n := len(rows)
	nAfter := int(after.NumRows())
	idxB := array.NewInt64Builder(mem)
	defer idxB.Release()
	opB := array.NewInt8Builder(mem)
	defer opB.Release()
	seqB := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer seqB.Release()
	for _, r := range rows {
		opB.Append(int8(r.op))
		if r.gone {
			idxB.Append(int64(nAfter + r.row))
			seqB.Append(append(slices.Clone(beforeSeq.Value(r.row)), 0))
			continue
		}
		idxB.Append(int64(r.row))
		seqB.Append(afterSeq.Value(r.row))
	}
	idx := idxB.NewArray()
	defer idx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	schema := change.Schema(cols)
	arrs := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for i, c := range cols {
		var tail arrow.Array // the deletes' part: the key, or NULLs
		if j := slices.Index(keys, c.Name); j >= 0 {
			tail = before.Column(j)
			tail.Retain()
		} else {
			tail = array.MakeArrayOfNull(mem, c.Type, int(before.NumRows()))
		}
		both, err := array.Concatenate([]arrow.Array{after.Column(i), tail}, mem)
		tail.Release()
		if err != nil {
			return nil, fmt.Errorf("diff: column %s: %w", c.Name, err)
		}
		taken, err := compute.TakeArray(ctx, both, idx)
		both.Release()
		if err != nil {
			return nil, fmt.Errorf("diff: column %s: %w", c.Name, err)
		}
		arrs = append(arrs, taken)
	}
	arrs = append(arrs, opB.NewArray(), seqB.NewArray())
	return array.NewRecordBatch(schema, arrs, int64(n)), nil
}

// rowSchema is the schema of stored rows with columns cols: the user
// columns, then _seq.
func rowSchema(cols []change.Column) *arrow.Schema {
	fs := make([]arrow.Field, 0, len(cols)+1)
	for _, c := range cols {
		fs = append(fs, arrow.Field{Name: c.Name, Type: c.Type, Nullable: true})
	}
	return arrow.NewSchema(append(fs, arrow.Field{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary}), nil)
}

// conformAll joins recs into one batch of schema: each column cast to the
// schema's type, NULL where a batch lacks it (a column added later). A
// batch without _seq (rows another writer wrote before lakemerge took the
// table over) is an error: Diff needs every row's _seq.
func conformAll(mem memory.Allocator, recs []arrow.RecordBatch, schema *arrow.Schema) (arrow.RecordBatch, error) {
	ctx := compute.WithAllocator(context.Background(), mem)
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	for i, f := range schema.Fields() {
		parts := make([]arrow.Array, 0, len(recs))
		release := func() {
			for _, p := range parts {
				p.Release()
			}
		}
		for _, r := range recs {
			idx := r.Schema().FieldIndices(f.Name)
			switch {
			case len(idx) == 0 && f.Name == change.ColSeq:
				release()
				return nil, fmt.Errorf("rows without %s", change.ColSeq)
			case len(idx) == 0:
				parts = append(parts, array.MakeArrayOfNull(mem, f.Type, int(r.NumRows())))
			case arrow.TypeEqual(r.Column(idx[0]).DataType(), f.Type):
				r.Column(idx[0]).Retain()
				parts = append(parts, r.Column(idx[0]))
			default:
				c, err := compute.CastToType(ctx, r.Column(idx[0]), f.Type)
				if err != nil {
					release()
					return nil, fmt.Errorf("column %s: %w", f.Name, err)
				}
				parts = append(parts, c)
			}
		}
		var err error
		switch len(parts) {
		case 0:
			cols[i] = array.MakeArrayOfNull(mem, f.Type, 0)
		case 1:
			cols[i] = parts[0]
			parts = nil
		default:
			cols[i], err = array.Concatenate(parts, mem)
		}
		release()
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
	}
	return array.NewRecordBatch(schema, cols, n), nil
}
