package apply

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
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
// A run holds one for each stored and each new version (1.7M at 10M rows,
// 1M changes): the fields are laid out so that it takes 88 bytes.
type entry struct {
	seq  []byte
	from nullTime
	// to and current are the row's interval end and flag: as stored
	// (stored set) until settle sets them.
	to nullTime
	op string
	// src and row locate the curated values: row of the stored rows
	// (src srcStored) or of the curated batch (srcNew); keyOnly writes
	// the key columns only (the others NULL).
	row int32
	// g is the entry's key group (see historyChanges).
	g       int32
	src     uint8
	gap     bool
	current bool
	stored  bool
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
//
// The curated batch holds one row per key. Its rows and the stored rows
// are grouped by key without a map of entries: curated row i is group i,
// a stored key the batch lacks (a catch-up) a group after them, and the
// stored entries are laid out group by group in one slice (a counting
// sort), so a run of a million changes allocates a handful of slices, not
// an object per entry.
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
	ncur := int(cur.NumRows())
	newKey, err := keyStrings(mem, cur, keys, cols)
	if err != nil {
		return nil, fmt.Errorf("the curated batch: %w", err)
	}
	// The stored entries of the keys the batch touches (of every key on a
	// catch-up): those of group g are stored[start[g]:start[g+1]].
	var (
		stored   []entry
		start    []int32
		extraKey []string // the keys of groups ncur, ncur+1, …: only the history has them
		ngroups  = ncur
	)
	if in.stored != nil && in.stored.NumRows() > 0 {
		group := make(map[string]int32, ncur)
		for i, k := range newKey {
			if _, dup := group[k]; dup {
				return nil, fmt.Errorf("the curated batch holds the key of row %d twice", i)
			}
			group[k] = int32(i)
		}
		storedKey, err := keyStrings(mem, in.stored, keys, cols)
		if err != nil {
			return nil, fmt.Errorf("the stored rows: %w", err)
		}
		var rows []int
		var gids []int32
		for i, k := range storedKey {
			g, ok := group[k]
			if !ok {
				if !in.catchUp {
					continue
				}
				g = int32(ncur + len(extraKey))
				group[k] = g
				extraKey = append(extraKey, k)
			}
			rows = append(rows, i)
			gids = append(gids, g)
		}
		ngroups += len(extraKey)
		start = make([]int32, ngroups+1)
		for _, g := range gids {
			start[g+1]++
		}
		for g := range ngroups {
			start[g+1] += start[g]
		}
		dst := make([]int32, len(gids))
		next := slices.Clone(start[:ngroups])
		for j, g := range gids {
			dst[j] = next[g]
			next[g]++
		}
		stored = make([]entry, len(rows))
		release, err := readStoredEntries(mem, in.stored, rows, gids, dst, stored)
		if err != nil {
			return nil, fmt.Errorf("the stored rows: %w", err)
		}
		defer release()
	}
	keyOf := func(g int32) string {
		if int(g) < ncur {
			return newKey[g]
		}
		return extraKey[int(g)-ncur]
	}
	fresh := make([]entry, ncur)
	var out, es []*entry // the entries to write; one key's entries
	for g := range ngroups {
		es = es[:0]
		if start != nil {
			for j := start[g]; j < start[g+1]; j++ {
				es = append(es, &stored[j])
			}
		}
		if g < ncur {
			if e := newEntry(g, es, pass, ops, seqs, ts, in.catchUp); e != nil {
				fresh[g] = *e
				es = append(es, &fresh[g])
			}
		} else if last := slices.MaxFunc(es, func(a, b *entry) int { return bytes.Compare(a.seq, b.seq) }); !last.gap {
			// A key the base table does not hold any more (a catch-up):
			// its last version, if the history has it open, is closed.
			es = append(es, &entry{seq: append(slices.Clone(last.seq), 0), gap: true, op: change.OpDelete.String(),
				src: srcStored, row: last.row, keyOnly: true, g: int32(g)})
		}
		// The stored entries come in the order the table's files gave
		// them, not by order key.
		slices.SortFunc(es, func(a, b *entry) int { return bytes.Compare(a.seq, b.seq) })
		settle(es)
		for _, e := range es {
			if e.changed {
				out = append(out, e)
			}
		}
	}
	slices.SortFunc(out, func(a, b *entry) int {
		if c := strings.Compare(keyOf(a.g), keyOf(b.g)); c != 0 {
			return c
		}
		return bytes.Compare(a.seq, b.seq)
	})
	return historyRows(mem, in, out, cols, keys, prefix)
}

// newEntry returns the entry of curated row i (group i) given the key's
// stored entries es, or nil when the row adds none: its _seq is a version
// the history holds, or it is a gap of a key a catch-up never had.
func newEntry(i int, es []*entry, pass *array.Boolean, ops *array.Int8, seqs *array.Binary, ts *array.Timestamp, catchUp bool) *entry {
	seq := seqs.Value(i)
	for _, e := range es {
		if bytes.Equal(e.seq, seq) {
			return nil // that version is in the history already
		}
	}
	passes := pass.IsValid(i) && pass.Value(i)
	op := change.Op(ops.Value(i))
	e := &entry{seq: seq, src: srcNew, row: int32(i), g: int32(i)}
	if ts != nil && ts.IsValid(i) {
		e.from = nullTime{int64(ts.Value(i)), true}
	}
	switch {
	case op == change.OpDelete || !passes:
		e.gap, e.op, e.keyOnly = true, change.OpDelete.String(), true
	case catchUp && len(es) == 0:
		e.op = change.OpInsert.String()
	case catchUp:
		e.op = change.OpUpdate.String()
	default:
		e.op = op.String()
	}
	if e.gap && len(es) == 0 && catchUp {
		return nil // nothing to close: a catch-up records no gap of a key it never had
	}
	return e
}

// keyStrings returns, for each row of rec, a text that identifies its
// values of the key columns (cast to their type in cols, so that stored
// and curated rows compare): their change.KeyEncoder encoding, which
// compares in the key's order. The texts share one allocation.
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
	n := int(kr.NumRows())
	ends := make([]int, n)
	var kb []byte
	for i := range n {
		kb = enc.Append(kb, i)
		ends[i] = len(kb)
	}
	all := string(kb)
	out := make([]string, n)
	begin := 0
	for i, end := range ends {
		out[i] = all[begin:end]
		begin = end
	}
	return out, nil
}

// readStoredEntries reads the history columns of the stored rows rows
// (indexes of rec) into into[dst[j]] for rows[j], of group gids[j]. The
// entries' order keys point into rec's buffers (or a cast of them, kept
// until release is called).
func readStoredEntries(mem memory.Allocator, rec arrow.RecordBatch, rows []int, gids, dst []int32, into []entry) (release func(), err error) {
	get := func(name string, t arrow.DataType) (arrow.Array, error) {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("no column %s", name)
		}
		return castTo(mem, rec.Column(idx[0]), t)
	}
	tsType := &arrow.TimestampType{Unit: arrow.Microsecond}
	var arrs []arrow.Array
	release = func() {
		for _, a := range arrs {
			a.Release()
		}
	}
	defer func() {
		if err != nil {
			release()
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
	for j, i := range rows {
		if seq.IsNull(i) {
			return nil, fmt.Errorf("row %d has no %s", i, colOrderKey)
		}
		e := &into[dst[j]]
		*e = entry{seq: seq.Value(i), stored: true, src: srcStored, row: int32(i), g: gids[j],
			current: cur.IsValid(i) && cur.Value(i)}
		if from.IsValid(i) {
			e.from = nullTime{int64(from.Value(i)), true}
		}
		if to.IsValid(i) {
			e.to = nullTime{int64(to.Value(i)), true}
		}
		if op.IsValid(i) {
			e.op = opText(op.Value(i))
		}
		e.gap = e.op == change.OpDelete.String()
	}
	return release, nil
}

// opText returns s, an op column's value, as a string that does not point
// into the column's buffer.
func opText(s string) string {
	for _, op := range []change.Op{change.OpInsert, change.OpUpdate, change.OpDelete} {
		if s == op.String() {
			return op.String()
		}
	}
	return strings.Clone(s)
}

// historyRows builds the rows out (sorted by the writer's key), with
// columns cols then _op and _seq: the curated values of each entry's row
// of the stored rows or of the curated batch (NULL but the key for a
// keyOnly entry, NULL for a column its source lacks), the history columns
// from the entries. It builds one column at a time, each taken in out's
// order from its two sources concatenated (the stored rows, then the
// curated batch), so that beside the rows built it holds one column of
// the sources' at a time. The caller releases the result.
func historyRows(mem memory.Allocator, in historyInput, out []*entry, cols []change.Column, keys []string, prefix []byte) (arrow.RecordBatch, error) {
	n := len(out)
	var sources []arrow.RecordBatch
	first := [2]int{}
	if in.stored != nil {
		sources = append(sources, in.stored)
		first[srcNew] = int(in.stored.NumRows())
	}
	sources = append(sources, in.curated)
	seqBytes := 0
	all := array.NewInt32Builder(mem)
	defer all.Release()
	some := array.NewInt32Builder(mem)
	defer some.Release()
	all.Reserve(n)
	some.Reserve(n)
	for _, e := range out {
		seqBytes += len(e.seq)
		i := int32(first[e.src]) + e.row
		all.UnsafeAppend(i)
		if e.keyOnly {
			some.UnsafeAppendBoolToBitmap(false)
		} else {
			some.UnsafeAppend(i)
		}
	}
	allIdx, someIdx := all.NewArray(), some.NewArray()
	defer allIdx.Release()
	defer someIdx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	schema := change.Schema(cols)
	arrs := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, a := range arrs {
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
			b.Reserve(n)
			for _, e := range out {
				if c.Name == colValidFrom {
					stamp(b, e.from)
				} else {
					stamp(b, e.to)
				}
			}
			arrs = append(arrs, b.NewArray())
			b.Release()
			continue
		case colIsCurrent:
			b := array.NewBooleanBuilder(mem)
			b.Reserve(n)
			for _, e := range out {
				b.UnsafeAppend(e.current)
			}
			arrs = append(arrs, b.NewArray())
			b.Release()
			continue
		case colOp:
			b := array.NewStringBuilder(mem)
			b.Reserve(n)
			for _, e := range out {
				b.Append(e.op)
			}
			arrs = append(arrs, b.NewArray())
			b.Release()
			continue
		case colOrderKey:
			b := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			b.Reserve(n)
			b.ReserveData(seqBytes)
			for _, e := range out {
				b.UnsafeAppend(e.seq)
			}
			arrs = append(arrs, b.NewArray())
			b.Release()
			continue
		}
		take := someIdx
		if slices.Contains(keys, c.Name) {
			take = allIdx
		}
		a, err := takeColumn(ctx, sources, c, take)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		arrs = append(arrs, a)
	}
	ob := array.NewInt8Builder(mem)
	defer ob.Release()
	sb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer sb.Release()
	ob.Reserve(n)
	sb.Reserve(n)
	sb.ReserveData(seqBytes + n*len(prefix))
	buf := make([]byte, 0, 64)
	for _, e := range out {
		ob.UnsafeAppend(int8(change.OpUpdate))
		buf = append(append(buf[:0], prefix...), e.seq...)
		sb.UnsafeAppend(buf)
	}
	arrs = append(arrs, ob.NewArray(), sb.NewArray())
	return array.NewRecordBatch(schema, arrs, int64(n)), nil
}

// takeColumn returns the rows idx of column c of the sources
// concatenated (each cast to c's type; NULL where a source lacks it).
// The caller releases the result.
func takeColumn(ctx context.Context, sources []arrow.RecordBatch, c change.Column, idx arrow.Array) (arrow.Array, error) {
	mem := compute.GetAllocator(ctx)
	parts := make([]arrow.Array, 0, len(sources))
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for _, src := range sources {
		a := column(src, c.Name)
		if a == nil {
			parts = append(parts, array.MakeArrayOfNull(mem, c.Type, int(src.NumRows())))
			continue
		}
		p, err := castTo(mem, a, c.Type)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	from := parts[0]
	if len(parts) > 1 {
		both, err := array.Concatenate(parts, mem)
		if err != nil {
			return nil, err
		}
		defer both.Release()
		from = both
	}
	return compute.TakeArray(ctx, from, idx)
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
	rows, _, cnt, err := readHistoryAt(ctx, mem, stored, bm, keys)
	return rows, cnt, err
}

// readHistoryAt is readHistory, returning with the rows of keys (not nil)
// where they are: the state read and each row's data file and position
// (StoredTable.ReadKeysAt), nil without keys.
func readHistoryAt(ctx context.Context, mem memory.Allocator, stored StoredTable, bm bookmarks.Bookmark, keys arrow.RecordBatch) (arrow.RecordBatch, *table.Located, *table.ReadCounts, error) {
	if stored == nil {
		return nil, nil, nil, fmt.Errorf("a history table needs its stored rows: no reader of the prepared table")
	}
	info, err := stored.Describe(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("describe the history table: %w", err)
	}
	if !info.Exists {
		return nil, nil, nil, nil
	}
	if !info.Bookmark.Equal(bm) {
		return nil, nil, nil, fmt.Errorf("read the history table: it changed since the attempt began: %w", table.ErrConflict)
	}
	var tbl arrow.Table
	var cnt *table.ReadCounts
	var at *table.Located
	if keys != nil {
		var c table.ReadCounts
		var l table.Located
		tbl, l, c, err = stored.ReadKeysAt(ctx, keys)
		cnt, at = &c, &l
	} else {
		tbl, err = stored.Read(ctx)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the history table: %w", err)
	}
	defer tbl.Release()
	after, err := stored.Describe(ctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("describe the history table: %w", err)
	}
	if !after.Bookmark.Equal(bm) {
		return nil, nil, nil, fmt.Errorf("read the history table: it changed while it was read: %w", table.ErrConflict)
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
				return nil, nil, nil, fmt.Errorf("read the history table: column %s: %w", schema.Field(i).Name, err)
			}
		}
		cols = append(cols, a)
	}
	return array.NewRecordBatch(schema, cols, tbl.NumRows()), at, cnt, nil
}

// storedAt are the stored rows a history run read (the columns its
// writer matches: the writer's key columns and _seq) and where they are,
// for the writer to plan from (LocatedApplier).
type storedAt struct {
	rows arrow.RecordBatch
	at   table.Located
}

// locate returns the columns of stored (the rows read, located at at)
// that the writer of batch matches stored rows by — its key columns
// (HistoryKeys(keys)) and _seq — or nil when one of them is not of
// batch's type (a column the commit widens): the writer then reads its
// key columns itself. The caller releases the rows.
func locate(stored, batch arrow.RecordBatch, keys []string, at table.Located) *storedAt {
	names := append(HistoryKeys(keys), change.ColSeq)
	fields := make([]arrow.Field, 0, len(names))
	cols := make([]arrow.Array, 0, len(names))
	for _, name := range names {
		si, bi := stored.Schema().FieldIndices(name), batch.Schema().FieldIndices(name)
		if len(si) != 1 || len(bi) != 1 || !arrow.TypeEqual(stored.Column(si[0]).DataType(), batch.Column(bi[0]).DataType()) {
			return nil
		}
		fields = append(fields, stored.Schema().Field(si[0]))
		cols = append(cols, stored.Column(si[0]))
	}
	return &storedAt{rows: array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, stored.NumRows()), at: at}
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
//
// A run's changes come with the stored rows it read, located (nil when it
// read none, or the table does not exist yet): every stored row the
// writer of the rows returned can match is a version of a touched key,
// so the writer plans from them rather than reading its key columns
// (LocatedApplier). The caller releases both.
func (t *Table) history(ctx context.Context, txn Txn, curated arrow.RecordBatch, cols []change.Column, how string, next State) (arrow.RecordBatch, *storedAt, *table.ReadCounts, error) {
	in := historyInput{curated: curated, catchUp: how != HowChanges}
	var cnt *table.ReadCounts
	var at *table.Located
	if how != HowRebuild {
		var keys arrow.RecordBatch
		if how == HowChanges {
			var err error
			if keys, err = keyColumns(t.Mem, curated, t.Keys, cols); err != nil {
				return nil, nil, nil, fmt.Errorf("the curated batch: %w", err)
			}
			defer keys.Release()
		}
		stored, l, c, err := readHistoryAt(ctx, t.Mem, t.Stored, txn.Bookmark(), keys)
		if err != nil {
			return nil, nil, nil, err
		}
		if stored != nil {
			defer stored.Release()
		}
		in.stored, cnt, at = stored, c, l
	}
	batch, err := historyChanges(t.Mem, in, cols, t.Keys, historyPrefix(next))
	if err != nil || at == nil || in.stored == nil {
		return batch, nil, cnt, err
	}
	return batch, locate(in.stored, batch, t.Keys, *at), cnt, nil
}
