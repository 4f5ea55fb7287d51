// Package transform evaluates the SQL of a prepared table — its select
// list and where — over Arrow change batches of its base table, with
// DuckDB (github.com/duckdb/duckdb-go/v2 and its Arrow interface) running
// in the process. It is the prepared zone's SQL half: what part of a row a
// prepared table keeps, how it is typed, masked and derived, and whether
// the row is in the table at all. Applying the result to tables (mirror,
// history, changelog) is the caller's.
//
// # Use
//
// Open starts an Engine (one in-memory DuckDB database); Compile checks a
// Definition against the base table's columns and returns a Program, or
// Errors naming each bad expression by its index; Program.Transform turns
// one change batch into one curated batch:
//
//	curated columns (Program.Columns) | the batch's _op, _seq, ... | _pass
//
// with one row per input row, in input order, and ColPass telling whether
// the row is in the prepared table (an insert or update that passes
// where). Parse checks what the text alone tells, for tables whose columns
// are known only once their files are read.
//
// # Dialect
//
// Expressions are DuckDB SQL (https://duckdb.org/docs/sql/introduction),
// evaluated with these settings so that what Athena users write means the
// same here where DuckDB allows it:
//
//   - / on integers divides as integers, as in Trino (integer_division);
//     decimal / decimal is still a DOUBLE in DuckDB (Trino: a decimal).
//   - The time zone is UTC: a TIMESTAMP WITH TIME ZONE result is stored as
//     the UTC timestamp.
//   - The Trino functions DuckDB lacks are defined as macros
//     (AthenaFunctions): to_utf8, from_utf8, from_iso8601_timestamp,
//     from_iso8601_date, from_unixtime, to_unixtime, regexp_like,
//     day_of_week, day_of_year, week_of_year, year_of_week,
//     json_extract_scalar.
//
// Functions both have but that differ, which an expression copied from
// Athena gets DuckDB's meaning of: sha256 and md5 take text and return hex
// text (Trino: varbinary → varbinary, so Athena's
// to_hex(sha256(to_utf8(x))) is DuckDB's upper(sha256(x))); concat skips
// NULLs and greatest/least ignore them (Trino: NULL); regexp_replace
// replaces the first match unless given 'g' (Trino: all); date_diff counts
// boundaries crossed (Trino: whole units; DuckDB's date_sub counts whole
// units too, but they part where microseconds decide: from 1970-01-01
// 00:00:00.000001 to 2024-04-02, Trino 476 counts 19815 days, date_sub
// 19814);
// date_trunc of a DATE is a TIMESTAMP (Trino: a DATE); date_format and
// format_datetime do not exist (strftime does, with C's format letters).
//
// # What an expression may be
//
// Row-level only: a curated column is computed from its own row alone, so
// Compile rejects aggregates, window functions, subqueries, table
// functions, *, parameters and, by the query plan DuckDB binds
// (json_serialize_plan), anything that is more than projections over the
// one input. It rejects functions whose result varies between runs
// (random, now, current_date, uuid...): a rebuild must give the same rows.
// Results must have a type lakemerge stores: INTEGER (smaller integers
// widen to it), BIGINT, FLOAT, DOUBLE, DECIMAL(p,s), BOOLEAN, VARCHAR
// (JSON as its text), BLOB, DATE, TIMESTAMP (TIMESTAMP_S, _MS and WITH TIME
// ZONE convert to it); others (UBIGINT from hash(), UUID, INTERVAL, TIME,
// lists, structs) are refused with a hint to CAST. The engine cannot read
// files or reach the network (enable_external_access is off, extensions
// are neither downloaded nor loaded beyond those linked in) and its
// configuration is locked.
//
// # Build
//
// The engine needs cgo and the build tag duckdb_arrow (duckdb-go's opt-in
// for its Arrow interface); lakemerge's scripts build with it. Without
// either, the package compiles a stand-in whose Open fails with
// ErrNoEngine: such a binary refuses job files with prepared tables and
// runs everything else. DuckDB is linked statically from duckdb-go's
// prebuilt library.
//
// # Memory
//
// The input batch's buffers are handed to DuckDB without a copy through
// the Arrow C data interface (they stay retained until DuckDB releases
// them; Go's collector does not move heap memory). DuckDB's result chunks
// are copied into one batch allocated from the caller's allocator, so
// what Transform returns is accounted for there; DuckDB's own memory is
// bounded by Options.MemoryLimitMB.
package transform
