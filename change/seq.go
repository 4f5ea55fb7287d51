package change

import (
	"bytes"
	"encoding/binary"
)

// Seq is the order key of a change: bytes that compare with bytes.Compare in
// commit order. Decoders build it with a SeqBuilder from the parts their
// format defines (for DMS: load generation, phase, AR_H_CHANGE_SEQ, file rank,
// row number). Every part is encoded so that the concatenation stays
// order-preserving: fixed-width big-endian integers, and byte strings escaped
// and terminated (0x00 is written as 0x00 0xFF, the terminator is 0x00 0x01).
//
// Seqs of different sources of one table must be built from the same parts in
// the same order; a table never mixes sources.
type Seq []byte

// CompareSeq orders two seqs; the greater one is the later change.
func CompareSeq(a, b []byte) int { return bytes.Compare(a, b) }

// SeqBuilder appends order-preserving parts to a seq. The zero value is ready.
type SeqBuilder struct{ buf []byte }

// Reset empties the builder, keeping its buffer.
func (b *SeqBuilder) Reset() { b.buf = b.buf[:0] }

// Uint64 appends v as 8 big-endian bytes.
func (b *SeqBuilder) Uint64(v uint64) *SeqBuilder {
	b.buf = binary.BigEndian.AppendUint64(b.buf, v)
	return b
}

// Uint32 appends v as 4 big-endian bytes.
func (b *SeqBuilder) Uint32(v uint32) *SeqBuilder {
	b.buf = binary.BigEndian.AppendUint32(b.buf, v)
	return b
}

// Byte appends one byte.
func (b *SeqBuilder) Byte(v byte) *SeqBuilder {
	b.buf = append(b.buf, v)
	return b
}

// String appends s escaped and terminated, so that a shorter string sorts
// before any longer string it prefixes and later parts do not bleed into it.
func (b *SeqBuilder) String(s string) *SeqBuilder {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b.buf = append(b.buf, 0, 0xFF)
		} else {
			b.buf = append(b.buf, s[i])
		}
	}
	b.buf = append(b.buf, 0, 1)
	return b
}

// Bytes returns the seq built so far. It aliases the builder's buffer: copy
// it (or append it to an Arrow builder) before the next Reset.
func (b *SeqBuilder) Bytes() []byte { return b.buf }
