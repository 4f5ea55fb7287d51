package iceberg

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// Txn is one commit attempt on one table. Not safe for concurrent use.
type Txn struct {
	t   *Table
	tbl *icetable.Table // nil until the table exists
	bm  bookmarks.Bookmark
	// planned is the state Begin read: Commit asserts its bookmark and
	// tombstone properties (and the main branch as Apply planned on it).
	planned plannedState
	// state holds the bookmark and tombstone properties Begin read: the
	// table's, or, after a rollback inside the metadata, those of the
	// main branch's line (recovered; see stateProps), which Commit then
	// sets whole.
	state     ice.Properties
	recovered bool

	dataFiles   []ice.DataFile
	delFiles    []ice.DataFile
	sideFiles   []table.SideFile  // bookmark and tombstone files Commit wrote
	stats       table.ApplyStats  // what Apply planned (verify checks the files against it)
	tomb        *table.Tombstones // the tombstone set after Apply
	tombChanged bool
	// pending are the stored rows matched by the chunks of a change set
	// applied in pieces (ApplyChunk), per data file, until FinishChunks
	// writes their deletes; nil for Apply.
	pending  map[string]*pendingDeletes
	edits    []table.TombEdit // the tombstone edits of the chunks
	finished bool             // FinishChunks ran
	// journal is the change set Journal gave (borrowed), journalStale
	// the rows of it Apply found stale.
	journal      arrow.RecordBatch
	journalStale []int
	done         bool
	maintErr     error
}

// Bookmark is the bookmark the table carried when the Txn began.
func (x *Txn) Bookmark() bookmarks.Bookmark { return x.bm }

// Journal makes Commit write changes as the journal of its snapshot
// (merge.Journaler): a side file referenced by JournalProperty in the
// snapshot summary. A commit that adds no file (every change stale or
// absent) makes an empty append snapshot to carry it, when changes has
// rows.
func (x *Txn) Journal(changes arrow.RecordBatch) { x.journal = changes }

// MaintenanceErr is the error of what iceberg-go does after a commit landed
// (its post-commit steps); it does not undo the commit.
func (x *Txn) MaintenanceErr() error { return x.maintErr }

// Exists reports whether the table exists in the catalog.
func (x *Txn) Exists() bool { return x.tbl != nil }

// Columns returns the table's user columns (without _seq), in table order;
// none when the table does not exist yet.
func (x *Txn) Columns() ([]change.Column, error) {
	if x.tbl == nil {
		return nil, nil
	}
	return userColumns(x.tbl)
}

// Evolve makes the table's columns equal to cols: it creates the table when
// it does not exist, adds columns that are new and widens columns whose type
// grew. cols must contain every existing column (merge computes them with
// change.Widen); a column cannot be dropped or narrowed. The schema change is
// its own catalog commit, made before the data commit: a crash after it
// leaves an extra nullable column that a re-run would add anyway.
func (x *Txn) Evolve(ctx context.Context, cols []change.Column) error {
	if x.tbl == nil {
		return x.create(ctx, cols)
	}
	cur, err := x.Columns()
	if err != nil {
		return err
	}
	have := make(map[string]arrow.DataType, len(cur))
	for _, c := range cur {
		have[c.Name] = c.Type
	}
	tx := x.tbl.NewTransaction()
	us := tx.UpdateSchema(true, false)
	changed := false
	for _, c := range cols {
		old, ok := have[c.Name]
		if ok && arrow.TypeEqual(old, c.Type) {
			continue
		}
		it, err := icetable.ArrowTypeToIceberg(c.Type, false)
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		if !ok {
			us.AddColumn([]string{c.Name}, it, "", false, nil)
		} else {
			us.UpdateColumn([]string{c.Name}, icetable.ColumnUpdate{FieldType: ice.Optional[ice.Type]{Val: it, Valid: true}})
		}
		changed = true
	}
	if !changed {
		return x.evolveLayout(ctx)
	}
	if err := us.Commit(); err != nil {
		return fmt.Errorf("evolve schema of %s: %w", x.name(), err)
	}
	tbl, err := tx.Commit(ctx)
	if err != nil && tbl == nil {
		return x.t.classify(ctx, table.InCommit, x.began(), "", fmt.Errorf("commit schema of %s: %w", x.name(), err))
	}
	if err != nil {
		// The catalog accepted the schema; a step after it failed.
		x.maintErr = fmt.Errorf("after the schema commit of %s: %w", x.name(), err)
	}
	x.tbl = tbl
	return x.evolveLayout(ctx)
}

func (x *Txn) name() string { return x.t.opts.Database + "." + x.t.opts.Name }

func (x *Txn) create(ctx context.Context, cols []change.Column) error {
	sc, err := icebergSchema(cols)
	if err != nil {
		return fmt.Errorf("schema of %s: %w", x.name(), err)
	}
	spec, err := partitionSpec(x.t.opts, sc)
	if err != nil {
		return fmt.Errorf("create %s: %w", x.name(), err)
	}
	order, err := sortOrder(x.t.opts, sc)
	if err != nil {
		return fmt.Errorf("create %s: %w", x.name(), err)
	}
	if ns, ok := x.t.cat.(interface {
		EnsureNamespace(context.Context, string) error
	}); ok {
		if err := ns.EnsureNamespace(ctx, x.t.opts.Database); err != nil {
			return x.t.classify(ctx, table.BeforeCommit, "", "", err)
		}
	} else if err := x.t.cat.CreateNamespace(ctx, icetable.Identifier{x.t.opts.Database}, nil); err != nil &&
		!errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return x.t.classify(ctx, table.BeforeCommit, "", "", fmt.Errorf("create database %s: %w", x.t.opts.Database, err))
	}
	if err := x.t.refuseExisting(ctx); err != nil {
		return err
	}
	id := newCommitID()
	props := x.t.createProperties()
	props[CommitProperty] = id
	opts := []catalog.CreateTableOpt{catalog.WithPartitionSpec(&spec), catalog.WithProperties(props)}
	if len(x.t.opts.Layout.Sort) > 0 {
		opts = append(opts, catalog.WithSortOrder(order))
	}
	if x.t.opts.Location != "" {
		opts = append(opts, catalog.WithLocation(x.t.opts.Location))
	}
	tbl, err := x.t.cat.CreateTable(ctx, x.t.ident(), sc, opts...)
	if err != nil {
		// The create may have landed and its answer been lost (a retry
		// then finds the table: CommitProperty).
		if cur, ok := x.t.carrying(ctx, id); ok {
			tbl, err = cur, nil
		}
	}
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		// Another writer created it first: begin again from theirs.
		return fmt.Errorf("create %s: created concurrently: %w", x.name(), table.ErrConflict)
	}
	if err != nil {
		return x.t.classify(ctx, table.InCommit, "", "", fmt.Errorf("create table %s: %w", x.name(), err))
	}
	x.t.known.Store(true)
	x.tbl = tbl
	return nil
}

// Commit puts the files written by Apply and the bookmark bm into one
// snapshot (when Apply wrote nothing, a snapshot only to carry a journal,
// see Journal; without one only the bookmark and tombstone properties
// move), after verifying them against the plan
// (verify). The Txn is finished afterwards, whatever the outcome. Errors
// are classified (classify): table.ErrConflict, table.ErrCommitUnknown,
// table.ErrTransient, or permanent. A commit request that fails but
// landed (the table carries the id it set as CommitProperty: its answer
// was lost, and the SDK's retry of it met the table it made) is a
// success.
//
// The commit lands only on the state it was planned on (commitOn): the
// main branch where Apply found it, and the bookmark and tombstone
// properties as Begin read them. Any other commit in between, one that
// moved only the properties included, makes it fail with
// table.ErrConflict, and nothing of it is visible.
//
// The bookmark and tombstone files of earlier commits are not deleted:
// the metadata files of earlier states still reference them, and a run
// that began from such a state (a concurrent run, or a catalog rolled back)
// reads them. Vacuum deletes them once no retained metadata file
// references them.
func (x *Txn) Commit(ctx context.Context, bm bookmarks.Bookmark) error {
	if x.done {
		return errors.New("commit: transaction already finished")
	}
	x.done = true
	if x.tbl == nil {
		return fmt.Errorf("commit %s: table was never created (Evolve not called)", x.name())
	}
	began := x.began()
	before := func(err error) error {
		return x.t.classify(ctx, table.BeforeCommit, began, "", fmt.Errorf("commit %s: %w", x.name(), err))
	}
	enc, err := bm.Encode()
	if err != nil {
		return fmt.Errorf("commit %s: encode bookmark: %w", x.name(), err)
	}
	if enc, err = x.bookmarkProperty(ctx, enc); err != nil {
		return before(err)
	}
	id := newCommitID()
	props := ice.Properties{BookmarkProperty: enc, CommitProperty: id}
	if x.t.opts.NoTombstones && x.state[TombstonesProperty] != "" {
		// A table that kept tombstones before stops referencing them.
		x.tomb, x.tombChanged = &table.Tombstones{}, true
	}
	if x.tombChanged {
		ref, err := x.tombstonesProperty(ctx, x.tomb)
		if err != nil {
			return before(err)
		}
		props[TombstonesProperty] = ref
	} else if x.recovered {
		props[TombstonesProperty] = x.state[TombstonesProperty]
	}
	if err := x.verify(ctx); err != nil {
		return fmt.Errorf("commit %s: %w", x.name(), err)
	}
	tx := x.tbl.NewTransaction()
	files := len(x.dataFiles)+len(x.delFiles) > 0
	// A change set that changed no row (every change stale or absent) is
	// journaled all the same: the snapshot is then an empty append.
	journaled := x.journal != nil && x.journal.NumRows() > 0
	// The snapshot this state belongs to: the one staged below, else the
	// main branch's (see SnapshotProperty).
	owner := x.tbl.CurrentSnapshot()
	if files || journaled {
		summary := ice.Properties{
			SummaryRunsProperty:    strconv.FormatInt(bm.Runs, 10),
			SummaryObjectsProperty: strconv.Itoa(len(bm.Entries)),
		}
		if x.journal != nil {
			ref, err := x.journalRef(ctx)
			if err != nil {
				return before(err)
			}
			summary[JournalProperty] = ref
		}
		if err := x.stageSnapshot(ctx, tx, summary); err != nil {
			return before(err)
		}
		staged, err := tx.StagedTable()
		if err != nil {
			return before(fmt.Errorf("stage snapshot: %w", err))
		}
		owner = staged.CurrentSnapshot()
	}
	if owner != nil {
		props[SnapshotProperty] = ownerOf(owner).String()
	}
	if err := tx.SetProperties(props); err != nil {
		return before(fmt.Errorf("stage bookmark: %w", err))
	}
	_, after, err := x.t.commitOn(ctx, x.tbl, tx, x.planned.withMain(x.tbl))
	if err != nil {
		if _, ok := x.t.carrying(ctx, id); ok {
			// The catalog applied this request and its answer was lost
			// (CommitProperty): the commit landed.
			return nil
		}
		return x.t.classify(ctx, table.InCommit, began, enc, fmt.Errorf("commit %s: %w", x.name(), err))
	}
	if after != nil {
		x.maintErr = errors.Join(x.maintErr, fmt.Errorf("after the commit of %s: %w", x.name(), after))
	}
	return nil
}

// stageSnapshot stages on tx the snapshot of the commit, with summary
// properties summary: a row delta of the files Apply wrote, or, when it
// wrote none, an empty append (iceberg-go's RowDelta refuses a snapshot
// without a file; AddFiles of no file makes one, operation append, the
// parent's files unchanged). AddFiles also sets the schema's name mapping
// when the table has none; lakemerge writes field ids and sets none, so
// the empty append takes it out again and the table's properties move
// only as a row delta's would.
func (x *Txn) stageSnapshot(ctx context.Context, tx *icetable.Transaction, summary ice.Properties) error {
	if len(x.dataFiles)+len(x.delFiles) > 0 {
		rd := tx.NewRowDelta(summary)
		rd.AddRows(x.dataFiles...)
		rd.AddDeletes(x.delFiles...)
		if err := rd.Commit(ctx); err != nil {
			return fmt.Errorf("stage row delta: %w", err)
		}
		return nil
	}
	_, mapped := x.tbl.Properties()[icetable.DefaultNameMappingKey]
	if err := tx.AddFiles(ctx, nil, summary, true); err != nil {
		return fmt.Errorf("stage empty append: %w", err)
	}
	if !mapped {
		if err := tx.RemoveProperties([]string{icetable.DefaultNameMappingKey}); err != nil {
			return fmt.Errorf("stage empty append: %w", err)
		}
	}
	return nil
}
