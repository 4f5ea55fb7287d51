package dedupe

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// Partial row images. A change row whose change.ColKeep bitset has bit i
// set did not carry the i-th user column (PostgreSQL's unchanged TOAST
// values): the value is whatever the key had before. Within a run that is
// the value of the latest earlier change of the key that carried the
// column; with none, the stored row's, which only the table writer can
// read: the bit stays set in the output, and the writer fills it. After a
// delete in the run there is no earlier value: the column is NULL.

// keepBit reports whether bit i of a ColKeep bitset is set.
func keepBit(bits []byte, i int) bool { return i/8 < len(bits) && bits[i/8]&(1<<(i%8)) != 0 }

// hasPartialRows reports whether any row of batches has a ColKeep bit set.
func hasPartialRows(batches []arrow.RecordBatch, keepCol int) bool {
	for _, b := range batches {
		keep, ok := b.Column(keepCol).(*array.Binary)
		if !ok {
			continue
		}
		for r := 0; r < keep.Len(); r++ {
			if keep.IsValid(r) && slices.ContainsFunc(keep.Value(r), func(c byte) bool { return c != 0 }) {
				return true
			}
		}
	}
	return false
}

// occurrence is one change row of a key.
type occurrence struct {
	key  string
	seq  []byte
	row  int64 // global row index (batches concatenated)
	keep []byte
	del  bool
}

// coalesce returns, per schema column, the global row each key's output
// takes its value from (keys sorted like Latest's output), and the output
// ColKeep column: the bits of columns that still come from the stored
// row. The caller releases the array.
func coalesce(mem memory.Allocator, batches []arrow.RecordBatch, schema *arrow.Schema, keys []string, offsets []int64) ([][]int64, arrow.Array, error) {
	keepCol := schema.FieldIndices(change.ColKeep)[0]
	seqCol := schema.FieldIndices(change.ColSeq)[0]
	opCol := schema.FieldIndices(change.ColOp)[0]
	var user []int // schema index of each user column, in bit order
	for i, f := range schema.Fields() {
		if !change.IsSystemColumn(f.Name) {
			user = append(user, i)
		}
	}
	var occ []occurrence
	var buf []byte
	for bi, b := range batches {
		enc, err := change.NewKeyEncoder(b, keys)
		if err != nil {
			return nil, nil, fmt.Errorf("dedupe: %w", err)
		}
		seqs, ok1 := b.Column(seqCol).(*array.Binary)
		ops, ok2 := b.Column(opCol).(*array.Int8)
		keep, ok3 := b.Column(keepCol).(*array.Binary)
		if !ok1 || !ok2 || !ok3 {
			return nil, nil, fmt.Errorf("dedupe: system columns of batch %d have unexpected types", bi)
		}
		for r := 0; r < int(b.NumRows()); r++ {
			buf = enc.Append(buf[:0], r)
			o := occurrence{key: string(buf), seq: seqs.Value(r), row: offsets[bi] + int64(r),
				del: change.Op(ops.Value(r)) == change.OpDelete}
			if keep.IsValid(r) {
				o.keep = keep.Value(r)
			}
			occ = append(occ, o)
		}
	}
	// Key order, then apply order; equal _seq keeps input order (the one
	// seen last wins, as in Latest).
	slices.SortStableFunc(occ, func(a, b occurrence) int {
		if c := bytes.Compare([]byte(a.key), []byte(b.key)); c != 0 {
			return c
		}
		return change.CompareSeq(a.seq, b.seq)
	})

	out := make([][]int64, schema.NumFields())
	kb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer kb.Release()
	src := make([]int64, len(user))
	afterDel := make([]bool, len(user))
	for i := 0; i < len(occ); {
		j := i
		for j < len(occ) && occ[j].key == occ[i].key {
			j++
		}
		// Walk the key's changes in order: src[c] is the row that last set
		// user column c; -1 means the stored row's value. afterDel[c] says
		// src[c] is a delete: a later change that keeps c then has nothing
		// to keep, and c is NULL.
		for c := range src {
			src[c], afterDel[c] = -1, false
		}
		for _, o := range occ[i:j] {
			for c := range src {
				switch {
				case o.del:
					src[c], afterDel[c] = o.row, true
				case !keepBit(o.keep, c), afterDel[c]:
					src[c], afterDel[c] = o.row, false
				}
			}
		}
		win := occ[j-1]
		var bits []byte
		for c, u := range user {
			if src[c] == -1 {
				if bits == nil {
					bits = make([]byte, (len(user)+7)/8)
				}
				bits[c/8] |= 1 << (c % 8)
				out[u] = append(out[u], win.row) // NULL there; the writer fills it
				continue
			}
			out[u] = append(out[u], src[c])
		}
		for f := range schema.Fields() {
			if change.IsSystemColumn(schema.Field(f).Name) {
				out[f] = append(out[f], win.row)
			}
		}
		if bits == nil {
			kb.AppendNull()
		} else {
			kb.Append(bits)
		}
		i = j
	}
	return out, kb.NewArray(), nil
}
