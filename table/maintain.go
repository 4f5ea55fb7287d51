package table

import (
	"context"
	"time"
)

// Policy is what a maintenance pass does to one table: compact, expire
// old table versions, delete the files no live version references, and
// prune tombstones past the horizon. `lakemerge maintain` runs a pass over
// the tables it names; a run runs one after a table's commit when Due
// says so. Both use the same Policy and code (Maintainer.Maintain).
type Policy struct {
	// CompactDeleteFiles: a bucket (Iceberg partition; Delta: the table)
	// holding at least this many delete files is compacted. 0: delete
	// files never trigger compaction.
	CompactDeleteFiles int
	// CompactSmallFiles: a bucket holding at least this many small data
	// files is compacted. 0: small files never trigger compaction.
	CompactSmallFiles int
	// SmallFileBytes: a data file smaller than this is small.
	SmallFileBytes int64
	// RewriteDeletedPct (Iceberg) chooses what a compaction of a bucket
	// rewrites. 0: every data file with deletes and every small file (the
	// whole bucket, under updates spread over the keys). Above 0, a minor
	// pass: the bucket's small data files but its largest are bin-packed
	// by tiers (what the runs added since the last pass), the
	// position-delete files of each data file kept are merged into one,
	// and a data file is rewritten only once at least this percentage of
	// its rows is deleted. It never makes a bucket due: a pass is due by
	// CompactDeleteFiles (counting, for a minor pass, the delete files
	// beyond one a data file) or CompactSmallFiles only.
	RewriteDeletedPct int

	// KeepVersions: at least this many of the newest versions (Iceberg
	// snapshots of the main branch) are kept, whatever their age.
	KeepVersions int
	// KeepFor is the time-travel window: versions younger than this are
	// kept. A version older than this and beyond KeepVersions expires.
	// 0: versions are never expired.
	KeepFor time.Duration
	// OrphanAge: files no live version references are deleted once
	// older than this (what Vacuum's retention is). It must be longer
	// than the longest run, whose files are unreferenced until it
	// commits.
	OrphanAge time.Duration

	// MemoryBudget is the memory, in bytes, a compaction may use (a run's
	// budget): Iceberg rewrites a bucket whose rows would take more than
	// an eighth of it key range by key range; Delta's optimize merges the
	// key-sorted small files a batch of each at a time. 0: no bound, a
	// bucket (Delta: the small files) is read whole.
	MemoryBudget int64
	// SpillDir is the local folder where Delta's optimize under a budget
	// puts the temporary copies of the small files whose Parquet readers
	// would not fit the budget together, and the files it writes before
	// it stores them (the job's spill_dir); empty: TMPDIR, else /tmp.
	SpillDir string
}

// Compacts reports whether the policy compacts at all.
func (p Policy) Compacts() bool { return p.CompactDeleteFiles > 0 || p.CompactSmallFiles > 0 }

// Expires reports whether the policy expires versions at all.
func (p Policy) Expires() bool { return p.KeepFor > 0 }

// MaintenanceStats is what one maintenance pass did.
type MaintenanceStats struct {
	Compactions        int64 `json:"compactions"`          // Iceberg buckets compacted (all in one rewrite commit); Delta optimize commits
	FilesRewritten     int64 `json:"files_rewritten"`      // data files replaced by compaction
	DeleteFilesRemoved int64 `json:"delete_files_removed"` // delete files whose rows compaction applied
	FilesWritten       int64 `json:"files_written"`        // data files compaction wrote
	DeleteFilesWritten int64 `json:"delete_files_written"` // Iceberg: merged position-delete files a minor pass wrote
	VersionsExpired    int64 `json:"versions_expired"`     // snapshots (Delta: log entries) expired
	TombstonesPruned   int64 `json:"tombstones_pruned"`    // tombstones dropped past the horizon
	FilesDeleted       int64 `json:"files_deleted"`        // unreferenced files deleted
	BytesDeleted       int64 `json:"bytes_deleted"`        // their bytes
	Retries            int64 `json:"retries"`              // compaction commits retried after a concurrent commit
	RowsHeld           int64 `json:"rows_held"`            // the most live rows compaction held in memory at once
	RangePasses        int64 `json:"range_passes"`         // Iceberg: reads of a bucket's files by compaction (more than one a bucket when it is held by key range)
	FilesSpilled       int64 `json:"files_spilled"`        // Delta: small files an optimize under a budget copied to the spill folder first (their Parquet readers would not fit the budget together)
}

// Add adds o to s.
func (s *MaintenanceStats) Add(o MaintenanceStats) {
	s.Compactions += o.Compactions
	s.FilesRewritten += o.FilesRewritten
	s.DeleteFilesRemoved += o.DeleteFilesRemoved
	s.FilesWritten += o.FilesWritten
	s.DeleteFilesWritten += o.DeleteFilesWritten
	s.VersionsExpired += o.VersionsExpired
	s.TombstonesPruned += o.TombstonesPruned
	s.FilesDeleted += o.FilesDeleted
	s.BytesDeleted += o.BytesDeleted
	s.Retries += o.Retries
	s.RowsHeld = max(s.RowsHeld, o.RowsHeld)
	s.RangePasses += o.RangePasses
	s.FilesSpilled += o.FilesSpilled
}

// FileStats describes the files of a table's current version: what a
// reader opens.
type FileStats struct {
	DataFiles   int64 `json:"data_files"`
	DeleteFiles int64 `json:"delete_files"` // position-delete files (Delta: 0, it rewrites)
	SmallFiles  int64 `json:"small_files"`  // data files smaller than the policy's SmallFileBytes
	Bytes       int64 `json:"bytes"`        // bytes of data and delete files
	Versions    int64 `json:"versions"`     // Iceberg snapshots kept, Delta log versions since the last checkpoint
}

// Maintainer is a table that maintains itself under a Policy. Maintain
// may run while runs commit to the table: a compaction that loses to a
// concurrent commit is retried from the new state, and never brings back a
// row a concurrent run deleted or loses one it wrote.
type Maintainer interface {
	// Due reports whether the table crosses one of p's thresholds now
	// (a bucket to compact, versions to expire): what a run checks after
	// its commit before it runs Maintain.
	Due(ctx context.Context, p Policy) (bool, error)
	// Maintain runs one pass of p.
	Maintain(ctx context.Context, p Policy) (MaintenanceStats, error)
	// Files describes the current version's files; small means smaller
	// than smallBytes.
	Files(ctx context.Context, smallBytes int64) (FileStats, error)
}
