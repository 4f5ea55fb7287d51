// Package merge runs lakemerge's protocol for one table:
//
//	bookmark → pending raw files → decode → dedupe → plan/write → commit
//
// It owns the order of changes across files, load generations, schema
// evolution and the commit loop, and it defines the small interfaces it
// consumes (Raw, Format, Target, Txn); cmd/lakemerge wires concrete types
// (objstore, formats/dmscsv, formats/debezium, table/iceberg, table/delta)
// to them. Its Txn contract is written in package table's vocabulary
// (table.ApplyStats, the error categories table.ErrConflict,
// ErrCommitUnknown and ErrTransient): merge imports table, and no writer.
//
// A run decodes its files concurrently (one worker per core; Format and Raw
// must be safe for concurrent use) but absorbs them strictly in apply
// order: events, truncates and the error reported (the first bad file in
// apply order) do not depend on which worker finished first. A decoder
// runs at most a few batches ahead of the file being absorbed.
//
// # Memory budget and spilling
//
// A run holds its decoded changes in memory while they take at most half
// of Table.MemoryBudget. Past that, it spills them to a temporary folder
// under Table.SpillDir: partitioned by a function of the primary key
// (every change of a key in one partition, in apply order), as Arrow IPC
// streams with LZ4 compression. The function is the target table's key
// bucket when the Txn is a Chunker and a Bucketer (an Iceberg table
// partitioned by bucket(N, key): a partition holds whole buckets, bucket
// modulo the partition count), else a hash of the key. Once every file is
// read, it deduplicates partition by partition (conform, dedupe, the
// truncate cut: the steps of the in-memory path, on one partition's
// changes at a time); a partition that takes more than a quarter of the
// budget is first split into ranges of (bucket, key) and deduplicated
// range by range: each of its buckets is a range when it fits a quarter
// of the budget, else it is cut at the quantiles of its keys in a sample
// of all the partition's rows (a DMS full load arrives in key order: its
// first rows are no sample), so a range never spans two buckets. When the
// Txn is a Chunker (table/iceberg, table/delta), each partition's (or
// range's) result goes back to the spill folder and the writer takes them
// one by one (ApplyChunk), in bucket and key order, then FinishChunks (the
// truncate of a reload, across all chunks; the delete files or rewritten
// files), then Commit: one commit with the bookmark, the same table as the
// in-memory path, and the deduplicated change set is never whole in
// memory. Such a run hands no change set to the prepared tables
// (Result.Applied is nil; they catch up from the table), its commit carries
// no journal (Table.Journal), and it says how many
// chunks it applied (Result.Chunks). For a Txn that is no Chunker (none
// of lakemerge's writers; a writer must be one for the budget to bound a
// run) the partitions' results are sorted into the one change set
// Txn.Apply takes, so the budget does not bound the deduplicated change
// set there (one row per distinct key). The folder is removed on every way
// out of the run (success, error, cancellation); a full disk is
// ErrSpillDiskFull. The budget does not bound the writer's own buffers.
//
// # Invariants
//
// These are the product. This package tests its part of each (the
// protocol, on an in-memory raw zone, format and table); every writer
// passes table/tabletest, which checks its part against a reference model.
//
//  1. A bookmark never claims an object whose changes are not in the same
//     committed snapshot: the new bookmark is only ever handed to
//     Txn.Commit together with the files written from exactly the objects it
//     adds, and each writer verifies before committing that those files
//     exist and hold exactly the rows (and deletes) it planned, failing the
//     table otherwise.
//  2. Re-running after a crash at any point yields exactly the table state of
//     one uninterrupted run: everything before Commit writes only files no
//     snapshot references, and an unknown commit outcome is resolved by
//     reloading the table and comparing its bookmark with ours. A run that
//     fails before it could reload returns an error that still matches
//     table.ErrCommitUnknown: its changes may be in the table, and a
//     re-run finds out.
//  3. A commit holds at most one live row per primary key: dedupe keeps one
//     change per key and the writer deletes the stored row it replaces.
//  4. For each key the change with the greatest _seq wins, deletes included,
//     across batches and runs: dedupe picks by _seq within a run, and the
//     writer skips a change whose _seq is not greater than the stored row's
//     or, for a deleted key, than its tombstone's (kept for the table's
//     tombstone horizon; a change later than that horizon is applied). That
//     rule is table/plan's, which both writers decide with.
//  5. The result does not depend on how changes are split into files,
//     batches or runs.
//  6. Bad input is never silently dropped: a file that does not decode stops
//     the table with file, line and reason, and the bookmark does not move.
//     Objects under the table's prefix that are not change files of the
//     format stop the table too (ErrUnknownFiles), unless the job file
//     names them in the table's ignore globs; those are reported
//     (EventIgnored) and counted, never silently passed over. A table that
//     has absorbed nothing and finds no object fails (ErrNoRawFiles)
//     rather than report "up to date" on a mistyped location, and so does
//     any table whose folder the raw store knows to be missing (Raw.List).
//     A table that has absorbed files and finds no object at all is up to
//     date (a lifecycle rule may have expired them) with a warning
//     (Pending.RawEmptied, EventRawEmptied, Result.Warnings), since on S3 a
//     mistyped location looks the same.
//
// # Load generations (DMS table reloads)
//
// A full-load file that arrives after the current generation has absorbed
// CDC files, or that overwrites a full-load object absorbed in the current
// generation, starts a new load generation (the bookmark records the
// generation each object was absorbed in). Other full-load files belong to
// the current generation's load, so a reload whose LOAD files reach the raw
// zone over several runs is one generation. The generation number is the first part of every _seq, so all
// changes of the new generation are newer than everything stored, and rows of
// the old generation that the new full load does not contain are deleted
// (Txn.Apply's truncateBefore). Pending CDC files that arrive in the same run
// as a reload are taken to belong to the new generation.
//
// # Truncates and partial row images
//
// A format whose files hold truncate events (Debezium 't', see Truncator)
// makes every stored row and every change of the run older than the latest
// truncate go, through the same truncateBefore as a reload. A change that
// leaves columns out (change.ColKeep: Debezium's unchanged TOAST values,
// DMS's CsvNoSupValue) keeps the value the key had: dedupe takes it from an
// earlier change of the run, the table writer from the stored row.
package merge
