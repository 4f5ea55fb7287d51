package change

import (
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// KeyEncoder turns the primary-key values of one row into bytes that are
// equal exactly when the keys are equal and that compare (bytes.Compare) in
// the natural order of the key columns, nulls first. Dedupe uses the bytes as
// a map key and sort key; merge uses them to match change rows with stored
// rows, so both sides must encode with the same key types.
//
// A KeyEncoder is bound to the key columns of one record; it keeps no
// reference after the record is released if the caller drops the encoder.
type KeyEncoder struct {
	cols []arrow.Array
	enc  []func(dst []byte, row int) []byte
}

// NewKeyEncoder binds an encoder to the named key columns of rec.
func NewKeyEncoder(rec arrow.RecordBatch, keys []string) (*KeyEncoder, error) {
	e := &KeyEncoder{}
	for _, k := range keys {
		idx := rec.Schema().FieldIndices(k)
		if len(idx) != 1 {
			return nil, fmt.Errorf("key column %q: not in batch", k)
		}
		col := rec.Column(idx[0])
		f, err := keyFunc(col)
		if err != nil {
			return nil, fmt.Errorf("key column %q: %w", k, err)
		}
		e.cols = append(e.cols, col)
		e.enc = append(e.enc, f)
	}
	return e, nil
}

// HasNull reports whether any key column of row is null.
func (e *KeyEncoder) HasNull(row int) bool {
	for _, c := range e.cols {
		if c.IsNull(row) {
			return true
		}
	}
	return false
}

// Append appends the encoded key of row to dst.
func (e *KeyEncoder) Append(dst []byte, row int) []byte {
	for i, c := range e.cols {
		if c.IsNull(row) {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		dst = e.enc[i](dst, row)
	}
	return dst
}

// AppendKeyInt appends the encoding of an integer key value (int or
// long: both encode as 64 bits) as Append encodes it, without the null
// marker before it.
func AppendKeyInt(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

// AppendKeyDate appends the encoding of a date key value (days since the
// epoch) as Append encodes it, without the null marker.
func AppendKeyDate(dst []byte, v int32) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(v)^(1<<31))
}

// AppendKeyBytes appends the encoding of a string or binary key value as
// Append encodes it, without the null marker.
func AppendKeyBytes(dst, p []byte) []byte { return appendEscaped(dst, p) }

func appendEscaped(dst, p []byte) []byte {
	for _, c := range p {
		if c == 0 {
			dst = append(dst, 0, 0xFF)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, 0, 1)
}

func keyFunc(col arrow.Array) (func([]byte, int) []byte, error) {
	switch a := col.(type) {
	case *array.Int32:
		// Encoded as 64 bits so that a key column widened from int to long
		// still matches the rows written before the widening.
		return func(d []byte, i int) []byte { return AppendKeyInt(d, int64(a.Value(i))) }, nil
	case *array.Int64:
		return func(d []byte, i int) []byte { return AppendKeyInt(d, a.Value(i)) }, nil
	case *array.Date32:
		return func(d []byte, i int) []byte { return AppendKeyDate(d, int32(a.Value(i))) }, nil
	case *array.Timestamp:
		return func(d []byte, i int) []byte { return binary.BigEndian.AppendUint64(d, uint64(a.Value(i))^(1<<63)) }, nil
	case *array.String:
		return func(d []byte, i int) []byte { return appendEscaped(d, []byte(a.Value(i))) }, nil
	case *array.Binary:
		return func(d []byte, i int) []byte { return appendEscaped(d, a.Value(i)) }, nil
	case *array.Boolean:
		return func(d []byte, i int) []byte {
			if a.Value(i) {
				return append(d, 1)
			}
			return append(d, 0)
		}, nil
	case *array.Decimal128:
		return func(d []byte, i int) []byte {
			v := a.Value(i)
			d = binary.BigEndian.AppendUint64(d, uint64(v.HighBits())^(1<<63))
			return binary.BigEndian.AppendUint64(d, v.LowBits())
		}, nil
	case *array.Float64, *array.Float32:
		return nil, fmt.Errorf("type %s cannot be a primary key (floating point)", col.DataType())
	}
	return nil, fmt.Errorf("type %s cannot be a primary key", col.DataType())
}
