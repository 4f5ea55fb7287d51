package wire

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lakemerge/lakemerge/catalog/glue"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/formats/debezium"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/objstore"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
	"github.com/lakemerge/lakemerge/table/delta"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// Catalog is what the job needs of a catalog: iceberg-go's interface, plus
// creating databases and releasing the connection.
type Catalog interface {
	iceberg.Catalog
	EnsureNamespace(ctx context.Context, db string) error
	Close() error
}

// RegisterFileIO registers lakemerge's S3 file IO (objstore/s3.IcebergIO)
// with iceberg-go for s3://, s3a:// and s3n:// table locations. Call it
// once at program start (main, TestMain), before any Build.
func RegisterFileIO() {
	for _, scheme := range []string{"s3", "s3a", "s3n"} {
		iceio.Register(scheme, objs3.IcebergIO)
	}
}

// Job is a job file wired to concrete parts. Close it when done.
type Job struct {
	Raw     objstore.Store
	Catalog Catalog
	Tables  []Table
}

// Table is one configured table with its merge runner and its writer:
// Iceberg or Delta, as the job file says.
type Table struct {
	Config  config.Table
	Merge   *merge.Table
	Iceberg *iceberg.Table // nil for Delta targets
	Delta   *delta.Table   // nil for Iceberg targets
	// DeltaRoot and Location are a Delta table's key prefix in the
	// warehouse and its URL.
	DeltaRoot, Location string
}

// Close releases the catalog.
func (j *Job) Close() error {
	if j.Catalog != nil {
		return j.Catalog.Close()
	}
	return nil
}

// Build opens the raw zone and the catalog of job and wires each of tables
// (from job.Select) for a run: it creates the catalog file, the warehouse
// folder and the tables' databases when missing. observe may be nil.
func Build(ctx context.Context, job *config.Job, tables []config.Table, mem memory.Allocator, observe merge.Observer) (*Job, error) {
	return build(ctx, job, tables, mem, observe, false)
}

// BuildReadOnly wires tables like Build for commands that only look
// (status): it creates nothing — no catalog file, folder or database. With
// no catalog file yet, the Iceberg tables do not exist (Table.Describe).
func BuildReadOnly(ctx context.Context, job *config.Job, tables []config.Table, mem memory.Allocator) (*Job, error) {
	return build(ctx, job, tables, mem, nil, true)
}

func build(ctx context.Context, job *config.Job, tables []config.Table, mem memory.Allocator, observe merge.Observer, readOnly bool) (*Job, error) {
	var awsCfg *aws.Config
	loadAWS := func() (aws.Config, error) {
		if awsCfg == nil {
			cfg, err := objs3.LoadConfig(ctx, objs3.Options{Region: job.S3.Region})
			if err != nil {
				return cfg, err
			}
			awsCfg = &cfg
		}
		return *awsCfg, nil
	}
	// The raw zone is only read: never create it.
	raw, err := openStore(job.Raw, job.S3, loadAWS, false)
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	// How the table files on S3 are reached (objstore/s3.IcebergIO).
	props := map[string]string{objs3.PropPathStyle: strconv.FormatBool(job.S3.PathStyle)}
	if job.S3.Endpoint != "" {
		props[objs3.PropEndpoint] = job.S3.Endpoint
	}
	if job.S3.Region != "" {
		props[objs3.PropRegion] = job.S3.Region
	}
	if job.S3.KMSKeyID != "" {
		props[objs3.PropKMSKeyID] = job.S3.KMSKeyID
	}
	var cat Catalog
	switch job.Catalog.Type {
	case "glue":
		cfg, err := loadAWS()
		if err != nil {
			return nil, err
		}
		cat, err = glue.Open(cfg, glue.Options{Warehouse: job.Warehouse, Region: job.Catalog.Region,
			Endpoint: job.Catalog.Endpoint, Properties: props})
		if err != nil {
			return nil, err
		}
	case "sqlite":
		if !readOnly {
			if cat, err = local.Open(job.Catalog.Path, job.Warehouse, props); err != nil {
				return nil, err
			}
			break
		}
		lc, err := local.OpenReadOnly(job.Catalog.Path, job.Warehouse, props)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Nothing has run yet: no Iceberg table exists.
		case err != nil:
			return nil, err
		default:
			cat = lc
		}
	default:
		return nil, fmt.Errorf("catalog type %q", job.Catalog.Type)
	}
	w := &Job{Raw: raw, Catalog: cat}
	var warehouse objstore.Store // for Delta tables, opened on first use
	for _, tc := range tables {
		if !readOnly {
			if err := cat.EnsureNamespace(ctx, tc.Target.Database); err != nil {
				w.Close()
				return nil, err
			}
		}
		wt := Table{Config: tc, Merge: &merge.Table{
			Name:        tc.Name,
			Prefix:      tc.Source.Prefix,
			Keys:        tc.PrimaryKey,
			Columns:     tc.Columns,
			Ignore:      tc.Ignore,
			RawLocation: strings.TrimRight(job.Raw, "/") + "/" + tc.Source.Prefix,
			Raw:         RawStore{Store: raw},
			Format:      formatOf(tc, raw),
			Mem:         mem,
			Observe:     observe,
		}}
		if tc.Target.Format == config.TargetDelta {
			if warehouse == nil {
				if warehouse, err = openStore(job.Warehouse, job.S3, loadAWS, !readOnly); err != nil {
					w.Close()
					return nil, fmt.Errorf("warehouse: %w", err)
				}
			}
			wt.DeltaRoot = tc.Target.Database + ".db/" + tc.Target.Table + "/"
			wt.Location = strings.TrimRight(job.Warehouse, "/") + "/" + wt.DeltaRoot
			wt.Delta = delta.New(warehouse, wt.DeltaRoot, delta.Options{
				Name:             tc.Target.Database + "." + tc.Target.Table,
				Keys:             tc.PrimaryKey,
				TargetFileBytes:  int64(tc.TargetFileMB) << 20,
				TombstoneHorizon: tc.TombstoneHorizon,
			}, mem)
			wt.Merge.Target = DeltaTarget{Table: wt.Delta}
		} else if cat != nil {
			wt.Iceberg = iceberg.New(cat, iceberg.Options{
				Database:         tc.Target.Database,
				Name:             tc.Target.Table,
				Keys:             tc.PrimaryKey,
				Buckets:          tc.Buckets,
				TargetFileBytes:  int64(tc.TargetFileMB) << 20,
				TombstoneHorizon: tc.TombstoneHorizon,
			}, mem)
			wt.Merge.Target = IcebergTarget{Table: wt.Iceberg}
		}
		w.Tables = append(w.Tables, wt)
	}
	return w, nil
}

// openStore opens a file:// or s3:// location as an object store; create
// says whether a missing local folder is created.
func openStore(loc string, s3 config.S3, awsCfg func() (aws.Config, error), create bool) (objstore.Store, error) {
	if strings.HasPrefix(loc, "s3://") {
		bucket, prefix, err := objs3.ParseURL(loc)
		if err != nil {
			return nil, err
		}
		cfg, err := awsCfg()
		if err != nil {
			return nil, err
		}
		return objs3.New(cfg, bucket, prefix, objs3.Options{Endpoint: s3.Endpoint, PathStyle: s3.PathStyle, KMSKeyID: s3.KMSKeyID}), nil
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") {
		return nil, fmt.Errorf("location %q: want file:///absolute/path or s3://bucket/prefix", loc)
	}
	if !create {
		return objlocal.Open(filepath.FromSlash(u.Path))
	}
	return objlocal.New(filepath.FromSlash(u.Path))
}

// formatOf is the merge.Format of a configured table.
func formatOf(tc config.Table, raw objstore.Store) merge.Format {
	if tc.Format == config.FormatDebezium {
		return DebeziumFormat(debezium.Options{
			Columns:           tc.Columns,
			Keys:              tc.PrimaryKey,
			Tombstones:        tc.Debezium.Tombstones,
			Flattened:         tc.Debezium.Flattened,
			SinglePartition:   tc.Debezium.SinglePartition,
			Encodings:         tc.Debezium.Encodings,
			TruncateSubMicros: tc.Debezium.TruncateSubMicros,
			WideDecimals:      tc.Debezium.WideDecimals,
		}, raw)
	}
	return DMSFormat(DMSOptions(tc))
}

// DMSOptions are the decoder options of a configured DMS table.
func DMSOptions(tc config.Table) dmscsv.Options {
	return dmscsv.Options{
		Columns:              tc.Columns,
		Header:               tc.DMS.Header,
		IncludeOpForFullLoad: tc.DMS.IncludeOpForFullLoad,
		Delimiter:            tc.DMS.Delimiter,
		NullValue:            tc.DMS.NullValue,
		NoSupValue:           tc.DMS.NoSupValue,
		TimestampColumn:      tc.DMS.TimestampColumn,
		ChangeSeqColumn:      tc.DMS.ChangeSeqColumn,
		Keys:                 tc.PrimaryKey,
		BeforeImagePrefix:    tc.DMS.BeforeImagePrefix,
		BeforeImageSuffix:    tc.DMS.BeforeImageSuffix,
		BeforeImageColumns:   tc.DMS.BeforeImageColumns,
	}
}
