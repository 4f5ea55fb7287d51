package change

import (
	"bytes"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
)

// Tombstones is the sorted set of deleted keys a table keeps for its
// tombstone horizon, so that a late change never resurrects a deleted row
// (invariant 4). Both table writers keep one; each stores it its own way
// (Iceberg: a file referenced from a table property; Delta: a state file).
// Keys, Seqs and At are parallel: encoded key (KeyEncoder), the delete's
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
