package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table"
)

// maxOptimizeAttempts bounds how often an optimize is planned again after
// another commit took its version.
const maxOptimizeAttempts = 3

var _ table.Maintainer = (*Table)(nil)

// smallFiles returns the live data files of s smaller than smallBytes,
// sorted by path.
func smallFiles(s *snapshot, smallBytes int64) []*addAction {
	var out []*addAction
	for _, p := range s.paths() {
		if a := s.files[p]; a.Size < smallBytes {
			out = append(out, a)
		}
	}
	return out
}

// Files describes the current version's data files; Versions is the
// number of log entries since the last checkpoint (what a reader replays
// as JSON). DeleteFiles is 0: Delta rewrites files instead.
func (t *Table) Files(ctx context.Context, smallBytes int64) (table.FileStats, error) {
	var fs table.FileStats
	s, err := t.current(ctx)
	if err != nil || s == nil {
		return fs, err
	}
	for _, a := range s.files {
		fs.DataFiles++
		fs.Bytes += a.Size
		if a.Size < smallBytes {
			fs.SmallFiles++
		}
	}
	fs.Versions = s.version - max(s.checkpoint, -1)
	return fs, nil
}

// Due reports whether the table has p.CompactSmallFiles small files (at
// least two), or log entries past a checkpoint interval since the last
// checkpoint.
func (t *Table) Due(ctx context.Context, p table.Policy) (bool, error) {
	s, err := t.current(ctx)
	if err != nil || s == nil {
		return false, err
	}
	if n := len(smallFiles(s, p.SmallFileBytes)); p.CompactSmallFiles > 0 && n >= max(p.CompactSmallFiles, 2) {
		return true, nil
	}
	return s.version-max(s.checkpoint, 0) > int64(t.opts.CheckpointInterval), nil
}

// Maintain runs one maintenance pass of p over the Delta table:
//
//  1. optimize: when the table has p.CompactSmallFiles data files smaller
//     than p.SmallFileBytes, their rows are rewritten, sorted by key, into
//     files of the target size, committed as one log entry (operation
//     OPTIMIZE) that removes them and adds the new files with dataChange
//     false, and carries no lakemerge state (the bookmark stays the one
//     of the newest lakemerge commit). The entry is created at the version
//     after the one read, or not at all: when another commit took that
//     version, the optimize is planned again from the new version. A run
//     that read one of the files and commits after it conflicts (the
//     optimize removed a file it read) and applies its changes again;
//  2. a checkpoint of the newest version, and log cleanup by the table's
//     delta.logRetentionDuration (else Options.LogRetention);
//  3. Vacuum of the files unreferenced for longer than p.OrphanAge, and
//     never shorter than the table's delta.deletedFileRetentionDuration
//     (else Options.DeletedFileRetention), as Delta's own vacuum refuses
//     to go below it.
//
// p.KeepVersions and p.KeepFor do not apply: a Delta table's time travel
// is its log retention.
func (t *Table) Maintain(ctx context.Context, p table.Policy) (table.MaintenanceStats, error) {
	var st table.MaintenanceStats
	s, err := t.current(ctx)
	if err != nil || s == nil {
		return st, err
	}
	if p.CompactSmallFiles > 0 {
		for attempt := 1; ; attempt++ {
			ost, err := t.optimize(ctx, p)
			if err == nil {
				st.Add(ost)
				break
			}
			if !errors.Is(err, table.ErrConflict) || attempt == maxOptimizeAttempts {
				return st, err
			}
			st.Retries++
		}
	}
	if s, err = t.current(ctx); err != nil {
		return st, err
	}
	logRet, fileRet := t.retentions(s)
	if s.version > max(s.checkpoint, 0) {
		if err := t.writeCheckpoint(ctx, s.version); err != nil {
			return st, fmt.Errorf("checkpoint %s: %w", t.opts.Name, err)
		}
	}
	if err := t.cleanLogBefore(ctx, logRet); err != nil {
		return st, fmt.Errorf("clean the log of %s: %w", t.opts.Name, err)
	}
	if p.OrphanAge > 0 {
		vs, err := t.Vacuum(ctx, max(p.OrphanAge, fileRet))
		st.FilesDeleted, st.BytesDeleted = vs.FilesDeleted, vs.BytesDeleted
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// optimize rewrites the small files of the current version (one attempt).
// A version taken by another commit is table.ErrConflict.
func (t *Table) optimize(ctx context.Context, p table.Policy) (table.MaintenanceStats, error) {
	var st table.MaintenanceStats
	s, err := t.current(ctx)
	if err != nil || s == nil {
		return st, err
	}
	small := smallFiles(s, p.SmallFileBytes)
	if len(small) < max(p.CompactSmallFiles, 2) {
		return st, nil
	}
	if err := s.check(true); err != nil {
		return st, fmt.Errorf("optimize %s: %w", t.opts.Name, err)
	}
	w, err := t.newFileWriter(s.cols, s.meta.PartitionColumns)
	if err != nil {
		return st, fmt.Errorf("optimize %s: %w", t.opts.Name, err)
	}
	w.rowBytes = s.rowBytes()
	var rows int64
	merged := false
	if p.MemoryBudget > 0 && len(t.opts.Layout.Sort) == 0 {
		var ms mergeStats
		ms, err = t.mergeFiles(ctx, w, small, p)
		rows, st.RowsHeld, st.FilesSpilled = ms.rows, ms.held, ms.spilled
		switch {
		case err == nil:
			merged = true
		case errors.Is(err, errUnsorted):
			// The files it wrote are left to Vacuum, as a failed pass's.
			w, _ = t.newFileWriter(s.cols, s.meta.PartitionColumns)
			w.rowBytes = s.rowBytes()
		default:
			return st, fmt.Errorf("optimize %s: %w", t.opts.Name, err)
		}
	}
	if !merged {
		if rows, err = t.optimizeWhole(ctx, w, s, small); err != nil {
			return st, fmt.Errorf("optimize %s: %w", t.opts.Name, err)
		}
		st.RowsHeld = rows
	}
	// Verify before committing: the new files hold exactly the rows read,
	// and each exists with the size written.
	wr := table.Written{}
	for _, f := range w.files {
		wr.Rows += f.rows
		wr.Files = append(wr.Files, table.File{Path: f.key, Size: f.size})
	}
	if err := table.Verify(ctx, table.ApplyStats{Inserted: rows}, wr, t.size); err != nil {
		return st, fmt.Errorf("optimize %s: %w", t.opts.Name, err)
	}
	now := t.now().UnixMilli()
	var removed, added int64
	acts := []action{{CommitInfo: nil}}
	for _, a := range small {
		size := a.Size
		removed += size
		acts = append(acts, action{Remove: &removeAction{Path: a.Path, DeletionTimestamp: &now, DataChange: false,
			ExtendedFileMetadata: true, PartitionValues: a.PartitionValues, Size: &size}})
	}
	for i := range w.adds {
		w.adds[i].DataChange = false
		added += w.adds[i].Size
		acts = append(acts, action{Add: &w.adds[i]})
	}
	rv := s.version
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	acts[0].CommitInfo = &commitInfoAction{
		Timestamp:           now,
		Operation:           "OPTIMIZE",
		OperationParameters: map[string]string{"predicate": "[]", "zOrderBy": "[]"},
		ReadVersion:         &rv,
		IsolationLevel:      "SnapshotIsolation",
		OperationMetrics: map[string]string{
			"numRemovedFiles": n(int64(len(small))), "numAddedFiles": n(int64(len(w.adds))),
			"numRemovedBytes": n(removed), "numAddedBytes": n(added),
		},
		EngineInfo: "lakemerge",
	}
	body, err := encodeActions(acts)
	if err != nil {
		return st, fmt.Errorf("optimize %s: %w", t.opts.Name, err)
	}
	v := s.version + 1
	err = t.store.CreateExclusive(ctx, t.root+commitName(v), bytes.NewReader(body))
	switch {
	case errors.Is(err, objstore.ErrExists):
		return st, fmt.Errorf("%w: optimize %s: version %d was taken by another commit", table.ErrConflict, t.opts.Name, v)
	case err != nil:
		return st, fmt.Errorf("optimize %s: write version %d: %w", t.opts.Name, v, err)
	}
	st.Compactions = 1
	st.FilesRewritten = int64(len(small))
	st.FilesWritten = int64(len(w.adds))
	return st, nil
}

// optimizeWhole writes the rows of the data files small with w, sorted
// by key, holding them all; it returns how many it read.
func (t *Table) optimizeWhole(ctx context.Context, w *fileWriter, s *snapshot, small []*addAction) (int64, error) {
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var rows int64
	for _, a := range small {
		rec, err := t.readFile(ctx, a.Path, s.cols)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", a.Path, err)
		}
		recs = append(recs, rec)
		rows += rec.NumRows()
	}
	all, err := concatRecords(t.mem, logicalSchema(s.cols), recs)
	if err != nil {
		return 0, err
	}
	defer all.Release()
	sorted, err := t.sortByKey(ctx, all)
	if err != nil {
		return 0, err
	}
	defer sorted.Release()
	if sorted.NumRows() > 0 {
		if err := w.write(ctx, sorted); err != nil {
			return 0, err
		}
	}
	return rows, nil
}

// sortByKey returns rec's rows in key order; the caller releases it.
func (t *Table) sortByKey(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	enc, err := change.NewKeyEncoder(rec, t.opts.Keys)
	if err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	keys := make([][]byte, n)
	idx := make([]int64, n)
	for i := range n {
		keys[i] = enc.Append(nil, i)
		idx[i] = int64(i)
	}
	slices.SortFunc(idx, func(a, b int64) int { return bytes.Compare(keys[a], keys[b]) })
	ib := array.NewInt64Builder(t.mem)
	defer ib.Release()
	ib.AppendValues(idx, nil)
	order := ib.NewInt64Array()
	defer order.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer releaseAll(cols)
	cctx := compute.WithAllocator(ctx, t.mem)
	for i, c := range rec.Columns() {
		if cols[i], err = compute.TakeArray(cctx, c, order); err != nil {
			return nil, fmt.Errorf("sort column %s: %w", rec.Schema().Field(i).Name, err)
		}
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), nil
}

// retentions are the log retention and deleted-file retention of the
// table: its delta.logRetentionDuration and
// delta.deletedFileRetentionDuration when set, else the Options'.
func (t *Table) retentions(s *snapshot) (logRet, fileRet time.Duration) {
	logRet, fileRet = t.opts.LogRetention, t.opts.DeletedFileRetention
	if s.meta == nil {
		return logRet, fileRet
	}
	if d, ok := parseInterval(s.meta.Configuration["delta.logRetentionDuration"]); ok {
		logRet = d
	}
	if d, ok := parseInterval(s.meta.Configuration["delta.deletedFileRetentionDuration"]); ok {
		fileRet = d
	}
	return logRet, fileRet
}

var intervalRE = regexp.MustCompile(`^interval\s+(\d+)\s+(\w+?)s?$`)

// parseInterval reads a Delta table property interval ("interval 30
// days"); ok is false for an empty or unknown one.
func parseInterval(s string) (time.Duration, bool) {
	m := intervalRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	unit := map[string]time.Duration{"microsecond": time.Microsecond, "millisecond": time.Millisecond, "second": time.Second,
		"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour}[m[2]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}
