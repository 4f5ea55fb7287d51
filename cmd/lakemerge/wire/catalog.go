package wire

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/icebergio"
)

// WarehouseCatalog returns cat with every Iceberg table file reached
// through the store warehouse, whose keys are the locations under the URL
// root (the job's warehouse): the catalog's own file reads and writes
// (metadata JSON) find the store in their context (see RegisterFileIO),
// and the tables it returns read and write their files through it
// directly, whatever context their callers pass. A table located outside
// root fails on its first file access, naming both.
func WarehouseCatalog(cat Catalog, warehouse objstore.Store, root string) (Catalog, error) {
	st, ok := warehouse.(icebergio.Store)
	if !ok {
		return nil, fmt.Errorf("warehouse store %T cannot read ranges of objects (Stat, OpenRange), which Iceberg reads need", warehouse)
	}
	fs, err := icebergio.New(st, root)
	if err != nil {
		return nil, err
	}
	return &warehouseCatalog{Catalog: cat, fs: fs}, nil
}

// warehouseCatalog is WarehouseCatalog's catalog. Of iceberg-go's catalog
// calls it takes over those that may reach table files; namespace calls go
// to the catalog unchanged.
type warehouseCatalog struct {
	Catalog
	fs *icebergio.FS
}

// IO is the warehouse's file IO, bound to ctx: for looking at a table's
// files before the catalog knows it (iceberg.Options.Files).
func (c *warehouseCatalog) IO(ctx context.Context) iceio.IO { return c.fs.Bind(ctx) }

// Unwrap returns the catalog c reaches files for.
func (c *warehouseCatalog) Unwrap() Catalog { return c.Catalog }

func (c *warehouseCatalog) with(ctx context.Context) context.Context {
	return icebergio.NewContext(ctx, c.fs)
}

// rehome returns t reading and writing its files through the warehouse
// store, and committing and reloading through c. It keeps t's identifier,
// metadata and metadata location; iceberg-go's table options (metrics
// reporter, scan planning IO properties) are not carried over, as
// lakemerge sets none.
func (c *warehouseCatalog) rehome(t *icetable.Table) *icetable.Table {
	if t == nil {
		return nil
	}
	fsF := func(ctx context.Context) (iceio.IO, error) { return c.fs.Bind(ctx), nil }
	return icetable.New(t.Identifier(), t.Metadata(), t.MetadataLocation(), fsF, c)
}

func (c *warehouseCatalog) CreateTable(ctx context.Context, ident icetable.Identifier, sc *iceberg.Schema, opts ...catalog.CreateTableOpt) (*icetable.Table, error) {
	t, err := c.Catalog.CreateTable(c.with(ctx), ident, sc, opts...)
	return c.rehome(t), err
}

func (c *warehouseCatalog) LoadTable(ctx context.Context, ident icetable.Identifier) (*icetable.Table, error) {
	t, err := c.Catalog.LoadTable(c.with(ctx), ident)
	return c.rehome(t), err
}

func (c *warehouseCatalog) RenameTable(ctx context.Context, from, to icetable.Identifier) (*icetable.Table, error) {
	t, err := c.Catalog.RenameTable(c.with(ctx), from, to)
	return c.rehome(t), err
}

func (c *warehouseCatalog) CommitTable(ctx context.Context, ident icetable.Identifier, reqs []icetable.Requirement, updates []icetable.Update) (icetable.Metadata, string, error) {
	return c.Catalog.CommitTable(c.with(ctx), ident, reqs, updates)
}

func (c *warehouseCatalog) DropTable(ctx context.Context, ident icetable.Identifier) error {
	return c.Catalog.DropTable(c.with(ctx), ident)
}

func (c *warehouseCatalog) CheckTableExists(ctx context.Context, ident icetable.Identifier) (bool, error) {
	return c.Catalog.CheckTableExists(c.with(ctx), ident)
}

// RegisterTable records the existing metadata file loc under ident, for
// catalogs that can (iceberg-go's Glue catalog, catalog/local).
func (c *warehouseCatalog) RegisterTable(ctx context.Context, ident icetable.Identifier, loc string) (*icetable.Table, error) {
	r, ok := c.Catalog.(interface {
		RegisterTable(context.Context, icetable.Identifier, string) (*icetable.Table, error)
	})
	if !ok {
		return nil, fmt.Errorf("register %v: catalog %T cannot register existing tables", ident, c.Catalog)
	}
	t, err := r.RegisterTable(c.with(ctx), ident, loc)
	return c.rehome(t), err
}
