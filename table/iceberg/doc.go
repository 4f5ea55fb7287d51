// Package iceberg writes lakemerge's upserts into Apache Iceberg tables
// (format version 2, the version Athena reads) through iceberg-go.
//
// One Txn is one attempt at one commit: Begin loads the table and its
// bookmark, Evolve adds or widens columns, Apply turns a deduplicated change
// set (latest change per key, sorted by key) into new data files plus
// position-delete files, and Commit puts them into ONE snapshot (a RowDelta)
// together with the new bookmark. A Txn is single-use: after Commit, success
// or not, begin a new one.
//
// How Apply finds the rows a change replaces: it plans the table's live data
// files (pruned by partition and key bounds when the key set is small enough
// to be an IN filter), reads only the key columns and _seq of those files,
// drops rows that existing position deletes already removed, and hands the
// rest to a table/plan Plan. For an integer key, or a key of several
// columns whose first is an integer (a history table's key and
// order_key), and no reload it reads less (table.ScanMatchesAt, several
// files at a time): row groups whose first key column's statistics or
// bloom filter rule out every changed value are skipped, and so are the
// pages of that column whose header statistics do (iceberg-go writes no
// page index; tables are created with pages of 1,024 rows and no
// dictionary on that column), the rest of that column is decoded without
// Arrow arrays, the other key columns are read for the rows whose first
// value matched only, and _seq for the rows whose key matched only. Files are pruned on the first key column too. The Plan decides every change (insert, update,
// delete, stale, absent: late changes never win) and which stored rows go.
// Every stored row that goes gets a position delete; every insert and update
// becomes a row of a new data file.
//
// A change set too large for memory (a run that spilled) comes in chunks
// (merge.Chunker): ApplyChunk per chunk (no key in two chunks) finds and
// decides the chunk's keys as Apply does and writes its data files, but
// keeps the positions its changes matched per data file; FinishChunks then
// applies a reload's truncateBefore to the live rows no chunk matched (one
// more read of the key columns and _seq of every live file) and writes ONE
// position-delete file per data file for all chunks; Commit is the same
// single snapshot. The Txn is a merge.Bucketer (bucket.go): the chunks of
// a spilled run follow the table's key buckets, so a chunk's data files
// are those of its own buckets (one file per bucket it holds, more when
// the bucket's rows pass the target file size; written key-sorted), and a
// chunk with more
// keys than an IN filter takes reads the key columns of the live files of
// its own buckets only (bucketTasks), not of every live file.
//
// Layout: tables are created with bucket(N, first key column) partitioning
// (N = Options.Buckets, 0 for none), or the partition spec and sort order
// of Options.Layout (prepared tables' partition_by and sort_by; layout.go),
// Parquet data page v1, zstd, row groups of 128k rows and pages of 1,024,
// and write.delete.mode=merge-on-read. The bookmark is the table property
// BookmarkProperty, set in the same catalog commit as the snapshot; the
// snapshot summary carries the bookmark's run number and object count
// (SummaryRunsProperty, SummaryObjectsProperty) rather than the whole set,
// so metadata.json does not grow by a bookmark per snapshot.
//
// Concurrency: every commit this package makes lands only on the state it
// was planned on (commitOn, commit.go). It goes to the catalog once, with
// a requirement (plannedState) that the main branch still references the
// snapshot planned on and, for commits that set the bookmark or tombstone
// properties (a run's, tombstone pruning's), that both properties still
// hold the values read when the plan began. Both catalogs (the SQL catalog,
// Glue) apply a commit's updates to the metadata current when it arrives
// and check only its requirements, and a run whose changes wrote no file
// (and that carries no journal) moves only those properties; without the requirement two such commits
// would both land and the later one would replace the earlier one's
// bookmark or tombstones. iceberg-go's Transaction.Commit is not used for
// data or property commits: its retry rebuilds a staged snapshot on a
// newer head and sends it again, where lakemerge plans again instead.
// Compaction and snapshot expiry set no property, so they carry forward
// what a run committed meanwhile.
//
// Before every commit, Commit verifies it against the plan (Txn.verify):
// the rows of the new data files equal the inserts and updates planned, the
// positions of the new delete files equal the stored rows planned to go,
// and every file the commit wrote exists with the size recorded (a stat, a
// HEAD on S3). A mismatch fails the table and commits nothing.
//
// Data files are written by iceberg-go's table.WriteRecords. A table
// partitioned by a key bucket and nothing else (the default layout) gets
// its rows bucket after bucket, in change (key) order within a bucket,
// taken from the change set a slice at a time, through the clustered
// writer: one open file at a time. Every open Parquet writer buffers its
// row group with a dictionary hash table per column and zstd state, and
// the fan-out writer, with a file open per bucket, held ~400 MB of them
// at the peak of a 1M-change merge beside a copy of all its rows. Other
// layouts (a sort order, other partition fields) go through the fan-out
// writer; a table whose first key is a boolean (which Iceberg's bucket
// transform does not take) is created unpartitioned. Either way the writes go through a file
// IO that remembers every failure to create, write or close a file
// (failureIO): iceberg-go v0.7.0's partitioned fan-out writer loses the
// error of a partition writer that fails after its input was queued, and
// would report success without that partition's file, so that an update
// became a delete.
//
// Side files: the bookmark file (when the bookmark is too large for the
// property) and the tombstone file are referenced from table properties,
// so every metadata file references the side files of its state. A commit
// does not delete the side files of the state it replaces: a run that
// began from that state (a concurrent run) or a catalog rolled back to an
// earlier metadata file reads them. Vacuum deletes them once neither the
// current nor a retained earlier metadata file references them.
//
// A commit given a journal (Txn.Journal, merge.Journaler: the change set
// the run applied, for the base tables of history and changelog tables)
// writes it as metadata/lakemerge-journal-<uuid>.parquet and references it
// from the summary of the snapshot it makes (JournalProperty, lmjref:;
// docs/format/journal.md). A commit with a journal that adds no file (every
// change stale or absent) makes an empty append snapshot to carry it:
// operation append, no manifest entry added, the parent's files, the
// table's properties as a row delta leaves them (Txn.stageSnapshot).
// ChangesSince with each returns a snapshot's journal as its
// step. Vacuum keeps the journals of the snapshots that the current
// metadata or a retained earlier metadata file lists (the rule of the
// bookmark and tombstone files): a snapshot expired from the current
// metadata keeps its journal until the metadata log lets go of the last
// file that lists it, so a catalog rolled back to such a file still
// catches its prepared tables up from the journals.
//
// Files of attempts that never committed (a crash, a lost conflict) are
// orphans until Table.Vacuum deletes them, once older than its retention;
// a failed attempt does not delete its own files, because an unknown
// outcome may have committed them (data files of a write that failed
// before any commit are removed, best effort).
//
// Maintenance (maintain.go, compact.go, manifests.go): Table implements
// table.Maintainer. Maintain compacts, when a bucket's position-delete
// or small files reach the policy's thresholds (or a data file its share
// of deleted rows), every bucket halfway to them too: the whole bucket's
// files with deletes or small, or, with the policy's RewriteDeletedPct, a
// minor pass (the small files but the largest bin-packed, each kept
// file's position-delete files merged into one, a file rewritten only
// past that share) (one rewrite snapshot for all of them, planned from the state its commit asserts, carrying the
// table properties forward, then a replace snapshot whose manifest list
// leaves out the rewrite's manifests of only removed files), prunes tombstones past the horizon when at
// least an eighth of them are, expires snapshots past the time-travel
// window (iceberg-go's ExpireSnapshots, without its file deletion) and
// then, when snapshots expired, deletes unreferenced files through Vacuum.
// A compaction that loses its compare-and-swap to a run is planned again;
// a run that loses to a compaction applies its changes again. Due (what a
// run asks after its commit), Maintain and Files plan a snapshot's
// manifests once between them (Table.plan); a run's pass expires
// snapshots in batches, once the oldest expirable one is an eighth of the
// window past it.
//
// Table implements table.Table: Describe, Read, Vacuum and VacuumPlan (with
// URLs, file:// for local tables), Register, which does nothing since
// every commit goes through the catalog, and ChangesSince (since.go), which
// walks the snapshots from an ancestor to a later one and diffs their file
// plans: the data files added, those dropped and those that gained delete
// files (a replace snapshot, a compaction's, is no step of its own). ReadKeys
// reads the rows of a set of keys only (a history table's stored
// versions): the files left by partition and manifest bounds, the row
// groups that hold a key, and for a single integer key the key pages
// whose header statistics hold a key of the file's own bucket;
// ReadKeysAt says where they are too (snapshot id, file, position), and a
// Txn of that snapshot plans from them (ApplyLocated) instead of reading
// the key columns of its candidate files.
//
// Errors are classified by type, never by message (Table.classify, on
// table.Classify):
// table.ErrConflict when the catalog's compare-and-swap failed or the
// table moved on under the attempt (another commit landed first; this also
// covers iceberg-go's untyped requirement failures), table.ErrCommitUnknown
// for a temporary failure in the catalog commit (it may have landed),
// table.ErrTransient for one before it; a permanent failure (access
// denied, a missing bucket, a local permission error, a commit that does
// not match its plan) is returned as it is and fails the run at once.
// Before that, a failed create or commit of a run looks at the table
// again: one that carries the id the request set (CommitProperty) landed
// — the AWS SDK sent the request again after the catalog had applied it
// and its answer was lost, and the retry met the table the first try
// made — and the create or Commit succeeds.
package iceberg
