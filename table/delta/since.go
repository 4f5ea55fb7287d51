package delta

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table"
)

// optimizeOperation is the commitInfo operation of Table.Optimize's
// entries, which move rows into other files without changing them.
const optimizeOperation = "OPTIMIZE"

// ChangesSince returns what the table changed from version from to
// version to, read from the log entries in between and the files they
// added and removed, not from the whole table: with each, one step per
// version that changed data (an OPTIMIZE rewrites files without changing
// rows and is no step of its own), which is the version's journal when
// its commitInfo references one (stateRef.Journal; a journal missing or
// not matching its digest is an error); without, one step for the whole
// span.
// Each step is table.Diff of the two versions' files: the rows of the
// files the later version added and the key and _seq of those it removed
// (a copy-on-write rewrite carries the unchanged rows of the files it
// replaces, which Diff finds moved). A version whose log entry, or a
// removed file, is gone (log cleanup, vacuum) is table.ErrNoHistory. The
// caller releases the result.
func (t *Table) ChangesSince(ctx context.Context, from, to int64, each bool) (table.Changes, error) {
	var out table.Changes
	if from > to {
		return out, fmt.Errorf("changes of %s since version %d: the table is at version %d: %w", t.opts.Name, from, to, table.ErrNoHistory)
	}
	noHistory := func(err error) error {
		if errors.Is(err, objstore.ErrNotExist) {
			err = fmt.Errorf("%w: %w", table.ErrNoHistory, err)
		}
		return fmt.Errorf("changes of %s since version %d: %w", t.opts.Name, from, err)
	}
	s, err := t.replay(ctx, from, false)
	if err != nil {
		if table.FaultOf(err) != table.FaultTemporary {
			err = fmt.Errorf("%w: %w", table.ErrNoHistory, err)
		}
		return out, noHistory(err)
	}
	if s.version != from {
		return out, noHistory(fmt.Errorf("the log has no version %d: %w", from, table.ErrNoHistory))
	}
	type state struct {
		version int64
		files   map[string]*addAction
		journal *stateRef // the version's journal, with each
	}
	var points []state
	mark := func() {
		points = append(points, state{version: s.version, files: maps.Clone(s.files)})
	}
	mark()
	changed := false // a version without each that changed data
	for v := from + 1; v <= to; v++ {
		acts, err := t.readCommit(ctx, v)
		if err != nil {
			return out, noHistory(err)
		}
		moves := false
		for _, a := range acts {
			if a.CommitInfo != nil && a.CommitInfo.Operation == optimizeOperation {
				moves = true
			}
			if err := s.apply(a); err != nil {
				return out, noHistory(fmt.Errorf("replay version %d: %w", v, err))
			}
		}
		s.version = v
		out.Commits++
		switch {
		case moves:
		case each:
			mark()
			if r := lakemergeRef(acts); r != nil && r.Journal != "" {
				points[len(points)-1].journal = r
			}
		default:
			changed = true
		}
	}
	switch {
	case changed:
		mark()
	case len(points) == 1:
		return out, nil // rows moved at most
	default:
		points[len(points)-1].version, points[len(points)-1].files = s.version, maps.Clone(s.files) // and the moves after
	}
	if err := s.check(false); err != nil {
		return out, noHistory(err)
	}
	for i := 1; i < len(points); i++ {
		if r := points[i].journal; r != nil {
			// A version with a journal: its step is what the run applied.
			step, err := t.readJournal(ctx, r, userColumns(s.cols))
			if err != nil {
				out.Release()
				return table.Changes{}, fmt.Errorf("changes of %s at version %d: %w", t.opts.Name, points[i].version, err)
			}
			out.FilesRead++
			step.Snapshot = points[i].version
			out.Steps = append(out.Steps, step)
			continue
		}
		rec, err := t.diffVersions(ctx, points[i-1].files, points[i].files, s.cols, &out)
		if err != nil {
			out.Release()
			return table.Changes{}, noHistory(fmt.Errorf("from version %d to %d: %w", points[i-1].version, points[i].version, err))
		}
		out.Steps = append(out.Steps, table.Step{Snapshot: points[i].version, Changes: rec})
	}
	return out, nil
}

// diffVersions is table.Diff between two versions' live files, read with
// the columns cols (the later version's).
func (t *Table) diffVersions(ctx context.Context, before, after map[string]*addAction, cols []column, out *table.Changes) (arrow.RecordBatch, error) {
	var keyCols []column
	for _, k := range append(slices.Clone(t.opts.Keys), change.ColSeq) {
		i := slices.IndexFunc(cols, func(c column) bool { return c.name == k })
		if i < 0 {
			return nil, fmt.Errorf("no column %s", k)
		}
		keyCols = append(keyCols, cols[i])
	}
	var gone, added []arrow.RecordBatch
	defer func() {
		for _, r := range append(gone, added...) {
			r.Release()
		}
	}()
	read := func(files map[string]*addAction, not map[string]*addAction, want []column, recs *[]arrow.RecordBatch) error {
		for _, p := range slices.Sorted(maps.Keys(files)) {
			if _, ok := not[p]; ok {
				continue
			}
			out.FilesRead++
			rec, err := t.readFile(ctx, p, want)
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			*recs = append(*recs, rec)
		}
		return nil
	}
	if err := read(before, after, keyCols, &gone); err != nil {
		return nil, err
	}
	if err := read(after, before, cols, &added); err != nil {
		return nil, err
	}
	return table.Diff(t.mem, userColumns(cols), t.opts.Keys, gone, nil, added)
}
