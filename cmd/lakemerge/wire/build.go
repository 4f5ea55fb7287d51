package wire

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
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
	"github.com/lakemerge/lakemerge/objstore/icebergio"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
	"github.com/lakemerge/lakemerge/table"
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

// RegisterFileIO makes iceberg-go reach every Iceberg table file through
// lakemerge's stores: it registers objstore/icebergio.Factory for the
// schemes file, "" (bare paths), s3, s3a and s3n, replacing iceberg-go's
// own local file IO. That factory serves only calls whose context carries
// a job's warehouse store, which the catalogs Build returns add; any other
// call fails instead of bypassing the store. It is the one process-wide
// registration lakemerge makes, because iceberg-go's IO registry is
// process-wide: call it once at program start (main, TestMain), before any
// Build.
func RegisterFileIO() {
	for _, scheme := range []string{"file", "", "s3", "s3a", "s3n"} {
		iceio.Unregister(scheme)
		iceio.Register(scheme, icebergio.Factory)
	}
}

// Store zones, as WithStoreWrapper names them.
const (
	ZoneRaw       = "raw"       // the raw zone: change files
	ZoneWarehouse = "warehouse" // the warehouse: Iceberg and Delta table files
)

// Option changes how Build wires a job. The binary passes none.
type Option func(*options)

type options struct {
	wrap     func(zone string, s objstore.Store) objstore.Store
	readOnly bool
}

// WithStoreWrapper makes Build hand each store it opens to wrap, with its
// zone (ZoneRaw, ZoneWarehouse), and use the store wrap returns, so that a
// test injects faults into or records the I/O of exactly the wiring the
// binary runs. The warehouse store wrap returns must still read ranges
// (objstore/icebergio.Store); objstore/fault's stores do.
func WithStoreWrapper(wrap func(zone string, s objstore.Store) objstore.Store) Option {
	return func(o *options) { o.wrap = wrap }
}

// Job is a job file wired to concrete parts. Close it when done.
type Job struct {
	Raw objstore.Store
	// Warehouse holds every file of the job's tables, Iceberg and Delta.
	Warehouse objstore.Store
	// Catalog reaches Iceberg table files through Warehouse only (see
	// WarehouseCatalog).
	Catalog Catalog
	Tables  []Table

	warehouseURL string
	mem          memory.Allocator
}

// Table is one configured table: its merge runner, whose Target is the
// table's writer, and the same writer's surface besides merging (status,
// demo, vacuum, catalog registration). Which format it is (Iceberg or
// Delta, as the job file says) only Build knows.
type Table struct {
	Config config.Table
	Merge  *merge.Table
	Table  table.Table
}

// Close releases the catalog.
func (j *Job) Close() error {
	if j.Catalog != nil {
		return j.Catalog.Close()
	}
	return nil
}

// Build opens the raw zone, the warehouse and the catalog of job and wires
// each of tables (from job.Select) for a run: it creates the catalog file,
// the warehouse folder and the tables' databases when missing (never the
// raw zone, which lakemerge only reads). observe may be nil.
func Build(ctx context.Context, job *config.Job, tables []config.Table, mem memory.Allocator, observe merge.Observer, opts ...Option) (*Job, error) {
	return build(ctx, job, tables, mem, observe, opts)
}

// BuildReadOnly wires tables like Build for commands that only look
// (status, plan, vacuum --dry-run): it creates nothing — no catalog file,
// folder or database. With no catalog file yet, the Iceberg tables do not
// exist (Table.Describe).
func BuildReadOnly(ctx context.Context, job *config.Job, tables []config.Table, mem memory.Allocator, opts ...Option) (*Job, error) {
	return build(ctx, job, tables, mem, nil, append(opts, func(o *options) { o.readOnly = true }))
}

func build(ctx context.Context, job *config.Job, tables []config.Table, mem memory.Allocator, observe merge.Observer, opts []Option) (*Job, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
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
	open := func(zone, loc string, create bool) (objstore.Store, error) {
		s, err := openStore(loc, job.S3, loadAWS, create)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", zone, err)
		}
		if ls, ok := s.(*objlocal.Store); ok && zone == ZoneRaw {
			// The bookmark identifies raw files by ETag: by content, so
			// that a copy of the folder without its timestamps is not a
			// reload of every file.
			// A missing folder is a wrong path or an unmounted volume,
			// not a table with nothing new (merge.ErrNoRawFiles).
			s = ls.HashETags(etagCache(ls.Root())).RequireFolders()
		}
		if o.wrap != nil {
			s = o.wrap(zone, s)
		}
		return s, nil
	}
	raw, err := open(ZoneRaw, job.Raw, false)
	if err != nil {
		return nil, err
	}
	warehouse, err := open(ZoneWarehouse, job.Warehouse, !o.readOnly)
	if err != nil {
		return nil, err
	}
	var cat Catalog
	switch job.Catalog.Type {
	case "glue":
		cfg, err := loadAWS()
		if err != nil {
			return nil, err
		}
		cat, err = glue.Open(cfg, glue.Options{Warehouse: job.Warehouse, Region: job.Catalog.Region,
			Endpoint: job.Catalog.Endpoint})
		if err != nil {
			return nil, err
		}
	case "sqlite":
		if !o.readOnly {
			if cat, err = local.Open(job.Catalog.Path, job.Warehouse, nil); err != nil {
				return nil, err
			}
			break
		}
		lc, err := local.OpenReadOnly(job.Catalog.Path, job.Warehouse, nil)
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
	if cat != nil {
		wcat, err := WarehouseCatalog(cat, warehouse, job.Warehouse)
		if err != nil {
			cat.Close()
			return nil, err
		}
		cat = wcat
	}
	w := &Job{Raw: raw, Warehouse: warehouse, Catalog: cat, warehouseURL: job.Warehouse, mem: mem}
	for _, tc := range tables {
		if !o.readOnly {
			dbs := []string{tc.Target.Database}
			for _, p := range tc.Prepared {
				dbs = append(dbs, p.Target.Database)
			}
			for _, db := range dbs {
				if err := cat.EnsureNamespace(ctx, db); err != nil {
					w.Close()
					return nil, err
				}
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
			Journal:     journals(tc),
		}}
		wt.Table, wt.Merge.Target = writerOf(tc, nil, job.Warehouse, warehouse, cat, mem)
		w.Tables = append(w.Tables, wt)
	}
	return w, nil
}

// journals reports whether the base table tc's commits carry a journal
// (merge.Table.Journal): when a history or changelog table derives from
// it, which catches up from the journals of the commits it missed. A
// mirror catches up from the net change of them all, which the table's
// files give exactly: a table with mirrors only, or none, writes none.
func journals(tc config.Table) bool {
	for _, p := range tc.Prepared {
		if p.Mode == config.ModeHistory || p.Mode == config.ModeChangelog {
			return true
		}
	}
	return false
}

// PreparedWriter is the writer of prepared table p of base table base,
// keyed by keys (the curated key columns; none for a table without a
// key): as a table.Table, and as the Target that prepared/apply commits
// through. It takes the base table's file size and bucket count; p's
// partition_by, when it has one, partitions the table instead of the
// bucket count, and its sort_by orders the rows of its files. It keeps no
// tombstones (the writers' NoTombstones): prepared/apply hands a prepared
// table only change sets newer than what it deleted — a mirror's are the
// changes its base table applied, or a catch-up's net change of the base
// table's commits; a changelog and a history never delete a key.
func (j *Job) PreparedWriter(base config.Table, p config.Prepared, keys []string) (table.Table, PreparedTarget) {
	tc := config.Table{Name: base.Name, Target: p.Target, PrimaryKey: keys, Buckets: base.Buckets,
		TargetFileMB: base.TargetFileMB}
	layout := PreparedLayout(p)
	t, target := writerOf(tc, &layout, j.warehouseURL, j.Warehouse, j.Catalog, j.mem)
	return t, PreparedTarget{Target: target}
}

// PreparedLayout is the table layout p's partition_by and sort_by ask for.
func PreparedLayout(p config.Prepared) table.Layout {
	var l table.Layout
	for _, f := range p.PartitionBy {
		l.Partition = append(l.Partition, table.PartitionField{Transform: f.Transform, Column: f.Column, Param: f.Param})
	}
	for _, f := range p.SortBy {
		l.Sort = append(l.Sort, table.SortField{Column: f.Column, Descending: f.Descending})
	}
	return l
}

// writerOf is the writer of a configured table, as a table.Table and as
// merge's Target. A prepared table's layout (non-nil) is the one it is
// created with, and the one an existing table's is changed to (a changed
// partition_by or sort_by rebuilds the table), and a prepared table keeps
// no tombstones (PreparedWriter); nil: the writers' default, kept as
// created, and tombstones (base tables). cat is nil when a read-only look finds no
// catalog file (no Iceberg table exists yet).
func writerOf(tc config.Table, layout *table.Layout, whURL string, warehouse objstore.Store, cat Catalog, mem memory.Allocator) (table.Table, merge.Target) {
	var lay table.Layout
	if layout != nil {
		lay = *layout
	}
	if tc.Target.Format == config.TargetDelta {
		root := tc.Target.Database + ".db/" + tc.Target.Table + "/"
		d := delta.New(warehouse, root, delta.Options{
			Name:             tc.Target.Database + "." + tc.Target.Table,
			Keys:             tc.PrimaryKey,
			TargetFileBytes:  int64(tc.TargetFileMB) << 20,
			TombstoneHorizon: tc.TombstoneHorizon,
			NoTombstones:     layout != nil,
			Location:         strings.TrimRight(whURL, "/") + "/" + root,
			Catalog:          deltaCatalog(cat),
			Database:         tc.Target.Database,
			Table:            tc.Target.Table,
			Layout:           lay,
		}, mem)
		return d, DeltaTarget{Table: d}
	}
	var files func(context.Context) iceio.IO
	if f, ok := cat.(interface {
		IO(context.Context) iceio.IO
	}); ok {
		files = f.IO
	}
	ic := iceberg.New(cat, iceberg.Options{
		Location:         strings.TrimRight(whURL, "/") + "/" + tc.Target.Database + ".db/" + tc.Target.Table,
		Files:            files,
		Database:         tc.Target.Database,
		Name:             tc.Target.Table,
		Keys:             tc.PrimaryKey,
		Buckets:          tc.Buckets,
		TargetFileBytes:  int64(tc.TargetFileMB) << 20,
		TombstoneHorizon: tc.TombstoneHorizon,
		NoTombstones:     layout != nil,
		Layout:           lay,
		EvolveLayout:     layout != nil,
	}, mem)
	return ic, IcebergTarget{Table: ic}
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

// etagCache is the file that caches the content hashes of the local raw
// folder root: in the user's cache folder ($XDG_CACHE_HOME or ~/.cache),
// one file per folder; "" (hash every time) when there is none.
func etagCache(root string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(root))
	return filepath.Join(dir, "lakemerge", "etags", hex.EncodeToString(sum[:8])+".json")
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
