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
// drops rows that existing position deletes already removed, and matches the
// rest with the changes by key (change.KeyIndex). A change whose _seq is not greater
// than the stored row's _seq is stale and is not applied (late changes never
// win). Every replaced or deleted row gets a position delete; every
// applicable insert or update becomes a row of a new data file.
//
// Layout: tables are created with bucket(N, first key column) partitioning
// (N = Options.Buckets, 0 for none), Parquet data page v1, zstd, and
// write.delete.mode=merge-on-read. The bookmark is the table property
// BookmarkProperty, set in the same catalog commit as the snapshot; the
// snapshot summary carries the bookmark's run number and object count
// (SummaryRunsProperty, SummaryObjectsProperty) rather than the whole set,
// so metadata.json does not grow by a bookmark per snapshot.
//
// Files of attempts that never committed (a crash, a lost conflict) are
// orphans until Table.Vacuum deletes them, once older than its retention;
// a failed attempt does not delete its own files, because an unknown
// outcome may have committed them.
//
// Commit errors are classified: change.ErrConflict when the catalog refused
// because another commit landed first, change.ErrCommitUnknown when the
// outcome is not known; anything else is fatal.
package iceberg
