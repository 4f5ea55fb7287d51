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
// rule — the change with the greatest order key wins — then gives the
// prepared table exactly what the base table kept, late changes included.
//
// A prepared table keeps no tombstones (the writers' NoTombstones: a
// delete removes the row and leaves nothing), and needs none: a late change
// is stopped by the base table, whose tombstones and stored rows decide
// it. Every change set a mirror is given is newer, key by key, than what
// the mirror holds or deleted: a run's change set is applied only when the
// base table applied every change of it (no stale change) to the state the
// mirror reflects; a catch-up from the base commits applies their net
// change (each upsert the base row's _seq, each delete the deleted row's
// _seq followed by a 0 byte); a catch-up from the whole base table and a
// rebuild write the next generation and truncate older ones. A commit
// lands only on the prepared table's state its attempt began from
// (another lakemerge commit in between is table.ErrConflict), and the next
// attempt decides again from the State it finds. A changelog and a history
// write inserts and upserts only, and never delete a key.
//
// The order key of a prepared change is the prepared table's generation (4
// bytes, big-endian) followed by the base change's _seq. A catch-up from
// the base table's commits applies their net change under the same
// generation, as a run's changes are. A catch-up from the whole base table
// or a rebuild writes every row of the base table under the next
// generation and deletes, in the same commit, every row of older
// generations whose key it did not write (the writers' truncateBefore, as
// for a DMS reload).
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
// behind (a run that stopped between the commits, a change set that is
// not whole) catches up from the base table's commits since the state it
// records, one after the other (see Catch-up), under the same generation:
// the change set of a commit that carries a journal is appended exactly as
// the run would have appended it (its ops, commit times and deletes' rows;
// its stale changes left out, as a run's are), and the net change of a
// commit without one (a reload, partial row images, a spilled run, an
// older lakemerge) as a run's is, with ops the base table tells (I for a
// key that was not live before the commit, U for one that was, D with the
// key only for one it deleted) and without a commit time (the files do not
// hold _ts). A key changed several times within one base commit leaves
// one row, as in a run. When those commits
// cannot be read (a changelog added to a table that has rows, a history
// expired since), it catches up from the base table's live rows: the rows
// whose order key it lacks are appended, the table's first rows as I,
// later ones as U, and a key deleted while the changelog was behind
// leaves no D row. A rebuild (changed definition) starts the changelog
// over: the base table's rows as I under the next generation, the older
// rows deleted in the same commit.
//
// # History
//
// A history table (SCD type 2) keeps one row per version of each base key:
// the curated row with the columns of prepared.HistoryColumns — valid_from
// (the version's commit time: the base change's _ts, never the run's
// clock), valid_to (the commit time of the key's next entry; NULL while
// the version is current), is_current, op (I or U: the base change's; D
// below) and order_key (the base change's _seq). Its writer's key is the
// curated key and order_key (HistoryKeys), so each version is a row.
//
// A key's entries are ordered by order_key — the order the base table
// gives its changes — not by commit time, and a run merges its changes
// into the stored entries of the keys it touches, then recomputes their
// intervals (settle): a version is valid from its commit time to the next
// entry's; the last entry, when it is a version, is current. A late
// change (an order key below the key's newest) inserts its version in the
// right place: the entry before it is closed at the late version's
// commit time, the late version at the next entry's. The rows whose
// values changed (new entries; stored ones whose valid_to or is_current
// changed) are written as upserts with the order key generation ‖ the
// commit's run count (State.Runs) ‖ order_key: each commit's run count is
// greater than every earlier commit's, so a row rewritten again and again
// (closed, re-opened by a late delete, closed again) always beats what it
// rewrites.
//
//   - A delete is a row of its own: op D, the key only (the other curated
//     columns NULL), valid_from = valid_to = its commit time (an empty
//     interval, which no "as of" query finds), is_current false. It
//     closes the version before it, and keeps closing it when a late
//     change arrives later: a late version before the delete is closed by
//     it, not left current.
//   - A new row that fails where (or where is NULL) is recorded the same
//     way, as a D row: the key left the prepared table, as a mirror
//     deletes it. Without that row a later late change could not tell
//     whether the key was still in.
//   - A change the base table found stale (lost to what it stores) is a
//     version all the same: a history run applies it by its order key,
//     where a mirror or changelog catches up instead.
//   - A change whose order key the key's history holds is that version:
//     it is not written again (exactly once: a re-run, a catch-up).
//   - A change without a commit time (_ts null: full-load rows without a
//     timestamp column, Debezium snapshot reads with ts_ms 0, a catch-up)
//     is a version with valid_from NULL; the version before it gets
//     valid_to NULL, and is_current tells it from the current one.
//
// The run's change set holds one change per key (the latest of the run):
// a key changed several times within one run gets one version, the
// run's last. The changes between are not handed to the prepared tables.
//
// A catch-up (a run that stopped between the base commit and the
// history's, a change set that is not whole) keeps the stored history and
// merges the base table's commits since the state it records into it, one
// after the other, as runs of their own within one commit (see Catch-up).
// A commit that carries a journal is merged exactly as its run would have
// been: its versions and D rows with their commit times and order keys,
// its stale changes included, so the history ends as one clean run leaves
// it. A commit without one (a reload, partial row images, a spilled run,
// an older lakemerge) is merged from its net change: its upserts are
// versions without a commit time (I for a key that was not live before the
// commit, U for one that was; a D row when the row fails where), each of
// its deletes a D row without a commit time at the order key of the
// version it deletes followed by a 0 byte; the commit times, and the
// changes the base table found stale, are lost. The rows a step writes
// carry the order key generation ‖ run count ‖ the step's number (4 bytes)
// ‖ order_key, so that a later step's rewrite of a row wins. A key changed
// several times within one base commit has one version, as in a run.
//
// When those commits cannot be read (a history table added to a table
// that has rows, a base history expired since), it reads the base
// table's live rows:
// a row whose order key the history lacks is a new entry without a commit
// time (I for a key the history does not have, U otherwise; a D row when
// it fails where and the key has entries); a key the history has open but
// the base table does not hold any more gets a D row without a commit
// time, with the order key of its last version followed by a 0 byte (the
// delete's own is not known). What such a catch-up cannot recover: the
// commit times of the changes it finds, the versions between (a key
// changed twice while the history was behind has one new entry), and the
// deletes and re-inserts in between.
//
// A late change that arrives after a catch-up's D row (of either kind)
// and belongs between the last version and the delete it stands for is
// placed after the D row, and is current until the key changes again. A
// rebuild (changed definition) starts the history over under the next
// generation: one open version per live row that passes where, op I,
// valid_from NULL; the older rows are deleted in the same commit.
//
// Cost: a history run reads the stored versions of the keys it touches
// only (StoredTable.ReadKeysAt: the files that partition and key
// statistics leave, in them the row groups that hold a touched key, for a
// single integer key the key pages whose min/max hold a touched key of
// the file's own key bucket, and of those only the touched rows of each
// column from an Iceberg table: table.ReadKeyRows), then writes only the
// rows that changed; what it read is in Result.StoredRead. Every stored
// row those can replace (same curated key and order_key: the writer's
// key) is among the rows read, so the writer does not look for them
// again: the read says where each row is (table.Located: the state read,
// data file and position), and the writer plans from those rows
// (LocatedApplier, both writers' ApplyLocated; its stats count no file
// or row scanned), after checking that they were read from the state its
// commit is built on — a table.ErrConflict otherwise, and the next
// attempt reads again. Its memory follows the change. What it decodes
// follows the spread of the touched keys over the files and pages: the
// pages of the other columns that hold a touched row are decompressed (a
// Delta history decodes the row groups that hold one whole). A catch-up from the base commits reads the
// stored versions of the keys its steps touch alike (all the steps' keys
// at once); one from the whole base table reads the whole history table
// (Read).
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
//     base table stores) is not applied as it is to a mirror or changelog:
//     the base table holds a tombstone the prepared table lacks (it keeps
//     none, see Mirror), or a newer row the where filtered out, and the
//     late change would bring back a row the base table deleted. The
//     prepared table catches up instead. A history applies them (see
//     History).
//   - Otherwise (a run that stopped between the base commit and this one,
//     a prepared table added later, a base commit that another run made,
//     a change set that is not whole, or an attempt after the first of a
//     run that handed its change set over (Run.Owned), which let it go
//     once transformed): the prepared table catches up (see Catch-up).
//   - The definition changed (another fingerprint): with on_change rebuild
//     the table is re-derived ("rebuild"); with stop the table fails with
//     an error that names the command that rebuilds it (Table.Rebuild).
//
// # Catch-up
//
// A catch-up reads the base table's changes since the base snapshot or
// version the prepared table's State records (Base.ChangesSince, the
// writers' table.Table method): from the files the base commits in
// between added and removed, not from the whole table, so its cost is
// that of the commits' files ("catch-up"; Result.CatchUp counts the
// commits and the files read). A mirror takes one step for the whole span
// and applies it as a run's changes: table.Diff of two base states, the
// rows of the files added, less those whose key and _seq were live before
// (rows a compaction, an optimize or a copy-on-write rewrite moved), as
// upserts; the keys live before and not after as deletes. That is exactly
// what the runs would have made. A changelog or history takes one step per
// base commit that changed data: the commit's journal when it carries one
// (table.Step.Journal: the change set its run applied, with the commit
// times and the changes the base table found stale, table.Step.Stale; see
// docs/format/journal.md) — so the catch-up gives what the runs would have
// made — and table.Diff of the commit's files otherwise, which lacks the
// commit times and the stale changes. The base tables of history and
// changelog tables write journals (cmd/lakemerge/wire decides from the job
// file), for every commit whose run hands its prepared tables a change set
// — one whose every change was stale included (an Iceberg commit that
// writes no file then makes an empty snapshot to carry it): not for a
// reload, partial row images or a spilled run, whose prepared tables catch
// up from the commit's files in a clean run too.
//
// When the recorded state is not in the base table's history any more
// (snapshots expired, a Delta log cleaned up or a removed file vacuumed:
// table.ErrNoHistory), or the prepared table records none (its first
// commit), the prepared table is re-derived from the whole base table
// (Base.Read, into memory) instead, a mirror under the next generation,
// a changelog or history under its own ("catch-up (whole table)";
// CatchUp.Whole says why).
//
// Every way is idempotent: an attempt starts from the prepared table's
// committed State, so a crash at any point, or a commit whose outcome is
// unknown, is resolved by the next attempt or run finding the State it
// meant to commit, or doing the work again.
package apply
