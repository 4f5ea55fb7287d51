// Package debezium decodes the Debezium change events that the Confluent
// Kafka Connect S3 sink writes with JsonFormat into Arrow change batches
// (see package change).
//
// # Files
//
// A file is named by its object key (ParseName):
//
//	<folders>/<topic>+<partition>+<startOffset>.json[.gz]          values (KindValues)
//	<folders>/<topic>+<partition>+<startOffset>.keys.json[.gz]     keys (KindKeys, store.kafka.keys)
//	<folders>/<topic>+<partition>+<startOffset>.headers.json[.gz]  headers (KindHeaders)
//
// Only values files are decoded; a keys file is read with its values file
// (File.Keys), line for line; headers files are not read. Format holds a
// table's Options with the rules for whole files that the engine asks
// before it reads one: Order (values files in apply order, keys and headers
// files as their companions, and why any other object is none), IsSnapshot
// (never: snapshot rows order like changes) and Open, which opens the keys
// file beside a values file through an Opener when the options need it. The folders are
// not interpreted, so any partitioner's layout is accepted, and the offset
// is parsed as a number of any width. Gzip is recognised from the magic
// bytes 1f 8b, not from the suffix. A values or keys file that starts with
// a UTF-8 byte order mark fails at line 1 saying so (the sink writes none).
// NewDecoder reads the whole file into
// memory (the sink bounds a file by flush.size records): the schema of the
// batches depends on every line, and must be known before the first batch.
// Beside the text it keeps about 130 bytes a row (its record and _seq) and
// 16 bytes a field.
//
// # Lines
//
// Each line is one Kafka record; line i (from 0) is taken to be at offset
// startOffset+i. The sink writes a partition's records in offset order,
// one per line, so this gives the order even where the true offsets have
// gaps (compaction, transaction markers, records an SMT dropped); a
// time-based or field partitioner that splits a partition over folders
// breaks it, and so do files that overlap after a restart (see ordering
// below for why overlaps are still harmless). A line holds a JSON value,
// optionally in a schema wrapper {"schema":…,"payload":…} (JsonConverter
// with schemas.enable, detected per line by its exactly two members). Blank
// lines at the end of a file are no records; an empty line before a record
// is an error, and so is a line longer than 2 GiB (no Kafka record is).
// The payload is read as:
//
//	null                                  a tombstone (see Options.Tombstones)
//	has "op"                              a change event envelope
//	has "__op" or "__deleted"             a row flattened by ExtractNewRecordState
//	"ddl" or "tableChanges", and nothing but
//	  source, ts_ms, databaseName, schemaName, ddl, tableChanges
//	                                      schema change: ignored, counted
//	"status" "BEGIN" or "END" and "id", and nothing but
//	  status, id, event_count, data_collections, ts_ms
//	                                      transaction metadata: ignored, counted
//	nothing but "ts_ms"                   heartbeat: ignored, counted
//	has "before", "after" or "source"     error: an envelope without op
//	anything else                         error
//
// With Options.Flattened every non-null line is a flattened row. Set it
// for flattened output: the classification cannot recognise flattened rows
// without __op and __deleted, and takes a flattened row with a column
// named op for an envelope.
//
// # Events
//
// In an envelope, op c and r (a snapshot read) give OpInsert rows from
// "after", u gives OpUpdate from "after", d gives OpDelete from "before"
// (all its columns; a key-only before image gives nulls elsewhere; with a
// null before image the key is read from the keys file, and without one it
// is an error). t (truncate) gives no row: its _seq is listed by
// Truncates, and the table must delete every stored row ordered before
// it. m (logical decoding message) is ignored. A primary-key change comes
// as a d for the old key, a tombstone, then a c for the new key: they are
// separate rows, in file order within a partition and in source-position
// order across partitions.
//
// A flattened row is itself the row image. Its op comes from __op (c, r,
// u, d, t as above) and __deleted ("true" or true means a delete, from
// delete.tombstone.handling.mode=rewrite; "false" with __op d is an
// error); a row with neither is an OpUpdate (an upsert). Top-level fields
// named __* are metadata added by the SMT (add.fields, prefix "__") and
// are not columns unless Options.Columns lists them.
//
// A tombstone is counted and skipped, or with Tombstones "delete" becomes
// an OpDelete row whose key columns come from the same line of the keys
// file. Every row must have non-null key columns (Options.Keys).
//
// # Columns and types
//
// The batches' columns are Options.Columns in order, then the other
// columns in the order the file first names them, then key columns the
// file never names (string), then _op, _seq, _keep and _ts (the commit
// time, change.ColTS: source.ts_ms, or __source_ts_ms of a flattened row;
// null for a tombstone, for 0 — what some connectors write for snapshot
// reads — and for a value that is not a non-negative integer).
// Every batch of a file has this schema; files of one table may differ
// (the merge widens).
//
// Lines with a wrapper are typed by it: the fields of the envelope's
// "after" struct (or "before"), the top-level fields of a flattened row or
// a key. The wrapper's types are the schema types Kafka Connect's
// JsonConverter writes (int8 int16 int32 int64 float double boolean string
// bytes array map struct; any other name is an error), refined by the
// field's schema name (the logical types of Connect and the semantic types
// of Debezium's MySQL, MariaDB, PostgreSQL, SQL Server and Oracle
// connectors); optional, version, doc, default and the other parameters
// are not used. The same column typed differently by two wrappers of one
// file must widen (int→long, float→double, decimal precision up).
//
//	Connect type / schema name                      JSON                          column
//	int8, int16, int32; io.debezium.time.Year       number                        int
//	int64; io.debezium.time.MicroDuration,          number                        long
//	  NanoDuration
//	float / double                                  number, "NaN", "±Infinity"    float / double
//	boolean                                         true/false                    boolean
//	string; io.debezium.data.Json, Uuid, Enum,      string                        string, as sent
//	  EnumSet, Xml, Ltree, Tsvector;
//	  io.debezium.time.ZonedTime, Interval
//	bytes; io.debezium.data.Bits                    base64                        binary
//	org.apache.kafka.connect.data.Decimal           base64 big-endian two's-      decimal(p,s): s = scale
//	  (parameters scale, connect.decimal.precision)   complement unscaled, or a     parameter, p = precision
//	                                                  number (decimal.format=       parameter or 38 (1)
//	                                                  NUMERIC)
//	io.debezium.data.VariableScaleDecimal           {"scale":n,"value":base64}    (1)
//	io.debezium.time.Date, connect Date             days since 1970-01-01         date
//	io.debezium.time.IsoDate                        "yyyy-mm-dd[Z]"               date
//	io.debezium.time.Timestamp, connect Timestamp   ms since the epoch            timestamp
//	io.debezium.time.MicroTimestamp                 µs since the epoch            timestamp
//	io.debezium.time.NanoTimestamp                  ns since the epoch            timestamp (2)
//	io.debezium.time.ZonedTimestamp, IsoTimestamp   ISO-8601 with offset          timestamp, in UTC (2)
//	io.debezium.time.Time, connect Time             ms of the day                 long: µs of the day
//	io.debezium.time.MicroTime                      µs of the day                 long: µs of the day
//	io.debezium.time.NanoTime                       ns of the day                 long: µs of the day (2)
//	io.debezium.time.IsoTime                        "hh:mm:ss[.f][Z]"             long: µs of the day (2)
//	struct, array, map (geometries, vectors,        any                           string: the JSON text
//	  io.debezium.time.Structured*, arrays, …)
//
// A column listed in Options.Columns takes the type listed there when the
// wrapper's values can be stored in it: an int32 field in a long column, a
// decimal in a string column (its exact text) or in a decimal column of any
// precision and scale (rescaled exactly; a value that does not fit is an
// error naming it), a geometry (io.debezium.data.geometry.Geometry, Point,
// Geography) in a binary column (its WKB), or the field's plain value: a
// MicroTimestamp in a long column is its number, a ZonedTimestamp in a
// string column its text. A listed type the wrapper's values cannot be
// stored in is an error.
//
// (1) A decimal no decimal column holds — a precision above 38, a
// negative scale, or a VariableScaleDecimal (PostgreSQL numeric without
// precision, Oracle NUMBER without scale), whose scale changes from value
// to value — needs a type in Options.Columns (string or decimal(p,s)), or
// Options.WideDecimals "string", which stores its exact decimal text; else
// it is an error naming the column. Nothing is rounded. (2) Digits below a
// microsecond are an error, because a timestamp column keeps microseconds;
// Options.TruncateSubMicros drops them instead (toward negative infinity).
//
// Lines without a wrapper are read by the column's type in Options.Columns
// (or, for a column only a wrapper of another line typed, by that type):
// int and long from integer numbers; float and double from numbers or
// "NaN"/"±Infinity"; boolean from true/false or 0/1; string from strings,
// and from any other value as its JSON text; binary from base64; decimal
// from base64 of the unscaled integer at the column's scale (Debezium's
// default, precise mode) or from a number; date from integer days or
// "yyyy-mm-dd"; timestamp from integer microseconds (MicroTimestamp) or an
// ISO-8601 string (without an offset read as UTC). Options.Encodings names
// the encoding of a column when it differs, with the schema names above:
// "io.debezium.time.Timestamp" for milliseconds (MySQL DATETIME(0-3)),
// "io.debezium.time.NanoTimestamp", "io.debezium.data.VariableScaleDecimal",
// or "string" on a decimal column (decimal.handling.mode=string). Fields
// of neither the wrapper nor Options.Columns are string columns.
//
// A field missing from a row image of c, u or r, and the placeholder
// __debezium_unavailable_value (PostgreSQL's unchanged TOAST value; its
// base64 in bytes columns; a one-element array of it in array columns),
// mean the value was not sent: the column is null and its bit is set in
// _keep (see change.ColKeep), so the table keeps its stored value. _keep is
// null in complete rows; deletes never set it. A null is a null.
//
// # Order
//
// Each row gets the order key _seq, built with change.SeqBuilder:
//
//	Uint32  load generation (File.Generation)
//	Byte    phase: 0 for snapshot reads (op r) without a source position
//	        (incremental snapshots), 1 for everything else
//	        source position, absent with Options.SinglePartition:
//	Byte      connector: 1 postgresql, 2 mysql/mariadb, 3 sqlserver, 0xFF none
//	          postgresql: Uint64 lastCommitLsn, Uint64 lsn, from source.sequence
//	                      ["<lastCommitLsn>","<lsn>"] (a null part is 0, a null lsn
//	                      falls back to source.lsn); without sequence 0, source.lsn
//	          mysql:      String binlog base name, Uint64 binlog number (the numeric
//	                      suffix of source.file), Uint64 pos, Uint64 row
//	          sqlserver:  10 bytes commit_lsn, 10 bytes change_lsn (zeros when
//	                      null), Uint64 event_serial_no (0 when null)
//	Uint64  Kafka partition
//	Uint64  Kafka offset: startOffset + line index
//
// so that bytes.Compare of two seqs gives commit order: snapshot rows
// without a position before streaming changes of the same generation;
// snapshot rows with one by it, like any change (a snapshot reads at one
// consistent point, so a re-snapshot after lost offsets is newer than the
// streaming changes before it); then source position
// (which also orders a partition's rows, since Debezium emits a key's
// changes in commit order), then partition and offset, which order the
// changes of one position and make a redelivered event (same position,
// higher offset) win over its first copy. Position numbers are decoded as
// integers, never through float64. Flattened rows take the same fields
// from __lsn, __sequence, __file, __pos, __row, __commit_lsn, __change_lsn,
// __event_serial_no (also with __source_ in front), the connector from
// __connector or from which fields are present.
//
// Every streaming change and truncate must carry its connector's position;
// a row of another connector, or without one, is an error unless
// Options.SinglePartition says offsets alone order the topic. A snapshot
// row without a position (a PostgreSQL incremental snapshot) gets
// connector 0xFF: after the positioned snapshot rows, before every
// streaming change. A tombstone read as a delete has no position of its
// own: it takes the position of the change before it in the file (or, at
// the start of a file, of the next one), which is where it sits in its
// partition.
//
// Limits of this order: MySQL positions are comparable only within one
// binlog lineage (one server, no failover); a re-snapshot (snapshot rows
// sent again later) orders before the streaming changes of its generation,
// so it must be applied with a higher File.Generation to overwrite them.
//
// # Not supported
//
// Headers files (the __debezium.oldkey/newkey headers of key changes are
// not needed: both events carry their own keys); the keys-only files that
// behavior.on.null.values=write puts in the tombstone folder; a file.delim
// other than '+'; an unavailable.value.placeholder other than the default;
// an add.fields.prefix other than "__" or renamed add.fields; the offsets
// of the InsertField SMT (__kafka_offset is ignored; offsets come from the
// file name and line); source positions of connectors other than
// PostgreSQL, MySQL, MariaDB and SQL Server (Oracle, Db2, ...: use
// SinglePartition); binary.handling.mode hex or base64-url-safe (the
// column is then a string holding the text); the parts of
// time.precision.mode structured values (stored as JSON text).
//
// # Errors
//
// A line that is not what this doc describes stops the file with a
// *change.MalformedError carrying the object key (the keys file's key for
// a bad key line), the 1-based line number, the column when the error is
// about a value, and the reason. Next returns it after the rows of the
// lines before it. Where a setting resolves an error, the message names
// the job-file key (debezium.single_partition, debezium.wide_decimals,
// columns, ...) that cmd translates into the option.
package debezium
