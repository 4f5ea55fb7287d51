package merge

import (
	"time"

	"github.com/lakemerge/lakemerge/table"
)

// EventKind says what happened.
type EventKind int

const (
	EventListed            EventKind = iota + 1 // Files: pending change files found
	EventIgnored                                // File: an object matched by the table's ignore globs, absorbed unread
	EventFileDecoded                            // File, Rows, Bytes, Skipped
	EventDeduped                                // Rows (in), Keys (out)
	EventGeneration                             // Generation: a table reload starts a new load generation
	EventCommitAttempt                          // Attempt
	EventCommitRetry                            // Attempt, Err: conflict, unknown outcome or transient failure, retrying
	EventCommitted                              // Stats
	EventMaintenanceFailed                      // Err: maintenance after the commit failed; the commit stands
	// EventApplied: Stats; the changes are written (data and delete files),
	// the commit comes next. Between EventCommitAttempt and EventApplied the
	// attempt writes, between EventApplied and EventCommitted it commits.
	EventApplied
	// EventSpilling: Bytes; the run's decoded changes passed half its
	// memory budget (Bytes held), so they go to local disk from here on.
	EventSpilling
	// EventSpilled: Rows, Bytes, Files (partitions); every change is on
	// disk, deduplication partition by partition comes next.
	EventSpilled
	// EventRawEmptied: File (the raw location), Files (absorbed); the raw
	// location lists no objects while the bookmark holds absorbed files
	// (Pending.RawEmptied). A warning: the run goes on, up to date.
	EventRawEmptied
)

// Event is one observation of a table run. cmd turns events into structured
// logs and progress bars.
type Event struct {
	Kind       EventKind
	Table      string
	File       string
	Files      int
	Rows       int64
	Keys       int64
	Bytes      int64
	Skipped    int64 // events a file held that are not row changes (schema changes, heartbeats, ...)
	Generation uint32
	Attempt    int
	Err        error
	Stats      table.ApplyStats
	Elapsed    time.Duration
	// SourceTime is, on EventFileDecoded, when the newest change of the
	// file was committed in the source database, as its format tells
	// (SourceTimer); zero when it does not.
	SourceTime time.Time
}

// Observer receives events synchronously; it must not block for long.
type Observer func(Event)
