// Package glue is the AWS Glue Data Catalog for lakemerge's tables, so that
// Athena finds them. Delta Lake tables are registered directly (RegisterDelta:
// table_type=DELTA, spark.sql.sources.provider=delta, location, columns, and
// the storage descriptor of Glue's native Delta tables: ParquetHiveSerDe
// with the table root in its "path" parameter, where Trino and so Athena
// look for it).
// Iceberg tables go through iceberg-go's Glue catalog,
// which writes the shape Athena requires (table_type=ICEBERG,
// metadata_location, columns) and commits with Glue's optimistic VersionId
// check; lakemerge keeps skip-archive on so frequent commits do not pile up
// table versions in Glue. Databases are created when missing, located at
// <warehouse>/<database>.db.
//
// Credentials come from the AWS configuration the caller passes (the
// default chain); Endpoint overrides the Glue endpoint for tests.
package glue

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	iceglue "github.com/apache/iceberg-go/catalog/glue"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsglue "github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// Options configure the catalog.
type Options struct {
	// Warehouse is the s3:// root under which new tables are placed.
	Warehouse string
	// Region overrides the AWS configuration's region for Glue.
	Region string
	// Endpoint overrides the Glue endpoint (tests, VPC endpoints).
	Endpoint string
	// Properties are further catalog properties, handed to the file IO of
	// the tables (s3.endpoint, s3.region, ...).
	Properties map[string]string
}

// Catalog is a Glue catalog for Iceberg tables.
type Catalog struct {
	*iceglue.Catalog
	glue      *awsglue.Client // for what iceberg-go's catalog does not do (Delta tables)
	warehouse string
}

// Open returns a Glue catalog using cfg (the default credential chain).
func Open(cfg aws.Config, opts Options) (*Catalog, error) {
	if !strings.HasPrefix(opts.Warehouse, "s3://") {
		return nil, fmt.Errorf("glue catalog: warehouse %q must be an s3:// location", opts.Warehouse)
	}
	cfg = cfg.Copy()
	if opts.Region != "" {
		cfg.Region = opts.Region
	}
	if opts.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(opts.Endpoint)
	}
	props := iceglue.AwsProperties{
		"warehouse":         opts.Warehouse,
		iceglue.SkipArchive: "true",
	}
	for k, v := range opts.Properties {
		props[k] = v
	}
	cat, err := iceglue.NewCatalog(iceglue.WithAwsConfig(cfg), iceglue.WithAwsProperties(props))
	if err != nil {
		return nil, fmt.Errorf("open glue catalog: %w", err)
	}
	return &Catalog{Catalog: cat, glue: awsglue.NewFromConfig(cfg), warehouse: strings.TrimRight(opts.Warehouse, "/")}, nil
}

// Close releases nothing; it makes Catalog interchangeable with the local
// one.
func (c *Catalog) Close() error { return nil }

// EnsureNamespace creates the Glue database when it does not exist, with
// its location under the warehouse.
func (c *Catalog) EnsureNamespace(ctx context.Context, db string) error {
	ok, err := c.CheckNamespaceExists(ctx, table.Identifier{db})
	if err != nil {
		return fmt.Errorf("check database %s: %w", db, err)
	}
	if ok {
		return nil
	}
	loc, err := url.JoinPath(c.warehouse, db+".db")
	if err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	err = c.CreateNamespace(ctx, table.Identifier{db}, iceberg.Properties{"location": loc, "comment": "created by lakemerge"})
	if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// MetadataLocation returns the metadata_location parameter of the Glue
// table ident (database, name) when it is an Iceberg table, "" when there
// is no such table: one GetTable, without reading the metadata file (which
// LoadTable reads from S3 and parses), for a caller that holds that file
// parsed already or reads it itself (instead of LoadTable, which would
// call GetTable again).
func (c *Catalog) MetadataLocation(ctx context.Context, ident table.Identifier) (string, error) {
	if len(ident) != 2 {
		return "", nil
	}
	out, err := c.glue.GetTable(ctx, &awsglue.GetTableInput{DatabaseName: aws.String(ident[0]), Name: aws.String(ident[1])})
	var nf *types.EntityNotFoundException
	if errors.As(err, &nf) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up table %v: %w", ident, err)
	}
	if out.Table == nil || !strings.EqualFold(out.Table.Parameters["table_type"], "ICEBERG") {
		return "", nil
	}
	return out.Table.Parameters["metadata_location"], nil
}
