// Package dmscsv decodes the CSV change files that AWS DMS writes to an S3
// target into Arrow change batches (see package change).
//
// # Files
//
// A file is classified by the base name of its object key (ParseName):
//
//	LOAD<hex>.csv[.gz], SEGMENT<n>_LOAD<hex>.csv[.gz]   full load (KindLoad)
//	<yyyyMMdd>-<HHmmssSSS|HHmmssSSSS>.csv[.gz]          CDC (KindCDC), name = write time, UTC
//
// Transaction files (CDC_TXN-*.csv, PreserveTransactions) and Parquet output
// are not supported. Gzip is recognised from the magic bytes 1f 8b, not from
// the suffix.
//
// Format holds a table's Options with the rules for whole files that the
// engine asks before it reads one: Order (which objects are change files,
// in apply order, and why the others are not), IsSnapshot (a full load
// starts a load generation) and Open.
//
// # Format subset
//
// One record is
//
//	[Op] [timestamp column] <source columns...> [add-column columns...] [before-image columns...]
//
// Op (I, U or D) is present in every CDC record and in full-load records
// only when Options.IncludeOpForFullLoad is set: with default DMS settings a
// LOAD file has one column fewer than a CDC file, which is why the kind comes
// from the name and never from the values. With Options.Header
// (AddColumnName=true) the first line of every file names the columns; they
// are typed by name from Options.Columns (string when not listed), so each
// file may have its own columns. Without a header the columns are taken
// positionally from Options.Columns. Every record must have exactly the expected number of
// fields; a record with any other count is an error, never a guess.
//
// The dialect is RFC 4180 with DMS's settings: a configurable one-byte
// delimiter, the quote is always '"', doubled inside a quoted field, and a
// quoted field may contain delimiters and line breaks (kept byte for byte,
// so a CRLF inside quotes stays CRLF). Records end with LF; CRLF is
// tolerated. An uncompressed file must end with a line break: one whose last
// record has none fails at that record's line as cut short (every DMS file
// found in public repositories ends with one, and a file cut inside its last
// field would otherwise give a shorter value; a gzip file is checked by its
// trailer instead). A blank line is a record of one empty field and so fails
// the field count of any wider table. A file that starts
// with a UTF-8 byte order mark fails at line 1 saying so: DMS writes none,
// and read as text it would join the first field. An unquoted field equal to
// Options.NullValue (default: the empty unquoted field) is NULL; a quoted
// field is always a value, so "" is the empty string. Values are parsed by
// the column's type without going through float64 for decimals; a value
// that does not parse stops the file with a *change.MalformedError carrying
// the object key, the line where the record starts and the column.
//
// # Before images and key changes
//
// With Options.BeforeImagePrefix or BeforeImageSuffix (the before-image-def
// of a DMS add-before-image-columns rule), a column named prefix+c+suffix
// holds column c's value before an update. Such columns are read and never
// output: found by name in a header, or listed in
// Options.BeforeImageColumns (after Columns) without one. A full-load file
// may lack them (a full load changes no keys; without a header a full-load
// record may have them or end before them); a CDC file must have the
// before image of every column of Options.Keys. For each record, the
// before-image key is
//
//   - all empty (NULL): no key change (I and D rows, U rows from before the rule);
//   - equal to the key, value by value (1.5 = 1.50 in a decimal key): a plain update;
//   - different, in a U row: a key change. The decoder emits two rows: a
//     delete (D) of the old key, its key columns from the before images and
//     every other column null, with the record's _seq; then the row itself,
//     with that _seq followed by the byte 0x01;
//   - different in an I or D row, or partly empty: an error.
//
// Every other record's _seq differs from the delete's before its end, so no
// change orders between the delete and its row: the old key is deleted
// exactly where the update happened, after every earlier change and before
// every later one, in this file or any other. A batch holds at most
// BatchRows rows; a delete and its row may end up in different batches.
//
// # Order
//
// Every batch ends with the system column _ts (change.ColTS), the row's
// commit time: the value of Options.TimestampColumn when set and not null,
// else a CDC file's instant (from its name), else null (a full-load row
// without a timestamp column).
//
// Files are applied in Compare order: every LOAD file before every CDC file,
// LOAD files by key, CDC files by the instant in their name, then key. Inside
// a file rows keep their order. Each row gets the order key _seq, built with
// change.SeqBuilder from these parts, in this order:
//
//	Uint32  load generation (File.Generation)
//	Byte    phase: 0 LOAD, 1 CDC
//	String  AR_H_CHANGE_SEQ text (Options.ChangeSeqColumn), "" when not configured or empty
//	        file rank: LOAD: String(key); CDC: Uint64(instant in Unix nanoseconds), String(key)
//	Uint64  row number: 0-based index of the record in the file, header excluded
//	[Byte   1: only on the row of a key change, after the delete of its old key]
//
// so that bytes.Compare of two seqs gives apply order: a later generation
// wins, CDC wins over full load, AR_H_CHANGE_SEQ (35 fixed-width digits)
// orders changes when present, and file and row order break ties and order
// everything when it is not. The timestamp column is never part of the order.
package dmscsv
