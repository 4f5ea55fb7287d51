package change

import "github.com/apache/arrow-go/v18/arrow"

// RecordBytes is the memory the buffers of rec hold: their capacity, not
// the bytes in use (a builder's buffer may hold more than its batch uses;
// a slice counts its buffers whole).
func RecordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

// dataBytes is what RecordBytes counts of one array.
func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(max(cap(b.Buf()), b.Len()))
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	if d.DataType().ID() == arrow.DICTIONARY {
		n += dataBytes(d.Dictionary())
	}
	return n
}
