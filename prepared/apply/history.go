package apply

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/merge/dedupe"
	"github.com/lakemerge/lakemerge/table"
)

// The columns a history table adds (prepared.HistoryColumns).
const (
	colValidFrom = "valid_from"
	colValidTo   = "valid_to"
	colIsCurrent = "is_current"
)

// HistoryKeys is the key of a history table's writer: the curated key
// columns and order_key, so that each version of a key is a row.
func HistoryKeys(keys []string) []string { return append(slices.Clone(keys), colOrderKey) }

// entry is one row of a key's history: a version (a new row that passes
// where) or a gap (op D: a delete, a new row that fails where, or a
// delete a catch-up found), at its order key seq and commit time from.
type entry struct {
	seq  []byte
	from nullTime
	gap  bool
	op   string
	// to and current are the row's interval end and flag: as stored
	// (stored set) until settle sets them.
	to      nullTime
	current bool
	stored  bool
	// src and row locate the curated values: row of the stored rows
	// (src srcStored) or of the curated batch (srcNew); keyOnly writes
	// the key columns only (the others NULL).
	src     int
	row     int
	keyOnly bool
	// changed is set by settle when the row must be written.
	changed bool
}

// nullTime is a timestamp in µs, or NULL (!ok).
type nullTime struct {
	us int64
	ok bool
}

const (
	srcStored = iota
	srcNew
)

// settle sets the interval of each entry of es (one key's history,
// sorted by order key) and marks the entries to write: new ones, and
// stored ones whose valid_to or is_current changed.
//
// The interval rule: a version is valid from its commit time to the
// commit time of the entry after it (valid_to NULL when there is none —
// is_current true — or when that entry has no commit time); a gap row
// (op D) is valid from its commit time to the same time, an empty
// interval that no as-of query finds, and is never current.
func settle(es []*entry) {
	for i, e := range es {
		to, current := nullTime{}, false
		switch {
		case e.gap:
			to = e.from
		case i+1 < len(es):
			to = es[i+1].from
		default:
			current = true
		}
		if !e.stored || to != e.to || current != e.current {
			e.changed = true
		}
		e.to, e.current = to, current
	}
}

// historyInput is what a run of a history table merges: the stored rows
// (nil for none), the curated batch, and how it was made.
type historyInput struct {
	stored  arrow.RecordBatch // the table's rows: user columns and _seq
	curated arrow.RecordBatch // transform.Program.Transform's result
	// catchUp is set when curated holds the base table's live rows
	// rather than a run's changes (a catch-up or a rebuild).
	catchUp bool
}

// historyChanges merges the curated batch into the stored history of the
// keys it touches (every stored key on a catch-up) and returns the rows
// to write, with columns cols (the curated columns, then those of
// prepared.HistoryColumns): the new entries and the stored ones whose
// interval changed, each an upsert whose order key is prefix ‖ order_key
// (prefix is greater than every stored row's: the generation and the
// commit's run count), sorted by the writer's key (HistoryKeys(keys)).
// The caller releases the result.
//
// A change whose _seq the key's history holds already is that version:
// it is not written again. On a catch-up, a base row that is not in the
// history is a new entry without a commit time (I for a key the history
// does not have, U for one it has); a key whose last stored entry is a
// version but that the base table does not hold any more gets a gap row
// (D, no commit time) with the order key of that version followed by a 0
// byte: the delete's own order key is not known.
func historyChanges(mem memory.Allocator, in historyInput, cols []change.Column, keys []string, prefix []byte) (arrow.RecordBatch, error) {
	cur := in.curated
	pass, ops, seqs, err := systemColumns(cur)
	if err != nil {
		return nil, err
	}
	var ts *array.Timestamp
	if a := column(cur, change.ColTS); a != nil {
		c, err := castTo(mem, a, &arrow.TimestampType{Unit: arrow.Microsecond})
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", change.ColTS, err)
		}
		defer c.Release()
		ts = c.(*array.Timestamp)
	}
	// The stored entries of the keys the batch touches (of every key on a
	// catch-up), grouped by key. A key without stored entries has one
	// new entry (the batch holds one row per key): it is not grouped.
	hist := map[string][]*entry{}
	var order []string // the grouped keys, in first-seen order
	var newKey []string
	if in.stored != nil && in.stored.NumRows() > 0 {
		var err error
		if newKey, err = keyStrings(mem, cur, keys, cols); err != nil {
			return nil, fmt.Errorf("the curated batch: %w", err)
		}
		touched := make(map[string]bool, len(newKey))
		for _, k := range newKey {
			touched[k] = true
		}
		storedKey, err := keyStrings(mem, in.stored, keys, cols)
		if err != nil {
			return nil, fmt.Errorf("the stored rows: %w", err)
		}
		var rows []int
		for i, k := range storedKey {
			if in.catchUp || touched[k] {
				rows = append(rows, i)
			}
		}
		stored, err := readStoredEntries(mem, in.stored, rows)
		if err != nil {
			return nil, fmt.Errorf("the stored rows: %w", err)
		}
		for _, e := range stored {
			k := storedKey[e.row]
			if _, ok := hist[k]; !ok {
				order = append(order, k)
			}
			hist[k] = append(hist[k], e)
		}
	}
	var out [2][]*entry // the entries to write, by src
	inBase := map[string]bool{}
	for i := range int(cur.NumRows()) {
		var es []*entry
		var k string
		if newKey != nil {
			k = newKey[i]
			es = hist[k]
			inBase[k] = true
		}
		seq := seqs.Value(i)
		if slices.ContainsFunc(es, func(e *entry) bool { return bytes.Equal(e.seq, seq) }) {
			continue // that version is in the history already
		}
		passes := pass.IsValid(i) && pass.Value(i)
		op := change.Op(ops.Value(i))
		e := &entry{seq: seq, src: srcNew, row: i}
		if ts != nil && ts.IsValid(i) {
			e.from = nullTime{int64(ts.Value(i)), true}
		}
		switch {
		case op == change.OpDelete || !passes:
			e.gap, e.op, e.keyOnly = true, change.OpDelete.String(), true
		case in.catchUp && len(es) == 0:
			e.op = change.OpInsert.String()
		case in.catchUp:
			e.op = change.OpUpdate.String()
		default:
			e.op = op.String()
		}
		if e.gap && len(es) == 0 && in.catchUp {
			continue // nothing to close: a catch-up records no gap of a key it never had
		}
		if len(es) == 0 {
			settle([]*entry{e})
			out[srcNew] = append(out[srcNew], e)
			continue
		}
		hist[k] = append(es, e)
	}
	for _, k := range order {
		es := hist[k]
		if in.catchUp && !inBase[k] {
			// A key the base table does not hold any more: its last
			// version, if the history has it open, is closed.
			last := slices.MaxFunc(es, func(a, b *entry) int { return bytes.Compare(a.seq, b.seq) })
			if !last.gap {
				es = append(es, &entry{seq: append(slices.Clone(last.seq), 0), gap: true, op: change.OpDelete.String(),
					src: srcStored, row: last.row, keyOnly: true})
			}
		}
		slices.SortFunc(es, func(a, b *entry) int { return bytes.Compare(a.seq, b.seq) })
		settle(es)
		for _, e := range es {
			if e.changed {
				out[e.src] = append(out[e.src], e)
			}
		}
	}
	var batches []arrow.RecordBatch
	for src, es := range out {
		rows := in.curated
		if src == srcStored {
			rows = in.stored
		}
		if len(es) == 0 {
			continue
		}
		b, err := historyBatch(mem, rows, es, cols, keys, prefix)
		if err != nil {
			releaseAll(batches)
			return nil, err
		}
		batches = append(batches, b)
	}
	if len(batches) == 0 {
		batches = append(batches, emptyBatch(mem, change.Schema(cols)))
	}
	sorted, _, err := dedupe.Consume(mem, batches, HistoryKeys(keys))
	if err != nil {
		return nil, fmt.Errorf("sort the history rows by key: %w", err)
	}
	return sorted, nil
}

// keyStrings returns, for each row of rec, a text that identifies its
// values of the key columns (cast to their type in cols, so that stored
// and curated rows compare): their change.KeyEncoder encoding.
func keyStrings(mem memory.Allocator, rec arrow.RecordBatch, keys []string, cols []change.Column) ([]string, error) {
	kr, err := keyColumns(mem, rec, keys, cols)
	if err != nil {
		return nil, err
	}
	defer kr.Release()
	enc, err := change.NewKeyEncoder(kr, keys)
	if err != nil {
		return nil, err
	}
	out := make([]string, kr.NumRows())
	var kb []byte
	for i := range out {
		kb = enc.Append(kb[:0], i)
		out[i] = string(kb)
	}
	return out, nil
}

// readStoredEntries reads the history columns of the stored rows rows
// (indexes of rec).
func readStoredEntries(mem memory.Allocator, rec arrow.RecordBatch, rows []int) ([]*entry, error) {
	get := func(name string, t arrow.DataType) (arrow.Array, error) {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("no column %s", name)
		}
		return castTo(mem, rec.Column(idx[0]), t)
	}
	tsType := &arrow.TimestampType{Unit: arrow.Microsecond}
	var arrs []arrow.Array
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for _, c := range []struct {
		name string
		t    arrow.DataType
	}{{colValidFrom, tsType}, {colValidTo, tsType}, {colIsCurrent, arrow.FixedWidthTypes.Boolean},
		{colOp, arrow.BinaryTypes.String}, {colOrderKey, arrow.BinaryTypes.Binary}} {
		a, err := get(c.name, c.t)
		if err != nil {
			return nil, err
		}
		arrs = append(arrs, a)
	}
	from, to := arrs[0].(*array.Timestamp), arrs[1].(*array.Timestamp)
	cur, op, seq := arrs[2].(*array.Boolean), arrs[3].(*array.String), arrs[4].(*array.Binary)
	out := make([]*entry, len(rows))
	for j, i := range rows {
		if seq.IsNull(i) {
			return nil, fmt.Errorf("row %d has no %s", i, colOrderKey)
		}
		e := &entry{seq: slices.Clone(seq.Value(i)), stored: true, src: srcStored, row: i,
			current: cur.IsValid(i) && cur.Value(i)}
		if from.IsValid(i) {
			e.from = nullTime{int64(from.Value(i)), true}
		}
		if to.IsValid(i) {
			e.to = nullTime{int64(to.Value(i)), true}
		}
		if op.IsValid(i) {
			e.op = op.Value(i)
		}
		e.gap = e.op == change.OpDelete.String()
		out[j] = e
	}
	return out, nil
}

// historyBatch builds the rows es of rows (the stored rows or the curated
// batch), with columns cols then _op and _seq: the curated values taken
// from rows (NULL but the key for a keyOnly entry, NULL for a column rows
// lacks), the history columns from the entries. The caller releases it.
func historyBatch(mem memory.Allocator, rows arrow.RecordBatch, es []*entry, cols []change.Column, keys []string, prefix []byte) (arrow.RecordBatch, error) {
	n := len(es)
	all := array.NewInt32Builder(mem)
	defer all.Release()
	some := array.NewInt32Builder(mem)
	defer some.Release()
	for _, e := range es {
		all.Append(int32(e.row))
		if e.keyOnly {
			some.AppendNull()
		} else {
			some.Append(int32(e.row))
		}
	}
	allIdx, someIdx := all.NewArray(), some.NewArray()
	defer allIdx.Release()
	defer someIdx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	schema := change.Schema(cols)
	out := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, a := range out {
			a.Release()
		}
	}()
	stamp := func(b *array.TimestampBuilder, v nullTime) {
		if v.ok {
			b.Append(arrow.Timestamp(v.us))
		} else {
			b.AppendNull()
		}
	}
	for _, c := range cols {
		switch c.Name {
		case colValidFrom, colValidTo:
			b := array.NewTimestampBuilder(mem, c.Type.(*arrow.TimestampType))
			for _, e := range es {
				if c.Name == colValidFrom {
					stamp(b, e.from)
				} else {
					stamp(b, e.to)
				}
			}
			out = append(out, b.NewArray())
			b.Release()
			continue
		case colIsCurrent:
			b := array.NewBooleanBuilder(mem)
			for _, e := range es {
				b.Append(e.current)
			}
			out = append(out, b.NewArray())
			b.Release()
			continue
		case colOp:
			b := array.NewStringBuilder(mem)
			for _, e := range es {
				b.Append(e.op)
			}
			out = append(out, b.NewArray())
			b.Release()
			continue
		case colOrderKey:
			b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			for _, e := range es {
				b.Append(e.seq)
			}
			out = append(out, b.NewArray())
			b.Release()
			continue
		}
		idx := rows.Schema().FieldIndices(c.Name)
		if len(idx) != 1 {
			out = append(out, array.MakeArrayOfNull(mem, c.Type, n))
			continue
		}
		a, err := castTo(mem, rows.Column(idx[0]), c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		take := someIdx
		if slices.Contains(keys, c.Name) {
			take = allIdx
		}
		taken, err := compute.TakeArray(ctx, a, take)
		a.Release()
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		out = append(out, taken)
	}
	ob := array.NewInt8Builder(mem)
	defer ob.Release()
	sb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer sb.Release()
	buf := make([]byte, 0, 64)
	for _, e := range es {
		ob.Append(int8(change.OpUpdate))
		buf = append(append(buf[:0], prefix...), e.seq...)
		sb.Append(buf)
	}
	out = append(out, ob.NewArray(), sb.NewArray())
	return array.NewRecordBatch(schema, out, int64(n)), nil
}

// historyPrefix is the first part of the order key of every row a commit
// of a history table writes: the generation and the commit's run count
// (State.Runs), so that a row rewritten by a later commit (its interval
// closed or re-opened) beats what it rewrites.
func historyPrefix(st State) []byte {
	var sb change.SeqBuilder
	return slices.Clone(sb.Uint32(st.Generation).Uint64(uint64(st.Runs)).Bytes())
}

// readHistory reads the rows of the prepared table itself (stored), the
// state of which must be the one the commit attempt started from (bm):
// user columns and _seq, in one batch; nil when the table does not exist.
// With keys (the curated key columns of the touched keys) it reads the
// rows of those keys only (StoredTable.ReadKeys) and returns what that
// read; without, the whole table (a catch-up from the whole base table).
// The caller releases the result.
func readHistory(ctx context.Context, mem memory.Allocator, stored StoredTable, bm bookmarks.Bookmark, keys arrow.RecordBatch) (arrow.RecordBatch, *table.ReadCounts, error) {
	if stored == nil {
		return nil, nil, fmt.Errorf("a history table needs its stored rows: no reader of the prepared table")
	}
	info, err := stored.Describe(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("describe the history table: %w", err)
	}
	if !info.Exists {
		return nil, nil, nil
	}
	if !info.Bookmark.Equal(bm) {
		return nil, nil, fmt.Errorf("read the history table: it changed since the attempt began: %w", table.ErrConflict)
	}
	var tbl arrow.Table
	var cnt *table.ReadCounts
	if keys != nil {
		var c table.ReadCounts
		tbl, c, err = stored.ReadKeys(ctx, keys)
		cnt = &c
	} else {
		tbl, err = stored.Read(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the history table: %w", err)
	}
	defer tbl.Release()
	after, err := stored.Describe(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("describe the history table: %w", err)
	}
	if !after.Bookmark.Equal(bm) {
		return nil, nil, fmt.Errorf("read the history table: it changed while it was read: %w", table.ErrConflict)
	}
	schema := tbl.Schema()
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for i := range schema.NumFields() {
		chunks := tbl.Column(i).Data().Chunks()
		var a arrow.Array
		switch len(chunks) {
		case 0:
			a = array.MakeArrayOfNull(mem, schema.Field(i).Type, 0)
		case 1:
			a = chunks[0]
			a.Retain()
		default:
			if a, err = array.Concatenate(chunks, mem); err != nil {
				return nil, nil, fmt.Errorf("read the history table: column %s: %w", schema.Field(i).Name, err)
			}
		}
		cols = append(cols, a)
	}
	return array.NewRecordBatch(schema, cols, tbl.NumRows()), cnt, nil
}

// keyColumns returns the key columns keys of the curated batch rec, cast
// to their types in cols (the table's): the keys a run's history reads.
// The caller releases the result.
func keyColumns(mem memory.Allocator, rec arrow.RecordBatch, keys []string, cols []change.Column) (arrow.RecordBatch, error) {
	fields := make([]arrow.Field, 0, len(keys))
	arrs := make([]arrow.Array, 0, len(keys))
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	for _, k := range keys {
		a := column(rec, k)
		ci := slices.IndexFunc(cols, func(c change.Column) bool { return c.Name == k })
		if a == nil || ci < 0 {
			return nil, fmt.Errorf("no key column %s", k)
		}
		c, err := castTo(mem, a, cols[ci].Type)
		if err != nil {
			return nil, fmt.Errorf("key column %s: %w", k, err)
		}
		arrs = append(arrs, c)
		fields = append(fields, arrow.Field{Name: k, Type: cols[ci].Type, Nullable: true})
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, rec.NumRows()), nil
}

// history turns a curated batch into the rows a history table writes in
// the commit that makes State next (see historyChanges), and returns what
// it read of the stored rows: a rebuild starts from no stored rows (the
// older generation's rows are deleted by truncateBefore), a catch-up from
// all of them, a run's changes from those of the keys it touches.
func (t *Table) history(ctx context.Context, txn Txn, curated arrow.RecordBatch, cols []change.Column, how string, next State) (arrow.RecordBatch, *table.ReadCounts, error) {
	in := historyInput{curated: curated, catchUp: how != HowChanges}
	var cnt *table.ReadCounts
	if how != HowRebuild {
		var keys arrow.RecordBatch
		if how == HowChanges {
			var err error
			if keys, err = keyColumns(t.Mem, curated, t.Keys, cols); err != nil {
				return nil, nil, fmt.Errorf("the curated batch: %w", err)
			}
			defer keys.Release()
		}
		stored, c, err := readHistory(ctx, t.Mem, t.Stored, txn.Bookmark(), keys)
		if err != nil {
			return nil, nil, err
		}
		if stored != nil {
			defer stored.Release()
		}
		in.stored, cnt = stored, c
	}
	batch, err := historyChanges(t.Mem, in, cols, t.Keys, historyPrefix(next))
	return batch, cnt, err
}
