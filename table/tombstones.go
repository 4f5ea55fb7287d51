package table

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// DefaultTombstoneHorizon is how long a tombstone is kept when a table's
// options leave it unset.
const DefaultTombstoneHorizon = 7 * 24 * time.Hour

// Tombstones is the sorted set of deleted keys a table keeps for its
// tombstone horizon, so that a late change never resurrects a deleted row
// (invariant 4). Both table writers keep one in a tombstone file
// (EncodeTombstones) and reference it by digest from their commit
// (Iceberg: a table property; Delta: the state file).
// Keys, Seqs and At are parallel: encoded key (change.KeyEncoder), the delete's
// _seq, and when the tombstone was written (Unix microseconds); Keys are
// sorted and unique.
type Tombstones struct {
	Keys, Seqs [][]byte
	At         []int64
}

// TombstoneSchema is the Arrow schema tombstones are stored with.
func TombstoneSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "key", Type: arrow.BinaryTypes.Binary},
		{Name: "seq", Type: arrow.BinaryTypes.Binary},
		{Name: "at", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
}

// Len is the number of tombstones.
func (t *Tombstones) Len() int { return len(t.Keys) }

// SeqOf returns the _seq of key's delete, if key has a tombstone.
func (t *Tombstones) SeqOf(key []byte) ([]byte, bool) {
	i, ok := slices.BinarySearchFunc(t.Keys, key, bytes.Compare)
	if !ok {
		return nil, false
	}
	return t.Seqs[i], true
}

// TombEdit is one change to the tombstone set: add (Seq != nil) or clear.
type TombEdit struct {
	Key []byte
	Seq []byte // nil: the key is live again, forget its tombstone
}

// Apply merges edits (sorted by key, unique) into t, stamping new
// tombstones with now, and drops tombstones older than cutoff or with a
// _seq below floor (a reload superseded them). It returns whether anything
// changed; t is not modified.
func (t *Tombstones) Apply(edits []TombEdit, now, cutoff int64, floor []byte) (*Tombstones, bool) {
	out := &Tombstones{}
	changed := false
	add := func(k, s []byte, at int64) {
		out.Keys, out.Seqs, out.At = append(out.Keys, k), append(out.Seqs, s), append(out.At, at)
	}
	i, j := 0, 0
	for i < len(t.Keys) || j < len(edits) {
		var c int
		switch {
		case i == len(t.Keys):
			c = 1
		case j == len(edits):
			c = -1
		default:
			c = bytes.Compare(t.Keys[i], edits[j].Key)
		}
		if c < 0 {
			if t.At[i] < cutoff || (floor != nil && bytes.Compare(t.Seqs[i], floor) < 0) {
				changed = true
			} else {
				add(t.Keys[i], t.Seqs[i], t.At[i])
			}
			i++
			continue
		}
		if c == 0 {
			i++ // replaced or cleared by the edit
			changed = true
		}
		if e := edits[j]; e.Seq != nil {
			add(e.Key, e.Seq, now)
			changed = true
		}
		j++
	}
	return out, changed
}

// EncodeTombstones returns the tombstone file of t: Parquet (zstd, data
// page v1) with columns key, seq and at, one row per tombstone in key
// order (docs/format/tombstones.md).
func EncodeTombstones(t *Tombstones, mem memory.Allocator) ([]byte, error) {
	b := array.NewRecordBuilder(mem, TombstoneSchema())
	defer b.Release()
	kb, sb, ab := b.Field(0).(*array.BinaryBuilder), b.Field(1).(*array.BinaryBuilder), b.Field(2).(*array.Int64Builder)
	var kn, sn int
	for i := range t.Keys {
		kn, sn = kn+len(t.Keys[i]), sn+len(t.Seqs[i])
	}
	b.Reserve(len(t.Keys))
	kb.ReserveData(kn)
	sb.ReserveData(sn)
	for i := range t.Keys {
		kb.Append(t.Keys[i])
		sb.Append(t.Seqs[i])
		ab.Append(t.At[i])
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	// Keys and _seqs are unique: a dictionary would only be given up. zstd
	// level 1, as for data files: the file is rewritten at every commit
	// that changes a tombstone.
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithCompressionLevel(1),
		parquet.WithDictionaryDefault(false), parquet.WithDataPageVersion(parquet.DataPageV1), parquet.WithAllocator(mem))
	out, err := encodeParquet(rec, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return nil, fmt.Errorf("encode tombstones: %w", err)
	}
	return out, nil
}

// DecodeTombstones reads a tombstone file written by EncodeTombstones.
func DecodeTombstones(ctx context.Context, b []byte, mem memory.Allocator) (*Tombstones, error) {
	t := &Tombstones{}
	err := DecodeParquet(ctx, b, mem, nil, func(rec arrow.RecordBatch) error {
		keys, ok1 := rec.Column(0).(*array.Binary)
		seqs, ok2 := rec.Column(1).(*array.Binary)
		at, ok3 := rec.Column(2).(*array.Int64)
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("unexpected columns %s", rec.Schema())
		}
		// One copy of each batch's bytes, sliced: not two allocations per
		// tombstone (a mirror with a filter keeps millions).
		kbuf, sbuf := arenaOf(keys), arenaOf(seqs)
		for r := 0; r < int(rec.NumRows()); r++ {
			t.Keys = append(t.Keys, kbuf(r))
			t.Seqs = append(t.Seqs, sbuf(r))
			t.At = append(t.At, at.Value(r))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decode tombstones: %w", err)
	}
	return t, nil
}

// arenaOf copies the value bytes of a (null-free) binary array once and
// returns the value of row r as a slice of that copy, capped at its end.
func arenaOf(a *array.Binary) func(r int) []byte {
	if a.Len() == 0 {
		return func(int) []byte { return nil }
	}
	lo := a.ValueOffset(0)
	buf := bytes.Clone(a.ValueBytes()) // from the first value's offset
	return func(r int) []byte {
		s := a.ValueOffset(r) - lo
		e := s + a.ValueLen(r)
		return buf[s:e:e]
	}
}
