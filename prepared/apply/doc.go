// Package apply keeps a prepared table in step with its base table: after
// the base table's commit it transforms the run's net changes with the
// prepared table's SQL (a Program of prepared/transform) and applies them
// to the prepared table through the same single-use transaction the base
// table's writers offer merge (Target, Txn), in one commit that records
// which base table state it reflects.
//
// # Mirror
//
// A mirror table is a keyed table: its key is the curated columns that are
// bare references of the base table's primary key, in the base key's
// order. Each change of the base table becomes one change of the prepared
// table with the base change's order key: an insert or update whose new row
// passes where is an upsert of the curated row, anything else (a delete, a
// row that fails where or where is NULL) deletes the key. The writer's own
// rule — the change with the greatest order key wins, and a deleted key
// keeps a tombstone — then gives the prepared table exactly what the base
// table kept, late changes included.
//
// The order key of a prepared change is the prepared table's generation (4
// bytes, big-endian) followed by the base change's _seq. A catch-up or a
// rebuild writes every row of the base table under the next generation
// and deletes, in the same commit, every row of older generations whose key
// it did not write (the writers' truncateBefore, as for a DMS reload).
//
// # Changelog
//
// A changelog table appends every net change of each run of its base
// table: the curated row with the columns of prepared.ChangelogColumns —
// op (I, U or D: the base change's), commit_time (the change's _ts, see
// change.ColTS; null when the source does not tell) and order_key (the
// base change's _seq). Inserts and updates are appended when they pass
// where; deletes always, with the curated row computed from what the
// change carries (the key, and the before image where the source sends
// one: a DMS delete row, a Debezium before).
//
// Its writer's key is order_key (ChangelogKeys): a base table's changes
// have distinct _seqs, so a row's identity is its base change. Each row is
// written as an insert with the order key generation ‖ _seq; appending a
// change again (a re-run after a crash whose commit landed, a catch-up)
// finds the row stored with an equal order key, which the writer leaves as
// it is (stale): nothing is appended twice.
//
// A new changelog table of a base table that was empty before the run
// takes the run's changes as they are. Otherwise a changelog that is
// behind (added later, a run that stopped between the commits, a change
// set that is not whole) catches up from the base table's live rows,
// under the same generation: the rows whose order key it lacks are
// appended, the table's first rows as I, later ones as U (an upsert of
// the key: the base table does not tell whether it was an insert or an
// update), without a commit time (the base table does not store _ts). A
// key deleted while the changelog was behind leaves no D row, and a key
// changed several times leaves one row: the changes in between are not
// in the base table any more. A rebuild (changed definition) starts the
// changelog over: the base table's rows as I under the next generation,
// the older rows deleted in the same commit.
//
// # What the commit records (State)
//
// A prepared table's commit carries, where a base table's carries the
// bookmark of the raw files it absorbed, the State of the prepared table:
// the base table it derives from, the base table state it reflects (a
// digest of the base table's bookmark, which every base commit changes,
// and the base snapshot id or Delta version), the fingerprint of the
// definition it was built with, and its generation. It is encoded as a
// bookmark (bookmarks.Bookmark; see docs/format/prepared.md), so that both
// writers commit it with the data exactly as they commit a bookmark: in
// the Iceberg snapshot summary and table properties, in the Delta commit's
// txn action and state file.
//
// # Which way a run goes (Table.Keep)
//
//   - The prepared table reflects the base table's current state and its
//     definition has not changed: nothing to do ("up to date").
//   - It reflects the state this run's base commit was made on, and the
//     run handed over its change set whole (no partial row images, no
//     reload or truncate, no change the base table found stale): the
//     change set is transformed and applied ("changes"); cost proportional
//     to the change. Every change of such a set was applied to the base
//     table, so it applies to the prepared table alike.
//   - A change set with stale changes (late changes that lost to what the
//     base table stores) is not applied as it is: the base table may hold
//     a tombstone the prepared table lacks (a catch-up writes live rows
//     only), and the late change would bring back a row the base table
//     deleted. The prepared table catches up instead.
//   - Otherwise (a run that stopped between the base commit and this one,
//     a prepared table added later, a base commit that another run made):
//     the prepared table catches up by re-deriving it from the whole base
//     table (Base.Read), under the next generation ("catch-up"). This reads
//     the whole base table into memory: catching up from the base table's
//     own commits since the recorded state is not built yet.
//   - The definition changed (another fingerprint): with on_change rebuild
//     the table is re-derived ("rebuild"); with stop the table fails with
//     an error that names the command that rebuilds it (Table.Rebuild).
//
// Every way is idempotent: an attempt starts from the prepared table's
// committed State, so a crash at any point, or a commit whose outcome is
// unknown, is resolved by the next attempt or run finding the State it
// meant to commit, or doing the work again.
package apply
