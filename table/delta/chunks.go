package delta

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/plan"
)

// ApplyChunk stages one chunk of a change set that Apply would take whole
// (merge.Chunker): one row per key, sorted by key, with Apply's columns;
// no key is in two chunks of one Txn. The batch is borrowed.
//
// It finds and decides the chunk's keys as Apply does (pruned by key
// min/max, the tombstones the earlier chunks left) and writes the chunk's
// inserts and updates to new data files, sorted by key; a column an update
// left out (_keep) takes its stored row's value, read from the stored
// file. The stored rows it replaces or deletes are kept as positions per
// data file, with the stored rows of its stale changes, for FinishChunks:
// no stored file is rewritten here, so a file touched by several chunks is
// rewritten once.
func (x *Txn) ApplyChunk(ctx context.Context, changes arrow.RecordBatch) (table.ApplyStats, error) {
	switch {
	case x.done || x.finished:
		return table.ApplyStats{}, fmt.Errorf("apply to %s: ApplyChunk after FinishChunks or Commit", x.name())
	case x.applied && !x.chunked:
		return table.ApplyStats{}, fmt.Errorf("apply to %s: ApplyChunk after Apply", x.name())
	case x.cols == nil:
		return table.ApplyStats{}, fmt.Errorf("apply to %s: table was never created (Evolve not called)", x.name())
	}
	x.applied, x.chunked = true, true
	st, err := x.apply(ctx, changes, nil, nil)
	x.stats.Add(st)
	return st, x.t.classify(ctx, x.snap.version, err)
}

// FinishChunks ends a change set applied by ApplyChunk (merge.Chunker).
// With truncateBefore set (a reload), it reads the key columns and _seq of
// every live data file and plans the removal of the rows older than it
// that no chunk matched (the rows a chunk replaced, deleted or kept stale
// have a key among the changes), and drops the tombstones older than it
// (those the chunks wrote stay). Then it rewrites every data file that
// loses rows (every live file, for a widened type) once, without the rows
// of all chunks and the truncate. Its stats are the truncate's deletes and
// the rewrites.
func (x *Txn) FinishChunks(ctx context.Context, truncateBefore []byte) (table.ApplyStats, error) {
	switch {
	case x.done || x.finished:
		return table.ApplyStats{}, fmt.Errorf("apply to %s: FinishChunks called twice or after Commit", x.name())
	case x.applied && !x.chunked:
		return table.ApplyStats{}, fmt.Errorf("apply to %s: FinishChunks after Apply", x.name())
	case x.cols == nil:
		return table.ApplyStats{}, fmt.Errorf("apply to %s: table was never created (Evolve not called)", x.name())
	}
	x.applied, x.chunked, x.finished = true, true, true
	st, err := x.finishChunks(ctx, truncateBefore)
	x.stats.Add(st)
	return st, x.t.classify(ctx, x.snap.version, err)
}

// chunkRows are the stored rows of one data file that the chunks of a Txn
// matched: drop go (replaced, deleted, or truncated), kept stay (the
// stored rows of stale changes, which a truncate must not take either).
type chunkRows struct {
	drop, kept []int64
}

// chunkRowsOf returns the chunk rows of data file f, creating them.
func (x *Txn) chunkRowsOf(f string) *chunkRows {
	if x.chunkRows == nil {
		x.chunkRows = map[string]*chunkRows{}
	}
	cr := x.chunkRows[f]
	if cr == nil {
		cr = &chunkRows{}
		x.chunkRows[f] = cr
	}
	return cr
}

// stageChunk writes the rows chunk plan p (decided) writes to new files
// and keeps the stored rows it matched for FinishChunks.
func (x *Txn) stageChunk(ctx context.Context, cs *changeSet, p *plan.Plan, st *table.ApplyStats) error {
	var rows []int
	fill := map[string][]int{} // stored file → updates whose left-out columns it holds
	for i := range cs.n {
		v := p.Verdict(i)
		switch {
		case v.Writes():
			rows = append(rows, i)
			if at, ok := p.StoredAt(i); ok && v == plan.Update && cs.partial(i) {
				fill[at.File] = append(fill[at.File], i)
			}
		case v == plan.Stale:
			if at, ok := p.StoredAt(i); ok {
				cr := x.chunkRowsOf(at.File)
				cr.kept = append(cr.kept, at.Pos)
			}
		}
	}
	for _, r := range p.Removed() {
		cr := x.chunkRowsOf(r.File)
		cr.drop = append(cr.drop, r.Positions...)
	}
	stored, at, err := x.storedRows(ctx, fill, p)
	if err != nil {
		return err
	}
	if stored != nil {
		defer stored.Release()
	}
	return x.writeNew(ctx, cs, rows, stored, at, st)
}

// storedRows reads the stored rows of the updates in fill (data file →
// change rows whose stored row it holds, where plan p found it) into one
// batch of the table's columns; at(i) is change row i's row in it. nil
// when fill is empty. The caller releases the batch.
func (x *Txn) storedRows(ctx context.Context, fill map[string][]int, p *plan.Plan) (arrow.RecordBatch, func(int) (int64, bool), error) {
	if len(fill) == 0 {
		return nil, nil, nil
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	row := map[int]int64{} // change row → its stored row in the result
	var n int64
	for _, f := range slices.Sorted(maps.Keys(fill)) {
		frec, err := x.t.readFile(ctx, f, x.cols)
		if err != nil {
			return nil, nil, fmt.Errorf("read stored rows of %s: %w", f, err)
		}
		pos := make([]int64, len(fill[f]))
		for j, i := range fill[f] {
			at, _ := p.StoredAt(i)
			pos[j] = at.Pos
			row[i] = n + int64(j)
		}
		taken, err := x.t.takeRows(ctx, frec, pos)
		frec.Release()
		if err != nil {
			return nil, nil, fmt.Errorf("read stored rows of %s: %w", f, err)
		}
		recs = append(recs, taken)
		n += taken.NumRows()
	}
	rec, err := concatRecords(x.t.mem, logicalSchema(x.cols), recs)
	if err != nil {
		return nil, nil, err
	}
	return rec, func(i int) (int64, bool) {
		r, ok := row[i]
		return r, ok
	}, nil
}

func (x *Txn) finishChunks(ctx context.Context, truncateBefore []byte) (table.ApplyStats, error) {
	var st table.ApplyStats
	if x.read == nil {
		x.read = map[string]bool{}
	}
	if truncateBefore != nil {
		x.truncate = true
		if x.snap.version >= 0 {
			var err error
			if st, err = x.truncateChunks(ctx, truncateBefore); err != nil {
				return st, err
			}
		}
	}
	drop := map[string][]int64{}
	for f, cr := range x.chunkRows {
		if len(cr.drop) > 0 {
			drop[f] = cr.drop
		}
	}
	if x.rewriteAll {
		for _, f := range x.snap.paths() {
			x.read[f] = true
			if _, ok := drop[f]; !ok {
				drop[f] = nil
			}
		}
	}
	// The chunks' rows are written: the rewrites only drop rows.
	none := func(int) (int64, bool) { return 0, false }
	err := x.rewriteFiles(ctx, slices.Sorted(maps.Keys(drop)), drop, nil, &changeSet{}, none, &st)
	return st, err
}

// truncateChunks plans truncateBefore over every live row that no chunk
// matched and adds the rows that go to x.chunkRows. The tombstones are
// decided on the table's (the truncate drops those older than it) with the
// chunks' edits on top, as Apply keeps its own changes' tombstones.
func (x *Txn) truncateChunks(ctx context.Context, truncateBefore []byte) (table.ApplyStats, error) {
	var st table.ApplyStats
	tomb, err := x.tableTombstones(ctx)
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	now := x.t.now()
	p, err := plan.New(plan.Input{Keys: x.t.opts.Keys, TruncateBefore: truncateBefore,
		Tombstones: tomb, Now: now, Horizon: x.t.opts.TombstoneHorizon, NoTombstones: x.t.opts.NoTombstones})
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	keyCols := x.keyColumns()
	paths := x.snap.paths()
	for _, f := range paths {
		x.read[f] = true
		// The rows the chunks matched are theirs: not live for the
		// truncate.
		var dead []int64
		if cr := x.chunkRows[f]; cr != nil {
			dead = slices.Concat(cr.drop, cr.kept)
			slices.Sort(dead)
		}
		err := x.t.readColumns(ctx, f, keyCols, func(rec arrow.RecordBatch, base int64) error {
			return p.Match(f, rec, base, dead)
		})
		if err != nil {
			return st, fmt.Errorf("apply to %s: read keys of %s: %w", x.name(), f, err)
		}
	}
	d, err := p.Decide()
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	slices.SortFunc(x.edits, func(a, b table.TombEdit) int { return bytes.Compare(a.Key, b.Key) })
	at := now.UnixMicro()
	tombs, changed := d.Tombstones.Apply(x.edits, at, at-x.t.opts.TombstoneHorizon.Microseconds(), nil)
	x.tomb, x.tombChanged = tombs, x.tombChanged || d.TombstonesChanged || changed
	x.edits = nil
	st = d.Stats
	st.FilesScanned = int64(len(paths))
	for _, r := range p.Removed() {
		cr := x.chunkRowsOf(r.File)
		cr.drop = append(cr.drop, r.Positions...)
	}
	return st, nil
}
