package iceberg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// Snapshot summary keys written by lakemerge (the table properties are in
// sidefiles.go).
const (
	SummaryRunsProperty    = "lakemerge.bookmark-runs"
	SummaryObjectsProperty = "lakemerge.bookmark-objects"
)

// Catalog is what this package needs from an Iceberg catalog: iceberg-go's
// catalog.Catalog (the SQL catalog on SQLite, or Glue).
type Catalog = catalog.Catalog

// Options name and shape one target table.
type Options struct {
	Database string
	Name     string
	Keys     []string // primary key columns, in key order
	Buckets  int      // bucket(N, Keys[0]) partitioning at creation; 0 = unpartitioned
	// Layout, when it has partition fields, is the partition spec the
	// table is created with instead of Buckets'; its sort fields are the
	// table's sort order, and the order of rows in the files written
	// (layout.go).
	Layout table.Layout
	// EvolveLayout makes Evolve change the partition spec and sort order
	// of an existing table to what Layout (or Buckets) asks for when they
	// differ (prepared tables); unset, a table keeps the layout it was
	// created with.
	EvolveLayout bool
	// TargetFileBytes caps data file size; 0 means 128 MiB.
	TargetFileBytes int64
	// TombstoneHorizon is how long a deleted key is remembered, so that
	// a late change of it cannot bring it back; 0 means
	// table.DefaultTombstoneHorizon.
	TombstoneHorizon time.Duration
	// NoTombstones keeps no tombstones: a delete removes the key's row and
	// leaves nothing, so a later change of the key is applied whatever its
	// _seq. For a table whose change sets are never older than what it
	// deleted (a prepared table: prepared/apply); a tombstone file an
	// earlier commit referenced stops being referenced at the next commit.
	NoTombstones bool
	// Now is the clock that stamps tombstones and ages them out; nil means
	// time.Now.
	Now func() time.Time
	// Location is where the table is created (<warehouse>/<db>.db/<name>);
	// empty: where the catalog puts it.
	Location string
	// Files reaches the files under Location before the catalog knows the
	// table: creating refuses to hide existing table metadata
	// (ErrUnregistered), and Register finds it. Nil: no such check.
	Files func(context.Context) iceio.IO
}

// Table writes to one Iceberg table. It is safe to Begin several Txns one
// after another; a Table holds no per-commit state (only the last plan of
// a snapshot's files, kept by that snapshot's manifest list). It implements
// table.Table; a Table with no catalog (a read-only look before the first
// run created the catalog file) is a table that does not exist yet.
type Table struct {
	cat  Catalog
	opts Options
	mem  memory.Allocator
	// known is set once the catalog was seen to hold the table (a load
	// found it, a create made it): Register after a run has nothing to do.
	known atomic.Bool
	// lastPlan is the last plan of the table's files by bucket (plan),
	// for Due, Maintain and Files of the same snapshot.
	planMu   sync.Mutex
	lastPlan *filePlan
}

// New returns a writer for the table named in opts. The table need not exist;
// the first Evolve creates it.
func New(cat Catalog, opts Options, mem memory.Allocator) *Table {
	if opts.TargetFileBytes <= 0 {
		opts.TargetFileBytes = 128 << 20
	}
	if opts.TombstoneHorizon <= 0 {
		opts.TombstoneHorizon = table.DefaultTombstoneHorizon
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Table{cat: cat, opts: opts, mem: mem}
}

var _ table.Table = (*Table)(nil)

func (t *Table) now() time.Time { return t.opts.Now() }

func (t *Table) ident() icetable.Identifier {
	return icetable.Identifier{t.opts.Database, t.opts.Name}
}

// Load returns the current table, or nil when it does not exist yet.
func (t *Table) Load(ctx context.Context) (*icetable.Table, error) {
	if t.cat == nil {
		return nil, nil
	}
	tbl, err := t.cat.LoadTable(ctx, t.ident())
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load table %s.%s: %w", t.opts.Database, t.opts.Name, err)
	}
	t.known.Store(true)
	return tbl, nil
}

// Begin loads the table and its bookmark and starts one commit attempt.
// Errors are classified (classify): table.ErrTransient, table.ErrConflict
// when the bookmark file is gone because the table moved on, or permanent.
func (t *Table) Begin(ctx context.Context) (*Txn, error) {
	tbl, err := t.Load(ctx)
	if err != nil {
		if table.FaultOf(err) == table.FaultTemporary && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: %w", table.ErrTransient, err)
		}
		return nil, err
	}
	x := &Txn{t: t, tbl: tbl, planned: stateOf(tbl, BookmarkProperty, TombstonesProperty)}
	if tbl != nil {
		if x.state, x.recovered, err = stateProps(ctx, tbl); err == nil {
			x.bm, err = bookmarkIn(ctx, tbl, x.state)
		}
		if err != nil {
			return nil, t.classify(ctx, table.BeforeCommit, tbl.MetadataLocation(), "", err)
		}
	}
	return x, nil
}

// LiveRows is the number of rows a snapshot holds: its total records minus
// its position deletes (lakemerge never deletes a row twice).
func LiveRows(s *icetable.Snapshot) int64 {
	if s == nil || s.Summary == nil {
		return 0
	}
	n := func(k string) int64 {
		v, _ := strconv.ParseInt(s.Summary.Properties[k], 10, 64)
		return v
	}
	return n("total-records") - n("total-position-deletes")
}

// userColumns lists the table's columns without _seq, as change columns.
func userColumns(tbl *icetable.Table) ([]change.Column, error) {
	sc, err := icetable.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
	if err != nil {
		return nil, fmt.Errorf("convert table schema: %w", err)
	}
	return change.UserColumns(sc), nil
}

// rowGroupRows is the row count of a data file's row groups.
const rowGroupRows = 128 << 10

// pageRows is the row count of a data file's pages: 1,000 changes into
// a 10M-row table of 16 buckets decode 0.8M stored keys (pages whose
// min/max hold a changed key of their file's bucket), 10,000 changes
// 5.6M; the table is 278 MB, against 245 MB with iceberg-go's 1 MiB
// pages and 313 MB at 4,096 rows a page with a dictionary on the key
// (loads of the same rows).
const pageRows = 1024

// createProperties are set on every table lakemerge creates.
func (t *Table) createProperties() ice.Properties {
	props := ice.Properties{
		"format-version":                  "2",
		"write.format.default":            "parquet",
		"write.parquet.compression-codec": "zstd",
		"write.parquet.page-version":      "1",
		"write.parquet.compression-level": "1", // zstd level 1, as pyarrow writes: 10M rows in 5.7 s instead of 7.0 s, 1% larger
		// Row groups of 128k rows (iceberg-go's default: 1M): a merge
		// skips the row groups of a key-sorted file whose key range holds
		// no changed key (table.ScanMatches), so a batch of recent keys
		// reads the last row groups only.
		"write.parquet.row-group-limit": strconv.Itoa(rowGroupRows),
		// Pages of pageRows rows: a key page is 8 bytes a row, so with
		// iceberg-go's 1 MiB page size a row group's key column is one
		// page; at pageRows a microbatch decodes the key pages whose
		// header statistics hold a changed key only (table.ScanMatchesAt).
		// iceberg-go cuts a page once a write batch of page-row-limit rows
		// has brought it past page-size-bytes, so every column's pages
		// hold pageRows rows (or more, for a dictionary-encoded column).
		"write.parquet.page-size-bytes":              "8192",
		"write.parquet.page-row-limit":               strconv.Itoa(pageRows),
		"write.delete.mode":                          "merge-on-read",
		"write.update.mode":                          "merge-on-read",
		"write.target-file-size-bytes":               strconv.FormatInt(t.opts.TargetFileBytes, 10),
		"write.metadata.delete-after-commit.enabled": "true",
		"write.metadata.previous-versions-max":       "50",
		"lakemerge.primary-key":                      strings.Join(t.opts.Keys, ","),
	}
	if len(t.opts.Keys) > 0 {
		// The first key column's values are (nearly) unique: a dictionary
		// only costs. Main's binary merging 1,000 changes into 10M rows
		// took 0.99–1.25 s CPU with one (pages of 1,024 rows), 0.62–0.88 s
		// with the key plain (the dictionary page of every row group read
		// is decoded, and each value looked up in it).
		props["write.parquet.dict-encoding-enabled.column."+t.opts.Keys[0]] = "false"
	}
	return props
}

// icebergSchema is the Iceberg schema of a table of columns cols (and
// _seq), with fresh field ids: the schema create gives a new table.
func icebergSchema(cols []change.Column) (*ice.Schema, error) {
	return icetable.ArrowSchemaToIcebergWithFreshIDs(arrow.NewSchema(arrowFields(cols), nil), false)
}

func arrowFields(cols []change.Column) []arrow.Field {
	fs := make([]arrow.Field, 0, len(cols)+1)
	for _, c := range cols {
		fs = append(fs, arrow.Field{Name: c.Name, Type: c.Type, Nullable: true})
	}
	return append(fs, arrow.Field{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary, Nullable: false})
}

// Describe reads the table's current state without changing it: Snapshot
// is the current snapshot's id, 0 when the table has none.
func (t *Table) Describe(ctx context.Context) (table.Info, error) {
	tbl, err := t.Load(ctx)
	if err != nil || tbl == nil {
		return table.Info{}, err
	}
	info := table.Info{Exists: true, Location: tbl.Location()}
	if s := tbl.CurrentSnapshot(); s != nil {
		info.Snapshot = s.SnapshotID
		info.Rows = LiveRows(s)
	}
	if info.Bookmark, err = BookmarkOf(ctx, tbl); err != nil {
		return info, err
	}
	info.Columns, err = userColumns(tbl)
	return info, err
}

// Read returns every live row of the table's current snapshot (user columns
// and _seq), read by iceberg-go's scanner, which applies the delete files.
// For the demo, status and tests: it holds the whole table in memory.
// The caller releases it.
func (t *Table) Read(ctx context.Context) (arrow.Table, error) {
	tbl, err := t.Load(ctx)
	if err != nil {
		return nil, err
	}
	if tbl == nil {
		return nil, fmt.Errorf("table %s.%s does not exist", t.opts.Database, t.opts.Name)
	}
	return tbl.Scan().ToArrowTable(ctx)
}
