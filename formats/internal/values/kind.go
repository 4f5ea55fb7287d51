package values

import "github.com/apache/arrow-go/v18/arrow"

// Kind is the type of a column's values as a switch tag: one for each
// column type a job file names (change.TypeNames).
type Kind uint8

const (
	KindInt32 Kind = iota
	KindInt64
	KindFloat32
	KindFloat64
	KindDecimal
	KindBool
	KindDate
	KindTimestamp
	KindString
	KindBinary
)

// KindOf returns the Kind of the Arrow type t, or false for a type no
// job-file type name gives (a timestamp of another unit or with a zone is
// one: change.ParseType gives microseconds without zone).
func KindOf(t arrow.DataType) (Kind, bool) {
	switch t.ID() {
	case arrow.INT32:
		return KindInt32, true
	case arrow.INT64:
		return KindInt64, true
	case arrow.FLOAT32:
		return KindFloat32, true
	case arrow.FLOAT64:
		return KindFloat64, true
	case arrow.DECIMAL128:
		return KindDecimal, true
	case arrow.BOOL:
		return KindBool, true
	case arrow.DATE32:
		return KindDate, true
	case arrow.TIMESTAMP:
		if ts := t.(*arrow.TimestampType); ts.Unit == arrow.Microsecond && ts.TimeZone == "" {
			return KindTimestamp, true
		}
	case arrow.STRING:
		return KindString, true
	case arrow.BINARY:
		return KindBinary, true
	}
	return 0, false
}
