// Package dedupe keeps the latest change per primary key.
//
// It is a pure kernel over Arrow change batches (see package change): no I/O,
// no clock, allocations through the caller's memory.Allocator. The result does
// not depend on how the changes were split into batches: for every key the row
// with the greatest _seq wins (deletes included), and rows come out sorted by
// the encoded key (change.KeyEncoder order), which is the order the table
// writers want their files in.
//
// Two rows of one key with equal _seq are duplicates of one source change
// (DMS after a task restart, Debezium's at-least-once delivery); the one seen
// last wins, which is harmless because they carry the same change.
package dedupe

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// Stats counts what one Latest call did.
type Stats struct {
	In  int64 // change rows read
	Out int64 // rows kept, one per key
}

// winner is the row that currently wins for one key.
type winner[K cmp.Ordered] struct {
	key   K
	seq   []byte
	batch int32
	row   int32
}

// keyFunc returns the key of row r of one batch.
type keyFunc[K cmp.Ordered] func(r int) K

// mapKeys is the number of distinct encoded keys up to which pickEncoded
// indexes winners in a hash map; beyond it, sorting every row by key is
// faster (the map no longer fits in cache and every row is a random
// access). Integer keys never use the map (see pickByRadix).
const mapKeys = 1 << 18

// picker finds the winning row of every key of unsorted input; see pick.
type picker[K cmp.Ordered] func(batches []arrow.RecordBatch, offsets []int64, seqs []*array.Binary, inOrder bool, keys func(arrow.RecordBatch) (keyFunc[K], error)) ([]int64, error)

// pick finds the winning row of every key and returns their global row
// indices (batches concatenated), sorted by key. keys returns the key
// function of one batch; unsorted picks when the keys are not already in
// order.
func pick[K cmp.Ordered](batches []arrow.RecordBatch, offsets []int64, seqCol int, keys func(arrow.RecordBatch) (keyFunc[K], error), unsorted picker[K], st *Stats) ([]int64, error) {
	seqs := make([]*array.Binary, len(batches))
	for i, b := range batches {
		var ok bool
		if seqs[i], ok = b.Column(seqCol).(*array.Binary); !ok {
			return nil, fmt.Errorf("dedupe: %s is %s, want binary", change.ColSeq, b.Column(seqCol).DataType())
		}
		st.In += b.NumRows()
	}
	// In the common case (changes decoded in apply order) _seq grows with
	// the row order: then the last row of a key wins and no _seq needs to
	// be compared against the current winner's (a random memory access).
	inOrder := seqsIncrease(seqs)
	if inOrder {
		// A full load read in key order (InnoDB tables, most heap tables)
		// needs no index at all: the last row of each run of equal keys
		// wins and the rows are already sorted.
		rows, sorted, err := pickSorted(batches, offsets, keys)
		if err != nil || sorted {
			return rows, err
		}
	}
	return unsorted(batches, offsets, seqs, inOrder, keys)
}

// pickInts picks winners of an integer key: by radix sort, or by
// comparison sort when the keys are spread too wide for it.
func pickInts(batches []arrow.RecordBatch, offsets []int64, seqs []*array.Binary, inOrder bool, keys func(arrow.RecordBatch) (keyFunc[int64], error)) ([]int64, error) {
	rows, ok, err := pickByRadix(batches, offsets, seqs, inOrder, keys)
	if err != nil || ok {
		return rows, err
	}
	return pickBySort(batches, offsets, seqs, inOrder, keys)
}

// pickEncoded picks winners of encoded (composite or non-integer) keys: in
// a hash map while the distinct keys fit in cache, by comparison sort past
// that.
func pickEncoded(batches []arrow.RecordBatch, offsets []int64, seqs []*array.Binary, inOrder bool, keys func(arrow.RecordBatch) (keyFunc[string], error)) ([]int64, error) {
	rows, ok, err := pickByMap(batches, offsets, seqs, inOrder, keys)
	if err != nil || ok {
		return rows, err
	}
	return pickBySort(batches, offsets, seqs, inOrder, keys)
}

// pickByMap indexes the current winner of each key in a map, then sorts
// the winners; ok is false when there are more than mapKeys keys.
func pickByMap[K cmp.Ordered](batches []arrow.RecordBatch, offsets []int64, seqs []*array.Binary, inOrder bool, keys func(arrow.RecordBatch) (keyFunc[K], error)) (rows []int64, ok bool, err error) {
	index := make(map[K]int32, 1024)
	var wins []winner[K]
	for bi, b := range batches {
		key, err := keys(b)
		if err != nil {
			return nil, false, fmt.Errorf("dedupe: %w", err)
		}
		n := int(b.NumRows())
		for r := 0; r < n; r++ {
			k := key(r)
			seq := seqs[bi].Value(r)
			if w, ok := index[k]; ok {
				if inOrder || change.CompareSeq(seq, wins[w].seq) >= 0 {
					wins[w].seq, wins[w].batch, wins[w].row = seq, int32(bi), int32(r)
				}
				continue
			}
			if len(wins) == mapKeys {
				return nil, false, nil
			}
			index[k] = int32(len(wins))
			wins = append(wins, winner[K]{key: k, seq: seq, batch: int32(bi), row: int32(r)})
		}
	}
	slices.SortFunc(wins, func(a, b winner[K]) int { return cmp.Compare(a.key, b.key) })
	return locations(wins, offsets), true, nil
}

// pickBySort sorts every row by key, then row order, and keeps from each
// run of equal keys the row with the greatest _seq (the later row on a
// tie, as pickByMap does).
func pickBySort[K cmp.Ordered](batches []arrow.RecordBatch, offsets []int64, seqs []*array.Binary, inOrder bool, keys func(arrow.RecordBatch) (keyFunc[K], error)) ([]int64, error) {
	type entry struct {
		key        K
		batch, row int32
	}
	total := offsets[len(offsets)-1] + batches[len(batches)-1].NumRows()
	ents := make([]entry, 0, total)
	for bi, b := range batches {
		key, err := keys(b)
		if err != nil {
			return nil, fmt.Errorf("dedupe: %w", err)
		}
		for r := 0; r < int(b.NumRows()); r++ {
			ents = append(ents, entry{key: key(r), batch: int32(bi), row: int32(r)})
		}
	}
	slices.SortFunc(ents, func(a, b entry) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		if c := cmp.Compare(a.batch, b.batch); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	})
	var rows []int64
	for i := 0; i < len(ents); {
		w := ents[i]
		j := i + 1
		for ; j < len(ents) && ents[j].key == w.key; j++ {
			if e := ents[j]; inOrder || change.CompareSeq(seqs[e.batch].Value(int(e.row)), seqs[w.batch].Value(int(w.row))) >= 0 {
				w = e
			}
		}
		rows = append(rows, offsets[w.batch]+int64(w.row))
		i = j
	}
	return rows, nil
}

// pickSorted returns the last row of each run of equal keys when the keys
// never decrease in row order; sorted is false (and rows nil) as soon as
// one does.
func pickSorted[K cmp.Ordered](batches []arrow.RecordBatch, offsets []int64, keys func(arrow.RecordBatch) (keyFunc[K], error)) (rows []int64, sorted bool, err error) {
	var prev K
	first := true
	for bi, b := range batches {
		key, err := keys(b)
		if err != nil {
			return nil, false, fmt.Errorf("dedupe: %w", err)
		}
		n := int(b.NumRows())
		for r := 0; r < n; r++ {
			k := key(r)
			switch {
			case first || k > prev:
				rows = append(rows, offsets[bi]+int64(r))
			case k == prev:
				rows[len(rows)-1] = offsets[bi] + int64(r)
			default:
				return nil, false, nil
			}
			prev, first = k, false
		}
	}
	return rows, true, nil
}

// seqsIncrease reports whether _seq never decreases from one row to the
// next, across batches in order.
func seqsIncrease(seqs []*array.Binary) bool {
	var prev []byte
	for _, a := range seqs {
		for r := 0; r < a.Len(); r++ {
			s := a.Value(r)
			if change.CompareSeq(s, prev) < 0 {
				return false
			}
			prev = s
		}
	}
	return true
}

// intKey reports whether keys is one integer column, which takes the fast
// path: integer keys order numerically exactly as change.KeyEncoder orders
// their encodings.
func intKey(schema *arrow.Schema, keys []string) (int, bool) {
	if len(keys) != 1 {
		return 0, false
	}
	idx := schema.FieldIndices(keys[0])
	if len(idx) != 1 {
		return 0, false
	}
	switch schema.Field(idx[0]).Type.ID() {
	case arrow.INT64, arrow.INT32:
		return idx[0], true
	}
	return 0, false
}

// isIdentity reports whether idx is 0, 1, 2, ...
func isIdentity(idx []int64) bool {
	for i, v := range idx {
		if v != int64(i) {
			return false
		}
	}
	return true
}

// locations lists the winners' global row indices (batches concatenated).
func locations[K cmp.Ordered](wins []winner[K], offsets []int64) []int64 {
	out := make([]int64, len(wins))
	for i, w := range wins {
		out[i] = offsets[w.batch] + int64(w.row)
	}
	return out
}

// Latest returns one record holding, for every key that occurs in batches,
// the change row with the greatest _seq, sorted by key. All batches must have
// the same schema, which must contain the key columns and the system columns.
// Batches are borrowed: Latest neither retains nor releases them. The caller
// owns the result and must release it. With no input rows the result is an
// empty record of the common schema (or nil, nil when batches is empty).
func Latest(mem memory.Allocator, batches []arrow.RecordBatch, keys []string) (arrow.RecordBatch, Stats, error) {
	for _, b := range batches {
		b.Retain()
	}
	return Consume(mem, batches, keys)
}

// Consume is Latest taking ownership of batches: it releases every batch,
// on success and on error, and lets go of each input column as soon as
// that column of the result is built. A run's peak memory is then its
// changes plus one column, not the changes twice over (which matters for
// a full load, where every row wins).
func Consume(mem memory.Allocator, batches []arrow.RecordBatch, keys []string) (arrow.RecordBatch, Stats, error) {
	var st Stats
	batches = slices.Clone(batches) // entries are dropped as they are released
	// parts[c][i] is column c of batch i, held until column c is gathered.
	var parts [][]arrow.Array
	defer func() {
		for _, b := range batches {
			if b != nil {
				b.Release()
			}
		}
		for _, col := range parts {
			for _, a := range col {
				if a != nil {
					a.Release()
				}
			}
		}
	}()
	if len(batches) == 0 {
		return nil, st, nil
	}
	schema := batches[0].Schema()
	for i, b := range batches[1:] {
		if !b.Schema().Equal(schema) {
			return nil, st, fmt.Errorf("dedupe: batch %d schema differs from batch 0", i+1)
		}
	}
	seqIdx := schema.FieldIndices(change.ColSeq)
	if len(seqIdx) != 1 {
		return nil, st, fmt.Errorf("dedupe: batch has no %s column", change.ColSeq)
	}

	offsets := make([]int64, len(batches))
	var total int64
	for i, b := range batches {
		offsets[i] = total
		total += b.NumRows()
	}
	var rows []int64
	if col, ok := intKey(schema, keys); ok {
		var err error
		rows, err = pick(batches, offsets, seqIdx[0], func(b arrow.RecordBatch) (keyFunc[int64], error) {
			switch a := b.Column(col).(type) {
			case *array.Int64:
				if a.NullN() > 0 {
					return nil, fmt.Errorf("key column %s has nulls", keys[0])
				}
				return func(r int) int64 { return a.Value(r) }, nil
			case *array.Int32:
				if a.NullN() > 0 {
					return nil, fmt.Errorf("key column %s has nulls", keys[0])
				}
				return func(r int) int64 { return int64(a.Value(r)) }, nil
			}
			return nil, fmt.Errorf("key column %s is %s", keys[0], b.Column(col).DataType())
		}, pickInts, &st)
		if err != nil {
			return nil, st, err
		}
	} else {
		var buf []byte
		var err error
		rows, err = pick(batches, offsets, seqIdx[0], func(b arrow.RecordBatch) (keyFunc[string], error) {
			enc, err := change.NewKeyEncoder(b, keys)
			if err != nil {
				return nil, err
			}
			return func(r int) string {
				buf = enc.Append(buf[:0], r)
				return string(buf)
			}, nil
		}, pickEncoded, &st)
		if err != nil {
			return nil, st, err
		}
	}
	st.Out = int64(len(rows))
	perColumn := func(int) []int64 { return rows }
	var keepOut arrow.Array
	if ki := schema.FieldIndices(change.ColKeep); len(ki) == 1 && hasPartialRows(batches, ki[0]) {
		// Some rows leave columns out: fill each from the latest earlier
		// change of its key in this run that has it (see coalesce).
		pc, keep, err := coalesce(mem, batches, schema, keys, offsets)
		if err != nil {
			return nil, st, err
		}
		keepOut = keep
		defer keepOut.Release()
		perColumn = func(c int) []int64 { return pc[c] }
		st.Out = int64(len(pc[0]))
		rows = pc[0]
	}

	// Hold the input column by column, so that each column can go as soon
	// as its part of the result exists.
	parts = make([][]arrow.Array, schema.NumFields())
	for c := range parts {
		parts[c] = make([]arrow.Array, len(batches))
		for i, b := range batches {
			parts[c][i] = b.Column(c)
			parts[c][i].Retain()
		}
	}
	for i, b := range batches {
		b.Release()
		batches[i] = nil
	}

	// Gather the winning rows: concatenate the batches column by column and
	// take by global row index.
	ctx := compute.WithAllocator(context.Background(), mem)
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for c := range cols {
		if keepOut != nil && schema.Field(c).Name == change.ColKeep {
			keepOut.Retain()
			cols[c] = keepOut
			continue
		}
		var whole arrow.Array
		if len(parts[c]) == 1 {
			whole = parts[c][0]
			whole.Retain()
		} else {
			var err error
			if whole, err = array.Concatenate(parts[c], mem); err != nil {
				return nil, st, fmt.Errorf("dedupe: concatenate %s: %w", schema.Field(c).Name, err)
			}
		}
		for i, a := range parts[c] {
			a.Release()
			parts[c][i] = nil
		}
		idx := perColumn(c)
		if int64(len(idx)) == total && isIdentity(idx) {
			// Every row wins, in order (a full load without repeated
			// keys, read in key order): the concatenation is the result.
			cols[c] = whole
			continue
		}
		if taken, ok := gatherVarBinary(mem, whole, idx); ok {
			whole.Release()
			cols[c] = taken
			continue
		}
		ib := array.NewInt64Builder(mem)
		ib.AppendValues(idx, nil)
		indices := ib.NewArray()
		ib.Release()
		taken, err := compute.TakeArray(ctx, whole, indices)
		whole.Release()
		indices.Release()
		if err != nil {
			return nil, st, fmt.Errorf("dedupe: take %s: %w", schema.Field(c).Name, err)
		}
		cols[c] = taken
	}
	return array.NewRecordBatch(schema, cols, int64(len(rows))), st, nil
}
