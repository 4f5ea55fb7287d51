package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// maxCompactAttempts bounds how often one bucket's compaction is planned
// again after a concurrent commit won: a table a run commits to every few
// seconds can starve a compaction; the next pass tries again.
const maxCompactAttempts = 3

// bucket is one partition's part of a compaction plan: the data files a
// pass may rewrite or merge the deletes of (each with the delete files
// that apply to it), how many delete and small files the partition
// holds, and its largest data file.
type bucket struct {
	key         string // the partition values, rendered
	tasks       []icetable.FileScanTask
	deleteFiles int
	withDeletes int // data files with position-delete files
	smallFiles  int
	largest     string // the path of the partition's largest data file
}

// due reports whether b crosses one of p's compaction thresholds and
// compacting it would change something.
func (b bucket) due(p table.Policy) bool { return b.reaches(p, 1) }

// reaches reports whether b holds at least 1/part of one of p's count
// thresholds (delete files, small files) and compacting it would change
// something. The deleted share of a file (RewriteDeletedPct) is no
// threshold: it chooses, inside a pass due by the counts, which files are
// rewritten. As a trigger it made a small table, whose every file has a
// large deleted share after one delete, compact after every run.
func (b bucket) reaches(p table.Policy, part int) bool {
	if b.work(p).empty() {
		return false
	}
	return (p.CompactDeleteFiles > 0 && b.dueDeletes(p)*part >= p.CompactDeleteFiles) ||
		(p.CompactSmallFiles > 0 && b.smallFiles*part >= p.CompactSmallFiles)
}

// dueDeletes is the count of b's delete files that p's CompactDeleteFiles
// is compared with: all of them, or, for a minor pass, those beyond one a
// data file (what a minor pass merges away; one a data file it leaves).
func (b bucket) dueDeletes(p table.Policy) int {
	if p.RewriteDeletedPct > 0 {
		return b.deleteFiles - b.withDeletes
	}
	return b.deleteFiles
}

// work is what a compaction does to one bucket.
type work struct {
	rewrite []icetable.FileScanTask // data files rewritten, their deletes applied
	merge   []icetable.FileScanTask // data files kept whose position-delete files are merged into one
}

func (w work) empty() bool { return len(w.rewrite) == 0 && len(w.merge) == 0 }

// work plans b's compaction under p. With p.RewriteDeletedPct 0 it
// rewrites every data file that has deletes or is small. Otherwise (a
// minor pass) it rewrites the files of which at least RewriteDeletedPct
// percent of the rows are deleted (or that have other than position
// deletes) and bin-packs the small data files but the bucket's largest
// by tiers (tier); it keeps the others and merges the position-delete files of each kept file that has
// more than one, or whose delete file also applies to a file rewritten or
// merged (a delete file leaves the table only when every data file it
// applies to is rewritten or gets a merged one). A lone data file without
// deletes is not rewritten: that would change nothing.
func (b bucket) work(p table.Policy) work {
	var w work
	if p.RewriteDeletedPct <= 0 {
		w.rewrite = b.tasks
	} else {
		var keep, small []icetable.FileScanTask
		for _, t := range b.tasks {
			switch {
			case deletedPct(t) >= float64(p.RewriteDeletedPct) || len(posDeletes(t)) < len(t.DeleteFiles):
				w.rewrite = append(w.rewrite, t)
			case t.File.FileSizeBytes() < p.SmallFileBytes && t.File.FilePath() != b.largest:
				small = append(small, t)
			default:
				keep = append(keep, t)
			}
		}
		packed, left := tier(small)
		if len(packed) > 1 || len(w.rewrite) > 0 {
			w.rewrite = append(w.rewrite, packed...)
		} else {
			left = append(left, packed...)
		}
		w.merge = mergeable(w.rewrite, append(keep, left...))
	}
	if len(w.rewrite) == 1 && len(posDeletes(w.rewrite[0])) == 0 {
		w.rewrite = nil
	}
	return w
}

// tierRatio: a small file joins the files smaller than it in a minor
// pass's bin-pack while it is at most tierRatio times their size
// together.
const tierRatio = 2

// tier splits small files into those a minor pass bin-packs into one and
// those it leaves: smallest first, a file joins while it is at most
// tierRatio times the size of the files taken before it. The file the
// last passes packed stays until the runs' files since are about half its
// size, so a pass rewrites what the runs wrote since about the last one
// (each row is rewritten a few times, log2 of the runs, not once a pass)
// and a bucket keeps about log2 of the runs since its last rewrite of
// small files, each of twice the size of the one before.
func tier(small []icetable.FileScanTask) (packed, left []icetable.FileScanTask) {
	small = slices.Clone(small)
	slices.SortFunc(small, func(a, b icetable.FileScanTask) int {
		return cmp.Compare(a.File.FileSizeBytes(), b.File.FileSizeBytes())
	})
	var sum int64
	for i, t := range small {
		if i > 0 && t.File.FileSizeBytes() > tierRatio*sum {
			return small[:i], small[i:]
		}
		sum += t.File.FileSizeBytes()
	}
	return small, nil
}

// mergeable returns the tasks of keep whose position-delete files a minor
// pass merges: those with more than one, and, until none is left, those
// with a delete file that a rewritten or merged task's removal takes away.
func mergeable(rewrite, keep []icetable.FileScanTask) []icetable.FileScanTask {
	removed := map[string]bool{}
	remove := func(t icetable.FileScanTask) {
		for _, d := range posDeletes(t) {
			removed[d.FilePath()] = true
		}
	}
	for _, t := range rewrite {
		remove(t)
	}
	merged := make([]bool, len(keep))
	for changed := true; changed; {
		changed = false
		for i, t := range keep {
			ds := posDeletes(t)
			if merged[i] || len(ds) == 0 {
				continue
			}
			if len(ds) > 1 || slices.ContainsFunc(ds, func(d ice.DataFile) bool { return removed[d.FilePath()] }) {
				merged[i], changed = true, true
				remove(t)
			}
		}
	}
	var out []icetable.FileScanTask
	for i, t := range keep {
		if merged[i] {
			out = append(out, t)
		}
	}
	return out
}

// posDeletes returns the position-delete files of t.
func posDeletes(t icetable.FileScanTask) []ice.DataFile {
	var out []ice.DataFile
	for _, d := range t.DeleteFiles {
		if d.ContentType() == ice.EntryContentPosDeletes {
			out = append(out, d)
		}
	}
	return out
}

// deletedPct is the percentage of t's rows that its position-delete files
// delete, by their record counts. A delete file that also applies to
// other data files (lakemerge writes one per data file) counts whole: the
// share is then overstated, never understated.
func deletedPct(t icetable.FileScanTask) float64 {
	if t.File.Count() <= 0 {
		return 0
	}
	var n int64
	for _, d := range posDeletes(t) {
		n += d.Count()
	}
	return float64(n) * 100 / float64(t.File.Count())
}

// buckets plans the current snapshot of tbl by partition: per partition,
// the data files that have deletes or are smaller than smallBytes (the
// files a compaction rewrites or merges the deletes of) and the largest
// data file, and the table's file statistics.
func buckets(ctx context.Context, tbl *icetable.Table, smallBytes int64) ([]bucket, table.FileStats, error) {
	var fs table.FileStats
	fs.Versions = int64(len(tbl.Metadata().Snapshots()))
	if tbl.CurrentSnapshot() == nil {
		return nil, fs, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fs, fmt.Errorf("plan files: %w", err)
	}
	byKey := map[string]*bucket{}
	largest := map[string]int64{}
	seenDel := map[string]bool{}
	for _, task := range tasks {
		key := partitionKey(task.File)
		b := byKey[key]
		if b == nil {
			b = &bucket{key: key}
			byKey[key] = b
		}
		fs.DataFiles++
		fs.Bytes += task.File.FileSizeBytes()
		if size, ok := largest[key]; !ok || task.File.FileSizeBytes() > size {
			largest[key], b.largest = task.File.FileSizeBytes(), task.File.FilePath()
		}
		small := task.File.FileSizeBytes() < smallBytes
		if small {
			fs.SmallFiles++
			b.smallFiles++
		}
		dels := posDeletes(task)
		for _, d := range dels {
			if !seenDel[d.FilePath()] {
				seenDel[d.FilePath()] = true
				fs.DeleteFiles++
				fs.Bytes += d.FileSizeBytes()
				b.deleteFiles++
			}
		}
		if len(dels) > 0 {
			b.withDeletes++
		}
		if small || len(dels) > 0 {
			b.tasks = append(b.tasks, task)
		}
	}
	out := make([]bucket, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out = append(out, *byKey[k])
	}
	return out, fs, nil
}

// filePlan is a plan of a snapshot's files by bucket (buckets), kept by
// Table.plan for the next caller that plans the same snapshot.
type filePlan struct {
	manifestList string // the snapshot's, which names its files for good
	small        int64
	buckets      []bucket
	stats        table.FileStats
}

// plan is buckets, planned once per snapshot and small-file size: a run
// that commits and then asks Due and Files (and Maintain, when due)
// reads the snapshot's manifests once. The plan is kept by the snapshot's
// manifest list, which no commit changes; Versions is counted anew.
func (t *Table) plan(ctx context.Context, tbl *icetable.Table, smallBytes int64) ([]bucket, table.FileStats, error) {
	cur := tbl.CurrentSnapshot()
	if cur == nil {
		return buckets(ctx, tbl, smallBytes)
	}
	t.planMu.Lock()
	last := t.lastPlan
	t.planMu.Unlock()
	if last != nil && last.manifestList == cur.ManifestList && last.small == smallBytes {
		fs := last.stats
		fs.Versions = int64(len(tbl.Metadata().Snapshots()))
		return last.buckets, fs, nil
	}
	bs, fs, err := buckets(ctx, tbl, smallBytes)
	if err != nil {
		return nil, fs, err
	}
	t.planMu.Lock()
	t.lastPlan = &filePlan{manifestList: cur.ManifestList, small: smallBytes, buckets: bs, stats: fs}
	t.planMu.Unlock()
	return bs, fs, nil
}

// partitionKey renders a data file's spec and partition values.
func partitionKey(df ice.DataFile) string {
	p := df.Partition()
	var s strings.Builder
	fmt.Fprintf(&s, "spec=%d", df.SpecID())
	for _, id := range slices.Sorted(maps.Keys(p)) {
		fmt.Fprintf(&s, " %d=%v", id, p[id])
	}
	return s.String()
}

// compact compacts (bucket.work: rewrites files, merges delete files),
// when a bucket is due under p, every bucket halfway to p's thresholds
// (the due ones among them), all in ONE rewrite commit,
// planned from the table state that commit asserts. A commit per bucket
// would rewrite every manifest once per bucket (each run's manifests hold
// files of every bucket) and add a snapshot per bucket; one commit
// rewrites them once. When a concurrent commit wins, the pass is planned
// again from the new state (at most maxCompactAttempts times): a rewrite
// planned from an earlier state would miss the delete files committed
// since and bring their rows back. A landed rewrite is followed by
// dropDeadManifests (a second snapshot without the manifests of the
// removed files).
func (t *Table) compact(ctx context.Context, p table.Policy) (table.MaintenanceStats, error) {
	var st table.MaintenanceStats
	for attempt := 1; ; attempt++ {
		tbl, err := t.Load(ctx)
		if err != nil || tbl == nil {
			return st, err
		}
		bs, _, err := t.plan(ctx, tbl, p.SmallFileBytes)
		if err != nil {
			return st, fmt.Errorf("compact %s: %w", t.fullName(), err)
		}
		if !slices.ContainsFunc(bs, func(b bucket) bool { return b.due(p) }) {
			return st, nil
		}
		// The pass takes along the buckets halfway to a threshold: they
		// would make the next passes, each rewriting the manifests and
		// adding a snapshot; together, the buckets keep in step.
		var due []bucket
		for _, b := range bs {
			if b.reaches(p, 2) {
				due = append(due, b)
			}
		}
		bst, after, err := t.compactBuckets(ctx, tbl, due, p)
		if err == nil {
			st.Add(bst)
			if after == nil {
				if _, err := t.dropDeadManifests(ctx); err != nil {
					after = fmt.Errorf("after compacting %s: drop the manifests of removed files: %w", t.fullName(), err)
				}
			}
			return st, after
		}
		if !errors.Is(err, table.ErrConflict) && !errors.Is(err, table.ErrCommitUnknown) || attempt == maxCompactAttempts {
			return st, err
		}
		// Someone committed first (or our commit may have landed): plan
		// again from what the table holds now.
		st.Retries++
	}
}

// compactBuckets compacts the buckets bs (planned from tbl) by p, bucket
// by bucket (bucket.work): the data files it rewrites are read with their
// deletes applied and written sorted by key, of the table's target size,
// holding the rows p's memory budget allows (rewriteBucket); the
// position-delete files of each data file it keeps and merges are read
// and written as one (mergeDeletes). It commits all as one rewrite
// snapshot that replaces those data files and the position-delete files
// of both with the new files. The table properties (bookmark, tombstones)
// are not touched: the new metadata carries them forward unchanged.
//
// The commit is a compare-and-swap on the snapshot tbl holds (commitOn,
// never iceberg-go's refresh-and-replay): a run that committed a snapshot
// since (deleting rows of these files, or adding rows) makes it fail with
// table.ErrConflict and nothing is committed, so a rewrite never
// brings back a row deleted after it read the files, nor drops a row added
// after, and a merged delete file never misses a position deleted after
// it read the delete files. A run that began before the rewrite and
// commits after it fails its own compare-and-swap and applies its changes
// again to the rewritten files. after is the error of a step after the
// commit, which stands (deleting metadata files past the log's length;
// Vacuum deletes what is left).
func (t *Table) compactBuckets(ctx context.Context, tbl *icetable.Table, bs []bucket, p table.Policy) (st table.MaintenanceStats, after, err error) {
	began := tbl.MetadataLocation()
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return st, nil, t.classify(ctx, table.BeforeCommit, began, "", fmt.Errorf("compact %s: open table io: %w", t.fullName(), err))
	}
	stat := func(_ context.Context, path string) (int64, error) { return statSize(fsys, path) }
	props := ice.Properties{}
	if s := tbl.CurrentSnapshot(); s != nil && s.Summary != nil {
		for _, k := range []string{SummaryRunsProperty, SummaryObjectsProperty} {
			if v, ok := s.Summary.Properties[k]; ok {
				props[k] = v
			}
		}
	}
	tx := tbl.NewTransaction()
	rw := tx.NewRewrite(props)
	dels := map[string]bool{}
	removeDeletes := func(task icetable.FileScanTask) {
		for _, d := range posDeletes(task) {
			if !dels[d.FilePath()] {
				dels[d.FilePath()] = true
				rw.DeleteFile(d)
				st.DeleteFilesRemoved++
			}
		}
	}
	for _, b := range bs {
		w := b.work(p)
		if len(w.rewrite) > 0 {
			files, held, err := t.rewriteBucket(ctx, tbl, b.key, w.rewrite, p.MemoryBudget, stat)
			if err != nil {
				return st, nil, err
			}
			st.RowsHeld = max(st.RowsHeld, held.rows)
			st.RangePasses += held.passes
			for _, task := range w.rewrite {
				rw.DeleteFile(task.File)
				st.FilesRewritten++
				removeDeletes(task)
			}
			for _, df := range files {
				rw.AddDataFile(df)
			}
			st.FilesWritten += int64(len(files))
		}
		if len(w.merge) > 0 {
			merged, err := t.mergeDeletes(ctx, tbl, fsys, b.key, w.merge, stat)
			if err != nil {
				return st, nil, err
			}
			for _, task := range w.merge {
				removeDeletes(task)
			}
			for _, df := range merged {
				rw.AddDeleteFile(df)
			}
			st.DeleteFilesWritten += int64(len(merged))
		}
	}
	if err := rw.Commit(ctx); err != nil {
		return st, nil, t.classify(ctx, table.BeforeCommit, began, "", fmt.Errorf("compact %s: stage rewrite: %w", t.fullName(), err))
	}
	// The rewrite lands on the snapshot it was planned on only (commitOn);
	// the properties are not asserted: the rewrite does not set them, so
	// the catalog carries forward whatever a run committed meanwhile
	// without a snapshot.
	_, after, err = t.commitOn(ctx, tbl, tx, stateOf(tbl))
	if err != nil {
		return st, nil, t.classify(ctx, table.InCommit, began, "", fmt.Errorf("compact %s: %w", t.fullName(), err))
	}
	st.Compactions = int64(len(bs))
	if after != nil {
		after = fmt.Errorf("after compacting %s: %w", t.fullName(), after)
	}
	return st, after, nil
}

// mergeDeletes writes, for each of tasks (of bucket key, planned from
// tbl), one position-delete file holding every position its
// position-delete files delete, which it verifies (each position once,
// within the data file, the file of the size written) and returns. No
// file is written for a data file whose delete files hold none of its
// positions.
func (t *Table) mergeDeletes(ctx context.Context, tbl *icetable.Table, fsys iceio.IO, key string, tasks []icetable.FileScanTask, stat func(context.Context, string) (int64, error)) ([]ice.DataFile, error) {
	fail := func(err error) ([]ice.DataFile, error) {
		return nil, t.classify(ctx, table.BeforeCommit, tbl.MetadataLocation(), "", fmt.Errorf("compact %s bucket %s: merge deletes: %w", t.fullName(), key, err))
	}
	x := &Txn{t: t, tbl: tbl}
	cache := newDeleteCache(fsys, t.mem)
	var out []ice.DataFile
	for _, task := range tasks {
		path := task.File.FilePath()
		pos, err := cache.positionsFor(ctx, path, posDeletes(task))
		if err != nil {
			return fail(err)
		}
		pos = slices.Compact(pos)
		if len(pos) == 0 {
			continue
		}
		if pos[0] < 0 || pos[len(pos)-1] >= task.File.Count() {
			return fail(fmt.Errorf("data file %s of %d rows has deleted positions %d to %d", path, task.File.Count(), pos[0], pos[len(pos)-1]))
		}
		df, size, err := x.writePositionDeletes(ctx, fsys, task.File, pos)
		if err != nil {
			return fail(err)
		}
		if df.Count() != int64(len(pos)) {
			return fail(fmt.Errorf("merged delete file %s holds %d positions, %d were written", df.FilePath(), df.Count(), len(pos)))
		}
		if got, err := stat(ctx, df.FilePath()); err != nil || got != size {
			return fail(fmt.Errorf("merged delete file %s: %d bytes written, found %d (%v)", df.FilePath(), size, got, err))
		}
		out = append(out, df)
	}
	return out, nil
}

// rewriteBucket reads the live rows of tasks (of bucket key, planned from
// tbl) and writes them sorted by key into new data files, which it
// verifies (they hold exactly the live rows read, and each exists with
// the size recorded) and returns, with the rows it held. Only one
// bucket's rows are in memory at a time; with a budget (bytes, > 0) and a
// table whose files are sorted by key (no layout sort order), only the key
// ranges of it the budget allows (writeRanges).
func (t *Table) rewriteBucket(ctx context.Context, tbl *icetable.Table, key string, tasks []icetable.FileScanTask, budget int64, stat func(context.Context, string) (int64, error)) ([]ice.DataFile, rangeStats, error) {
	fail := func(err error) ([]ice.DataFile, rangeStats, error) {
		return nil, rangeStats{}, t.classify(ctx, table.BeforeCommit, tbl.MetadataLocation(), "", fmt.Errorf("compact %s bucket %s: %w", t.fullName(), key, err))
	}
	x := &Txn{t: t, tbl: tbl}
	var files []ice.DataFile
	var rs rangeStats
	var err error
	if budget > 0 && len(t.opts.Layout.Sort) == 0 {
		if files, rs, err = t.writeRanges(ctx, x, tasks, budget); err != nil {
			return fail(err)
		}
	} else {
		if files, rs, err = t.writeWhole(ctx, x, tasks); err != nil {
			return fail(err)
		}
	}
	w := table.Written{}
	for _, df := range files {
		w.Rows += df.Count()
		w.Files = append(w.Files, table.File{Path: df.FilePath(), Size: df.FileSizeBytes()})
	}
	if err := table.Verify(ctx, table.ApplyStats{Inserted: rs.live}, w, stat); err != nil {
		return nil, rangeStats{}, fmt.Errorf("compact %s bucket %s: %w", t.fullName(), key, err)
	}
	return files, rs, nil
}

// writeWhole reads the live rows of tasks as one record, sorts them by key
// and writes them.
func (t *Table) writeWhole(ctx context.Context, x *Txn, tasks []icetable.FileScanTask) ([]ice.DataFile, rangeStats, error) {
	rec, err := t.readLive(ctx, x.tbl, tasks)
	if err != nil {
		return nil, rangeStats{}, err
	}
	defer rec.Release()
	rs := rangeStats{live: rec.NumRows(), rows: rec.NumRows(), passes: 1}
	if rec.NumRows() == 0 {
		return nil, rs, nil
	}
	order, err := keyOrder(rec, t.opts.Keys, t.mem)
	if err != nil {
		return nil, rangeStats{}, err
	}
	defer order.Release()
	files, _, err := x.writeRows(ctx, rec, order)
	return files, rs, err
}

// readLive reads the live rows of the tasks' data files (their position
// and equality deletes applied) as one record with the table's columns;
// the caller releases it.
func (t *Table) readLive(ctx context.Context, tbl *icetable.Table, tasks []icetable.FileScanTask) (arrow.RecordBatch, error) {
	sc, recs, err := tbl.Scan().ReadTasks(ctx, tasks)
	if err != nil {
		return nil, fmt.Errorf("read files: %w", err)
	}
	var batches []arrow.RecordBatch
	defer func() {
		for _, r := range batches {
			r.Release()
		}
	}()
	for r, err := range recs {
		if err != nil {
			return nil, fmt.Errorf("read files: %w", err)
		}
		batches = append(batches, r)
	}
	return concatBatches(t.mem, sc, batches)
}

// concatBatches gathers batches of schema sc into one record; the caller
// releases it, and still the batches.
func concatBatches(mem memory.Allocator, sc *arrow.Schema, batches []arrow.RecordBatch) (arrow.RecordBatch, error) {
	var n int64
	for _, r := range batches {
		n += r.NumRows()
	}
	cols := make([]arrow.Array, sc.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(batches))
	for i := range cols {
		if len(batches) == 0 {
			cols[i] = array.MakeArrayOfNull(mem, sc.Field(i).Type, 0)
			continue
		}
		for j, r := range batches {
			parts[j] = r.Column(i)
		}
		var err error
		if cols[i], err = array.Concatenate(parts, mem); err != nil {
			return nil, fmt.Errorf("gather column %s: %w", sc.Field(i).Name, err)
		}
	}
	return array.NewRecordBatch(sc, cols, n), nil
}

// keyOrder returns the row indices of rec in key order; the caller
// releases it. Keys are unique among live rows (invariant 3).
func keyOrder(rec arrow.RecordBatch, keys []string, mem memory.Allocator) (*array.Int64, error) {
	enc, err := change.NewKeyEncoder(rec, keys)
	if err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	ks := make([][]byte, n)
	idx := make([]int64, n)
	for i := range n {
		ks[i] = enc.Append(nil, i)
		idx[i] = int64(i)
	}
	slices.SortFunc(idx, func(a, b int64) int { return bytes.Compare(ks[a], ks[b]) })
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.AppendValues(idx, nil)
	return ib.NewInt64Array(), nil
}

// countFiles counts the live files of tbl's current snapshot from its
// live manifests' entries alone: the FileStats buckets reports, without
// planning a scan (which also matches every delete file to its data
// files). A position-delete file is counted whether or not a live data
// file is left for it (lakemerge's compaction removes a data file's delete
// files with it, so none is left without). On a table of 496 data and
// 1,845 delete files 430–590 ms against 640–940 ms for the plan.
func countFiles(ctx context.Context, tbl *icetable.Table, smallBytes int64) (table.FileStats, error) {
	fs := table.FileStats{Versions: int64(len(tbl.Metadata().Snapshots()))}
	cur := tbl.CurrentSnapshot()
	if cur == nil {
		return fs, nil
	}
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return fs, fmt.Errorf("open table io: %w", err)
	}
	live, _, err := liveManifests(cur, fsys)
	if err != nil {
		return fs, err
	}
	for _, m := range live {
		for e, err := range m.Entries(fsys, true) {
			if err != nil {
				return fs, fmt.Errorf("read manifest %s: %w", m.FilePath(), err)
			}
			df := e.DataFile()
			switch df.ContentType() {
			case ice.EntryContentData:
				fs.DataFiles++
				fs.Bytes += df.FileSizeBytes()
				if df.FileSizeBytes() < smallBytes {
					fs.SmallFiles++
				}
			case ice.EntryContentPosDeletes:
				fs.DeleteFiles++
				fs.Bytes += df.FileSizeBytes()
			}
		}
	}
	return fs, nil
}
