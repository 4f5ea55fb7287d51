package delta

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/lakemerge/lakemerge/objstore"
)

const (
	logDir        = "_delta_log/"
	stateDir      = logDir + "_lakemerge/"
	lastCheckName = logDir + "_last_checkpoint"
	// appID is the txn appId lakemerge commits under.
	appID = "lakemerge"
)

func commitName(v int64) string { return fmt.Sprintf("%s%020d.json", logDir, v) }

func checkpointName(v int64) string { return fmt.Sprintf("%s%020d.checkpoint.parquet", logDir, v) }

// snapshot is the table state at one version, from log replay.
type snapshot struct {
	version  int64 // -1: the table does not exist
	protocol *protocolAction
	meta     *metadataAction
	cols     []column // parsed from meta
	files    map[string]*addAction
	removes  map[string]*removeAction
	txns     map[string]txnAction
	// ref is lakemerge's newest state reference; nil when no commit of
	// lakemerge is left in the log (see findState).
	ref        *stateRef
	checkpoint int64 // version of the checkpoint replay started from, -1 none
	// restore is the newest RESTORE entry after lakemerge's newest state
	// reference (nil: none). followRestore then puts the state of the
	// version it restored in ref (restored), whose run count is
	// stateRuns.
	restore   *restoreMark
	restored  bool
	stateRuns int64
}

// restoreMark is a log entry that restored the table to an earlier
// version: at is its own version; version or timestamp is what it
// restored (operationParameters).
type restoreMark struct {
	at                 int64
	version, timestamp string
}

// runs is the run count of the state in ref: the txn version, or the
// restored state's.
func (s *snapshot) runs() int64 {
	if s.restored {
		return s.stateRuns
	}
	return s.txns[appID].Version
}

// noteCommitInfo keeps ref and restore up to date with a commitInfo of
// log version v, replayed in log order.
func (s *snapshot) noteCommitInfo(ci *commitInfoAction, v int64) {
	switch {
	case ci.Lakemerge != nil:
		s.ref, s.restore = ci.Lakemerge, nil
	case ci.Operation == opRestore:
		p := ci.OperationParameters
		s.restore = &restoreMark{at: v, version: p["version"], timestamp: cmp.Or(p["timestamp"], p["datetime"])}
	}
}

func newSnapshot() *snapshot {
	return &snapshot{version: -1, checkpoint: -1, files: map[string]*addAction{}, removes: map[string]*removeAction{}, txns: map[string]txnAction{}}
}

// apply replays one action.
func (s *snapshot) apply(a action) error {
	switch {
	case a.Protocol != nil:
		s.protocol = a.Protocol
	case a.MetaData != nil:
		s.meta = a.MetaData
		s.cols = nil
	case a.Txn != nil:
		s.txns[a.Txn.AppID] = *a.Txn
	case a.Add != nil:
		if len(a.Add.DeletionVector) > 0 && string(a.Add.DeletionVector) != "null" {
			return fmt.Errorf("%w: file %s has a deletion vector", ErrUnsupported, a.Add.Path)
		}
		s.files[a.Add.Path] = a.Add
		delete(s.removes, a.Add.Path)
	case a.Remove != nil:
		delete(s.files, a.Remove.Path)
		s.removes[a.Remove.Path] = a.Remove
	case a.CommitInfo != nil:
		// Replay applies version s.version+1.
		s.noteCommitInfo(a.CommitInfo, s.version+1)
	}
	return nil
}

// paths returns the live data files, sorted.
func (s *snapshot) paths() []string {
	out := make([]string, 0, len(s.files))
	for p := range s.files {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// check validates what replay produced: a table lakemerge can read, and
// with forWrite one it can write.
func (s *snapshot) check(forWrite bool) error {
	if s.version < 0 {
		return nil
	}
	if s.protocol == nil || s.meta == nil {
		return fmt.Errorf("log at version %d has no protocol or metaData", s.version)
	}
	if err := checkProtocol(s.protocol, forWrite); err != nil {
		return err
	}
	if s.meta.Format.Provider != "" && s.meta.Format.Provider != "parquet" {
		return fmt.Errorf("%w: data file format %s", ErrUnsupported, s.meta.Format.Provider)
	}
	if len(s.meta.PartitionColumns) > 0 && s.meta.Configuration[partitionsInFiles] != "true" {
		return fmt.Errorf("%w: partitioned by %v, with data files that may lack the partition columns (lakemerge reads partitioned tables it created, whose files hold them)", ErrUnsupported, s.meta.PartitionColumns)
	}
	if forWrite && strings.EqualFold(s.meta.Configuration["delta.appendOnly"], "true") {
		return fmt.Errorf("%w: delta.appendOnly is set, and upserts remove files", ErrUnsupported)
	}
	if s.cols == nil {
		cols, err := parseSchema(s.meta.SchemaString)
		if err != nil {
			return err
		}
		s.cols = cols
	}
	if _, err := partitionIndexes(s.cols, s.meta.PartitionColumns); err != nil {
		return err
	}
	return nil
}

// lastCheckpoint is the content of _delta_log/_last_checkpoint.
type lastCheckpoint struct {
	Version       int64  `json:"version"`
	Size          int64  `json:"size"`
	Parts         *int64 `json:"parts,omitempty"`
	SizeInBytes   int64  `json:"sizeInBytes,omitempty"`
	NumOfAddFiles int64  `json:"numOfAddFiles,omitempty"`
}

func (t *Table) readLastCheckpoint(ctx context.Context) (*lastCheckpoint, error) {
	b, err := t.readAll(ctx, t.root+lastCheckName)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read _last_checkpoint: %w", err)
	}
	var lc lastCheckpoint
	if err := json.Unmarshal(b, &lc); err != nil {
		return nil, nil // a torn or foreign pointer: list instead
	}
	return &lc, nil
}

func (t *Table) readAll(ctx context.Context, key string) ([]byte, error) {
	r, err := t.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// readCommit reads the log entry of version v; errors match
// objstore.ErrNotExist when it does not exist.
func (t *Table) readCommit(ctx context.Context, v int64) ([]action, error) {
	r, err := t.store.Open(ctx, t.root+commitName(v))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	acts, err := decodeActions(r)
	if err != nil {
		return nil, fmt.Errorf("read log entry %d: %w", v, err)
	}
	return acts, nil
}

// logListing is what a listing of _delta_log shows.
type logListing struct {
	commits     map[int64]objstore.ObjectInfo
	checkpoints map[int64][]objstore.ObjectInfo // version → files (parts)
	parts       map[int64]int                   // version → number of parts expected (1 for classic)
	crcs        map[int64]objstore.ObjectInfo   // version checksum files
}

// list lists _delta_log (not its subfolders).
func (t *Table) list(ctx context.Context) (*logListing, error) {
	objs, err := t.store.List(ctx, t.root+logDir)
	if err != nil {
		return nil, fmt.Errorf("read the log: %w", err) // the store names the prefix
	}
	l := &logListing{commits: map[int64]objstore.ObjectInfo{}, checkpoints: map[int64][]objstore.ObjectInfo{}, parts: map[int64]int{}, crcs: map[int64]objstore.ObjectInfo{}}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, t.root+logDir)
		if strings.Contains(name, "/") {
			continue
		}
		v, rest, ok := strings.Cut(name, ".")
		ver, err := strconv.ParseInt(v, 10, 64)
		if !ok || len(v) != 20 || err != nil {
			continue
		}
		switch {
		case rest == "json":
			l.commits[ver] = o
		case rest == "checkpoint.parquet":
			l.checkpoints[ver] = append(l.checkpoints[ver], o)
			l.parts[ver] = 1
		case strings.HasPrefix(rest, "checkpoint.") && strings.HasSuffix(rest, ".parquet"):
			// Multi-part: checkpoint.%010d.%010d.parquet; UUID-named
			// checkpoints need the v2Checkpoint feature and are ignored.
			f := strings.Split(rest, ".")
			if len(f) == 4 && len(f[1]) == 10 && len(f[2]) == 10 {
				if n, err := strconv.Atoi(f[2]); err == nil {
					l.checkpoints[ver] = append(l.checkpoints[ver], o)
					l.parts[ver] = n
				}
			}
		case rest == "crc":
			l.crcs[ver] = o
		}
	}
	return l, nil
}

// completeCheckpoints returns the versions of checkpoints with all their
// parts, ascending.
func (l *logListing) completeCheckpoints() []int64 {
	var out []int64
	for v, fs := range l.checkpoints {
		if len(fs) == l.parts[v] {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// load replays the log up to version upTo (-1: the newest) into a
// snapshot, and finds lakemerge's newest state reference.
func (t *Table) load(ctx context.Context, upTo int64) (*snapshot, error) {
	s, err := t.replay(ctx, upTo, false)
	if err != nil {
		return nil, err
	}
	if s.version >= 0 && s.ref == nil {
		if err := t.findStateRef(ctx, s); err != nil {
			return nil, err
		}
	}
	if err := t.followRestore(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// followRestore: a RESTORE after lakemerge's newest commit (Spark's
// RESTORE, delta-rs' restore) put back the files of an earlier version
// but not lakemerge's state, which its log entry does not carry; the
// newest state reference would claim the raw files of the versions
// restored away as absorbed, and the next run would lose their rows. So
// the state is the one the log gives at the version restored (load up to
// it, which follows an older RESTORE the same way). A RESTORE that names
// only a timestamp, or whose version the log no longer holds, stops here
// with an error that says so.
func (t *Table) followRestore(ctx context.Context, s *snapshot) error {
	r := s.restore
	if r == nil {
		return nil
	}
	if _, ok := s.txns[appID]; !ok && s.ref == nil {
		return nil // lakemerge never committed to this table
	}
	v, err := strconv.ParseInt(r.version, 10, 64)
	if err != nil || v < 0 || v >= r.at {
		to := "version " + strconv.Quote(r.version)
		if r.version == "" {
			to = "time " + strconv.Quote(r.timestamp)
		}
		return fmt.Errorf("log version %d restores the table to %s after lakemerge's last commit, and lakemerge cannot tell which version that is, so neither which raw files the table holds: restore it by version instead (RESTORE TABLE … TO VERSION AS OF, DeltaTable.restore(version)), or reload the table",
			r.at, to)
	}
	prior, err := t.load(ctx, v)
	if err != nil {
		return fmt.Errorf("log version %d restores the table to version %d: read lakemerge's state of version %d: %w", r.at, v, v, err)
	}
	s.ref, s.restored, s.stateRuns = prior.ref, true, prior.runs()
	return nil
}

func (t *Table) replay(ctx context.Context, upTo int64, listed bool) (*snapshot, error) {
	s := newSnapshot()
	start := int64(0)
	var commits map[int64]objstore.ObjectInfo
	if !listed {
		lc, err := t.readLastCheckpoint(ctx)
		if err != nil {
			return nil, err
		}
		if lc == nil || (upTo >= 0 && lc.Version > upTo) {
			return t.replay(ctx, upTo, true)
		}
		parts := 1
		if lc.Parts != nil {
			parts = int(*lc.Parts)
		}
		if err := t.readCheckpoint(ctx, s, lc.Version, parts); err != nil {
			if errors.Is(err, objstore.ErrNotExist) {
				return t.replay(ctx, upTo, true)
			}
			return nil, err
		}
		start = lc.Version + 1
	} else {
		l, err := t.list(ctx)
		if err != nil {
			return nil, err
		}
		commits = l.commits
		cps := l.completeCheckpoints()
		for i := len(cps) - 1; i >= 0; i-- {
			if upTo < 0 || cps[i] <= upTo {
				if err := t.readCheckpoint(ctx, s, cps[i], l.parts[cps[i]]); err != nil {
					return nil, err
				}
				start = cps[i] + 1
				break
			}
		}
		if s.version < 0 {
			if len(commits) == 0 {
				return s, nil // no table
			}
			if _, ok := commits[0]; !ok {
				return nil, fmt.Errorf("log has no checkpoint and no version 0: cannot replay")
			}
		}
	}
	tail := 0
	for v := start; upTo < 0 || v <= upTo; v++ {
		acts, err := t.readCommit(ctx, v)
		if errors.Is(err, objstore.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		for _, a := range acts {
			if err := s.apply(a); err != nil {
				return nil, fmt.Errorf("replay version %d: %w", v, err)
			}
		}
		s.version = v
		tail++
	}
	if listed {
		// A listed version above the last one read means a gap in the log.
		for v := range commits {
			if v > s.version && (upTo < 0 || v <= upTo) {
				return nil, fmt.Errorf("log has version %d but not version %d", v, s.version+1)
			}
		}
	} else if tail == 0 && (upTo < 0 || s.version < upTo) {
		// _last_checkpoint may be stale and the entries after it cleaned
		// up: only a listing tells.
		return t.replay(ctx, upTo, true)
	}
	return s, nil
}

// findStateRef looks for lakemerge's newest state reference in the log
// entries at and before the checkpoint replay started from (the entries
// after it were replayed already), newest first, then falls back to the
// state file named by the txn version.
func (t *Table) findStateRef(ctx context.Context, s *snapshot) error {
	txn, ok := s.txns[appID]
	runs := txn.Version
	if !ok {
		return nil // lakemerge never committed to this table
	}
	for v := s.checkpoint; v >= 0; v-- {
		acts, err := t.readCommit(ctx, v)
		if errors.Is(err, objstore.ErrNotExist) {
			break
		}
		if err != nil {
			return err
		}
		for i := len(acts) - 1; i >= 0; i-- {
			ci := acts[i].CommitInfo
			switch {
			case ci == nil:
			case ci.Lakemerge != nil:
				s.ref = ci.Lakemerge
				return nil
			case ci.Operation == opRestore && s.restore == nil:
				s.noteCommitInfo(ci, v)
			}
		}
	}
	objs, err := t.store.List(ctx, t.root+stateDir+fmt.Sprintf("state-%020d-", runs))
	if err != nil {
		return fmt.Errorf("list state files: %w", err)
	}
	if len(objs) != 1 {
		return fmt.Errorf("no log entry left references lakemerge's state, and %d state files carry run %d: cannot tell the bookmark", len(objs), runs)
	}
	s.ref = &stateRef{State: strings.TrimPrefix(objs[0].Key, t.root), Runs: strconv.FormatInt(runs, 10)}
	return nil
}
