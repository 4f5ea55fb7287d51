package iceberg

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// ChangesSince returns what the table changed from snapshot from to
// snapshot to (an ancestor of it), read from the files the snapshots in
// between added and the rows they deleted, not from the whole table: with
// each, one step per snapshot that changed data (a compaction's replace
// snapshot moves rows without changing them and is no step of its own);
// without, one step for the whole span. Each step is table.Diff of the
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
	points := []int64{from}
	for _, s := range chain[1:] {
		if s.Summary != nil && s.Summary.Operation == icetable.OpReplace {
			continue
		}
		if each || len(points) == 1 {
			points = append(points, s.SnapshotID)
		} else {
			points[1] = s.SnapshotID
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
		rec, err := t.diffSnapshots(ctx, tbl, points[i-1], points[i], cols, &out)
		if err != nil {
			out.Release()
			return table.Changes{}, fmt.Errorf("changes of %s from snapshot %d to %d: %w", t.fullName(), points[i-1], points[i], err)
		}
		out.Steps = append(out.Steps, table.Step{Snapshot: points[i], Changes: rec})
	}
	return out, nil
}

// diffSnapshots is table.Diff from snapshot p to snapshot q of tbl.
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
	var gone, keptP, keptQ, added []icetable.FileScanTask
	for _, path := range slices.Sorted(maps.Keys(before)) {
		tp := before[path]
		tq, ok := after[path]
		switch {
		case !ok:
			gone = append(gone, tp)
		case deleteSet(tp) != deleteSet(tq):
			keptP, keptQ = append(keptP, tp), append(keptQ, tq)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(after)) {
		if _, ok := before[path]; !ok {
			added = append(added, after[path])
		}
	}
	out.FilesRead += len(gone) + len(keptP) + len(keptQ) + len(added)
	keyFields := append(slices.Clone(t.opts.Keys), change.ColSeq)
	var recs [3][]arrow.RecordBatch
	defer func() {
		for _, rs := range recs {
			for _, r := range rs {
				r.Release()
			}
		}
	}()
	reads := []struct {
		snap   int64
		fields []string
		tasks  []icetable.FileScanTask
	}{{p, keyFields, append(gone, keptP...)}, {q, keyFields, keptQ}, {q, nil, added}}
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
	return table.Diff(t.mem, cols, t.opts.Keys, recs[0], recs[1], recs[2])
}

// deleteSet names the delete files that apply to a task's data file.
func deleteSet(tk icetable.FileScanTask) string {
	paths := make([]string, 0, len(tk.DeleteFiles))
	for _, d := range tk.DeleteFiles {
		paths = append(paths, d.FilePath())
	}
	slices.Sort(paths)
	return strings.Join(paths, "\n")
}
