package change

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// Op is what a change row does to its key. The values are stored in the
// int8 column ColOp.
type Op int8

const (
	// OpInsert creates the row (an upsert: an existing row is replaced).
	OpInsert Op = 1
	// OpUpdate replaces the row (an upsert: a missing row is created).
	OpUpdate Op = 2
	// OpDelete removes the row; only its key columns are meaningful.
	OpDelete Op = 3
)

// System column names added to every change batch.
const (
	ColOp  = "_op"
	ColSeq = "_seq"
)

// ColKeep is an optional system column of change batches from sources that
// send partial row images (PostgreSQL's unchanged TOAST values, DMS's
// unsupported-value marker). Type binary; a null or empty value means the
// row is complete. Otherwise it is a bitset, bit i (byte i/8, bit i%8,
// least significant first) set when the i-th user column of the batch
// (schema order, system columns not counted) was not sent: the table must
// keep the value it stores for that column, and the batch holds null there.
const ColKeep = "_keep"

// ColTS is an optional system column of change batches: when the change
// was committed in the source database, type TSType (µs, UTC), null when
// the source does not tell. The decoders fill it (DMS: the
// dms.timestamp_column when the job configures one, else the instant in a
// CDC file's name, null for full-load rows without a timestamp column;
// Debezium: source.ts_ms). It never orders changes (_seq does) and is not
// stored in the base tables: the merge hands it to the prepared tables
// only (merge.Result.Applied), where a changelog table keeps it as its
// commit time.
const ColTS = "_ts"

// TSType is the type of ColTS.
func TSType() arrow.DataType { return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"} }

// String returns the DMS letter of the op.
func (o Op) String() string {
	switch o {
	case OpInsert:
		return "I"
	case OpUpdate:
		return "U"
	case OpDelete:
		return "D"
	}
	return fmt.Sprintf("Op(%d)", int8(o))
}

// ParseOp reads a DMS operation letter (I, U or D, case-insensitive).
func ParseOp(s string) (Op, error) {
	if len(s) == 1 {
		switch s[0] {
		case 'I', 'i':
			return OpInsert, nil
		case 'U', 'u':
			return OpUpdate, nil
		case 'D', 'd':
			return OpDelete, nil
		}
	}
	return 0, fmt.Errorf("operation %q is not I, U or D", s)
}

// IsSystemColumn reports whether name is one of the columns lakemerge adds.
func IsSystemColumn(name string) bool {
	return name == ColOp || name == ColSeq || name == ColKeep || name == ColTS
}
