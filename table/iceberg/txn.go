package iceberg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
)

// Txn is one commit attempt on one table. Not safe for concurrent use.
type Txn struct {
	t   *Table
	tbl *icetable.Table // nil until the table exists
	bm  bookmarks.Bookmark

	dataFiles   []ice.DataFile
	delFiles    []ice.DataFile
	tomb        *tombstones // the tombstone set after Apply
	tombChanged bool
	done        bool
}

// Bookmark is the bookmark the table carried when the Txn began.
func (x *Txn) Bookmark() bookmarks.Bookmark { return x.bm }

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
		return nil
	}
	if err := us.Commit(); err != nil {
		return fmt.Errorf("evolve schema of %s: %w", x.name(), err)
	}
	tbl, err := tx.Commit(ctx)
	if err != nil {
		return classify(fmt.Errorf("commit schema of %s: %w", x.name(), err))
	}
	x.tbl = tbl
	return nil
}

func (x *Txn) name() string { return x.t.opts.Database + "." + x.t.opts.Name }

func (x *Txn) create(ctx context.Context, cols []change.Column) error {
	sc, err := icetable.ArrowSchemaToIcebergWithFreshIDs(arrow.NewSchema(arrowFields(cols), nil), false)
	if err != nil {
		return fmt.Errorf("schema of %s: %w", x.name(), err)
	}
	spec := *ice.UnpartitionedSpec
	if x.t.opts.Buckets > 0 {
		key, ok := sc.FindFieldByName(x.t.opts.Keys[0])
		if !ok {
			return fmt.Errorf("create %s: key column %s not in schema", x.name(), x.t.opts.Keys[0])
		}
		spec = ice.NewPartitionSpec(ice.PartitionField{
			SourceIDs: []int{key.ID},
			FieldID:   1000,
			Name:      key.Name + "_bucket",
			Transform: ice.BucketTransform{NumBuckets: x.t.opts.Buckets},
		})
	}
	if ns, ok := x.t.cat.(interface {
		EnsureNamespace(context.Context, string) error
	}); ok {
		if err := ns.EnsureNamespace(ctx, x.t.opts.Database); err != nil {
			return err
		}
	} else if err := x.t.cat.CreateNamespace(ctx, icetable.Identifier{x.t.opts.Database}, nil); err != nil &&
		!errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return fmt.Errorf("create database %s: %w", x.t.opts.Database, err)
	}
	tbl, err := x.t.cat.CreateTable(ctx, x.t.ident(), sc,
		catalog.WithPartitionSpec(&spec), catalog.WithProperties(x.t.createProperties()))
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		// Another writer created it first; take theirs and evolve it.
		if tbl, err = x.t.Load(ctx); err != nil {
			return err
		}
		x.tbl = tbl
		if x.bm, err = BookmarkOf(ctx, tbl); err != nil {
			return err
		}
		return fmt.Errorf("create %s: created concurrently: %w", x.name(), change.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create table %s: %w", x.name(), err)
	}
	x.tbl = tbl
	return nil
}

// Commit puts the files written by Apply and the bookmark bm into one
// snapshot (no snapshot when Apply wrote nothing: then only the bookmark
// property moves). The Txn is finished afterwards, whatever the outcome.
func (x *Txn) Commit(ctx context.Context, bm bookmarks.Bookmark) error {
	if x.done {
		return errors.New("commit: transaction already finished")
	}
	x.done = true
	if x.tbl == nil {
		return fmt.Errorf("commit %s: table was never created (Evolve not called)", x.name())
	}
	enc, err := bm.Encode()
	if err != nil {
		return fmt.Errorf("commit %s: encode bookmark: %w", x.name(), err)
	}
	if enc, err = x.bookmarkProperty(ctx, enc); err != nil {
		return fmt.Errorf("commit %s: %w", x.name(), err)
	}
	previous := bookmarkFile(x.tbl.Properties()[BookmarkProperty])
	props := ice.Properties{BookmarkProperty: enc}
	var previousTomb string
	if x.tombChanged {
		ref, err := x.writeTombstones(ctx, x.tomb)
		if err != nil {
			return fmt.Errorf("commit %s: %w", x.name(), err)
		}
		props[TombstonesProperty] = ref
		previousTomb = tombstoneFile(x.tbl.Properties()[TombstonesProperty])
	}
	tx := x.tbl.NewTransaction()
	if len(x.dataFiles)+len(x.delFiles) > 0 {
		rd := tx.NewRowDelta(ice.Properties{
			SummaryRunsProperty:    strconv.FormatInt(bm.Runs, 10),
			SummaryObjectsProperty: strconv.Itoa(len(bm.Entries)),
		})
		rd.AddRows(x.dataFiles...)
		rd.AddDeletes(x.delFiles...)
		if err := rd.Commit(ctx); err != nil {
			return fmt.Errorf("stage row delta of %s: %w", x.name(), err)
		}
	}
	if err := tx.SetProperties(props); err != nil {
		return fmt.Errorf("stage bookmark of %s: %w", x.name(), err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		return classify(fmt.Errorf("commit %s: %w", x.name(), err))
	}
	// The bookmark file of the state this commit replaced is no longer
	// referenced by the current table. Best effort: a leftover file only
	// takes space.
	for _, old := range []string{previous, previousTomb} {
		if old == "" {
			continue
		}
		if fs, err := x.tbl.FS(ctx); err == nil {
			_ = fs.Remove(old)
		}
	}
	return nil
}

// classify wraps a catalog commit error with its category.
func classify(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, icetable.ErrCommitFailed),
		strings.Contains(msg, "requirement failed"),
		strings.Contains(msg, "has changed"):
		return fmt.Errorf("%w: %w", change.ErrConflict, err)
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%w: %w", change.ErrCommitUnknown, err)
}
