// Package delta is lakemerge's own Delta Lake writer: the subset of the
// Delta transaction protocol (PROTOCOL.md of delta-io/delta) that
// copy-on-write upserts need, on arrow-go's pqarrow. No usable Go Delta
// library exists (see shared/reference/delta.md).
//
// One Txn is one attempt at one commit: Begin replays the log into a
// snapshot and reads the bookmark, Evolve creates the table or adds and
// widens columns, Apply rewrites the data files that hold changed keys and
// writes new ones, and Commit publishes everything as ONE log entry together
// with the new bookmark. A Txn is single-use: after Commit, success or not,
// begin a new one.
//
// # Change sets in chunks
//
// Txn implements merge.Chunker, so that a run whose changes do not fit its
// memory budget never holds the deduplicated change set whole: instead of
// Apply, ApplyChunk takes one chunk at a time (one row per key, sorted by
// key, no key in two chunks), then FinishChunks ends the set, then Commit
// writes the one log entry with the bookmark, as after Apply. The contract:
//
//   - Memory is bounded by one chunk plus per-file state: for each stored
//     data file, the positions of its rows the chunks replace or delete
//     and of the rows their stale changes keep (8 bytes each), the
//     tombstone edits of the chunks, and the set of files read.
//   - Each ApplyChunk decides its keys as Apply does (pruned by key
//     min/max, against the tombstones the earlier chunks left) and writes
//     its inserts and updates to new data files, sorted by key; a column an
//     update left out (_keep) is read from its stored row. It rewrites no
//     stored file.
//   - FinishChunks applies a reload's truncateBefore across all chunks
//     (every live row older than it that no chunk matched goes; the
//     tombstones older than it go, the chunks' stay) and rewrites every
//     stored file that loses rows to any chunk or the truncate exactly
//     once (copy-on-write deferred to the end), without those rows.
//   - The commit holds the same rows, tombstones and bookmark as Apply of
//     the whole set. The layout differs: an updated row goes to a new file
//     of its chunk rather than back into the file its old version was in
//     (a chunk of a spilled run spans the whole key range, so its files
//     do), and a Txn in chunks keeps no key set for conflict checks: a
//     concurrent writer's add of data conflicts with it whatever its keys.
//
// # Protocol
//
// Tables are created at reader version 1 / writer version 2 with no table
// features, which every reader (Athena, Trino, Spark, delta-rs, DuckDB)
// reads, unless they have a timestamp column: lakemerge's timestamp (no
// zone) is Delta's timestamp_ntz, which needs reader 3 / writer 7 with the
// table feature timestampNtz in readerFeatures and writerFeatures (see
// Timestamps). Begin refuses (ErrUnsupported) a table that needs more:
// reader 2, reader 3 with a reader feature other than timestampNtz, writer
// 3 to 6, writer 7 with a writer feature other than appendOnly, invariants
// and timestampNtz, partition columns of a table lakemerge did not create
// (see Partitioning), delta.appendOnly, column invariants,
// or column types outside lakemerge's set (long, integer, float, double,
// boolean, string, binary, date, timestamp, timestamp_ntz, decimal(p,s)
// with p ≤ 38).
//
// Log entries are _delta_log/%020d.json, newline-delimited actions, created
// with objstore's CreateExclusive (S3: PutObject with If-None-Match: *), so
// of two writers of one version exactly one wins. A commit holds, in order:
// commitInfo (operation MERGE, every operationParameters and
// operationMetrics value a string, engineInfo "lakemerge"), protocol and
// metaData when the table is created, protocol when a first timestamp_ntz
// column upgrades it, metaData when columns change, a txn
// action {appId "lakemerge", version = bookmark Runs}, the removes of
// rewritten files and the adds of new ones (stats as Spark writes them:
// numRecords, minValues, maxValues, nullCount; min/max for numbers, dates,
// timestamps truncated to milliseconds, strings cut to 32 characters with
// Spark's tie-breaker on the max; none for boolean and binary).
//
// Conflicts: when the version is taken, Commit reads the entry there. One
// equal to its own, byte for byte, is its own put that landed: the AWS SDK
// sent the put again after S3 had stored it and the answer was lost, and
// the retry met the first try's entry (412); no other writer's entry is
// equal, since each names its own state file (a fresh UUID). Otherwise,
// one that changed protocol or metaData, has a txn for appId "lakemerge"
// (another lakemerge run: fencing), removed a file this Txn read, or added
// data that may hold one of this Txn's keys (by its key min/max; any add
// when this Txn truncates, rewrites the whole table or took its changes in
// chunks) makes Commit fail with table.ErrConflict; nothing of ours landed
// and the merge loop reloads and re-plans. Otherwise Commit retries at the
// next version. Another error of the conditional put is classified by
// type: a permanent one (access denied, a missing bucket) fails the run at
// once; otherwise the entry is read back (ours: committed; another
// writer's: the conflict check), and when there is none, a temporary
// error (throttling, 5xx, a timeout, a dropped connection) is
// table.ErrCommitUnknown (the put may still land, and the bookmark read
// back by the next Begin tells) and one of unknown type is permanent.
//
// Before the log entry is written, Commit verifies the commit against the
// plan (Txn.verify): the rows of the new data files (their Parquet footers)
// equal the inserts, updates and kept rows planned; the rows of the
// rewritten files equal the kept rows plus the rows planned to go; every
// file the commit wrote exists in the store with the size written. A
// mismatch fails the table and writes no entry. Every other error of a
// commit attempt is classified by type too (Table.classify): temporary is
// table.ErrTransient, permanent fails at once, and a missing file or an
// untyped error is table.ErrConflict when the log moved on past the
// version the attempt began from, permanent otherwise.
//
// Every CheckpointInterval versions Commit writes a classic single-file
// checkpoint (_delta_log/%020d.checkpoint.parquet: protocol, metaData, txn,
// live adds with stats as a JSON string, removes younger than
// DeletedFileRetention) and _delta_log/_last_checkpoint, then deletes the
// log entries and checkpoints older than LogRetention that precede the
// newest checkpoint not newer than that cutoff (the protocol's metadata
// cleanup; the JSON entry at that checkpoint is kept). Checkpointing and
// cleanup after a successful commit never fail the commit; their error is
// kept in Txn.MaintenanceErr (merge.Maintainer), which a run reports as a
// warning. Vacuum deletes data files no longer referenced.
//
// Maintenance (optimize.go): Table implements table.Maintainer. Maintain
// rewrites the small data files into files of the target size in key
// order (an OPTIMIZE entry with dataChange false, which a run that read
// those files loses to), checkpoints, cleans the log by the table's
// delta.logRetentionDuration and vacuums by at least its
// delta.deletedFileRetentionDuration. Under a memory budget
// (Policy.MemoryBudget) the optimize merges the small files, each sorted
// by key, a batch of each at a time, and writes its files a row group at
// a time (optimizemerge.go); the files whose Parquet readers (page and
// dictionary buffers per column) would not fit a quarter of the budget
// together are first copied, one at a time, into Arrow IPC run files in
// Policy.SpillDir, read back a batch at a time; each file it writes goes to
// a local file there before it is stored. A table with a layout sort
// order, or a small file not in key order (written by another engine), is
// read whole.
//
// Begin reads _last_checkpoint, the checkpoint it names and the JSON entries
// after it one by one until the next is missing; without _last_checkpoint,
// or when the entry after it is missing, it lists _delta_log instead, so a
// stale pointer never hides newer versions.
//
// # Layout decisions
//
// Partitioning: Delta has no bucket transform, and a computed bucket column
// would show up in every reader's schema. Tables are unpartitioned
// (Options.Buckets is ignored) unless Options.Layout names partition
// columns (a prepared table's partition_by): then metaData.partitionColumns
// lists them, each add and remove carries its file's partitionValues, files
// lie in Hive-style folders, and the partition columns are also written in
// the files, so that lakemerge reads a partitioned table as an
// unpartitioned one (partition.go has the details, and how a changed
// partition_by rewrites the table). Data files are written sorted by key
// (by Options.Layout.Sort when it has sort fields), a rewritten file keeps
// the key range it had (an updated row goes back into the file its old
// version came from, unless its partition changed or the change set came
// in chunks; only inserts go to new files), and Apply prunes files by the key's min/max stats (single-column
// int, long and string keys; other keys read the key columns of every live
// file). A file sorted by another order than the key spans a wider key
// range: more files and row groups are read per merge.
//
// Column names: Glue and Athena lower-case names, and Delta names are unique
// regardless of case. A column's Delta (and Parquet) name is its lakemerge
// name lower-cased; when the two differ the schema field's metadata keeps
// the original under "lakemerge.name", so Columns and Read give back the
// names the changes use. Names that collide when lower-cased, or that hold
// one of ` ,;{}()\n\t=` (which Spark refuses without column mapping), are
// refused.
//
// Timestamps: lakemerge's timestamp (Arrow timestamp[us], no zone: the
// source's wall-clock value) is written as Delta's timestamp_ntz, Parquet
// INT64 TIMESTAMP(isAdjustedToUTC=false, MICROS), so readers show the
// value with its microseconds and no zone shift. A Delta timestamp (UTC
// instants) reads in Trino and Athena as timestamp(3) with time zone and
// loses the microseconds; Trino and Athena (engine v3, "reader protocol up
// to version 3 ... timestampNtz supported") read timestamp_ntz as
// timestamp(6). Stats of timestamp_ntz are written yyyy-MM-ddTHH:mm:ss.SSS
// (no zone), truncated down to milliseconds as the protocol says.
//
// Upgrade rule for tables created before (reader 1 / writer 2 with Delta
// timestamp columns): a column keeps its Delta type, so those columns stay
// timestamp (written isAdjustedToUTC, as before) and the protocol stays
// where it was. A timestamp column added later is timestamp_ntz, and the
// commit that adds it upgrades the protocol to reader 3 / writer 7 with
// readerFeatures [timestampNtz] and writerFeatures [appendOnly, invariants,
// timestampNtz] (the features of writer version 2 are kept, as the
// protocol asks of upgrades). Recreate a table to get timestamp_ntz for an
// old column.
//
// Type widening (int→long, float→double, decimal precision up): Delta
// readers at reader version 1 read every file with the table's current type
// and do not convert older physical types (that is the typeWidening table
// feature, reader 3 / writer 7). Evolve therefore accepts a widening only
// by rewriting every live data file with the new type in the same commit as
// the new metaData, so no reader ever sees a file of the old type. It costs a
// full table rewrite; narrowing or any other change is refused. Added
// columns need no rewrite: readers fill them with nulls in older files.
//
// Each data file carries the system column _seq (binary) of every row, the
// order key of the change that wrote it: a change applies to a key only when
// its _seq is greater than the stored one (late changes never win). Apply
// hands the key columns and _seq of the files that may hold a changed key to
// a table/plan Plan (for an integer key, or a key of several columns whose
// first is an integer, and no reload, only the _seq of the rows whose key
// matched, found by table.ScanMatches through ranged reads of the key
// columns), which decides every change and which stored rows go;
// it rewrites the files that lose rows.
//
// Table implements table.Table: Describe (Snapshot is the log version),
// Read, Vacuum and VacuumPlan (URLs under Options.Location), and Register,
// which records the table in Options.Catalog with its physical schema
// (Registration: the columns as the log names them, then _seq) after every
// run, so a schema change reaches Glue, and ChangesSince (since.go), which
// replays the log to the earlier version and reads the entries after it:
// the files each adds and removes (an OPTIMIZE is no step of its own).
// ReadKeys reads the rows of a set of keys only (a history table's stored
// versions): the files whose key min/max hold one, the row groups that
// hold a key, through ranged reads; ReadKeysAt says where they are too
// (version, file, position), and a Txn of that version plans from them
// (ApplyLocated) instead of reading the key columns of the files.
//
// # lakemerge's state: bookmark and tombstones
//
// The bookmark (package bookmarks) changes with every commit, so it belongs
// neither in metaData (a metaData action conflicts with every concurrent
// writer and is kept forever) nor in the txn action (appId, version and
// lastUpdated only). Each commit writes, before its log entry, an immutable
// state file
//
//	_delta_log/_lakemerge/state-<Runs %020d>-<uuid>.json
//	{"version":1,"bookmark":"lmb1:…","tombstones":{"path":"…","sha256":"…","count":N}}
//
// and references it from its commitInfo:
//
//	"lakemerge":{"state":"<path under the table root>","sha256":"<hex>","runs":"<Runs>"}
//
// The txn action {appId "lakemerge", version Runs} goes into the same entry;
// Delta keeps the latest txn per appId in every checkpoint. Begin takes the
// newest commitInfo that has a "lakemerge" reference, walking back from the
// newest entry (log cleanup never deletes the entry at the checkpoint it
// keeps, nor any after it, and lakemerge's latest commit is among them
// unless another writer cleaned the log after 30 days without lakemerge
// commits). It checks the file's digest and that its Runs equals the txn
// version. If no referencing entry is left, it falls back to the one state
// file whose name carries the txn version. Commits never delete state or
// tombstone files: a run that began from an earlier version reads those of
// its version. Vacuum deletes the ones no log entry left can reference
// (runs older than the oldest entry left, except the tombstone file that
// entry's state references) once older than its retention.
//
// A commit given a journal (Txn.Journal, merge.Journaler: the change set
// the run applied, for the base tables of history and changelog tables)
// writes it as _delta_log/_lakemerge/journal-<Runs %020d>-<uuid>.parquet
// and names it in the same commitInfo reference ("journal", and its digest
// "journal_sha256"; docs/format/journal.md). ChangesSince with each returns
// a version's journal as its step. Vacuum keeps the journals of the runs
// whose log entries are left, as it keeps state files, and deletes those
// of entries log cleanup removed.
//
// Tombstones remember deleted keys with the _seq of their delete for
// TombstoneHorizon, so that a late change cannot resurrect a row: Parquet
// _delta_log/_lakemerge/tombstones-<Runs %020d>-<uuid>.parquet with columns
// key (binary, change.KeyEncoder encoding, sorted, unique), seq (binary)
// and at (int64, Unix µs of the commit that wrote it), the same semantics as
// table/iceberg. A commit that leaves them unchanged references the same file.
//
// # Not done
//
// Z-ordering (Maintain's optimize rewrites small files in key order only),
// deletion vectors, partitioned tables whose files lack the partition
// columns (other writers'), column-mapped tables, Spark's S3DynamoDBLogStore protocol (never let Spark
// with that log store write a table lakemerge writes), ranged reads (a data
// file is read whole even when only its key columns are needed), and the
// _last_checkpoint checksum.
package delta
