package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/plan"
)

// Apply stages the deduplicated changes: at most one row per key, with the
// table's user columns (names and types as Columns after Evolve, any
// order), _op, _seq and optionally _keep. The batch is borrowed, not
// released. Apply may be called once per Txn; a change set too large for
// memory goes in pieces instead (ApplyChunk, FinishChunks: chunks.go).
//
// Copy-on-write: Apply prunes the live files by key min/max, reads the key
// columns and _seq of the rest to find the stored rows of the changed keys
// (without truncateBefore, for an integer key or one of several columns
// whose first is an integer: table.ScanMatches),
// and rewrites exactly the files that hold a row to replace or delete: rows
// not changed (or changed only by a stale change) are copied, replaced and
// deleted rows dropped, and each updated row is written into the new
// version of the file its old row was in, sorted by key. Inserts go to new
// files, sorted by key. A change whose _seq is not greater than the stored
// row's (or than a tombstone's) is stale and not applied. Columns a change
// left out (its _keep bits) take the stored row's values.
//
// With truncateBefore set (a new load generation), every live row whose
// _seq is less than truncateBefore and whose key is not among the changes
// is deleted as well.
func (x *Txn) Apply(ctx context.Context, changes arrow.RecordBatch, truncateBefore []byte) (table.ApplyStats, error) {
	if x.done || x.applied {
		return table.ApplyStats{}, fmt.Errorf("apply to %s: Apply may be called once, before Commit", x.name())
	}
	if x.cols == nil {
		return table.ApplyStats{}, fmt.Errorf("apply to %s: table was never created (Evolve not called)", x.name())
	}
	x.applied = true
	st, err := x.apply(ctx, changes, truncateBefore, nil)
	x.stats = st
	return st, x.t.classify(ctx, x.snap.version, err)
}

// ApplyLocated is Apply (without truncateBefore) for a change set whose
// stored rows the caller read already, with where they are (ReadKeysAt of
// this table): rows (borrowed; the key columns and _seq, any others) are
// the rows located at at, and every live row of version at.State that
// holds a changed key must be among them (a history table reads every
// version of the keys it touches). The plan is made from them
// (plan.MatchLocated) instead of a scan of the data files' key columns;
// the files the key statistics leave still count as read for the
// conflict check, and the commit is verified against the plan as
// Apply's is. at.State must be the version this Txn began from, and every
// file of at live in it, else the error is table.ErrConflict: the caller
// begins again and reads again. Errors are classified as Apply's.
func (x *Txn) ApplyLocated(ctx context.Context, changes, rows arrow.RecordBatch, at table.Located) (table.ApplyStats, error) {
	if x.done || x.applied {
		return table.ApplyStats{}, fmt.Errorf("apply to %s: Apply may be called once, before Commit", x.name())
	}
	if x.cols == nil {
		return table.ApplyStats{}, fmt.Errorf("apply to %s: table was never created (Evolve not called)", x.name())
	}
	x.applied = true
	st, err := x.apply(ctx, changes, nil, &located{rows: rows, at: at})
	x.stats = st
	return st, x.t.classify(ctx, x.snap.version, err)
}

// located are the stored rows of ApplyLocated.
type located struct {
	rows arrow.RecordBatch
	at   table.Located
}

// changeSet is the change batch as Apply writes it: its columns conformed
// to the table's, and which of them each row left out (_keep).
type changeSet struct {
	n    int
	keys [][]byte      // encoded key of each row, for the key order of files
	keep *array.Binary // nil without _keep
	bit  []int         // for each table column, its _keep bit (-1: none)
	cols []arrow.Array // the table's columns from the batch (null when absent)
}

func (c *changeSet) release() { releaseAll(c.cols) }

// partial reports whether row i left columns out (_keep).
func (c *changeSet) partial(i int) bool {
	return c.keep != nil && c.keep.IsValid(i) && len(c.keep.Value(i)) > 0
}

// kept reports whether row i left out table column ci.
func (c *changeSet) kept(i, ci int) bool {
	if c.keep == nil || c.keep.IsNull(i) || c.bit[ci] < 0 {
		return false
	}
	b, bits := c.bit[ci], c.keep.Value(i)
	return b/8 < len(bits) && bits[b/8]&(1<<(b%8)) != 0
}

// newChangeSet conforms changes (validated by plan.New) to the table's
// columns.
func (x *Txn) newChangeSet(ctx context.Context, changes arrow.RecordBatch) (*changeSet, error) {
	cs := &changeSet{}
	if changes == nil {
		return cs, nil
	}
	cs.n = int(changes.NumRows())
	sch := changes.Schema()
	col := func(name string) arrow.Array {
		if idx := sch.FieldIndices(name); len(idx) == 1 {
			return changes.Column(idx[0])
		}
		return nil
	}
	cs.keep, _ = col(change.ColKeep).(*array.Binary)
	enc, err := change.NewKeyEncoder(changes, x.t.opts.Keys)
	if err != nil {
		return nil, err
	}
	cs.keys = make([][]byte, cs.n)
	for i := range cs.n {
		cs.keys[i] = enc.Append(nil, i)
	}
	// _keep bit c is the c-th user column of the batch.
	userBit := map[string]int{}
	for _, f := range sch.Fields() {
		if !change.IsSystemColumn(f.Name) {
			userBit[f.Name] = len(userBit)
		}
	}
	cs.bit = make([]int, len(x.cols))
	cs.cols = make([]arrow.Array, len(x.cols))
	for ci, c := range x.cols {
		cs.bit[ci] = -1
		if b, ok := userBit[c.name]; ok {
			cs.bit[ci] = b
		}
		a := col(c.name)
		if a == nil {
			cs.cols[ci] = array.MakeArrayOfNull(x.t.mem, c.typ, cs.n)
			continue
		}
		conformed, err := x.t.conform(ctx, a, c.typ)
		if err != nil {
			cs.release()
			return nil, fmt.Errorf("change column %s: %w", c.name, err)
		}
		cs.cols[ci] = conformed
	}
	return cs, nil
}

// apply plans from the stored rows loc when it is set (ApplyLocated),
// else from a scan of the files that may hold a changed key.
func (x *Txn) apply(ctx context.Context, changes arrow.RecordBatch, truncateBefore []byte, loc *located) (table.ApplyStats, error) {
	var st table.ApplyStats
	if loc != nil {
		if loc.at.State != x.snap.version {
			return st, fmt.Errorf("apply to %s: the stored rows were read from version %d, the commit is built on %d: %w", x.name(), loc.at.State, x.snap.version, table.ErrConflict)
		}
		for _, f := range loc.at.Files {
			if _, ok := x.snap.files[f.Path]; !ok {
				return st, fmt.Errorf("apply to %s: located stored rows in %s, not a live file of version %d: %w", x.name(), f.Path, x.snap.version, table.ErrConflict)
			}
		}
	}
	keys := x.t.opts.Keys
	tomb, err := x.tombstones(ctx)
	if err != nil {
		return st, err
	}
	p, err := plan.New(plan.Input{Changes: changes, Keys: keys, TruncateBefore: truncateBefore,
		Tombstones: tomb, Now: x.t.now(), Horizon: x.t.opts.TombstoneHorizon, NoTombstones: x.t.opts.NoTombstones})
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	cs, err := x.newChangeSet(ctx, changes)
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	defer cs.release()
	n := cs.n
	x.nchanges += int64(n)
	if n == 0 && (x.chunked || truncateBefore == nil && !x.rewriteAll) {
		return st, nil
	}
	x.truncate = truncateBefore != nil
	pr := newPruner(changes, keys, x.cols)
	if !x.chunked {
		// A chunked Txn keeps no pruner of every chunk's keys: another
		// writer's add conflicts with it whatever its keys (mayHold).
		x.pruner = pr
	}
	// A chunk reads only the files that may hold its keys: FinishChunks
	// rewrites every file of a widening.
	rewriteAll := x.rewriteAll && !x.chunked

	// Hand the plan the rows of every file that may hold a changed key (all
	// of them for a reload).
	touched := map[string]bool{}
	if x.read == nil {
		x.read = map[string]bool{}
	}
	keyCols := x.keyColumns()
	idx, err := p.KeyIndex()
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	// The usual merge (an integer first key column, no reload) reads only what holds a
	// changed key; a reload sees every row's _seq.
	sparse := truncateBefore == nil && idx != nil && idx.Lead() != nil
	minSeq := p.MinSeq()
	var scanned int64
	for _, f := range x.snap.paths() {
		if !rewriteAll && truncateBefore == nil && pr != nil && !pr.mayHold(x.snap.files[f].Stats) {
			continue
		}
		x.read[f] = true
		if rewriteAll {
			touched[f] = true
		}
		if n == 0 && truncateBefore == nil || loc != nil {
			continue
		}
		scanned++
		if sparse {
			ms, cnt, err := x.t.scanMatches(ctx, f, x.snap.files[f].Size, keyCols[:len(keys)], idx, minSeq)
			if err == nil {
				err = p.MatchFound(f, ms, cnt)
			}
			if err == nil {
				continue
			}
			if !errors.Is(err, errNoKeyColumn) && !errors.Is(err, table.ErrKeyTypes) {
				return st, fmt.Errorf("apply to %s: read keys of %s: %w", x.name(), f, err)
			}
		}
		err := x.t.readColumns(ctx, f, keyCols, func(rec arrow.RecordBatch, base int64) error {
			return p.Match(f, rec, base, nil)
		})
		if err != nil {
			return st, fmt.Errorf("apply to %s: read keys of %s: %w", x.name(), f, err)
		}
	}
	if loc != nil {
		if err := p.MatchLocated(loc.rows, loc.at); err != nil {
			return st, fmt.Errorf("apply to %s: %w", x.name(), err)
		}
	}
	d, err := p.Decide()
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	st, x.tomb, x.tombChanged = d.Stats, d.Tombstones, x.tombChanged || d.TombstonesChanged
	if x.journal != nil {
		x.journalStale = p.StaleRows()
	}
	st.FilesScanned = scanned
	if x.chunked {
		x.edits = append(x.edits, d.Edits...) // for a truncate in FinishChunks
		if err := x.stageChunk(ctx, cs, p, &st); err != nil {
			return st, fmt.Errorf("apply to %s: %w", x.name(), err)
		}
		return st, nil
	}

	// Each updated row goes back into the file its old row was in; inserts
	// go to new files.
	var inserts []int
	updates := map[string][]int{} // data file → change rows whose old row it holds
	for i := range n {
		switch p.Verdict(i) {
		case plan.Update:
			at, _ := p.StoredAt(i)
			updates[at.File] = append(updates[at.File], i)
		case plan.Insert:
			inserts = append(inserts, i)
		}
	}
	drop := map[string][]int64{} // data file → positions of rows that go
	for _, r := range p.Removed() {
		drop[r.File] = r.Positions
		touched[r.File] = true
	}

	// Rewrite the touched files, each with its updated rows.
	if err := x.rewriteFiles(ctx, slices.Sorted(maps.Keys(touched)), drop, updates, cs, storedPos(p), &st); err != nil {
		return st, err
	}
	// New files for the inserts.
	if err := x.writeNew(ctx, cs, inserts, nil, nil, &st); err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	return st, nil
}

// tombstones returns the tombstone set the next change set is decided
// against: the table's, or the one the Txn's earlier chunks left.
func (x *Txn) tombstones(ctx context.Context) (*table.Tombstones, error) {
	if x.tomb != nil && x.chunked {
		return x.tomb, nil
	}
	tomb, err := x.tableTombstones(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	return tomb, nil
}

// tableTombstones reads the tombstone set of the state Begin read; none
// for a table that keeps none (Options.NoTombstones).
func (x *Txn) tableTombstones(ctx context.Context) (*table.Tombstones, error) {
	if x.t.opts.NoTombstones {
		return &table.Tombstones{}, nil
	}
	return x.t.readTombstones(ctx, x.state.tombs, x.t.mem)
}

// keyColumns are the table's key columns and _seq, as a plan matches
// stored rows.
func (x *Txn) keyColumns() []column {
	var keyCols []column
	for _, k := range x.t.opts.Keys {
		keyCols = append(keyCols, x.cols[findColumn(x.cols, k)])
	}
	return append(keyCols, seqColumn)
}

// rewriteFiles rewrites each data file of paths (rewrite) without its rows
// at drop and with its updated rows ups.
func (x *Txn) rewriteFiles(ctx context.Context, paths []string, drop map[string][]int64, ups map[string][]int, cs *changeSet, at func(int) (int64, bool), st *table.ApplyStats) error {
	for _, f := range paths {
		if err := x.rewrite(ctx, f, drop[f], ups[f], cs, at, st); err != nil {
			return fmt.Errorf("apply to %s: rewrite %s: %w", x.name(), f, err)
		}
	}
	return nil
}

// writeNew writes change rows rows (sorted by key here) to new data files.
// With stored set, take fills their left-out columns from it (at).
func (x *Txn) writeNew(ctx context.Context, cs *changeSet, rows []int, stored arrow.RecordBatch, at func(int) (int64, bool), st *table.ApplyStats) error {
	if len(rows) == 0 {
		return nil
	}
	slices.SortStableFunc(rows, func(a, b int) int { return bytes.Compare(cs.keys[a], cs.keys[b]) })
	var order []int
	if stored != nil {
		nf := int(stored.NumRows())
		order = make([]int, len(rows))
		for j := range rows {
			order[j] = nf + j
		}
	}
	w := x.writer()
	w.rowBytes = x.snap.rowBytes()
	rec, err := x.take(ctx, stored, cs, at, rows, order)
	if err != nil {
		return err
	}
	err = w.write(ctx, rec)
	rec.Release()
	if err != nil {
		return err
	}
	x.addFiles(w, st)
	return nil
}

// storedPos is where plan p found change i's stored row in its file.
func storedPos(p *plan.Plan) func(int) (int64, bool) {
	return func(i int) (int64, bool) {
		r, ok := p.StoredAt(i)
		return r.Pos, ok
	}
}

// rewrite replaces data file p by a copy without the rows at drop and with
// the updated rows ups (change rows whose old row p holds, at its
// position at(i)), sorted by key.
func (x *Txn) rewrite(ctx context.Context, p string, drop []int64, ups []int, cs *changeSet, at func(int) (int64, bool), st *table.ApplyStats) error {
	add := x.snap.files[p]
	frec, err := x.t.readFile(ctx, p, x.cols)
	if err != nil {
		return err
	}
	defer frec.Release()
	nf := int(frec.NumRows())
	if ps, ok := parseStats(add.Stats); ok && ps.NumRecords != nil && *ps.NumRecords != int64(nf) {
		return fmt.Errorf("holds %d rows, the log records %d", nf, *ps.NumRecords)
	}
	x.rewrittenRows += int64(nf)
	gone := make([]bool, nf)
	for _, pos := range drop {
		if pos < int64(nf) {
			gone[pos] = true
		}
	}
	fenc, err := change.NewKeyEncoder(frec, x.t.opts.Keys)
	if err != nil {
		return err
	}
	type entry struct {
		key []byte
		row int // < nf: row of p; else nf + index into ups
	}
	ents := make([]entry, 0, nf+len(ups))
	for r := 0; r < nf; r++ {
		if !gone[r] {
			ents = append(ents, entry{key: fenc.Append(nil, r), row: r})
		}
	}
	x.copied += int64(len(ents))
	for j, i := range ups {
		ents = append(ents, entry{key: cs.keys[i], row: nf + j})
	}
	sort.SliceStable(ents, func(a, b int) bool { return bytes.Compare(ents[a].key, ents[b].key) < 0 })
	order := make([]int, len(ents))
	for k, e := range ents {
		order[k] = e.row
	}
	rec, err := x.take(ctx, frec, cs, at, ups, order)
	if err != nil {
		return err
	}
	defer rec.Release()
	size := add.Size
	x.removes = append(x.removes, removeAction{
		Path:                 p,
		DeletionTimestamp:    ptr(x.t.now().UnixMilli()),
		DataChange:           true,
		ExtendedFileMetadata: true,
		PartitionValues:      add.PartitionValues,
		Size:                 &size,
	})
	st.FilesRewritten++
	if rec.NumRows() == 0 {
		return nil
	}
	w := x.writer()
	if ps, ok := parseStats(add.Stats); ok && ps.NumRecords != nil && *ps.NumRecords >= minEstimateRows {
		w.rowBytes = float64(add.Size) / float64(*ps.NumRecords)
	}
	if err := w.write(ctx, rec); err != nil {
		return err
	}
	x.addFiles(w, st)
	return nil
}

func (x *Txn) addFiles(w *fileWriter, st *table.ApplyStats) {
	x.adds = append(x.adds, w.adds...)
	x.newFiles = append(x.newFiles, w.files...)
	for _, a := range w.adds {
		if ps, ok := parseStats(a.Stats); ok && ps.NumRecords != nil {
			x.written += *ps.NumRecords
		}
	}
	st.DataFiles += int64(len(w.adds))
	st.BytesWritten += w.bytes
}

// take builds the table rows of an output file. Without frec it is the
// change rows rows, in that order. With frec (stored rows: a data file, or
// the stored rows of a chunk's updates) it is, for each k in order, row
// order[k] of frec when it is below frec's row count, else change row
// rows[order[k]-nf], whose left-out columns (_keep) come from its stored
// row, row at(i) of frec (none when at says !ok: an insert). The caller
// releases the result.
func (x *Txn) take(ctx context.Context, frec arrow.RecordBatch, cs *changeSet, at func(int) (int64, bool), rows []int, order []int) (arrow.RecordBatch, error) {
	cctx := compute.WithAllocator(ctx, x.t.mem)
	ib := array.NewInt64Builder(x.t.mem)
	defer ib.Release()
	for _, i := range rows {
		ib.Append(int64(i))
	}
	rowIdx := ib.NewInt64Array()
	defer rowIdx.Release()
	nf := 0
	if frec != nil {
		nf = int(frec.NumRows())
	}
	out := make([]arrow.Array, len(x.cols))
	for ci := range x.cols {
		var both arrow.Array
		if len(rows) == 0 {
			// Only stored rows (a reload or a widening rewrite), and maybe
			// no change batch at all.
			both = frec.Column(ci)
			both.Retain()
		} else {
			taken, err := compute.TakeArray(cctx, cs.cols[ci], rowIdx)
			if err != nil {
				releaseAll(out)
				return nil, err
			}
			if frec == nil {
				out[ci] = taken
				continue
			}
			both, err = array.Concatenate([]arrow.Array{frec.Column(ci), taken}, x.t.mem)
			taken.Release()
			if err != nil {
				releaseAll(out)
				return nil, err
			}
		}
		for _, r := range order {
			if r < nf {
				ib.Append(int64(r))
				continue
			}
			j := r - nf
			if pos, ok := at(rows[j]); ok && cs.kept(rows[j], ci) {
				ib.Append(pos) // the stored value of a left-out column
			} else {
				ib.Append(int64(r))
			}
		}
		idx := ib.NewInt64Array()
		var err error
		out[ci], err = compute.TakeArray(cctx, both, idx)
		idx.Release()
		both.Release()
		if err != nil {
			releaseAll(out)
			return nil, err
		}
	}
	n := int64(len(rows))
	if frec != nil {
		n = int64(len(order))
	}
	rec := array.NewRecordBatch(logicalSchema(x.cols), out, n)
	releaseAll(out)
	return rec, nil
}

func ptr[T any](v T) *T { return &v }

// minEstimateRows is the fewest rows whose file size estimates the bytes
// of a row: in smaller files the footer dominates.
const minEstimateRows = 1000

// rowBytes estimates the compressed bytes of a row from the live files'
// sizes and stats; 0 when unknown.
func (s *snapshot) rowBytes() float64 {
	var size, rows int64
	for _, a := range s.files {
		if ps, ok := parseStats(a.Stats); ok && ps.NumRecords != nil {
			size += a.Size
			rows += *ps.NumRecords
		}
	}
	if rows < minEstimateRows {
		return 0
	}
	return float64(size) / float64(rows)
}

// pruner answers whether a file may hold one of the changed keys, from the
// min/max stats of its first key column (of a key of several columns, a
// file whose first column holds none of the changes' values holds none of
// their keys): int, long and string columns only.
type pruner struct {
	phys  string
	isInt bool
	ints  []int64
	strs  []string
}

// newPruner returns a pruner for the changes' keys, or nil when the key
// cannot prune (a first column of another type, no changes).
func newPruner(changes arrow.RecordBatch, keys []string, cols []column) *pruner {
	if len(keys) == 0 || changes == nil || changes.NumRows() == 0 {
		return nil
	}
	idx := changes.Schema().FieldIndices(keys[0])
	ci := findColumn(cols, keys[0])
	if len(idx) != 1 || ci < 0 {
		return nil
	}
	p := &pruner{phys: cols[ci].phys}
	switch a := changes.Column(idx[0]).(type) {
	case *array.Int32:
		p.isInt = true
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				p.ints = append(p.ints, int64(a.Value(i)))
			}
		}
	case *array.Int64:
		p.isInt = true
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				p.ints = append(p.ints, a.Value(i))
			}
		}
	case *array.String:
		for i := 0; i < a.Len(); i++ {
			if a.IsValid(i) {
				p.strs = append(p.strs, a.Value(i))
			}
		}
	default:
		return nil
	}
	slices.Sort(p.ints)
	slices.Sort(p.strs)
	return p
}

// mayHold reports whether a file with these stats may hold a changed key.
func (p *pruner) mayHold(stats string) bool {
	ps, ok := parseStats(stats)
	if !ok {
		return true
	}
	lo, ok := ps.MinValues[p.phys]
	if !ok {
		return true
	}
	hi, hasHi := ps.MaxValues[p.phys]
	if p.isInt {
		var l, h json.Number
		if json.Unmarshal(lo, &l) != nil || !hasHi || json.Unmarshal(hi, &h) != nil {
			return true
		}
		li, err1 := l.Int64()
		hi, err2 := h.Int64()
		if err1 != nil || err2 != nil {
			return true
		}
		i, _ := slices.BinarySearch(p.ints, li)
		return i < len(p.ints) && p.ints[i] <= hi
	}
	var l, h string
	if json.Unmarshal(lo, &l) != nil {
		return true
	}
	i, _ := slices.BinarySearch(p.strs, l)
	if i == len(p.strs) {
		return false
	}
	if !hasHi || json.Unmarshal(hi, &h) != nil {
		return true
	}
	return strings.Compare(p.strs[i], h) <= 0
}
