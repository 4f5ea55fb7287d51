package wire

import (
	"context"
	"fmt"

	"github.com/lakemerge/lakemerge/catalog/glue"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/prepared/apply"
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

// PreparedTarget adapts a writer's merge.Target to prepared/apply's Target
// (the same contract).
type PreparedTarget struct{ Target merge.Target }

func (t PreparedTarget) Begin(ctx context.Context) (apply.Txn, error) {
	x, err := t.Target.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// deltaCatalog adapts the job's catalog to the one table/delta registers
// its tables in: the local catalog file records a Delta table by location,
// Glue with its columns in Hive types (so Athena finds it). nil for no
// catalog.
func deltaCatalog(cat Catalog) delta.Catalog {
	if w, ok := cat.(interface{ Unwrap() Catalog }); ok {
		cat = w.Unwrap()
	}
	switch c := cat.(type) {
	case nil:
		return nil
	case *local.Catalog:
		return localDelta{c}
	case *glue.Catalog:
		return glueDelta{c}
	}
	return noDelta{cat}
}

// localDelta records Delta tables in the local catalog file.
type localDelta struct{ c *local.Catalog }

func (l localDelta) RegisterDelta(ctx context.Context, r delta.Registration) error {
	return l.c.RegisterDelta(ctx, r.Database, r.Table, r.Location)
}

// glueDelta records Delta tables in Glue.
type glueDelta struct{ c *glue.Catalog }

func (g glueDelta) RegisterDelta(ctx context.Context, r delta.Registration) error {
	d := glue.DeltaTable{Database: r.Database, Name: r.Table, Location: r.Location}
	for _, col := range r.Columns {
		ht, err := glue.HiveType(col.Type)
		if err != nil {
			return fmt.Errorf("column %s: %w", col.Name, err)
		}
		d.Columns = append(d.Columns, glue.Column{Name: col.Name, Type: ht})
	}
	return g.c.RegisterDelta(ctx, d)
}

// noDelta is a catalog that cannot hold Delta tables.
type noDelta struct{ cat Catalog }

func (n noDelta) RegisterDelta(context.Context, delta.Registration) error {
	return fmt.Errorf("catalog %T cannot hold Delta tables", n.cat)
}
