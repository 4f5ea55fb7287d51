package wire

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/objstore"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// Job is a job file wired to concrete parts. Close it when done.
type Job struct {
	Raw     objstore.Store
	Catalog *local.Catalog
	Tables  []Table
}

// Table is one configured table with its merge runner and its writer.
type Table struct {
	Config  config.Table
	Merge   *merge.Table
	Iceberg *iceberg.Table
}

// Close releases the catalog.
func (j *Job) Close() error {
	if j.Catalog != nil {
		return j.Catalog.Close()
	}
	return nil
}

// ErrUnsupported is matched by errors for job settings this build cannot
// run yet (S3 locations, the Glue catalog).
var ErrUnsupported = errors.New("not supported yet")

// Build opens the raw zone and the catalog of job and wires each of tables
// (from job.Select). observe may be nil.
func Build(ctx context.Context, job *config.Job, tables []config.Table, mem memory.Allocator, observe merge.Observer) (*Job, error) {
	rawRoot, err := localPath(job.Raw)
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	if _, err := localPath(job.Warehouse); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	if job.Catalog.Type != "sqlite" {
		return nil, fmt.Errorf("catalog type %q: %w (the embedded sqlite catalog is)", job.Catalog.Type, ErrUnsupported)
	}
	raw, err := objlocal.New(rawRoot)
	if err != nil {
		return nil, fmt.Errorf("open raw zone: %w", err)
	}
	cat, err := local.Open(job.Catalog.Path, job.Warehouse)
	if err != nil {
		return nil, err
	}
	w := &Job{Raw: raw, Catalog: cat}
	for _, tc := range tables {
		if err := cat.EnsureNamespace(ctx, tc.Target.Database); err != nil {
			w.Close()
			return nil, err
		}
		ice := iceberg.New(cat, iceberg.Options{
			Database:        tc.Target.Database,
			Name:            tc.Target.Table,
			Keys:            tc.PrimaryKey,
			Buckets:         tc.Buckets,
			TargetFileBytes: int64(tc.TargetFileMB) << 20,
		}, mem)
		w.Tables = append(w.Tables, Table{
			Config:  tc,
			Iceberg: ice,
			Merge: &merge.Table{
				Name:    tc.Name,
				Prefix:  tc.Source.Prefix,
				Keys:    tc.PrimaryKey,
				Columns: tc.Columns,
				Raw:     RawStore{Store: raw},
				Format:  DMSFormat{Options: DMSOptions(tc)},
				Target:  IcebergTarget{Table: ice},
				Mem:     mem,
				Observe: observe,
			},
		})
	}
	return w, nil
}

// DMSOptions are the decoder options of a configured DMS table.
func DMSOptions(tc config.Table) dmscsv.Options {
	return dmscsv.Options{
		Columns:              tc.Columns,
		Header:               tc.DMS.Header,
		IncludeOpForFullLoad: tc.DMS.IncludeOpForFullLoad,
		Delimiter:            tc.DMS.Delimiter,
		NullValue:            tc.DMS.NullValue,
		TimestampColumn:      tc.DMS.TimestampColumn,
		ChangeSeqColumn:      tc.DMS.ChangeSeqColumn,
	}
}

// localPath returns the folder of a file:// location.
func localPath(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("location %q: %w", loc, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("location %q: file:// locations need an absolute path (file:///path)", loc)
		}
		return filepath.FromSlash(u.Path), nil
	case "s3":
		return "", fmt.Errorf("location %q: s3:// %w in this build; use file:// locations", loc, ErrUnsupported)
	}
	return "", fmt.Errorf("location %q: scheme must be file:// or s3://", strings.TrimSpace(loc))
}
