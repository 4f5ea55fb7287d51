package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table"
)

// Txn is one commit attempt on one table. Call Evolve, then Apply at most
// once (or ApplyChunk per chunk and FinishChunks once: merge.Chunker), then
// Commit once. Not safe for concurrent use.
type Txn struct {
	t     *Table
	snap  *snapshot
	state state
	cols  []column // the table's columns (with _seq); nil while there is no table

	meta       *metadataAction // metaData to commit; nil: unchanged
	protocol   *protocolAction // protocol to commit; nil: unchanged
	create     bool            // the commit creates the table
	rewriteAll bool            // a widened type: every live file is rewritten

	applied bool
	// chunked: the change set came in chunks (ApplyChunk); finished:
	// FinishChunks ran. chunkRows are the stored rows the chunks matched,
	// per data file, and edits their tombstone edits (for a truncate in
	// FinishChunks).
	chunked, finished bool
	chunkRows         map[string]*chunkRows
	edits             []table.TombEdit
	adds              []addAction
	removes           []removeAction
	read              map[string]bool // files whose rows Apply read
	pruner            *pruner         // the changed keys, for conflict checks; nil: any
	nchanges          int64
	truncate          bool
	tomb              *table.Tombstones
	tombChanged       bool
	stats             table.ApplyStats
	copied            int64 // stored rows copied into rewritten files
	written           int64 // rows in new files
	// rewrittenRows are the rows the files Apply rewrote held; newFiles
	// are the files the commit writes and references (verify).
	rewrittenRows int64
	newFiles      []newFile
	// journal is the change set Journal gave (borrowed), journalStale
	// the rows of it Apply found stale.
	journal      arrow.RecordBatch
	journalStale []int

	done     bool
	version  int64 // the version Commit created
	maintErr error
}

// Journal makes Commit write changes as the journal of its version
// (merge.Journaler): a side file the commitInfo's lakemerge entry
// references (stateRef.Journal).
func (x *Txn) Journal(changes arrow.RecordBatch) { x.journal = changes }

// Bookmark is the bookmark the table carried when the Txn began.
func (x *Txn) Bookmark() bookmarks.Bookmark { return x.state.bm }

// Exists reports whether the table existed when the Txn began.
func (x *Txn) Exists() bool { return x.snap.version >= 0 }

// ReadVersion is the log version the Txn began from; -1 for no table.
func (x *Txn) ReadVersion() int64 { return x.snap.version }

// Version is the log version a successful Commit created.
func (x *Txn) Version() int64 { return x.version }

// MaintenanceErr is the error of the checkpoint, log cleanup or state file
// cleanup that follows a successful Commit; those never fail the commit.
func (x *Txn) MaintenanceErr() error { return x.maintErr }

// Columns returns the table's user columns (without _seq), in table order;
// none when the table does not exist yet.
func (x *Txn) Columns() ([]change.Column, error) {
	if x.cols == nil {
		return nil, nil
	}
	return userColumns(x.cols), nil
}

func (x *Txn) name() string { return x.t.opts.Name }

// Evolve makes the table's columns equal to cols: it creates the table when
// it does not exist, adds the columns that are new and widens those whose
// type grew (int→long, float→double, decimal precision up), which rewrites
// every data file in this commit (see the package doc). cols must hold
// every existing column; a column cannot be dropped or narrowed. The new
// metaData goes into the same commit as the data.
func (x *Txn) Evolve(ctx context.Context, cols []change.Column) error {
	if x.done || x.applied {
		return fmt.Errorf("evolve %s: call Evolve before Apply and Commit", x.name())
	}
	out, changed, widened, err := evolveColumns(x.cols, cols)
	if err != nil {
		return fmt.Errorf("evolve %s: %w", x.name(), err)
	}
	if !changed {
		return x.evolvePartitions(out)
	}
	for _, k := range x.t.opts.Keys {
		if findColumn(out, k) < 0 {
			return fmt.Errorf("evolve %s: key column %s is not a column", x.name(), k)
		}
	}
	schema, err := formatSchema(out)
	if err != nil {
		return fmt.Errorf("evolve %s: %w", x.name(), err)
	}
	switch {
	case x.meta != nil:
		x.meta.SchemaString = schema
	case x.snap.version < 0:
		pcols, err := partitionColumns(x.t.opts.Layout, out)
		if err != nil {
			return fmt.Errorf("create %s: %w", x.name(), err)
		}
		now := x.t.now().UnixMilli()
		x.meta = &metadataAction{
			ID:               uuid.NewString(),
			Format:           formatSpec{Provider: "parquet", Options: map[string]string{}},
			SchemaString:     schema,
			PartitionColumns: []string{},
			Configuration:    map[string]string{"lakemerge.primaryKey": strings.Join(x.t.opts.Keys, ",")},
			CreatedTime:      &now,
		}
		if len(pcols) > 0 {
			x.meta.PartitionColumns = pcols
			x.meta.Configuration[partitionsInFiles] = "true"
		}
		x.create = true
	default:
		m := *x.snap.meta
		m.SchemaString = schema
		x.meta = &m
	}
	x.cols = out
	if x.snap.version < 0 {
		x.protocol = requiredProtocol(nil, out)
	} else {
		x.protocol = requiredProtocol(x.snap.protocol, out)
	}
	if widened && x.snap.version >= 0 {
		x.rewriteAll = true
	}
	return x.evolvePartitions(out)
}

// Commit publishes what Apply staged, the metaData of Evolve and bm in one
// log entry, after verifying the files against the plan (verify). Errors
// match table.ErrConflict (nothing landed: begin again),
// table.ErrCommitUnknown (the entry may have landed: compare the bookmark
// Begin reads back) or table.ErrTransient (nothing landed: try again), or
// are permanent. A put that fails, "exists" included, but whose entry
// reads back equal to ours landed (putOutcome), and Commit succeeds. The
// Txn is finished afterwards, whatever the outcome.
//
// State and tombstone files of earlier commits are not deleted: log entries
// still reference them, and a run that began from an earlier version reads
// them. Vacuum deletes them once no log entry references them.
func (x *Txn) Commit(ctx context.Context, bm bookmarks.Bookmark) error {
	if x.done {
		return errors.New("commit: transaction already finished")
	}
	if x.cols == nil {
		x.done = true
		return fmt.Errorf("commit %s: table was never created (Evolve not called)", x.name())
	}
	began := x.snap.version
	if x.chunked && !x.finished {
		x.done = true
		return fmt.Errorf("commit %s: ApplyChunk without FinishChunks", x.name())
	}
	if x.rewriteAll && !x.applied {
		x.applied = true
		st, err := x.apply(ctx, nil, nil, nil)
		if err != nil {
			x.done = true
			return x.t.classify(ctx, began, err)
		}
		x.stats = st
	}
	x.done = true
	tombs := x.state.tombs
	if x.t.opts.NoTombstones {
		// A table that kept tombstones before stops referencing them.
		tombs = nil
	} else if x.tombChanged {
		var err error
		if tombs, err = x.t.writeTombstones(ctx, x.tomb, bm.Runs); err != nil {
			return x.t.classify(ctx, began, fmt.Errorf("commit %s: %w", x.name(), err))
		}
		if tombs != nil {
			x.newFiles = append(x.newFiles, newFile{key: x.t.root + tombs.Path, size: tombs.size, rows: -1})
		}
	}
	ref, size, err := x.t.writeState(ctx, bm, tombs)
	if err != nil {
		return x.t.classify(ctx, began, fmt.Errorf("commit %s: %w", x.name(), err))
	}
	x.newFiles = append(x.newFiles, newFile{key: x.t.root + ref.State, size: size, rows: -1})
	if x.journal != nil {
		f, err := x.t.writeJournal(ctx, x.journal, x.journalStale, bm.Runs)
		if err != nil {
			return x.t.classify(ctx, began, fmt.Errorf("commit %s: %w", x.name(), err))
		}
		ref.Journal, ref.JournalSHA256 = f.Path, f.SHA256
		x.newFiles = append(x.newFiles, newFile{key: x.t.root + f.Path, size: f.Size, rows: -1})
	}
	if err := x.verify(ctx); err != nil {
		return fmt.Errorf("commit %s: %w", x.name(), err)
	}
	body, err := encodeActions(x.actions(bm, ref))
	if err != nil {
		return fmt.Errorf("commit %s: %w", x.name(), err)
	}
	v := began + 1
	for {
		key := x.t.root + commitName(v)
		err := x.t.store.CreateExclusive(ctx, key, bytes.NewReader(body))
		if err == nil {
			break
		}
		got, cerr := x.putOutcome(ctx, key, err)
		if cerr != nil {
			return fmt.Errorf("commit %s at version %d: %w", x.name(), v, cerr)
		}
		if bytes.Equal(got, body) {
			// The put landed after all: its answer was lost, or a retry
			// of it found the entry the first try wrote (412). No other
			// writer's entry equals ours: it names our state file.
			break
		}
		winner, rerr := decodeActions(bytes.NewReader(got))
		if rerr != nil {
			return fmt.Errorf("%w: commit %s: version %d was taken and cannot be read: %w", table.ErrConflict, x.name(), v, rerr)
		}
		if cerr := x.conflict(winner); cerr != nil {
			return fmt.Errorf("%w: commit %s: version %d %w", table.ErrConflict, x.name(), v, cerr)
		}
		v++ // the winner did not touch what we read: commit after it
	}
	x.version = v
	x.maintain(ctx, v)
	return nil
}

// putOutcome reads back the log entry key after a failed conditional put
// of it, and returns what it holds; the caller compares it with what it
// put (equal: the put landed) or checks it for a conflict. The entry is
// read back whatever the error says, "exists" (412) included: the AWS SDK
// sends a put again when the connection drops after S3 stored the object,
// and the retry finds the entry the first try wrote. The error is
// table.ErrCommitUnknown when the entry cannot be read, or does not exist
// after a temporary failure (throttling, 5xx, a timeout, a dropped
// connection: the put may still land); a permanent failure (access
// denied, a missing bucket), or an error of unknown type with no entry
// at key, is returned as it is.
func (x *Txn) putOutcome(ctx context.Context, key string, err error) ([]byte, error) {
	if ctx.Err() != nil {
		return nil, err
	}
	exists := errors.Is(err, objstore.ErrExists)
	fault := table.FaultOf(err)
	if !exists && fault == table.FaultPermanent {
		return nil, err
	}
	got, rerr := x.t.readAll(ctx, key)
	switch {
	case errors.Is(rerr, objstore.ErrNotExist) && !exists && fault != table.FaultTemporary:
		return nil, err
	case rerr != nil:
		return nil, fmt.Errorf("%w: %w (and the entry cannot be read back: %w)", table.ErrCommitUnknown, err, rerr)
	}
	return got, nil
}

// actions lists the actions of the commit: commitInfo, protocol (when
// created or upgraded, see requiredProtocol) and metaData (when created or
// changed), txn, removes, adds.
func (x *Txn) actions(bm bookmarks.Bookmark, ref *stateRef) []action {
	now := x.t.now().UnixMilli()
	params := map[string]string{"predicate": x.predicate()}
	if x.truncate {
		params["truncate"] = "true"
	}
	if x.rewriteAll {
		params["rewriteAll"] = "true"
	}
	var added, removed int64
	for _, a := range x.adds {
		added += a.Size
	}
	for _, r := range x.removes {
		if r.Size != nil {
			removed += *r.Size
		}
	}
	s := x.stats
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	ci := &commitInfoAction{
		Timestamp:           now,
		Operation:           "MERGE",
		OperationParameters: params,
		IsolationLevel:      "Serializable",
		OperationMetrics: map[string]string{
			"numSourceRows":         n(x.nchanges),
			"numTargetRowsInserted": n(s.Inserted),
			"numTargetRowsUpdated":  n(s.Updated),
			"numTargetRowsDeleted":  n(s.Deleted),
			"numTargetRowsCopied":   n(x.copied),
			"numOutputRows":         n(x.written),
			"numTargetFilesAdded":   n(int64(len(x.adds))),
			"numTargetFilesRemoved": n(int64(len(x.removes))),
			"numTargetBytesAdded":   n(added),
			"numTargetBytesRemoved": n(removed),
		},
		EngineInfo: "lakemerge",
		Lakemerge:  ref,
	}
	if x.snap.version >= 0 {
		rv := x.snap.version
		ci.ReadVersion = &rv
	}
	acts := []action{{CommitInfo: ci}}
	if x.protocol != nil {
		acts = append(acts, action{Protocol: x.protocol})
	}
	if x.meta != nil {
		acts = append(acts, action{MetaData: x.meta})
	}
	acts = append(acts, action{Txn: &txnAction{AppID: appID, Version: bm.Runs, LastUpdated: &now}})
	for i := range x.removes {
		acts = append(acts, action{Remove: &x.removes[i]})
	}
	for i := range x.adds {
		acts = append(acts, action{Add: &x.adds[i]})
	}
	return acts
}

func (x *Txn) predicate() string {
	var parts []string
	for _, k := range x.t.opts.Keys {
		phys := strings.ToLower(k)
		parts = append(parts, "target."+phys+" = source."+phys)
	}
	return strings.Join(parts, " AND ")
}

// conflict reports why a winning log entry invalidates this commit, or nil
// when committing after it is safe (the rules of the package doc).
func (x *Txn) conflict(winner []action) error {
	for _, a := range winner {
		switch {
		case a.other != "":
			return fmt.Errorf("has a %s action", a.other)
		case a.Protocol != nil:
			return errors.New("changed the protocol")
		case a.MetaData != nil:
			return errors.New("changed the table metadata")
		case a.Txn != nil && a.Txn.AppID == appID:
			return fmt.Errorf("was committed by another lakemerge run (txn version %d)", a.Txn.Version)
		case a.Remove != nil && x.read[a.Remove.Path]:
			return fmt.Errorf("removed %s, which this commit read", a.Remove.Path)
		case a.Add != nil && a.Add.DataChange && x.mayHold(a.Add):
			return fmt.Errorf("added %s, which may hold keys this commit changes", a.Add.Path)
		}
	}
	return nil
}

// mayHold reports whether a file another writer added may hold rows this
// commit should have read.
func (x *Txn) mayHold(a *addAction) bool {
	switch {
	case x.truncate || x.rewriteAll:
		return true
	case x.nchanges == 0:
		return false
	case x.pruner == nil:
		return true
	}
	return x.pruner.mayHold(a.Stats)
}

// maintain runs what follows a successful commit at version v: the
// checkpoint and log cleanup when v is a multiple of the interval. Errors
// are kept, not returned.
func (x *Txn) maintain(ctx context.Context, v int64) {
	if v == 0 || v%int64(x.t.opts.CheckpointInterval) != 0 {
		return
	}
	err := x.t.writeCheckpoint(ctx, v)
	if err == nil {
		err = x.t.cleanLog(ctx)
	}
	if err != nil {
		x.maintErr = fmt.Errorf("maintenance of %s after version %d: %w", x.name(), v, err)
	}
}
