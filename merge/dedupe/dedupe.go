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
	"bytes"
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

type winner struct {
	key   []byte
	seq   []byte
	batch int32
	row   int32
}

// Latest returns one record holding, for every key that occurs in batches,
// the change row with the greatest _seq, sorted by key. All batches must have
// the same schema, which must contain the key columns and the system columns.
// Batches are borrowed: Latest neither retains nor releases them. The caller
// owns the result and must release it. With no input rows the result is an
// empty record of the common schema (or nil, nil when batches is empty).
func Latest(mem memory.Allocator, batches []arrow.RecordBatch, keys []string) (arrow.RecordBatch, Stats, error) {
	var st Stats
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

	index := make(map[string]int, 1024)
	var wins []winner
	var keyBuf []byte
	for bi, b := range batches {
		enc, err := change.NewKeyEncoder(b, keys)
		if err != nil {
			return nil, st, fmt.Errorf("dedupe: %w", err)
		}
		seqs, ok := b.Column(seqIdx[0]).(*array.Binary)
		if !ok {
			return nil, st, fmt.Errorf("dedupe: %s is %s, want binary", change.ColSeq, b.Column(seqIdx[0]).DataType())
		}
		n := int(b.NumRows())
		st.In += int64(n)
		for r := 0; r < n; r++ {
			keyBuf = enc.Append(keyBuf[:0], r)
			seq := seqs.Value(r)
			if w, ok := index[string(keyBuf)]; ok {
				if change.CompareSeq(seq, wins[w].seq) >= 0 {
					wins[w].seq, wins[w].batch, wins[w].row = seq, int32(bi), int32(r)
				}
				continue
			}
			k := bytes.Clone(keyBuf)
			index[string(k)] = len(wins)
			wins = append(wins, winner{key: k, seq: seq, batch: int32(bi), row: int32(r)})
		}
	}
	st.Out = int64(len(wins))
	slices.SortFunc(wins, func(a, b winner) int { return bytes.Compare(a.key, b.key) })

	// Gather the winning rows: concatenate the batches column by column and
	// take by global row index.
	offsets := make([]int64, len(batches))
	var total int64
	for i, b := range batches {
		offsets[i] = total
		total += b.NumRows()
	}
	ib := array.NewInt64Builder(mem)
	defer ib.Release()
	ib.Reserve(len(wins))
	for _, w := range wins {
		ib.UnsafeAppend(offsets[w.batch] + int64(w.row))
	}
	indices := ib.NewArray()
	defer indices.Release()

	ctx := compute.WithAllocator(context.Background(), mem)
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(batches))
	for c := range cols {
		for i, b := range batches {
			parts[i] = b.Column(c)
		}
		var whole arrow.Array
		if len(parts) == 1 {
			whole = parts[0]
			whole.Retain()
		} else {
			var err error
			if whole, err = array.Concatenate(parts, mem); err != nil {
				return nil, st, fmt.Errorf("dedupe: concatenate %s: %w", schema.Field(c).Name, err)
			}
		}
		taken, err := compute.TakeArray(ctx, whole, indices)
		whole.Release()
		if err != nil {
			return nil, st, fmt.Errorf("dedupe: take %s: %w", schema.Field(c).Name, err)
		}
		cols[c] = taken
	}
	return array.NewRecordBatch(schema, cols, int64(len(wins))), st, nil
}
