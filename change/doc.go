// Package change is the shared vocabulary of lakemerge: the operation codes
// of a change row, the names of the system columns every decoder adds, the
// order key _seq and how it compares, the column type grammar of job files
// and the schema helpers, the key encoding that dedupe and the table
// writers match rows by, and the malformed-input error every decoder
// returns. What the table writers share beyond that vocabulary (commit
// error categories, stats, tombstones, the key index) is package table's.
//
// A change batch is an Arrow record whose columns are the table's user
// columns (in any order, any subset) followed by two system columns:
//
//	_op   int8    one of OpInsert, OpUpdate, OpDelete
//	_seq  binary  order key; bytes.Compare gives commit order (see Seq)
//
// and, from sources that have them, the optional system columns _keep
// (partial row images, ColKeep) and _ts (the change's commit time in the
// source, timestamp µs UTC, ColTS; never stored in the base tables).
//
// The package imports nothing from the module; it depends on arrow only.
package change
