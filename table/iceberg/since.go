package iceberg

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// ChangesSince returns what the table changed from snapshot from to
// snapshot to (an ancestor of it), read from the files the snapshots in
// between added and the rows they deleted, not from the whole table: with
// each, one step per snapshot that changed data (a compaction's replace
// snapshot moves rows without changing them and is no step of its own),
// which is the snapshot's journal when its summary references one
// (JournalProperty; a journal missing or not matching its digest is an
// error); without, one step for the whole span. Each step is table.Diff of the
// two snapshots' files: the rows of the data files the later snapshot
// added, the key and _seq of the rows of the files it dropped or deleted
// rows of (as live in the earlier snapshot) and of those files' rows it
// keeps. A snapshot expired since, or a from that is not an ancestor of
// to, is table.ErrNoHistory. The caller releases the result.
func (t *Table) ChangesSince(ctx context.Context, from, to int64, each bool) (table.Changes, error) {
	var out table.Changes
	tbl, err := t.Load(ctx)
	if err != nil {
		return out, err
	}
	if tbl == nil {
		return out, fmt.Errorf("table %s does not exist", t.fullName())
	}
	var chain []*icetable.Snapshot // to, its parent, …, from
	for id := to; ; {
		s := tbl.SnapshotByID(id)
		if s == nil {
			return out, fmt.Errorf("changes of %s since snapshot %d: snapshot %d is not in the table's metadata: %w", t.fullName(), from, id, table.ErrNoHistory)
		}
		chain = append(chain, s)
		if id == from {
			break
		}
		if s.ParentSnapshotID == nil {
			return out, fmt.Errorf("changes of %s since snapshot %d: not an ancestor of snapshot %d: %w", t.fullName(), from, to, table.ErrNoHistory)
		}
		id = *s.ParentSnapshotID
	}
	slices.Reverse(chain)
	out.Commits = len(chain) - 1
	// The states to diff: from, then each snapshot that changed data (or
	// only to); a trailing run of replace snapshots ends at to.
	// made[i] is the snapshot that changed data at points[i].
	points := []int64{from}
	made := []*icetable.Snapshot{nil}
	for _, s := range chain[1:] {
		if s.Summary != nil && s.Summary.Operation == icetable.OpReplace {
			continue
		}
		if each || len(points) == 1 {
			points, made = append(points, s.SnapshotID), append(made, s)
		} else {
			points[1], made[1] = s.SnapshotID, s
		}
	}
	if len(points) == 1 {
		return out, nil // rows moved at most
	}
	points[len(points)-1] = to
	cols, err := userColumns(tbl)
	if err != nil {
		return out, err
	}
	for i := 1; i < len(points); i++ {
		if each {
			// A snapshot with a journal: its step is what the run applied.
			step, ok, err := t.readJournal(ctx, tbl, made[i], cols)
			if err != nil {
				out.Release()
				return table.Changes{}, fmt.Errorf("changes of %s: %w", t.fullName(), err)
			}
			if ok {
				out.FilesRead++
				step.Snapshot = points[i]
				out.Steps = append(out.Steps, step)
				continue
			}
		}
		rec, err := t.diffSnapshots(ctx, tbl, points[i-1], points[i], cols, &out)
		if err != nil {
			out.Release()
			return table.Changes{}, fmt.Errorf("changes of %s from snapshot %d to %d: %w", t.fullName(), points[i-1], points[i], err)
		}
		out.Steps = append(out.Steps, table.Step{Snapshot: points[i], Changes: rec})
	}
	return out, nil
}

// diffSnapshots is table.Diff from snapshot p to snapshot q of tbl: the
// live rows of the data files q added; the key and _seq of the live rows
// of the data files it dropped, and of the rows at the positions its new
// position-delete files name in the data files both hold (lakemerge never
// deletes a row twice, so those were live in p). A new delete file is
// read once; a data file of both is read (its key columns) only when a
// new delete file names it.
func (t *Table) diffSnapshots(ctx context.Context, tbl *icetable.Table, p, q int64, cols []change.Column, out *table.Changes) (arrow.RecordBatch, error) {
	plan := func(id int64) (map[string]icetable.FileScanTask, error) {
		tasks, err := tbl.Scan(icetable.WithSnapshotID(id)).PlanFiles(ctx)
		if err != nil {
			return nil, fmt.Errorf("plan files of snapshot %d: %w", id, err)
		}
		m := make(map[string]icetable.FileScanTask, len(tasks))
		for _, tk := range tasks {
			m[tk.File.FilePath()] = tk
		}
		return m, nil
	}
	before, err := plan(p)
	if err != nil {
		return nil, err
	}
	after, err := plan(q)
	if err != nil {
		return nil, err
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("open table io: %w", err)
	}
	var recs [2][]arrow.RecordBatch // gone, added
	defer func() {
		for _, rs := range recs {
			for _, r := range rs {
				r.Release()
			}
		}
	}()
	// The data files of both that a new delete file names: the rows at
	// its positions are gone.
	dels := newDeleteCache(fs, t.mem)
	x := &Txn{t: t, tbl: tbl}
	var gone, added []icetable.FileScanTask
	for _, path := range slices.Sorted(maps.Keys(before)) {
		tq, ok := after[path]
		if !ok {
			gone = append(gone, before[path])
			continue
		}
		had := map[string]bool{}
		for _, d := range before[path].DeleteFiles {
			had[d.FilePath()] = true
		}
		var fresh []ice.DataFile
		for _, d := range tq.DeleteFiles {
			if !had[d.FilePath()] {
				fresh = append(fresh, d)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		pos, err := dels.positionsFor(ctx, path, fresh)
		if err != nil {
			return nil, err
		}
		if len(pos) == 0 {
			continue
		}
		out.FilesRead++
		rows, err := x.rowsAt(ctx, fs, path, pos)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		recs[0] = append(recs[0], rows...)
	}
	out.FilesRead += len(dels.read)
	for _, path := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[path]; !ok {
			added = append(added, after[path])
		}
	}
	out.FilesRead += len(gone) + len(added)
	reads := []struct {
		snap   int64
		fields []string
		tasks  []icetable.FileScanTask
	}{{p, append(slices.Clone(t.opts.Keys), change.ColSeq), gone}, {q, nil, added}}
	for i, r := range reads {
		if len(r.tasks) == 0 {
			continue
		}
		opts := []icetable.ScanOption{icetable.WithSnapshotID(r.snap)}
		if r.fields != nil {
			opts = append(opts, icetable.WithSelectedFields(r.fields...))
		}
		_, it, err := tbl.Scan(opts...).ReadTasks(ctx, r.tasks)
		if err != nil {
			return nil, fmt.Errorf("read files of snapshot %d: %w", r.snap, err)
		}
		for rec, err := range it {
			if err != nil {
				return nil, fmt.Errorf("read files of snapshot %d: %w", r.snap, err)
			}
			recs[i] = append(recs[i], rec)
		}
	}
	return table.Diff(t.mem, cols, t.opts.Keys, recs[0], nil, recs[1])
}

// rowsAt reads the key columns and _seq of the rows at positions pos
// (sorted) of the data file at path; the caller releases the batches.
func (x *Txn) rowsAt(ctx context.Context, fs iceio.IO, path string, pos []int64) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	cctx := compute.WithAllocator(ctx, x.t.mem)
	err := x.scanKeys(ctx, fs, path, func(rec arrow.RecordBatch, base int64) error {
		lo, _ := slices.BinarySearch(pos, base)
		hi, _ := slices.BinarySearch(pos, base+rec.NumRows())
		if lo == hi {
			return nil
		}
		ib := array.NewInt64Builder(x.t.mem)
		defer ib.Release()
		for _, p := range pos[lo:hi] {
			ib.Append(p - base)
		}
		idx := ib.NewArray()
		defer idx.Release()
		cols := make([]arrow.Array, rec.NumCols())
		defer func() {
			for _, c := range cols {
				if c != nil {
					c.Release()
				}
			}
		}()
		for i := range cols {
			var err error
			if cols[i], err = compute.TakeArray(cctx, rec.Column(i), idx); err != nil {
				return err
			}
		}
		out = append(out, array.NewRecordBatch(rec.Schema(), cols, int64(idx.Len())))
		return nil
	})
	if err != nil {
		for _, r := range out {
			r.Release()
		}
		return nil, err
	}
	return out, nil
}
