// Package prepared is lakemerge's prepared zone: curated tables derived
// from a base table's changes — columns chosen, renamed, typed, masked and
// derived by SQL (package prepared/transform), rows filtered, partitioned
// for Athena — kept as the current row per key (mirror), every version of
// a key (history, SCD type 2) or every change (changelog).
//
// This package holds what a prepared table is, independent of the engine
// that evaluates its SQL and of the writers that store it: its Definition,
// the checks that need the curated columns (Check: the key a mode needs,
// the columns a mode adds, partition transforms and sort columns against
// the curated types) and the Fingerprint that tells when a definition
// changed. Package prepared/apply keeps prepared tables in step with their
// base table (mirror, history and changelog).
//
// # The seam for applying changes
//
// The engine turns a change batch of the base table into a curated batch
// with one row per change, in order (prepared/transform.Program.Transform):
// the curated columns, the system columns _op and _seq (and a commit-time
// column once the decoders add one), and _pass, true when the change's new
// row is in the prepared table. A writer of a mode consumes that batch:
// mirror deletes the key of every row and inserts those that pass; history
// places each row by its order key among the key's versions, a new version
// for rows that pass and a D row for the others, closing the version
// before it at the change's commit time; changelog appends every row with
// its op, commit time and order key. The key of a prepared table of mode mirror or
// history is the curated columns that are bare references of the base
// table's primary key (Column.Source), which Check demands.
package prepared
