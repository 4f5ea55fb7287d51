package wire

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/catalog/glue"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/table/delta"
)

// DeltaTarget adapts table/delta to merge.Target.
type DeltaTarget struct{ Table *delta.Table }

func (t DeltaTarget) Begin(ctx context.Context) (merge.Txn, error) {
	x, err := t.Table.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// Info is what status shows of a table, whatever its format.
type Info struct {
	Exists   bool
	Location string
	Snapshot int64 // Iceberg snapshot id or Delta version; 0 / -1 when none
	Rows     int64
	Bookmark bookmarks.Bookmark
	Columns  []change.Column
}

// Describe reads the table's state.
func (t Table) Describe(ctx context.Context) (Info, error) {
	if t.Delta != nil {
		d, err := t.Delta.Describe(ctx)
		return Info{Exists: d.Exists, Location: t.Location, Snapshot: d.Version, Rows: d.Rows, Bookmark: d.Bookmark, Columns: d.Columns}, err
	}
	if t.Iceberg == nil {
		return Info{}, nil // read-only, and no catalog yet
	}
	i, err := t.Iceberg.Describe(ctx)
	return Info{Exists: i.Exists, Location: i.Location, Snapshot: i.SnapshotID, Rows: i.Rows, Bookmark: i.Bookmark, Columns: i.Columns}, err
}

// Read returns every live row of the table (for demo and tests).
func (t Table) Read(ctx context.Context) (arrow.Table, error) {
	if t.Delta != nil {
		return t.Delta.Read(ctx)
	}
	if t.Iceberg == nil {
		return nil, fmt.Errorf("table %s.%s does not exist: no catalog yet", t.Config.Target.Database, t.Config.Target.Table)
	}
	return t.Iceberg.Read(ctx)
}

// Register records a Delta table in the job's catalog after a run: in
// Glue with its columns (so Athena finds it), in the local catalog by
// location. Iceberg tables are registered by their commits already.
func (t Table) Register(ctx context.Context, cat Catalog) error {
	if t.Delta == nil {
		return nil
	}
	info, err := t.Delta.Describe(ctx)
	if err != nil || !info.Exists {
		return err
	}
	db, name := t.Config.Target.Database, t.Config.Target.Table
	if w, ok := cat.(interface{ Unwrap() Catalog }); ok {
		cat = w.Unwrap()
	}
	switch c := cat.(type) {
	case *local.Catalog:
		return c.RegisterDelta(ctx, db, name, t.Location)
	case *glue.Catalog:
		d := glue.DeltaTable{Database: db, Name: name, Location: t.Location}
		for _, col := range info.Columns {
			ht, err := glue.HiveType(col.Type)
			if err != nil {
				return fmt.Errorf("register %s.%s: column %s: %w", db, name, col.Name, err)
			}
			d.Columns = append(d.Columns, glue.Column{Name: col.Name, Type: ht})
		}
		// The log's schema also has lakemerge's order key.
		d.Columns = append(d.Columns, glue.Column{Name: change.ColSeq, Type: "binary"})
		return c.RegisterDelta(ctx, d)
	}
	return fmt.Errorf("register %s.%s: catalog %T cannot hold Delta tables", db, name, cat)
}
