package wire

import (
	"context"
	"fmt"
	"strings"
	"sync"

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
// root fails on its first file access, naming both. A table loaded again
// at the same metadata location is not read and parsed again
// (warehouseCatalog).
func WarehouseCatalog(cat Catalog, warehouse objstore.Store, root string) (Catalog, error) {
	st, ok := warehouse.(icebergio.Store)
	if !ok {
		return nil, fmt.Errorf("warehouse store %T cannot read ranges of objects (Stat, OpenRange), which Iceberg reads need", warehouse)
	}
	fs, err := icebergio.New(st, root)
	if err != nil {
		return nil, err
	}
	return &warehouseCatalog{Catalog: cat, fs: fs, parsed: map[string]parsedMetadata{}}, nil
}

// warehouseCatalog is WarehouseCatalog's catalog. Of iceberg-go's catalog
// calls it takes over those that may reach table files; namespace calls go
// to the catalog unchanged.
//
// It keeps, per table, the last metadata it parsed or a commit returned,
// by its location: when the catalog can name a table's current metadata
// location without reading the file (metadataLocator), LoadTable of an
// unchanged table takes the parsed metadata again instead of reading and
// parsing the file (a JSON file that lists every snapshot kept, read by
// every step of a run and of a maintenance pass), and LoadTable of a
// changed one reads the file at the location just named instead of
// asking the catalog's LoadTable, which would look the pointer up again
// (a second Glue GetTable). Metadata files are written once and never
// changed, so a location names its content for good; the catalog's
// pointer is read once on every LoadTable.
type warehouseCatalog struct {
	Catalog
	fs *icebergio.FS

	mu     sync.Mutex
	parsed map[string]parsedMetadata // by identifier
}

// parsedMetadata is a table's metadata file as parsed, and its location.
type parsedMetadata struct {
	loc  string
	meta icetable.Metadata
}

// metadataLocator is a catalog that names a table's current metadata
// location without reading the metadata file; "" when it does not know
// the table (then LoadTable says why).
type metadataLocator interface {
	MetadataLocation(ctx context.Context, ident icetable.Identifier) (string, error)
}

func identKey(ident icetable.Identifier) string { return strings.Join(ident, "\x00") }

// remember keeps meta, the metadata at loc, as ident's last parsed.
func (c *warehouseCatalog) remember(ident icetable.Identifier, loc string, meta icetable.Metadata) {
	if meta == nil || loc == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parsed[identKey(ident)] = parsedMetadata{loc: loc, meta: meta}
}

func (c *warehouseCatalog) forget(ident icetable.Identifier) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.parsed, identKey(ident))
}

// located returns ident's table at its current metadata location when the
// catalog names that location (metadataLocator): the metadata last parsed
// when it is at that location, else the file there read and parsed (one
// look-up of the pointer per load, not a second one by the catalog's
// LoadTable); nil and no error when the catalog cannot name it (it is no
// metadataLocator, does not know the table, or the look-up failed:
// LoadTable then goes the whole way and reports why).
func (c *warehouseCatalog) located(ctx context.Context, ident icetable.Identifier) (*icetable.Table, error) {
	l, ok := c.Catalog.(metadataLocator)
	if !ok {
		return nil, nil
	}
	loc, err := l.MetadataLocation(ctx, ident)
	if err != nil || loc == "" {
		return nil, nil
	}
	c.mu.Lock()
	p, ok := c.parsed[identKey(ident)]
	c.mu.Unlock()
	if ok && p.loc == loc {
		return c.table(ident, p.meta, loc), nil
	}
	t, err := icetable.NewFromLocation(ctx, ident, loc, c.fsF(), c)
	if err != nil {
		// The caller names the table (table/iceberg: "load table db.t").
		return nil, fmt.Errorf("metadata %s: %w", loc, err)
	}
	c.remember(ident, loc, t.Metadata())
	return t, nil
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
	return c.table(t.Identifier(), t.Metadata(), t.MetadataLocation())
}

// table is the table of metadata meta at loc, reading and writing its
// files through the warehouse store and committing through c.
func (c *warehouseCatalog) table(ident icetable.Identifier, meta icetable.Metadata, loc string) *icetable.Table {
	return icetable.New(ident, meta, loc, c.fsF(), c)
}

// fsF is the file IO of c's tables: the warehouse store, bound to the
// context of each use.
func (c *warehouseCatalog) fsF() icetable.FSysF {
	return func(ctx context.Context) (iceio.IO, error) { return c.fs.Bind(ctx), nil }
}

func (c *warehouseCatalog) CreateTable(ctx context.Context, ident icetable.Identifier, sc *iceberg.Schema, opts ...catalog.CreateTableOpt) (*icetable.Table, error) {
	t, err := c.Catalog.CreateTable(c.with(ctx), ident, sc, opts...)
	return c.rehome(t), err
}

func (c *warehouseCatalog) LoadTable(ctx context.Context, ident icetable.Identifier) (*icetable.Table, error) {
	if t, err := c.located(ctx, ident); t != nil || err != nil {
		return t, err
	}
	t, err := c.Catalog.LoadTable(c.with(ctx), ident)
	if err == nil && t != nil {
		c.remember(ident, t.MetadataLocation(), t.Metadata())
	}
	return c.rehome(t), err
}

func (c *warehouseCatalog) RenameTable(ctx context.Context, from, to icetable.Identifier) (*icetable.Table, error) {
	c.forget(from)
	c.forget(to)
	t, err := c.Catalog.RenameTable(c.with(ctx), from, to)
	return c.rehome(t), err
}

func (c *warehouseCatalog) CommitTable(ctx context.Context, ident icetable.Identifier, reqs []icetable.Requirement, updates []icetable.Update) (icetable.Metadata, string, error) {
	meta, loc, err := c.Catalog.CommitTable(c.with(ctx), ident, reqs, updates)
	if err == nil {
		c.remember(ident, loc, meta)
	}
	return meta, loc, err
}

func (c *warehouseCatalog) DropTable(ctx context.Context, ident icetable.Identifier) error {
	c.forget(ident)
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
