package table

import (
	"context"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
)

// Table is what lakemerge does with a table besides merging into it: what
// status, demo, vacuum and a run's catalog registration use, the same for
// every table format. table/iceberg and table/delta implement it; the
// merge itself goes through merge.Target.
//
// Methods may be called concurrently with runs of the table; they read the
// table's current state when they are called.
type Table interface {
	// Describe reads the table's current state without changing it. A
	// table that does not exist yet is Info{Exists: false} and no error.
	Describe(ctx context.Context) (Info, error)
	// Read returns every live row of the current state: the user columns
	// under the names the changes use, and _seq. It holds the whole table
	// in memory (for the demo, status and tests); the caller releases it.
	// A table that does not exist is an error.
	Read(ctx context.Context) (arrow.Table, error)
	// VacuumPlan lists the files Vacuum would delete now, and deletes
	// none.
	VacuumPlan(ctx context.Context, retention time.Duration) ([]VacuumFile, error)
	// Vacuum deletes the files under the table's location that the table
	// no longer references and that are older than retention (what each
	// format keeps is in its package doc). A retention shorter than the
	// longest run can delete the files of a commit in flight.
	Vacuum(ctx context.Context, retention time.Duration) (VacuumStats, error)
	// Register records the table in the job's catalog from its files, and
	// reports whether it recorded anything. A run calls it after every
	// commit (metadata empty), so the catalog follows tables whose commits
	// do not go through it (Delta: its location and columns, so a schema
	// change reaches Glue); `lakemerge register` calls it after a catalog
	// lost its entries (Iceberg: the newest metadata file, or the one
	// metadata names). A table that does not exist has nothing to record:
	// false and no error.
	Register(ctx context.Context, metadata string) (registered bool, err error)
	// ChangesSince returns what the table changed from state from to
	// state to (Info.Snapshot values; from an ancestor of to), read from
	// the files the commits in between added and removed, not from the
	// whole table: with each, one Step per commit that changed data,
	// which is the commit's journal when it carries one (Step.Journal; a
	// journal missing or not matching its digest is an error naming it,
	// not ErrNoHistory); without, one Step for the whole span. A from the
	// table's history does not hold any more is ErrNoHistory. The caller
	// releases the result.
	ChangesSince(ctx context.Context, from, to int64, each bool) (Changes, error)
}

// Info describes a table's current state.
type Info struct {
	Exists   bool
	Location string // the table's root as a URL (file:///… or s3://…)
	// Snapshot is the current state's number: the Iceberg snapshot id (0
	// when the table has no snapshot) or the Delta log version (-1 when
	// the table does not exist).
	Snapshot int64
	Rows     int64 // live rows
	Bookmark bookmarks.Bookmark
	Columns  []change.Column // user columns, without _seq
}

// VacuumFile is a file Vacuum deletes: its URL and size in bytes.
type VacuumFile struct {
	Path string
	Size int64
}

// VacuumStats is what Vacuum did.
type VacuumStats struct {
	FilesDeleted int64
	BytesDeleted int64
}
