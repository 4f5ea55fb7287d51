package delta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table"
)

// Defaults of Options (the tombstone horizon's is
// table.DefaultTombstoneHorizon).
const (
	DefaultTargetFileBytes      = 128 << 20
	DefaultCheckpointInterval   = 10
	DefaultLogRetention         = 30 * 24 * time.Hour
	DefaultDeletedFileRetention = 7 * 24 * time.Hour
)

// Options name and shape one target table.
type Options struct {
	// Name is the table's name in messages (and metaData.name at creation).
	Name string
	// Keys are the primary key columns, in key order.
	Keys []string
	// Buckets is ignored: Delta has no bucket transform, and tables are
	// unpartitioned with files sorted by key (see the package doc). It is
	// here so that both writers take the same table options.
	Buckets int
	// Layout: its partition fields (identity only) are the partition
	// columns a table is created with; its sort fields order the rows of
	// every data file written (partition.go). The zero Layout:
	// unpartitioned, files in key order.
	Layout table.Layout
	// TargetFileBytes caps the size of new data files; 0 means 128 MiB.
	TargetFileBytes int64
	// TombstoneHorizon is how long a deleted key is remembered, so that a
	// late change of it cannot bring it back; 0 means 7 days.
	TombstoneHorizon time.Duration
	// NoTombstones keeps no tombstones: a delete removes the key's row and
	// leaves nothing, so a later change of the key is applied whatever its
	// _seq. For a table whose change sets are never older than what it
	// deleted (a prepared table: prepared/apply); a tombstone file an
	// earlier commit referenced stops being referenced at the next commit.
	NoTombstones bool
	// CheckpointInterval: a checkpoint is written at every version that is
	// a multiple of it; 0 means 10 (Spark's default).
	CheckpointInterval int
	// LogRetention is how long log entries are kept (delta.
	// logRetentionDuration); 0 means 30 days.
	LogRetention time.Duration
	// DeletedFileRetention is how long a checkpoint keeps the remove
	// actions of deleted files (delta.deletedFileRetentionDuration); 0
	// means 7 days.
	DeletedFileRetention time.Duration
	// Location is the table root as a URL (the store's root URL followed
	// by root), which Describe and VacuumPlan report and Register records;
	// root when empty.
	Location string
	// Catalog is where Register records the table, under Database and
	// Table; nil: Register does nothing.
	Catalog         Catalog
	Database, Table string
	// Now is the clock of commit timestamps, tombstones, file times and
	// retention; nil means time.Now.
	Now func() time.Time
}

// Catalog records Delta tables for the engines that find tables in a
// catalog (Athena and Trino through Glue, lakemerge's local catalog
// file); cmd/lakemerge/wire adapts the job's catalog to it.
type Catalog interface {
	RegisterDelta(ctx context.Context, r Registration) error
}

// Registration is what a catalog records of a Delta table: its name, where
// its root is, and its physical schema.
type Registration struct {
	Database, Table string
	Location        string // the table root's URL: it holds _delta_log/
	// Columns are the columns of the table's data files as the log's
	// schema names them (lower-cased, see the package doc), with the
	// lakemerge types they hold: the user columns, then _seq (binary),
	// lakemerge's order key, which every data file carries.
	Columns []change.Column
}

// Table writes one Delta table kept under a key prefix of a store. A Table
// holds no per-commit state; Begin as many Txns as needed, one after
// another or concurrently (conflicts are detected at commit).
type Table struct {
	store objstore.Store
	root  string
	opts  Options
	mem   memory.Allocator
	// now is the clock of commit timestamps, file times and retention.
	now func() time.Time
}

// New returns a writer for the table under key prefix root of store (""
// or ending in "/", such as "base/orders/"). The table need not exist: the
// first Evolve creates it.
func New(store objstore.Store, root string, opts Options, mem memory.Allocator) *Table {
	if root != "" && !strings.HasSuffix(root, "/") {
		root += "/"
	}
	if opts.TargetFileBytes <= 0 {
		opts.TargetFileBytes = DefaultTargetFileBytes
	}
	if opts.TombstoneHorizon <= 0 {
		opts.TombstoneHorizon = table.DefaultTombstoneHorizon
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.LogRetention <= 0 {
		opts.LogRetention = DefaultLogRetention
	}
	if opts.DeletedFileRetention <= 0 {
		opts.DeletedFileRetention = DefaultDeletedFileRetention
	}
	if opts.Name == "" {
		opts.Name = strings.TrimSuffix(root, "/")
	}
	if opts.Location == "" {
		opts.Location = root
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Table{store: store, root: root, opts: opts, mem: mem, now: opts.Now}
}

var _ table.Table = (*Table)(nil)

// Root is the table's key prefix in its store.
func (t *Table) Root() string { return t.root }

// Begin replays the log and starts one commit attempt. Errors are
// classified: table.ErrTransient for a temporary failure, table.ErrConflict
// when lakemerge's state file is gone because the table moved on (see
// classify), or permanent.
func (t *Table) Begin(ctx context.Context) (*Txn, error) {
	if len(t.opts.Keys) == 0 {
		return nil, fmt.Errorf("table %s: no primary key columns", t.opts.Name)
	}
	s, err := t.load(ctx, -1)
	if err != nil {
		err = fmt.Errorf("table %s: %w", t.opts.Name, err)
		if table.FaultOf(err) == table.FaultTemporary && ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", table.ErrTransient, err)
		}
		return nil, err
	}
	if err := s.check(true); err != nil {
		return nil, fmt.Errorf("table %s: %w", t.opts.Name, err)
	}
	st, err := t.readState(ctx, s.ref, s.runs())
	if err != nil {
		return nil, t.classify(ctx, s.version, fmt.Errorf("table %s: %w", t.opts.Name, err))
	}
	x := &Txn{t: t, snap: s, state: st, cols: s.cols}
	return x, nil
}

// current replays the log to its newest version, for reading the table as
// it is; nil when the table does not exist.
func (t *Table) current(ctx context.Context) (*snapshot, error) {
	s, err := t.load(ctx, -1)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.opts.Name, err)
	}
	if s.version < 0 {
		return nil, nil
	}
	if err := s.check(false); err != nil {
		return nil, fmt.Errorf("table %s: %w", t.opts.Name, err)
	}
	return s, nil
}

// Describe reads the table's current state without changing it: Snapshot
// is the newest log version, -1 when the table does not exist (then
// Location is still where it will be).
func (t *Table) Describe(ctx context.Context) (table.Info, error) {
	info := table.Info{Location: t.opts.Location, Snapshot: -1}
	s, err := t.current(ctx)
	if err != nil || s == nil {
		return info, err
	}
	info.Exists, info.Snapshot, info.Columns = true, s.version, userColumns(s.cols)
	for _, p := range s.paths() {
		if ps, ok := parseStats(s.files[p].Stats); ok && ps.NumRecords != nil {
			info.Rows += *ps.NumRecords
			continue
		}
		pr, err := t.openParquet(ctx, p)
		if err != nil {
			return info, fmt.Errorf("table %s: count rows of %s: %w", t.opts.Name, p, err)
		}
		info.Rows += pr.NumRows()
		pr.Close()
	}
	st, err := t.readState(ctx, s.ref, s.runs())
	if err != nil {
		return info, fmt.Errorf("table %s: %w", t.opts.Name, err)
	}
	info.Bookmark = st.bm
	return info, nil
}

// Register records the table in Options.Catalog from its log, with its
// location and its physical schema (Registration), whether the catalog
// holds it already or not (its schema may have changed); nothing when
// there is no catalog or no table yet. metadata must be empty: it names an
// Iceberg metadata file.
func (t *Table) Register(ctx context.Context, metadata string) (bool, error) {
	if metadata != "" {
		return false, fmt.Errorf("register %s: a Delta table is registered from its log; %q names an Iceberg metadata file", t.opts.Name, metadata)
	}
	if t.opts.Catalog == nil {
		return false, nil
	}
	s, err := t.current(ctx)
	if err != nil || s == nil {
		return false, err
	}
	r := Registration{Database: t.opts.Database, Table: t.opts.Table, Location: t.opts.Location}
	for _, c := range s.cols {
		r.Columns = append(r.Columns, change.Column{Name: c.phys, Type: c.typ})
	}
	if err := t.opts.Catalog.RegisterDelta(ctx, r); err != nil {
		return false, fmt.Errorf("register %s.%s: %w", r.Database, r.Table, err)
	}
	return true, nil
}

// Read returns every live row of the table's current version (user
// columns and _seq, under their lakemerge names), file by file in path
// order. For the demo, status and tests: it holds the whole table in
// memory. The caller releases the table.
func (t *Table) Read(ctx context.Context) (arrow.Table, error) {
	s, err := t.current(ctx)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("table %s does not exist", t.opts.Name)
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, p := range s.paths() {
		err := t.readColumns(ctx, p, s.cols, func(rec arrow.RecordBatch, _ int64) error {
			rec.Retain()
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("table %s: read %s: %w", t.opts.Name, p, err)
		}
	}
	return array.NewTableFromRecords(logicalSchema(s.cols), recs), nil
}

// Checkpoint writes a checkpoint of the current version now, whatever the
// interval, and cleans up the log.
func (t *Table) Checkpoint(ctx context.Context) error {
	s, err := t.replay(ctx, -1, false)
	if err != nil {
		return fmt.Errorf("table %s: %w", t.opts.Name, err)
	}
	if s.version < 0 {
		return fmt.Errorf("table %s does not exist", t.opts.Name)
	}
	if err := t.writeCheckpoint(ctx, s.version); err != nil {
		return fmt.Errorf("table %s: %w", t.opts.Name, err)
	}
	if err := t.cleanLog(ctx); err != nil {
		return fmt.Errorf("table %s: %w", t.opts.Name, err)
	}
	return nil
}

// VacuumStats and VacuumFile are the shared ones (table.Table).
type (
	VacuumStats = table.VacuumStats
	VacuumFile  = table.VacuumFile
)

// Vacuum deletes the data files under the table root that the current
// version does not reference and that were removed (or, for files never
// committed, written) longer than retention ago, and lakemerge's state and
// tombstone files (_delta_log/_lakemerge/) that no log entry left can
// reference (see liveSideFiles) and that were written longer than
// retention ago: those of runs whose log entries log cleanup deleted, and
// of attempts that never committed. Other files and folders whose names
// start with "_" or "." are not data files and are left alone, as is the
// rest of _delta_log. A retention shorter than the longest commit attempt
// can delete files of a commit in flight; a retention longer than
// DeletedFileRetention relies on file times once checkpoints dropped the
// remove actions. VacuumPlan lists the same files without deleting them.
func (t *Table) Vacuum(ctx context.Context, retention time.Duration) (VacuumStats, error) {
	var vs VacuumStats
	files, err := t.vacuumPlan(ctx, retention)
	if err != nil {
		return vs, err
	}
	var errs []error
	for _, f := range files {
		if err := t.store.Delete(ctx, f.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		vs.FilesDeleted++
		vs.BytesDeleted += f.Size
	}
	if err := errors.Join(errs...); err != nil {
		return vs, fmt.Errorf("vacuum %s: %w", t.opts.Name, err)
	}
	return vs, nil
}

// VacuumPlan lists the files Vacuum would delete now, as URLs under
// Options.Location, and deletes none.
func (t *Table) VacuumPlan(ctx context.Context, retention time.Duration) ([]VacuumFile, error) {
	files, err := t.vacuumPlan(ctx, retention)
	for i, f := range files {
		files[i].Path = strings.TrimRight(t.opts.Location, "/") + "/" + strings.TrimPrefix(f.Path, t.root)
	}
	return files, err
}

// vacuumPlan lists the files Vacuum deletes, by their keys in the store.
func (t *Table) vacuumPlan(ctx context.Context, retention time.Duration) ([]VacuumFile, error) {
	s, err := t.load(ctx, -1)
	if err != nil {
		return nil, fmt.Errorf("vacuum %s: %w", t.opts.Name, err)
	}
	if s.version < 0 {
		return nil, nil
	}
	live := map[string]bool{}
	for p := range s.files {
		k, err := relKey(t.root, p)
		if err != nil {
			return nil, fmt.Errorf("vacuum %s: %w", t.opts.Name, err)
		}
		live[k] = true
	}
	removedAt := map[string]int64{}
	for p, r := range s.removes {
		if k, err := relKey(t.root, p); err == nil && r.DeletionTimestamp != nil {
			removedAt[k] = *r.DeletionTimestamp
		}
	}
	minRuns, tombs, committed, err := t.liveSideFiles(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("vacuum %s: %w", t.opts.Name, err)
	}
	objs, err := t.store.List(ctx, t.root)
	if err != nil {
		return nil, fmt.Errorf("vacuum %s: %w", t.opts.Name, err)
	}
	cutoff := t.now().Add(-retention)
	var files []VacuumFile
	for _, o := range objs {
		rel := strings.TrimPrefix(o.Key, t.root)
		side := isSideFile(rel)
		switch {
		case live[o.Key] || o.LastModified.After(cutoff):
			continue
		case side && sideFileLive(rel, minRuns, tombs, committed):
			continue
		case !side && hidden(rel):
			continue
		}
		if at, ok := removedAt[o.Key]; ok && at > cutoff.UnixMilli() {
			continue
		}
		files = append(files, VacuumFile{Path: o.Key, Size: o.Size})
	}
	return files, nil
}

// hidden reports whether a path under the table root has a segment that
// starts with "_" or ".": not a data file.
func hidden(rel string) bool {
	return slices.ContainsFunc(strings.Split(rel, "/"), func(seg string) bool {
		return strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".")
	})
}
