// Package local is the embedded catalog: iceberg-go's SQL catalog on a SQLite
// file (pure Go, no cgo), so lakemerge runs on a laptop with no cloud at all.
//
// The catalog's tables are the standard Iceberg SQL-catalog tables
// (iceberg_tables, iceberg_namespace_properties), so pyiceberg's SqlCatalog
// opened on the same file with the same catalog name sees the same tables.
package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// Name is the catalog name recorded in every row of the SQLite file. Readers
// (pyiceberg's SqlCatalog, DuckDB) must open the catalog under this name.
const Name = "lakemerge"

// Catalog is an open SQLite catalog. Close it when done.
type Catalog struct {
	*sqlcat.Catalog
	db *sql.DB
}

// Open opens the catalog file at path, creating it and its tables when
// missing. warehouse is the root URI under which new tables are placed
// (file:///abs/path or s3://bucket/prefix). props are further iceberg-go
// catalog properties, such as s3.endpoint and s3.region for an s3://
// warehouse (credentials come from the default AWS chain).
func Open(path, warehouse string, props map[string]string) (*Catalog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create catalog folder: %w", err)
	}
	return open(path, "", iceberg.Properties{"warehouse": warehouse}, props)
}

// OpenReadOnly opens an existing catalog file without changing it (no
// tables created, no migration): for commands that only look. A missing
// file gives an error matching fs.ErrNotExist.
func OpenReadOnly(path, warehouse string, props map[string]string) (*Catalog, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	return open(path, "mode=ro&", iceberg.Properties{"warehouse": warehouse, "init_catalog_tables": "false"}, props)
}

// open opens the SQLite file at path (params: extra DSN parameters, each
// ending in &) as iceberg-go's SQL catalog with base and props.
func open(path, params string, base iceberg.Properties, props map[string]string) (*Catalog, error) {
	db, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?"+params+"_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	for k, v := range props {
		base[k] = v
	}
	cat, err := sqlcat.NewCatalog(Name, db, sqlcat.SQLite, base)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	return &Catalog{Catalog: cat, db: db}, nil
}

// Close releases the database handle.
func (c *Catalog) Close() error { return c.db.Close() }

// EnsureNamespace creates the database (namespace) when it does not exist.
func (c *Catalog) EnsureNamespace(ctx context.Context, db string) error {
	ok, err := c.CheckNamespaceExists(ctx, table.Identifier{db})
	if err != nil {
		return fmt.Errorf("check database %s: %w", db, err)
	}
	if ok {
		return nil
	}
	if err := c.CreateNamespace(ctx, table.Identifier{db}, nil); err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// deltaTablesDDL creates the table that records Delta Lake tables: the
// Iceberg SQL catalog tables only hold Iceberg tables.
const deltaTablesDDL = `CREATE TABLE IF NOT EXISTS lakemerge_delta_tables (
	catalog_name    TEXT NOT NULL,
	table_namespace TEXT NOT NULL,
	table_name      TEXT NOT NULL,
	location        TEXT NOT NULL,
	PRIMARY KEY (catalog_name, table_namespace, table_name))`

// RegisterDelta records a Delta Lake table (database, name, the table
// root's location) in the catalog file, or updates its location.
func (c *Catalog) RegisterDelta(ctx context.Context, db, name, location string) error {
	if _, err := c.db.ExecContext(ctx, deltaTablesDDL); err != nil {
		return fmt.Errorf("register delta table %s.%s: %w", db, name, err)
	}
	_, err := c.db.ExecContext(ctx, `INSERT INTO lakemerge_delta_tables (catalog_name, table_namespace, table_name, location)
		VALUES (?, ?, ?, ?) ON CONFLICT (catalog_name, table_namespace, table_name) DO UPDATE SET location = excluded.location`,
		Name, db, name, location)
	if err != nil {
		return fmt.Errorf("register delta table %s.%s: %w", db, name, err)
	}
	return nil
}

// DeltaLocation returns where a registered Delta table is, "" when it is
// not registered.
func (c *Catalog) DeltaLocation(ctx context.Context, db, name string) (string, error) {
	if _, err := c.db.ExecContext(ctx, deltaTablesDDL); err != nil {
		return "", fmt.Errorf("look up delta table %s.%s: %w", db, name, err)
	}
	var loc string
	err := c.db.QueryRowContext(ctx, `SELECT location FROM lakemerge_delta_tables
		WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?`, Name, db, name).Scan(&loc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up delta table %s.%s: %w", db, name, err)
	}
	return loc, nil
}

// RegisterTable records an existing Iceberg table, whose current metadata
// file is metadataLocation, under ident (namespace, name) — what
// iceberg-go's SQL catalog has no call for, done as pyiceberg's SqlCatalog
// does it: one row in iceberg_tables. The namespace must exist; a table of
// that name must not (catalog.ErrTableAlreadyExists). The table is then
// loaded, which reads the metadata file through the IO in ctx.
func (c *Catalog) RegisterTable(ctx context.Context, ident table.Identifier, metadataLocation string) (*table.Table, error) {
	if len(ident) != 2 {
		return nil, fmt.Errorf("register %v: want namespace and name", ident)
	}
	if ok, err := c.CheckNamespaceExists(ctx, table.Identifier{ident[0]}); err != nil || !ok {
		return nil, errors.Join(fmt.Errorf("register %v: %w: %s", ident, catalog.ErrNoSuchNamespace, ident[0]), err)
	}
	if ok, err := c.CheckTableExists(ctx, ident); err != nil || ok {
		return nil, errors.Join(fmt.Errorf("register %v: %w", ident, catalog.ErrTableAlreadyExists), err)
	}
	// Catalogs made by iceberg-go since its schema version 1 have the
	// iceberg_type column; older ones (and pyiceberg's) do not.
	typed := false
	rows, err := c.db.QueryContext(ctx, `SELECT name FROM pragma_table_info('iceberg_tables')`)
	if err != nil {
		return nil, fmt.Errorf("register %v: %w", ident, err)
	}
	for rows.Next() {
		var col string
		if err := rows.Scan(&col); err != nil {
			rows.Close()
			return nil, fmt.Errorf("register %v: %w", ident, err)
		}
		typed = typed || col == "iceberg_type"
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("register %v: %w", ident, err)
	}
	q := `INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location) VALUES (?, ?, ?, ?)`
	if typed {
		q = `INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, metadata_location, iceberg_type) VALUES (?, ?, ?, ?, 'TABLE')`
	}
	if _, err := c.db.ExecContext(ctx, q, Name, ident[0], ident[1], metadataLocation); err != nil {
		return nil, fmt.Errorf("register %v: %w", ident, err)
	}
	return c.LoadTable(ctx, ident)
}

// MetadataLocation returns the location of the current metadata file that
// the catalog's row of the Iceberg table ident (database, name) names, ""
// when there is no such row or ident is not of that shape. It reads the
// row alone: a caller that holds that metadata file parsed already (its
// files are written once, never changed) need not read and parse it again
// (LoadTable does both), and one that does reads it at the location
// returned.
func (c *Catalog) MetadataLocation(ctx context.Context, ident table.Identifier) (string, error) {
	if len(ident) != 2 || strings.Contains(ident[0], ".") {
		return "", nil
	}
	var loc sql.NullString
	err := c.db.QueryRowContext(ctx, `SELECT metadata_location FROM iceberg_tables
		WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?`, Name, ident[0], ident[1]).Scan(&loc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up table %v: %w", ident, err)
	}
	return loc.String, nil
}
