package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/plan"
)

// maxInKeys is the largest key set planned with an IN filter (partition and
// min/max pruning by iceberg-go); larger sets plan every live file.
const maxInKeys = 4096

// writerQueue is how many partition batches each of iceberg-go's partition
// writers may queue. Every queued batch is a copy of its rows and the
// Parquet encoding is the slow side, so its default (64 per partition)
// let a full load queue gigabytes.
const writerQueue = 4

// Apply stages the deduplicated changes: at most one row per key, sorted by
// key, with the table's user columns (same names and types as Columns after
// Evolve, any order), _op and _seq. The batch is borrowed, not released.
// Apply may be called once per Txn; a change set too large for memory goes
// in pieces instead (ApplyChunk, FinishChunks).
//
// With truncateBefore set (a new load generation), every live row whose _seq
// is less than truncateBefore and whose key is not among the changes is
// deleted as well, so the table ends up holding exactly the new full load.
//
// Errors are classified (classify): table.ErrConflict when the table moved
// on and a file of the state this attempt began from is gone,
// table.ErrTransient, or permanent.
func (x *Txn) Apply(ctx context.Context, changes arrow.RecordBatch, truncateBefore []byte) (table.ApplyStats, error) {
	st, err := x.apply(ctx, changes, truncateBefore)
	if err != nil {
		return st, x.t.classify(ctx, table.BeforeCommit, x.began(), "", err)
	}
	x.stats = st
	return st, nil
}

// ApplyChunk stages one chunk of a change set that Apply would take whole
// (merge.Chunker): one row per key, sorted by key, no key in two chunks
// of the Txn. It finds and decides the chunk's keys as Apply does and
// writes its data files; the stored rows it removes are kept (positions
// per data file) for FinishChunks, which writes one position-delete file
// per data file for all chunks. The batch is borrowed.
func (x *Txn) ApplyChunk(ctx context.Context, changes arrow.RecordBatch) (table.ApplyStats, error) {
	if x.finished {
		return table.ApplyStats{}, fmt.Errorf("apply to %s: ApplyChunk after FinishChunks", x.name())
	}
	if x.pending == nil {
		x.pending = map[string]*pendingDeletes{}
	}
	st, err := x.apply(ctx, changes, nil)
	if err != nil {
		return st, x.t.classify(ctx, table.BeforeCommit, x.began(), "", err)
	}
	x.stats.Add(st)
	return st, nil
}

// FinishChunks ends a change set applied by ApplyChunk (merge.Chunker).
// With truncateBefore set, it reads the key columns and _seq of every live
// data file and deletes the rows older than it that no chunk's key holds
// (the rows a chunk matched, replaced or kept, are not read again), and
// drops the tombstones older than it. Then it writes, for each data file
// that loses rows, one position-delete file with every chunk's positions.
func (x *Txn) FinishChunks(ctx context.Context, truncateBefore []byte) (table.ApplyStats, error) {
	if x.finished {
		return table.ApplyStats{}, fmt.Errorf("apply to %s: FinishChunks called twice", x.name())
	}
	x.finished = true
	if x.pending == nil {
		x.pending = map[string]*pendingDeletes{} // no chunk had rows
	}
	st, err := x.finishChunks(ctx, truncateBefore)
	if err != nil {
		return st, x.t.classify(ctx, table.BeforeCommit, x.began(), "", err)
	}
	x.stats.Add(st)
	return st, nil
}

// pendingDeletes are the stored rows of one data file that the chunks of a
// Txn matched: removed go (sorted per chunk, not across chunks), kept stay
// (stale changes).
type pendingDeletes struct {
	ref           ice.DataFile
	removed, kept []int64
}

func (x *Txn) finishChunks(ctx context.Context, truncateBefore []byte) (table.ApplyStats, error) {
	var st table.ApplyStats
	if x.tbl == nil {
		return st, fmt.Errorf("apply to %s: table was never created (Evolve not called)", x.name())
	}
	fs, err := x.tbl.FS(ctx)
	if err != nil {
		return st, fmt.Errorf("open table io of %s: %w", x.name(), err)
	}
	if truncateBefore != nil && x.tbl.CurrentSnapshot() != nil {
		if st, err = x.truncateChunks(ctx, fs, truncateBefore); err != nil {
			return st, err
		}
	}
	paths := make([]string, 0, len(x.pending))
	for path, pd := range x.pending {
		if len(pd.removed) > 0 {
			paths = append(paths, path)
		}
	}
	slices.Sort(paths)
	for _, path := range paths {
		pd := x.pending[path]
		slices.Sort(pd.removed)
		if err := x.addPositionDeletes(ctx, fs, pd.ref, pd.removed, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// addPositionDeletes writes the position-delete file of data file ref
// and stages it, counting it in st.
func (x *Txn) addPositionDeletes(ctx context.Context, fs iceio.IO, ref ice.DataFile, pos []int64, st *table.ApplyStats) error {
	df, size, err := x.writePositionDeletes(ctx, fs, ref, pos)
	if err != nil {
		return err
	}
	x.delFiles = append(x.delFiles, df)
	st.DeleteFiles++
	st.BytesWritten += size
	return nil
}

// truncateChunks plans truncateBefore over every live row that no chunk
// matched: it adds the rows that go to x.pending.
func (x *Txn) truncateChunks(ctx context.Context, fs iceio.IO, truncateBefore []byte) (table.ApplyStats, error) {
	var st table.ApplyStats
	// The truncate drops the table's tombstones older than it, not those
	// the chunks left (as Apply keeps its own changes' tombstones): it is
	// decided on the table's, and the chunks' edits go on top.
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
	tasks, err := x.tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return st, fmt.Errorf("plan files of %s: %w", x.name(), err)
	}
	dels := newDeleteCache(fs, x.t.mem)
	for _, task := range tasks {
		path := task.File.FilePath()
		dead, err := dels.positionsFor(ctx, path, task.DeleteFiles)
		if err != nil {
			return st, err
		}
		pd := x.pending[path]
		if pd == nil {
			pd = &pendingDeletes{ref: task.File}
			x.pending[path] = pd
		}
		// The rows the chunks matched are theirs: not live for the
		// truncate.
		dead = slices.Concat(dead, pd.removed, pd.kept)
		slices.Sort(dead)
		err = x.scanKeys(ctx, fs, path, func(rec arrow.RecordBatch, base int64) error {
			return p.Match(path, rec, base, dead)
		})
		if err != nil {
			return st, fmt.Errorf("read keys of %s: %w", path, err)
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
	st = d.Stats
	st.FilesScanned = int64(len(tasks))
	for _, r := range p.Removed() {
		x.pending[r.File].removed = append(x.pending[r.File].removed, r.Positions...)
	}
	return st, nil
}

// tombstones returns the tombstone set the next change set is decided
// against: the table's, or the one the Txn's earlier chunks left.
func (x *Txn) tombstones(ctx context.Context) (*table.Tombstones, error) {
	if x.tomb != nil {
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
	return loadTombstones(ctx, x.tbl, x.state, x.t.mem)
}

// ApplyLocated is Apply (without truncateBefore) for a change set whose
// stored rows the caller read already, with where they are (ReadKeysAt of
// this table): rows (borrowed; the key columns and _seq, any others) are
// the rows located at at, and every live row of snapshot at.State that
// holds a changed key must be among them (a history table reads every
// version of the keys it touches). The plan is made from them
// (plan.MatchLocated) instead of a scan of the data files' key columns;
// the commit is verified against it as Apply's is. at.State must be the
// snapshot this Txn began from, and every file of at live in it, else the
// error is table.ErrConflict: the caller begins again and reads again.
// Errors are classified as Apply's.
func (x *Txn) ApplyLocated(ctx context.Context, changes, rows arrow.RecordBatch, at table.Located) (table.ApplyStats, error) {
	st, err := x.applyFrom(ctx, changes, nil, &located{rows: rows, at: at})
	if err != nil {
		return st, x.t.classify(ctx, table.BeforeCommit, x.began(), "", err)
	}
	x.stats = st
	return st, nil
}

// located are the stored rows of ApplyLocated.
type located struct {
	rows arrow.RecordBatch
	at   table.Located
}

func (x *Txn) apply(ctx context.Context, changes arrow.RecordBatch, truncateBefore []byte) (table.ApplyStats, error) {
	return x.applyFrom(ctx, changes, truncateBefore, nil)
}

// applyFrom is apply, planned from the stored rows loc when it is set
// (ApplyLocated), else from a scan of the candidate files.
func (x *Txn) applyFrom(ctx context.Context, changes arrow.RecordBatch, truncateBefore []byte, loc *located) (table.ApplyStats, error) {
	var st table.ApplyStats
	if x.tbl == nil {
		return st, fmt.Errorf("apply to %s: table was never created (Evolve not called)", x.name())
	}
	n := int(changes.NumRows())
	if n == 0 && truncateBefore == nil {
		return st, nil
	}
	tomb, err := x.tombstones(ctx)
	if err != nil {
		return st, err
	}
	p, err := plan.New(plan.Input{Changes: changes, Keys: x.t.opts.Keys, TruncateBefore: truncateBefore,
		Tombstones: tomb, Now: x.t.now(), Horizon: x.t.opts.TombstoneHorizon, NoTombstones: x.t.opts.NoTombstones})
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	fs, err := x.tbl.FS(ctx)
	if err != nil {
		return st, fmt.Errorf("open table io of %s: %w", x.name(), err)
	}
	var refs map[string]ice.DataFile
	var scanned int
	if loc != nil {
		refs, err = x.matchLocated(ctx, p, loc)
	} else {
		refs, scanned, err = x.matchStored(ctx, fs, changes, truncateBefore, p)
	}
	if err != nil {
		return st, err
	}
	d, err := p.Decide()
	if err != nil {
		return st, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	x.tomb, x.tombChanged = d.Tombstones, x.tombChanged || d.TombstonesChanged
	if x.journal != nil {
		x.journalStale = p.StaleRows()
	}
	if x.pending != nil {
		x.edits = append(x.edits, d.Edits...) // for a truncate in FinishChunks
	}
	st = d.Stats
	st.FilesScanned = int64(scanned) // position deletes scanned with them
	// The plan is not needed once the rows to write are filled: taking the
	// removals now lets its per-change state go before the data files are
	// written (the peak of a full load).
	removed := p.Removed()

	// New rows: the inserts and updates, in change order.
	ib := array.NewInt64Builder(x.t.mem)
	defer ib.Release()
	for i := range n {
		if p.Verdict(i).Writes() {
			ib.Append(int64(i))
		}
	}
	if ib.Len() > 0 {
		idx := ib.NewInt64Array()
		defer idx.Release()
		// Columns a change left out take the stored row's value.
		filled, err := x.fillKept(ctx, fs, changes, idx, p)
		if err != nil {
			return st, err
		}
		defer filled.Release()
		files, bytes, err := x.writeRows(ctx, filled, idx)
		if err != nil {
			return st, err
		}
		x.dataFiles = append(x.dataFiles, files...)
		st.DataFiles += int64(len(files))
		st.BytesWritten += bytes
	}
	if x.pending != nil {
		// A chunk: FinishChunks writes the deletes of all chunks.
		x.keepPending(p, removed, refs)
		return st, nil
	}
	// A position-delete file per data file that loses rows.
	for _, r := range removed {
		if err := x.addPositionDeletes(ctx, fs, refs[r.File], r.Positions, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// matchStored hands plan p the live rows of every data file that may
// hold a changed key (all of them for a reload), and returns the files
// read by path and how many.
func (x *Txn) matchStored(ctx context.Context, fs iceio.IO, changes arrow.RecordBatch, truncateBefore []byte, p *plan.Plan) (map[string]ice.DataFile, int, error) {
	tasks, err := x.candidates(ctx, changes, truncateBefore == nil)
	if err != nil {
		return nil, 0, err
	}
	dels := newDeleteCache(fs, x.t.mem)
	refs := make(map[string]ice.DataFile, len(tasks))
	deads := make([][]int64, len(tasks))
	for i, task := range tasks {
		path := task.File.FilePath()
		refs[path] = task.File
		if deads[i], err = dels.positionsFor(ctx, path, task.DeleteFiles); err != nil {
			return nil, 0, err
		}
	}
	idx, err := p.KeyIndex()
	if err != nil {
		return nil, 0, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	if truncateBefore == nil && idx != nil && idx.Lead() != nil {
		// The usual merge (an integer key, or a key of several columns
		// whose first is an integer): only the rows holding a changed key
		// matter.
		if err := x.matchFiles(ctx, fs, changes, tasks, deads, idx, p); err != nil {
			return nil, 0, err
		}
		return refs, len(tasks), nil
	}
	// A reload sees every row's _seq; other keys are matched by their
	// encoding.
	for i, task := range tasks {
		path := task.File.FilePath()
		err = x.scanKeys(ctx, fs, path, func(rec arrow.RecordBatch, base int64) error {
			return p.Match(path, rec, base, deads[i])
		})
		if err != nil {
			return nil, 0, fmt.Errorf("read keys of %s: %w", path, err)
		}
	}
	return refs, len(tasks), nil
}

// matchLocated hands plan p the stored rows of ApplyLocated, once their
// snapshot is known to be the Txn's, and returns the live data files by
// path (the files that lose rows are among them).
func (x *Txn) matchLocated(ctx context.Context, p *plan.Plan, loc *located) (map[string]ice.DataFile, error) {
	var began int64 // no snapshot
	snap := x.tbl.CurrentSnapshot()
	if snap != nil {
		began = snap.SnapshotID
	}
	if loc.at.State != began {
		return nil, fmt.Errorf("apply to %s: the stored rows were read from snapshot %d, the commit is built on %d: %w", x.name(), loc.at.State, began, table.ErrConflict)
	}
	refs := map[string]ice.DataFile{}
	if snap != nil && len(loc.at.Files) > 0 {
		tasks, err := x.tbl.Scan().PlanFiles(ctx)
		if err != nil {
			return nil, fmt.Errorf("plan files of %s: %w", x.name(), err)
		}
		for _, task := range tasks {
			refs[task.File.FilePath()] = task.File
		}
	}
	for _, f := range loc.at.Files {
		if _, ok := refs[f.Path]; !ok {
			return nil, fmt.Errorf("apply to %s: located stored rows in %s, not a live file of snapshot %d: %w", x.name(), f.Path, began, table.ErrConflict)
		}
	}
	if err := p.MatchLocated(loc.rows, loc.at); err != nil {
		return nil, fmt.Errorf("apply to %s: %w", x.name(), err)
	}
	return refs, nil
}

// keepPending adds what chunk plan p matched to x.pending: the rows it
// removes and the stored rows of its stale changes (which stay, and which
// a truncate must not take either).
func (x *Txn) keepPending(p *plan.Plan, removed []plan.Removal, refs map[string]ice.DataFile) {
	entry := func(path string) *pendingDeletes {
		pd := x.pending[path]
		if pd == nil {
			pd = &pendingDeletes{ref: refs[path]}
			x.pending[path] = pd
		}
		return pd
	}
	for _, r := range removed {
		pd := entry(r.File)
		pd.removed = append(pd.removed, r.Positions...)
	}
	for i := range p.Len() {
		if p.Verdict(i) != plan.Stale {
			continue
		}
		if at, ok := p.StoredAt(i); ok {
			pd := entry(at.File)
			pd.kept = append(pd.kept, at.Pos)
		}
	}
}

// candidates returns the live data files that may hold one of the changed
// keys when prune is set: pruned by partition and key bounds when the key
// set is small enough for an IN filter, else by key bucket (bucketTasks);
// every live file without prune.
func (x *Txn) candidates(ctx context.Context, changes arrow.RecordBatch, prune bool) ([]icetable.FileScanTask, error) {
	if x.tbl.CurrentSnapshot() == nil {
		return nil, nil
	}
	var opts []icetable.ScanOption
	if f := inFilter(changes, x.t.opts.Keys); prune && f != nil {
		if keyWidened(x.tbl, x.t.opts.Keys[0]) {
			// iceberg-go cannot read the 4-byte bounds of older files (see
			// promote.go): prune by partition and promoted bounds here.
			tasks, err := x.tbl.Scan().PlanFiles(ctx)
			if err != nil {
				return nil, fmt.Errorf("plan files of %s: %w", x.name(), err)
			}
			return pruneWidened(x.tbl, x.t.opts.Keys[0], keyColumn(changes, x.t.opts.Keys[0]), tasks), nil
		}
		opts = append(opts, icetable.WithRowFilter(f))
	}
	tasks, err := x.tbl.Scan(opts...).PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan files of %s: %w", x.name(), err)
	}
	if prune && len(opts) == 0 {
		// Too many keys for an IN filter (a chunk of a backfill): the
		// files of their key buckets.
		tasks = x.bucketTasks(changes, tasks)
	}
	return tasks, nil
}

// inFilter builds key IN (...) on the first key column (for a key of
// several columns, a file whose first column holds none of the changes'
// values holds none of their keys), of a type iceberg-go can prune on,
// when the set is small; nil means scan every file.
func inFilter(changes arrow.RecordBatch, keys []string) ice.BooleanExpression {
	if len(keys) == 0 || changes.NumRows() > maxInKeys {
		return nil
	}
	col := changes.Column(changes.Schema().FieldIndices(keys[0])[0])
	ref := ice.Reference(keys[0])
	switch a := col.(type) {
	case *array.Int32:
		return ice.IsIn(ref, a.Int32Values()...)
	case *array.Int64:
		return ice.IsIn(ref, a.Int64Values()...)
	case *array.String:
		vs := make([]string, a.Len())
		for i := range vs {
			vs[i] = a.Value(i)
		}
		return ice.IsIn(ref, vs...)
	}
	return nil
}

// scanKeys reads the key columns and _seq of one data file, batch by batch;
// fn gets each batch and the file position of its first row.
func (x *Txn) scanKeys(ctx context.Context, fs iceio.IO, path string, fn func(arrow.RecordBatch, int64) error) error {
	pr, err := openParquet(fs, path)
	if err != nil {
		return err
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, x.t.mem)
	if err != nil {
		return err
	}
	var cols []int
	for _, name := range append(slices.Clone(x.t.opts.Keys), change.ColSeq) {
		i := pr.MetaData().Schema.ColumnIndexByName(name)
		if i < 0 {
			return fmt.Errorf("column %s missing", name)
		}
		cols = append(cols, i)
	}
	rr, err := fr.GetRecordReader(ctx, cols, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	var base int64
	for rr.Next() {
		rec := rr.RecordBatch()
		if err := fn(rec, base); err != nil {
			return err
		}
		base += rec.NumRows()
	}
	if err := rr.Err(); err != nil && err != io.EOF {
		return err
	}
	return nil
}

// matchFiles finds the stored rows of the changed keys (an integer key,
// or one of several columns whose first is an integer: idx.Lead()) in the
// data files of tasks (deads: each file's deleted positions) with
// table.ScanMatches, several files at a time, and hands them to the plan
// file by file in task order; a file whose key columns ScanMatches cannot
// read (table.ErrKeyTypes) is read whole.
func (x *Txn) matchFiles(ctx context.Context, fs iceio.IO, changes arrow.RecordBatch, tasks []icetable.FileScanTask, deads [][]int64, idx *table.KeyIndex, p *plan.Plan) error {
	type result struct {
		ms  []table.Match
		cnt table.ScanCounts
		err error
	}
	res := make([]result, len(tasks))
	minSeq := p.MinSeq()
	leads := x.bucketLeads(changes, tasks)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(tasks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r := &res[i]
				r.ms, r.cnt, r.err = x.scanMatches(fs, tasks[i].File.FilePath(), idx, leads[i], deads[i], minSeq)
			}
		}()
	}
	for i := range tasks {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for i, task := range tasks {
		path := task.File.FilePath()
		if errors.Is(res[i].err, table.ErrKeyTypes) {
			// Key columns of other physical types (an older file): read
			// them whole.
			err := x.scanKeys(ctx, fs, path, func(rec arrow.RecordBatch, base int64) error {
				return p.Match(path, rec, base, deads[i])
			})
			if err != nil {
				return fmt.Errorf("read keys of %s: %w", path, err)
			}
			continue
		}
		if res[i].err != nil {
			return fmt.Errorf("read keys of %s: %w", path, res[i].err)
		}
		if err := p.MatchFound(path, res[i].ms, res[i].cnt); err != nil {
			return fmt.Errorf("apply to %s: %w", x.name(), err)
		}
	}
	return nil
}

// openParquet opens the data file at path as a Parquet file; closing the
// reader closes the file.
func openParquet(fs iceio.IO, path string) (*file.Reader, error) {
	pr, _, err := openParquetAt(fs, path)
	return pr, err
}

// openParquetAt is openParquet, returning the file's bytes too, for the
// key scan's page pruning (table.PagePruning's Raw); they stay readable
// until the reader is closed.
func openParquetAt(fs iceio.IO, path string) (*file.Reader, io.ReaderAt, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, nil, err
	}
	pr, err := file.NewParquetReader(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return pr, f, nil
}

// scanMatches runs table.ScanMatchesAt on the data file at path (its
// bytes at hand too: iceberg-go writes no page index, so the key pages are
// pruned by their headers' statistics), with lead the changed first-key
// values the file can hold (nil: any).
func (x *Txn) scanMatches(fs iceio.IO, path string, idx *table.KeyIndex, lead []int64, dead []int64, minSeq []byte) ([]table.Match, table.ScanCounts, error) {
	pr, f, err := openParquetAt(fs, path)
	if err != nil {
		return nil, table.ScanCounts{}, err
	}
	defer pr.Close()
	sch := pr.MetaData().Schema
	keys := make([]int, len(x.t.opts.Keys))
	for i, k := range x.t.opts.Keys {
		if keys[i] = sch.ColumnIndexByName(k); keys[i] < 0 {
			return nil, table.ScanCounts{}, fmt.Errorf("column %s missing", k)
		}
	}
	seq := sch.ColumnIndexByName(change.ColSeq)
	if seq < 0 {
		return nil, table.ScanCounts{}, fmt.Errorf("column %s missing", change.ColSeq)
	}
	return table.ScanMatchesAt(table.PagePruning{Raw: f, Lead: lead}, pr, keys, seq, idx, dead, minSeq)
}

// writeRows writes the rows of changes at idx (without _op) as new data
// files: bucket after bucket when the table is partitioned by a key
// bucket alone (writeClustered), else through iceberg-go's fan-out writer
// (a file open per partition).
func (x *Txn) writeRows(ctx context.Context, changes arrow.RecordBatch, idx *array.Int64) ([]ice.DataFile, int64, error) {
	target, err := icetable.SchemaToArrowSchema(x.tbl.Schema(), nil, false, false)
	if err != nil {
		return nil, 0, fmt.Errorf("convert schema of %s: %w", x.name(), err)
	}
	if len(x.t.opts.Layout.Sort) == 0 {
		order, ends, err := x.bucketOrder(changes, idx)
		if err != nil {
			return nil, 0, fmt.Errorf("write %s: %w", x.name(), err)
		}
		if order != nil {
			// A table partitioned by key bucket alone (the default
			// layout): the rows go bucket after bucket through one open
			// file per writer, taken a slice at a time, instead of a
			// copy of them all fanned out to a file per bucket at once.
			defer order.Release()
			return x.writeClustered(ctx, target, changes, order, ends)
		}
	}
	rec, err := x.targetRows(ctx, target, changes, idx)
	if err != nil {
		return nil, 0, err
	}
	defer rec.Release()
	var wopts []icetable.WriteRecordOption
	if len(x.t.opts.Layout.Sort) > 0 {
		// Files in sort order (layout.go): the rows sorted, handed over
		// in order by one fan-out worker.
		sorted, err := table.SortRows(ctx, x.t.mem, rec, x.t.opts.Layout.Sort)
		if err != nil {
			return nil, 0, fmt.Errorf("write %s: %w", x.name(), err)
		}
		defer sorted.Release()
		rec = sorted
		wopts = append(wopts, icetable.WithMaxWriteWorkers(1))
	} else if x.pending != nil {
		// A chunk (its rows in key order, of one bucket or a few): one
		// fan-out worker keeps them in order, so each bucket's file is
		// key-sorted. Each partition has its own encoding goroutine
		// either way.
		wopts = append(wopts, icetable.WithMaxWriteWorkers(1))
	}
	out, bytes, _, err := x.writeBatches(ctx, target, recordSlices(rec), wopts...)
	return out, bytes, err
}

// bucketOrder returns idx, rows of changes, grouped by key bucket (in idx
// order within a bucket) when the table is partitioned by a key bucket
// and nothing else, and where each bucket's rows end in it (ends[b]);
// nil otherwise, and for a key type Iceberg's bucket transform does not
// take (a boolean key: it goes through the fan-out writer, as before).
// The caller releases order.
func (x *Txn) bucketOrder(changes arrow.RecordBatch, idx *array.Int64) (order *array.Int64, ends []int, _ error) {
	if spec := x.tbl.Spec(); spec.NumFields() != 1 {
		return nil, nil, nil
	}
	_, n, col, ok := specBucket(x.tbl, func(c string) bool { return slices.Contains(x.t.opts.Keys, c) })
	if !ok {
		return nil, nil, nil
	}
	ci := changes.Schema().FieldIndices(col)
	if len(ci) != 1 {
		return nil, nil, fmt.Errorf("change set lacks key column %s", col)
	}
	buckets, err := appendBuckets(nil, changes.Column(ci[0]), n)
	if errors.Is(err, errBucketType) {
		return nil, nil, nil // a boolean key: the fan-out writer, as before
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bucket keys: key column %s: %w", col, err)
	}
	// A counting sort by bucket, stable.
	start := make([]int, n+1)
	for _, i := range idx.Int64Values() {
		start[buckets[i]+1]++
	}
	for b := range n {
		start[b+1] += start[b]
	}
	sorted := make([]int64, idx.Len())
	for _, i := range idx.Int64Values() {
		b := buckets[i]
		sorted[start[b]] = i
		start[b]++
	}
	ob := array.NewInt64Builder(x.t.mem)
	defer ob.Release()
	ob.AppendValues(sorted, nil)
	return ob.NewInt64Array(), start[:n], nil // each start has moved to its end
}

// writeClustered writes the rows of changes at order, grouped by
// partition (ends: where each partition's rows end in order), with one
// clustered writer (one open file) per group of whole partitions, up to
// GOMAXPROCS groups of about the same rows at once; on failure it
// removes the files every group wrote.
func (x *Txn) writeClustered(ctx context.Context, target *arrow.Schema, changes arrow.RecordBatch, order *array.Int64, ends []int) ([]ice.DataFile, int64, error) {
	type result struct {
		files []ice.DataFile
		bytes int64
		err   error
	}
	groups := max(min(runtime.GOMAXPROCS(0), order.Len()/writeSlice), 1)
	res := make([]result, groups)
	var wg sync.WaitGroup
	from := 0
	for g := range groups {
		// The group ends with the first partition that reaches its
		// share of the rows: a partition goes whole to one group.
		to := order.Len() * (g + 1) / groups
		if i, _ := slices.BinarySearch(ends, to); i < len(ends) {
			to = ends[i]
		}
		rows := array.NewSlice(order, int64(from), int64(to))
		from = to
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rows.Release()
			r := &res[g]
			r.files, r.bytes, _, r.err = x.writeBatches(ctx, target, x.takenSlices(ctx, target, changes, rows.(*array.Int64)), icetable.WithClusteredWrite())
		}()
	}
	wg.Wait()
	var out []ice.DataFile
	var bytes int64
	var errs []error
	for _, r := range res {
		out = append(out, r.files...)
		bytes += r.bytes
		errs = append(errs, r.err)
	}
	if err := errors.Join(errs...); err != nil {
		// Nothing references the files of the groups that succeeded
		// either (best effort, as writeBatches' own).
		if fs, ferr := x.tbl.FS(ctx); ferr == nil {
			for _, df := range out {
				_ = fs.Remove(df.FilePath())
			}
		}
		return nil, 0, err
	}
	return out, bytes, nil
}

// takenSlices yields the rows of changes at order with the columns of
// target, takeSlice rows at a time, each a copy (released by the
// writer).
func (x *Txn) takenSlices(ctx context.Context, target *arrow.Schema, changes arrow.RecordBatch, order *array.Int64) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for off := 0; off < order.Len(); off += takeSlice {
			part := array.NewSlice(order, int64(off), int64(min(off+takeSlice, order.Len())))
			rec, err := x.targetRows(ctx, target, changes, part)
			part.Release()
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

// targetRows returns the rows of changes at idx with the columns of
// target, in its order; the caller releases it.
func (x *Txn) targetRows(ctx context.Context, target *arrow.Schema, changes arrow.RecordBatch, idx arrow.Array) (arrow.RecordBatch, error) {
	cctx := compute.WithAllocator(ctx, x.t.mem)
	cols := make([]arrow.Array, 0, target.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	// Every change row is written (a table's first load, or only new
	// keys): use the columns as they are instead of copying them.
	all := idx.Len() == int(changes.NumRows()) && isIdentity(idx.(*array.Int64))
	for _, f := range target.Fields() {
		ci := changes.Schema().FieldIndices(f.Name)
		if len(ci) != 1 {
			return nil, fmt.Errorf("write %s: change set lacks column %s", x.name(), f.Name)
		}
		col := changes.Column(ci[0])
		if !arrow.TypeEqual(col.DataType(), f.Type) {
			return nil, fmt.Errorf("write %s: column %s is %s, table has %s", x.name(), f.Name, col.DataType(), f.Type)
		}
		if all {
			col.Retain()
			cols = append(cols, col)
			continue
		}
		taken, err := compute.TakeArray(cctx, col, idx)
		if err != nil {
			return nil, fmt.Errorf("write %s: take %s: %w", x.name(), f.Name, err)
		}
		cols = append(cols, taken)
	}
	return array.NewRecordBatch(target, cols, int64(idx.Len())), nil
}

// writeSlice is how many rows of a record the writer is handed at a time.
const writeSlice = 128 << 10

// takeSlice is how many rows takenSlices copies at a time: a writer
// queues up to writerQueue of them.
const takeSlice = 32 << 10

// recordSlices yields rec in slices of writeSlice rows (zero-copy), so the
// partitioned writer streams them into row groups instead of fanning out
// one huge batch.
func recordSlices(rec arrow.RecordBatch) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for off := int64(0); off < rec.NumRows(); off += writeSlice {
			if !yield(rec.NewSlice(off, min(off+writeSlice, rec.NumRows())), nil) { // WriteRecords releases it
				return
			}
		}
	}
}

// writeBatches writes batches (of schema target, released by the writer)
// as new data files of the table's target size, with the write options
// extra (after the file size and queue), checks that the files hold the rows
// handed over, and returns the files, their bytes and rows. On failure
// it removes the files written so far.
func (x *Txn) writeBatches(ctx context.Context, target *arrow.Schema, batches iter.Seq2[arrow.RecordBatch, error], extra ...icetable.WriteRecordOption) ([]ice.DataFile, int64, int64, error) {
	wopts := append([]icetable.WriteRecordOption{icetable.WithTargetFileSize(x.t.opts.TargetFileBytes), icetable.WithRecordBatchBufferSize(writerQueue)}, extra...)
	// iceberg-go may lose a writer's error (see failureIO): write through
	// an IO that remembers every failure and fail with it.
	wtbl, fio, err := withFailureIO(ctx, x.tbl)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("write data files of %s: %w", x.name(), err)
	}
	var out []ice.DataFile
	var bytes, rows, handed int64
	fail := func(err error) ([]ice.DataFile, int64, int64, error) {
		if ferr := fio.err(); ferr != nil {
			err = ferr // names the file and what failed
		}
		// Nothing references the files written so far: remove them (best
		// effort; Vacuum deletes what is left).
		for _, df := range out {
			_ = fio.Remove(df.FilePath())
		}
		return nil, 0, 0, fmt.Errorf("write data files of %s: %w", x.name(), err)
	}
	counted := func(yield func(arrow.RecordBatch, error) bool) {
		for r, err := range batches {
			if r != nil {
				handed += r.NumRows()
			}
			if !yield(r, err) {
				return
			}
		}
	}
	for df, err := range icetable.WriteRecords(ctx, wtbl, target, counted, wopts...) {
		if err != nil {
			return fail(err)
		}
		out = append(out, df)
		bytes += df.FileSizeBytes()
		rows += df.Count()
	}
	if err := fio.err(); err != nil {
		return fail(err)
	}
	if rows != handed {
		return fail(fmt.Errorf("%d files hold %d rows, %d were handed to the writer", len(out), rows, handed))
	}
	return out, bytes, rows, nil
}

// writePositionDeletes writes one position-delete file for data file ref:
// zstd level 1, as the data files (write.parquet.compression-level) and
// the tombstone file. At the default level every file took a zstd
// encoder whose tables (about 1 MB) were allocated and cleared for a few
// KB of output: 5.9 ms a file of 300 positions when the encoder pool was
// emptied by a collection, 1.7 ms at level 1 (0.45 and 0.30 ms with a
// warm pool), 7% smaller; a run writes one for each data file it
// deletes from and a minor pass one for each data file it merges the
// deletes of.
func (x *Txn) writePositionDeletes(ctx context.Context, fs iceio.IO, ref ice.DataFile, pos []int64) (ice.DataFile, int64, error) {
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return nil, 0, fmt.Errorf("write deletes of %s: table io cannot write", x.name())
	}
	refPath := ref.FilePath()
	path := fmt.Sprintf("%s/data/lm-%s-deletes.parquet", trimSlash(x.tbl.Location()), uuid.NewString())
	b := array.NewRecordBuilder(x.t.mem, icetable.PositionalDeleteArrowSchema)
	defer b.Release()
	pb, sb := b.Field(1).(*array.Int64Builder), b.Field(0).(*array.StringBuilder)
	for _, p := range pos {
		sb.Append(refPath)
		pb.Append(p)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	w, err := wfs.Create(path)
	if err != nil {
		return nil, 0, fmt.Errorf("create %s: %w", path, err)
	}
	cw := &countingWriter{w: w}
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithCompressionLevel(1),
		parquet.WithDataPageVersion(parquet.DataPageV1),
		parquet.WithStats(true),
		parquet.WithAllocator(x.t.mem))
	pw, err := pqarrow.NewFileWriter(icetable.PositionalDeleteArrowSchema, cw, props, pqarrow.DefaultWriterProps())
	if err != nil {
		w.Close()
		return nil, 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := pw.Write(rec); err != nil {
		pw.Close()
		return nil, 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := pw.Close(); err != nil {
		return nil, 0, fmt.Errorf("close %s: %w", path, err)
	}
	meta, err := pw.FileMetadata()
	if err != nil {
		return nil, 0, fmt.Errorf("footer of %s: %w", path, err)
	}
	// The delete file takes the partition of its data file, under that
	// file's spec (an older one after partition evolution).
	spec := x.tbl.Spec()
	if s := x.tbl.Metadata().PartitionSpecByID(int(ref.SpecID())); s != nil {
		spec = *s
	}
	df, err := icetable.DataFileFromMetadata(icetable.DataFileArgs{
		Schema:             ice.PositionalDeleteSchema,
		Spec:               spec,
		Format:             ice.ParquetFile,
		Metadata:           meta,
		FilePath:           path,
		FileSize:           cw.n,
		Content:            ice.EntryContentPosDeletes,
		PartitionValues:    ref.Partition(),
		FormatVersion:      2,
		ReferencedDataFile: &refPath,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("describe %s: %w", path, err)
	}
	return df, cw.n, nil
}

// isIdentity reports whether idx is 0, 1, 2, ...
func isIdentity(idx *array.Int64) bool {
	for i, v := range idx.Int64Values() {
		if v != int64(i) {
			return false
		}
	}
	return true
}

type countingWriter struct {
	w io.WriteCloser
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Close() error { return c.w.Close() }

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
