// Package table is what lakemerge's table writers (table/iceberg,
// table/delta) share, and what their callers see of them whatever the
// format:
//
//   - Table, the surface besides merging: Describe, Read, Vacuum,
//     VacuumPlan, Register (status, demo, vacuum and a run's catalog
//     registration call it; cmd/lakemerge never asks which format a table
//     is), and ChangesSince, the changes between two of a table's states
//     read from the files its commits added and removed (a prepared
//     table's catch-up), as Diff computes them from those files' rows;
//   - ApplyStats, what applying a change set did;
//   - the commit error categories ErrConflict, ErrCommitUnknown and
//     ErrTransient that merge's commit loop reacts to, FaultOf (what kind
//     of failure an error is, by its types) and Classify, the part of each
//     writer's classifier that types and the table's state decide alike;
//   - Policy, Maintainer, MaintenanceStats and FileStats: the maintenance
//     both writers do under one policy (compaction, version expiry,
//     unreferenced files, tombstone pruning) and what a table's files are;
//   - KeyIndex, which matches stored rows with the changes by key, and
//     ScanMatches, which finds the rows of a Parquet data file that hold
//     a changed key — an integer key, or one of several columns whose
//     first is an integer — reading as little of the file as it can (row
//     groups skipped by the first key column's statistics and bloom
//     filter, pages of that column by its column index or, with the
//     file's bytes at hand (ScanMatchesAt), by its page headers'
//     statistics, the other key columns and _seq read for the rows left
//     only);
//   - ReadKeyRows, which reads the rows of a Parquet data file that hold
//     a key of a set, reading only the row groups and key pages
//     ScanMatchesAt finds them in (for a single integer key) and, given
//     the file's columns
//     (FileColumns), only those rows of each column, and ReadCounts, what
//     the writers' ReadKeys (a table's rows of a set of keys: a history
//     table's stored versions) read, and Located, where ReadKeysAt found
//     them (the state, each row's file and position), which the writers'
//     ApplyLocated plans from;
//   - Tombstones, the deleted keys a table remembers so that a late change
//     never resurrects a row, and their file (EncodeTombstones);
//   - SideFile, a file a commit references by digest (bookmark file,
//     tombstone file, Delta state file, journal), and Verify, the check of
//     a commit against its plan before it is made;
//   - the change journal (EncodeJournal, DecodeJournal): the change set a
//     commit applied, which a base table of history or changelog tables
//     writes with its commit, so that ChangesSince with each returns it as
//     that commit's Step (docs/format/journal.md);
//   - RunWriter and RunReader, the local run files (Arrow IPC, LZ4) that
//     batches beyond the memory budget are put aside in: a run's spilled
//     changes (merge) and the data files a Delta optimize copies before
//     merging them.
//
// Which stored row a change replaces, and whether it applies at all, is
// table/plan's; table/tabletest is the suite every writer passes. The
// package opens nothing of a table itself: writers hand it bytes, stat
// functions and the Parquet readers of files they opened; the only files
// it opens are run files, in the spill folder its callers name.
package table
