package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/prepared"
	"github.com/lakemerge/lakemerge/table"
)

// Target is a prepared table's writer: the same contract as merge.Target.
type Target interface {
	// Begin loads the table's current state and starts one commit attempt.
	Begin(ctx context.Context) (Txn, error)
}

// Txn is one single-use commit attempt, with the contract of merge.Txn
// (the base table's writers implement both): Evolve, then Apply at most
// once, then Commit once. Errors are classified as merge.Txn's are
// (table.ErrConflict, table.ErrCommitUnknown, table.ErrTransient, or
// permanent).
type Txn interface {
	// Bookmark is the bookmark of the table state this Txn started from:
	// for a prepared table, its State (StateOf).
	Bookmark() bookmarks.Bookmark
	// Columns lists the table's user columns; none when it does not exist.
	Columns() ([]change.Column, error)
	// Evolve makes the table's columns equal cols, creating the table when
	// needed; cols extends the current columns.
	Evolve(ctx context.Context, cols []change.Column) error
	// Apply writes changes (one row per key, sorted by key, the columns of
	// Evolve then _op and _seq; borrowed). With truncateBefore set, every
	// live row whose _seq is less and whose key is not among the changes
	// is deleted too.
	Apply(ctx context.Context, changes arrow.RecordBatch, truncateBefore []byte) (table.ApplyStats, error)
	// Commit makes what Apply wrote visible in one commit together with bm.
	Commit(ctx context.Context, bm bookmarks.Bookmark) error
}

// Base is the base table, read when a prepared table catches up.
type Base interface {
	// Describe reads the base table's current state.
	Describe(ctx context.Context) (table.Info, error)
	// Read returns every live row of the current state: the user columns
	// and _seq, the whole table in memory; the caller releases it.
	Read(ctx context.Context) (arrow.Table, error)
	// ChangesSince returns the base table's changes from state from to
	// state to (table.Table's contract): each step's changes have the
	// user columns, _op and _seq, one row per key, sorted by key, and _ts
	// too for a step that is a commit's journal (table.Step.Journal, with
	// each only). A from the table's history does not hold any more is
	// table.ErrNoHistory.
	ChangesSince(ctx context.Context, from, to int64, each bool) (table.Changes, error)
}

// StoredTable is the prepared table itself, which a history table reads
// to merge a run's versions into the versions it stores.
type StoredTable interface {
	// Describe and Read as Base's: a catch-up from the whole base
	// table (its commits gone) reads the whole history table.
	Base
	// ReadKeysAt returns the live rows of the current state (the user
	// columns and _seq, as Read) whose values of the columns of keys equal
	// one of its rows, where they are (the state read, and each row's data
	// file and position: table.Located) and what it read; the caller
	// releases the table. keys holds table columns (the first columns of
	// the table's key), one distinct non-null key per row, and is
	// borrowed. It reads only what may hold a key — files and row groups
	// pruned by partition and key statistics — so that a run's read
	// follows the change, not the table, as far as the keys' spread over
	// the files allows. A table that does not exist is an error.
	ReadKeysAt(ctx context.Context, keys arrow.RecordBatch) (arrow.Table, table.Located, table.ReadCounts, error)
}

// LocatedApplier is a Txn that plans a change set from stored rows its
// caller read and located (both writers' ApplyLocated), instead of
// reading the key columns of its data files itself: a history table's
// run reads every stored version of the keys it touches, which are all
// the stored rows its writer's key (the curated key and order_key) can
// match. rows (borrowed) hold at least the writer's key columns and _seq,
// and are the rows located at at, read from the state at.State; every
// live row of that state holding a changed key must be among them. The
// writer checks that at.State is the state its commit is built on
// (table.ErrConflict otherwise: the next attempt reads again) and
// verifies its commit against the plan as Apply's. Apply's contract
// otherwise, without truncateBefore.
type LocatedApplier interface {
	ApplyLocated(ctx context.Context, changes, rows arrow.RecordBatch, at table.Located) (table.ApplyStats, error)
}

// Program is a prepared table's SQL compiled against the base table's
// columns (prepared/transform.Program): Transform turns a change batch
// into the curated columns, the batch's system columns but _keep, and
// transform.ColPass, one row per input row in order.
type Program interface {
	Columns() []change.Column
	Transform(ctx context.Context, mem memory.Allocator, batch arrow.RecordBatch) (arrow.RecordBatch, error)
	Close() error
}

// Compiler compiles the prepared table's SQL against the base table's
// user columns.
type Compiler func(ctx context.Context, base []change.Column) (Program, error)

// Table is one prepared table of a base table.
type Table struct {
	// Name names the prepared table in results and errors (database.table).
	Name string
	// BaseTable names the base table (the job file's table name).
	BaseTable string
	Def       prepared.Definition
	// BaseKeys is the base table's primary key; Keys the curated columns
	// that are bare references of them, in the same order: the prepared
	// table's key.
	BaseKeys, Keys []string
	// Rebuild is OnChangeRebuild to rebuild when the definition changed,
	// anything else to stop; RebuildCommand is the command a user runs to
	// rebuild the table, for the message of a stop.
	OnChange       string
	RebuildCommand string
	Target         Target
	// Stored reads the prepared table itself: a history table merges a
	// run's versions into the versions it stores (nil for other modes).
	Stored  StoredTable
	Compile Compiler
	Mem     memory.Allocator
	// MaxAttempts bounds commit attempts on conflicts, unknown outcomes and
	// transient failures; 0 means 8.
	MaxAttempts int
}

// OnChangeRebuild is the Table.OnChange that rebuilds a prepared table
// whose definition changed.
const OnChangeRebuild = "rebuild"

// ErrDefinitionChanged is the error of a run that stopped because a
// prepared table's definition changed and its on_change is stop.
var ErrDefinitionChanged = errors.New("the definition changed")

// Run is what the base table's run just did, from merge.Result: the change
// set it committed (nil when it committed none, or its own commit was not
// seen to land), the base bookmark its commit was made on and the one it
// made, the truncateBefore it applied, and how many of its changes the
// base table found stale (table.ApplyStats.Stale).
//
// Changes is borrowed unless Owned is set: then Keep owns it and releases
// it as soon as its first attempt has transformed it (or found no use for
// it), so that the change set does not stay in memory beside the
// prepared table's own work; a later attempt catches up from the base
// table instead. A caller keeping several prepared tables of one run
// hands it over with the last.
type Run struct {
	Changes        arrow.RecordBatch
	Owned          bool
	Parent, Next   bookmarks.Bookmark
	TruncateBefore []byte
	Stale          int64
}

// The ways a Keep or Rebuild went (Result.How).
const (
	HowUpToDate = "up to date"
	HowChanges  = "changes"
	// HowCatchUp is a catch-up from the base table's commits since the
	// state the prepared table reflects; HowCatchUpWhole one from the
	// whole base table, when those commits cannot be read (CatchUp.Whole
	// says why).
	HowCatchUp      = "catch-up"
	HowCatchUpWhole = "catch-up (whole table)"
	HowRebuild      = "rebuild"
	HowNoBase       = "no base table"
)

// Result is what keeping one prepared table did.
type Result struct {
	Table    string           `json:"table"`
	Mode     string           `json:"mode"`
	How      string           `json:"how"`
	Rows     int64            `json:"rows"` // changes transformed
	Stats    table.ApplyStats `json:"stats"`
	Attempts int              `json:"attempts"`
	// BaseSnapshot is the base snapshot id or Delta version the prepared
	// table reflects now.
	BaseSnapshot int64  `json:"base_snapshot"`
	Generation   uint32 `json:"generation"`
	// CatchUp is how a catch-up read the base table; nil for other ways.
	CatchUp *CatchUp `json:"catch_up,omitempty"`
	// DurationMS is how long keeping the table took (set by the caller).
	DurationMS int64 `json:"duration_ms"`
	// StoredRead is what a history table's run read of its stored
	// versions (StoredTable.ReadKeysAt); nil when it read the whole table
	// (a catch-up) or nothing.
	StoredRead *table.ReadCounts `json:"stored_read,omitempty"`
}

// Keep brings the prepared table in step with the base table's current
// state after a run of the base table (see the package doc for the ways
// it goes).
func (t *Table) Keep(ctx context.Context, base Base, run Run) (Result, error) {
	return t.loop(ctx, base, run, false)
}

// Rebuild re-derives the prepared table from the whole base table, under
// the next generation, whatever its State.
func (t *Table) Rebuild(ctx context.Context, base Base) (Result, error) {
	return t.loop(ctx, base, Run{}, true)
}

// loop runs attempts until one commits or there is nothing to do.
func (t *Table) loop(ctx context.Context, base Base, run Run, rebuild bool) (Result, error) {
	if t.Def.Mode != prepared.Mirror && t.Def.Mode != prepared.Changelog && t.Def.Mode != prepared.History {
		return Result{Table: t.Name, Mode: string(t.Def.Mode)}, fmt.Errorf("prepared table %s: mode %s is not kept by this version of lakemerge", t.Name, t.Def.Mode)
	}
	maxAttempts := t.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 8
	}
	if run.Owned {
		defer func() {
			if run.Changes != nil {
				run.Changes.Release()
			}
		}()
	}
	res := Result{Table: t.Name, Mode: string(t.Def.Mode)}
	fp := prepared.Fingerprint(t.Def)
	// from is the generation the first attempt found: a forced rebuild is
	// done once the table holds a later one.
	from := int64(-1)
	for attempt := 1; ; attempt++ {
		res.Attempts = attempt
		err := t.attempt(ctx, base, &run, rebuild, fp, &from, &res)
		if err == nil {
			return res, nil
		}
		switch {
		case errors.Is(err, ErrDefinitionChanged) || !table.Retryable(err):
			return res, fmt.Errorf("prepared table %s: %w", t.Name, err)
		case attempt >= maxAttempts:
			return res, fmt.Errorf("prepared table %s: gave up after %d attempts: %w", t.Name, attempt, err)
		}
		if err := table.Backoff(ctx, attempt); err != nil {
			return res, fmt.Errorf("prepared table %s: %w", t.Name, err)
		}
	}
}

// attempt makes one commit attempt, or finds there is nothing to do. It
// takes run.Changes over (sets it nil) when run owns it and it uses it.
func (t *Table) attempt(ctx context.Context, base Base, run *Run, rebuild bool, fp string, from *int64, res *Result) error {
	info, err := base.Describe(ctx)
	if err != nil {
		return fmt.Errorf("describe the base table: %w", err)
	}
	if !info.Exists {
		res.How = HowNoBase
		return nil
	}
	txn, err := t.Target.Begin(ctx)
	if err != nil {
		return err
	}
	st, err := StateOf(txn.Bookmark())
	if err != nil {
		return err
	}
	if st.BaseTable != "" && st.BaseTable != t.BaseTable {
		return fmt.Errorf("it was made from base table %s, not %s: its target is another prepared table's", st.BaseTable, t.BaseTable)
	}
	if *from < 0 {
		*from = int64(st.Generation)
	}
	current := BaseDigest(info.Bookmark)
	// A new changelog or history table of a base table that was empty
	// before this run takes the run's changes as they are, with their ops
	// and commit times, rather than the base table's rows.
	history := t.Def.Mode == prepared.History
	fresh := (t.Def.Mode == prepared.Changelog || history) && st.Runs == 0 && st.Fingerprint == ""
	res.BaseSnapshot, res.Generation = st.BaseSnapshot, st.Generation
	how := HowCatchUp
	switch {
	case rebuild && int64(st.Generation) > *from && st.Base == current && st.Fingerprint == fp:
		// An earlier attempt's commit landed after all.
		res.How = HowRebuild
		return nil
	case rebuild:
		how = HowRebuild
	case st.Fingerprint != "" && st.Fingerprint != fp && t.OnChange != OnChangeRebuild:
		return fmt.Errorf("%w since the table was built (fingerprint %s, now %s): rebuild it with `%s`, or set on_change: rebuild", ErrDefinitionChanged, st.Fingerprint, fp, t.RebuildCommand)
	case st.Fingerprint != "" && st.Fingerprint != fp:
		how = HowRebuild
	case st.Base == current && st.Fingerprint == fp:
		res.How = HowUpToDate
		return nil
	case run.Changes != nil && (st.Fingerprint == fp || fresh) && st.Base == BaseDigest(run.Parent) &&
		current == BaseDigest(run.Next) && run.TruncateBefore == nil && (run.Stale == 0 || history) && whole(run.Changes):
		// A history keeps a change the base table found stale: it is a
		// version all the same, placed by its order key.
		how = HowChanges
	}
	if how == HowChanges && current == "" {
		how = HowCatchUp
	}

	changelog := t.Def.Mode == prepared.Changelog
	next := State{BaseTable: t.BaseTable, Base: current, BaseSnapshot: info.Snapshot, Fingerprint: fp,
		Generation: st.Generation, Runs: st.Runs + 1}
	// A catch-up reads the base table's commits since the state the
	// prepared table reflects, and the whole base table when it cannot.
	var steps []table.Step
	var catchUp *CatchUp
	if how == HowCatchUp {
		var cu CatchUp
		if steps, cu, err = t.readSince(ctx, base, st, info, changelog || history); err != nil {
			return err
		}
		defer func() { releaseSteps(steps) }()
		catchUp = &cu
		if cu.Whole != "" {
			how = HowCatchUpWhole
		}
	}
	var changes arrow.RecordBatch // base changes: user columns, _op, _seq
	var truncate []byte
	switch {
	case how == HowChanges:
		changes = run.Changes
		if run.Owned {
			run.Changes = nil // released once transformed
		} else {
			changes.Retain()
		}
	case how == HowCatchUp && history:
		// Merged step by step (historySince).
	case how == HowCatchUp:
		// The changes since, applied as a run's are, under the same
		// generation.
		if changes, err = concatSteps(t.Mem, steps, info.Columns); err != nil {
			return err
		}
		releaseSteps(steps)
		steps = nil
	default:
		// A changelog or history keeps its rows across a catch-up (the
		// rows it has are found present and not appended again); a
		// rebuild starts it over.
		if !(changelog || history) || how == HowRebuild {
			next.Generation++
			truncate = genPrefix(next.Generation)
		}
		if changes, err = readBase(ctx, t.Mem, base, info, t.BaseKeys); err != nil {
			return err
		}
	}
	// The base rows, the curated rows and the prepared changes are each
	// let go of as soon as the next holds what it needs: a catch-up holds
	// a whole table.
	var nrows int64
	prog, err := t.Compile(ctx, info.Columns)
	if err != nil {
		if changes != nil {
			changes.Release()
		}
		return fmt.Errorf("compile against the base table's columns: %w", err)
	}
	defer prog.Close()
	var curated arrow.RecordBatch
	letGo := func() {
		if curated != nil {
			curated.Release()
			curated = nil
		}
	}
	defer letGo()
	if changes != nil {
		nrows = changes.NumRows()
		curated, err = prog.Transform(ctx, t.Mem, changes)
		changes.Release()
		if err != nil {
			return err
		}
	}
	cur, err := txn.Columns()
	if err != nil {
		return err
	}
	cols, err := change.ExtendColumns(slices.Clone(cur), prog.Columns())
	if err != nil {
		return fmt.Errorf("the curated columns do not fit the table's: %w (a rebuild keeps the table's columns; to change a column's type, drop the prepared table first)", err)
	}
	var batch arrow.RecordBatch
	var loc *storedAt // a history run's stored rows, located
	defer func() {
		if loc != nil {
			loc.rows.Release()
		}
	}()
	switch {
	case changelog:
		// Rows read from the whole base table: the op of their change is
		// not known. A changelog's first rows, or a rebuild's, are the
		// base table's rows as inserts; the rows a catch-up from the
		// whole table finds missing are upserts (U). A catch-up from the
		// base table's commits knows them (I, U, D).
		op := ""
		switch how {
		case HowChanges, HowCatchUp:
		case HowRebuild:
			op = change.OpInsert.String()
		default:
			if op = change.OpUpdate.String(); st.Runs == 0 {
				op = change.OpInsert.String()
			}
		}
		if cols, err = change.ExtendColumns(cols, prepared.ChangelogColumns()); err == nil {
			batch, err = changelogChanges(t.Mem, curated, cols, next.Generation, op)
		}
	case history && how == HowCatchUp:
		if cols, err = change.ExtendColumns(cols, prepared.HistoryColumns()); err == nil {
			batch, nrows, res.StoredRead, err = t.historySince(ctx, txn, prog, steps, cols, next)
		}
	case history:
		if cols, err = change.ExtendColumns(cols, prepared.HistoryColumns()); err == nil {
			batch, loc, res.StoredRead, err = t.history(ctx, txn, curated, cols, how, next)
		}
	default:
		batch, err = mirrorChanges(t.Mem, curated, cols, next.Generation)
	}
	letGo()
	if err != nil {
		return err
	}
	defer batch.Release()
	if err := txn.Evolve(ctx, cols); err != nil {
		return err
	}
	stats, err := applyTo(ctx, txn, batch, truncate, loc)
	if err != nil {
		return err
	}
	if err := txn.Commit(ctx, next.Bookmark()); err != nil {
		return err
	}
	res.How, res.Rows, res.Stats, res.CatchUp = how, nrows, stats, catchUp
	res.BaseSnapshot, res.Generation = next.BaseSnapshot, next.Generation
	return nil
}

// applyTo applies batch in txn (Txn.Apply), planned from the stored rows
// loc when they are set and txn plans from located rows (LocatedApplier).
func applyTo(ctx context.Context, txn Txn, batch arrow.RecordBatch, truncate []byte, loc *storedAt) (table.ApplyStats, error) {
	if la, ok := txn.(LocatedApplier); ok && loc != nil && truncate == nil {
		return la.ApplyLocated(ctx, batch, loc.rows, loc.at)
	}
	return txn.Apply(ctx, batch, truncate)
}

// genPrefix is the first part of the order key of a generation's changes,
// and the truncateBefore that deletes the rows of older generations.
func genPrefix(gen uint32) []byte {
	var sb change.SeqBuilder
	return slices.Clone(sb.Uint32(gen).Bytes())
}
