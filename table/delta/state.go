package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table"
)

// stateFile is the content of a state file (see the package doc).
type stateFile struct {
	Version    int          `json:"version"`
	Bookmark   string       `json:"bookmark"`
	Tombstones *tombFileRef `json:"tombstones,omitempty"`
}

// tombFileRef names a tombstone file: a key under the table root, its
// digest and how many tombstones it holds.
type tombFileRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Count  int    `json:"count"`
	size   int64  // bytes written, when this Txn wrote the file
}

// state is lakemerge's state as Begin read it.
type state struct {
	bm    bookmarks.Bookmark
	tombs *tombFileRef // nil: no tombstones
	path  string       // the state file, "" for none
}

// readState reads the state file ref names and checks it against its
// digest and the txn version runs.
func (t *Table) readState(ctx context.Context, ref *stateRef, runs int64) (state, error) {
	if ref == nil {
		return state{}, nil
	}
	if !strings.HasPrefix(ref.State, stateDir) {
		return state{}, fmt.Errorf("read lakemerge state: reference %q is outside %s", ref.State, stateDir)
	}
	b, err := t.readAll(ctx, t.root+ref.State)
	if err != nil {
		return state{}, fmt.Errorf("read lakemerge state %s: %w", ref.State, err)
	}
	if ref.SHA256 != "" {
		if err := (table.SideFile{Path: ref.State, SHA256: ref.SHA256}).Check(b); err != nil {
			return state{}, fmt.Errorf("read lakemerge state: %w: %w", err, bookmarks.ErrCorrupt)
		}
	}
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return state{}, fmt.Errorf("read lakemerge state %s: %w: %w", ref.State, bookmarks.ErrCorrupt, err)
	}
	if sf.Version != 1 {
		return state{}, fmt.Errorf("read lakemerge state %s: unknown version %d", ref.State, sf.Version)
	}
	bm, err := bookmarks.Decode(sf.Bookmark)
	if err != nil {
		return state{}, fmt.Errorf("read lakemerge state %s: %w", ref.State, err)
	}
	if bm.Runs != runs {
		return state{}, fmt.Errorf("read lakemerge state %s: bookmark has run %d, the table's txn %q has version %d: %w",
			ref.State, bm.Runs, appID, runs, bookmarks.ErrCorrupt)
	}
	return state{bm: bm, tombs: sf.Tombstones, path: ref.State}, nil
}

// writeState writes the state file of a commit and returns its reference
// and size.
func (t *Table) writeState(ctx context.Context, bm bookmarks.Bookmark, tombs *tombFileRef) (*stateRef, int64, error) {
	enc, err := bm.Encode()
	if err != nil {
		return nil, 0, err
	}
	b, err := json.Marshal(stateFile{Version: 1, Bookmark: enc, Tombstones: tombs})
	if err != nil {
		return nil, 0, err
	}
	f := table.NewSideFile(fmt.Sprintf("%sstate-%020d-%s.json", stateDir, bm.Runs, uuid.NewString()), b)
	if err := t.store.Put(ctx, t.root+f.Path, bytes.NewReader(b)); err != nil {
		return nil, 0, fmt.Errorf("write lakemerge state: %w", err)
	}
	return &stateRef{State: f.Path, SHA256: f.SHA256, Runs: strconv.FormatInt(bm.Runs, 10)}, f.Size, nil
}

// writeJournal writes the journal of run runs: changes and the rows of
// it found stale (table.EncodeJournal).
func (t *Table) writeJournal(ctx context.Context, changes arrow.RecordBatch, stale []int, runs int64) (table.SideFile, error) {
	b, err := table.EncodeJournal(changes, stale, t.mem)
	if err != nil {
		return table.SideFile{}, err
	}
	f := table.NewSideFile(fmt.Sprintf("%sjournal-%020d-%s.parquet", stateDir, runs, uuid.NewString()), b)
	if err := t.store.Put(ctx, t.root+f.Path, bytes.NewReader(b)); err != nil {
		return table.SideFile{}, fmt.Errorf("write journal: %w", err)
	}
	return f, nil
}

// readJournal reads the journal ref names as a step of a table with user
// columns cols. A journal missing, or not matching its digest, is an
// error naming the file.
func (t *Table) readJournal(ctx context.Context, ref *stateRef, cols []change.Column) (table.Step, error) {
	if !strings.HasPrefix(ref.Journal, stateDir) {
		return table.Step{}, fmt.Errorf("read journal: reference %q is outside %s", ref.Journal, stateDir)
	}
	b, err := t.readAll(ctx, t.root+ref.Journal)
	if err != nil {
		return table.Step{}, fmt.Errorf("read journal %s: %w", ref.Journal, err)
	}
	if err := (table.SideFile{Path: ref.Journal, SHA256: ref.JournalSHA256}).Check(b); err != nil {
		return table.Step{}, fmt.Errorf("read journal: %w", err)
	}
	step, err := table.DecodeJournal(ctx, b, cols, t.mem)
	if err != nil {
		return table.Step{}, fmt.Errorf("read journal %s: %w", ref.Journal, err)
	}
	return step, nil
}

// runsOf returns the run number in a state or tombstone file name.
func runsOf(name, prefix string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || len(rest) < 21 || rest[20] != '-' {
		return 0, false
	}
	v, err := strconv.ParseInt(rest[:20], 10, 64)
	return v, err == nil
}

// liveSideFiles says which state and tombstone files a log entry still in
// the log may reference, without reading every entry: lakemerge's runs
// only grow with the log's versions, so the entries left reference state
// files of runs from minRuns on (the run of the oldest entry left with a
// lakemerge reference), and tombstone files of runs from minRuns on plus
// the one the state of minRuns references (in tombs; a state references
// the tombstones of the last run that changed them). After a RESTORE
// (followRestore) runs start again from an older run's: minRuns is at
// most the table's state's run and tombs holds its tombstone file too; a
// state of the runs between that only an older entry references may go
// (a RESTORE to such an entry then stops with an error). Without any entry left
// that references lakemerge's state (Begin then takes the state file
// named by the txn version), minRuns is the txn version. ok is false when
// lakemerge never committed to the table.
func (t *Table) liveSideFiles(ctx context.Context, s *snapshot) (minRuns int64, tombs []string, ok bool, err error) {
	txn, committed := s.txns[appID]
	if !committed {
		return 0, nil, false, nil
	}
	l, err := t.list(ctx)
	if err != nil {
		return 0, nil, false, err
	}
	versions := make([]int64, 0, len(l.commits))
	for v := range l.commits {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	ref := s.ref
	minRuns = txn.Version
	for _, v := range versions {
		acts, err := t.readCommit(ctx, v)
		if errors.Is(err, objstore.ErrNotExist) {
			continue // cleaned up since the listing
		}
		if err != nil {
			return 0, nil, false, err
		}
		if r := lakemergeRef(acts); r != nil {
			if runs, err := strconv.ParseInt(r.Runs, 10, 64); err == nil {
				ref, minRuns = r, runs
				break
			}
		}
	}
	var keep []string
	if s.restored {
		// After a RESTORE the table's state (an older run's) precedes the
		// newer runs' entries: keep it and its tombstones too.
		minRuns = min(minRuns, s.runs())
		if s.ref != nil {
			st, err := t.readState(ctx, s.ref, s.runs())
			if err != nil {
				return 0, nil, false, err
			}
			if st.tombs != nil {
				keep = append(keep, st.tombs.Path)
			}
		}
	}
	if ref == nil {
		return minRuns, keep, true, nil
	}
	st, err := t.readState(ctx, ref, minRuns)
	if err != nil {
		return 0, nil, false, err
	}
	if st.tombs != nil {
		keep = append(keep, st.tombs.Path)
	}
	return minRuns, keep, true, nil
}

// lakemergeRef returns the state reference in a log entry's commitInfo.
func lakemergeRef(acts []action) *stateRef {
	for _, a := range acts {
		if a.CommitInfo != nil && a.CommitInfo.Lakemerge != nil {
			return a.CommitInfo.Lakemerge
		}
	}
	return nil
}

// isSideFile reports whether rel (relative to the table root) is a state
// or tombstone file.
func isSideFile(rel string) bool {
	name, in := strings.CutPrefix(rel, stateDir)
	if !in {
		return false
	}
	_, isState := runsOf(name, "state-")
	_, isTomb := runsOf(name, "tombstones-")
	_, isJournal := runsOf(name, "journal-")
	return isState || isTomb || isJournal
}

// sideFileLive reports whether the state or tombstone file rel (relative
// to the table root) may be referenced by a log entry left, by
// liveSideFiles' answer.
func sideFileLive(rel string, minRuns int64, tombs []string, ok bool) bool {
	name := strings.TrimPrefix(rel, stateDir)
	if !ok {
		return false
	}
	if r, isState := runsOf(name, "state-"); isState {
		return r >= minRuns
	}
	if r, isJournal := runsOf(name, "journal-"); isJournal {
		// A journal lives as long as the log entry of its run.
		return r >= minRuns
	}
	r, _ := runsOf(name, "tombstones-")
	return r >= minRuns || slices.Contains(tombs, rel)
}

// readTombstones reads the tombstone file ref names (none for nil).
func (t *Table) readTombstones(ctx context.Context, ref *tombFileRef, mem memory.Allocator) (*table.Tombstones, error) {
	if ref == nil {
		return &table.Tombstones{}, nil
	}
	b, err := t.readAll(ctx, t.root+ref.Path)
	if err != nil {
		return nil, fmt.Errorf("read tombstones %s: %w", ref.Path, err)
	}
	if err := (table.SideFile{Path: ref.Path, SHA256: ref.SHA256}).Check(b); err != nil {
		return nil, fmt.Errorf("read tombstones: %w", err)
	}
	ts, err := table.DecodeTombstones(ctx, b, mem)
	if err != nil {
		return nil, fmt.Errorf("read tombstones %s: %w", ref.Path, err)
	}
	return ts, nil
}

// writeTombstones writes ts as the tombstone file of run runs and returns
// its reference (nil for an empty set).
func (t *Table) writeTombstones(ctx context.Context, ts *table.Tombstones, runs int64) (*tombFileRef, error) {
	if ts.Len() == 0 {
		return nil, nil
	}
	b, err := table.EncodeTombstones(ts, t.mem)
	if err != nil {
		return nil, err
	}
	f := table.NewSideFile(fmt.Sprintf("%stombstones-%020d-%s.parquet", stateDir, runs, uuid.NewString()), b)
	if err := t.store.Put(ctx, t.root+f.Path, bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("write tombstones: %w", err)
	}
	return &tombFileRef{Path: f.Path, SHA256: f.SHA256, Count: ts.Len(), size: f.Size}, nil
}
