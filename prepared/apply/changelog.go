package apply

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/merge/dedupe"
	"github.com/lakemerge/lakemerge/prepared/transform"
)

// The columns a changelog table adds (prepared.ChangelogColumns) and its
// key: a changelog row is identified by its order key, the base change's
// _seq, which is unique among the changes of a base table.
const (
	colOp         = "op"
	colCommitTime = "commit_time"
	colOrderKey   = "order_key"
)

// ChangelogKeys is the key of a changelog table's writer.
func ChangelogKeys() []string { return []string{colOrderKey} }

// changelogChanges turns a curated batch into the rows a changelog table
// appends, with columns cols (the curated columns, then op, commit_time
// and order_key): a delete always (its curated row is computed from what
// the change carries: the key, and the before image where the source sends
// one), an insert or update only when it passes where. op is the base
// change's I, U or D, or catchUp for every row when catchUp is not ""
// (rows read from the base table, whose op is not known); commit_time is
// the change's _ts (null when the batch has none); order_key is the base
// change's _seq. Each row is an insert of the writer with the order key
// gen ‖ _seq, sorted by order_key. The caller releases the result.
func changelogChanges(mem memory.Allocator, curated arrow.RecordBatch, cols []change.Column, gen uint32, catchUp string) (arrow.RecordBatch, error) {
	pass, ops, seqs, err := systemColumns(curated)
	if err != nil {
		return nil, err
	}
	ts, _ := column(curated, change.ColTS).(*array.Timestamp)
	var rows []int
	for i := range int(curated.NumRows()) {
		if change.Op(ops.Value(i)) == change.OpDelete || (pass.IsValid(i) && pass.Value(i)) {
			rows = append(rows, i)
		}
	}
	n := len(rows)
	idxB := array.NewInt32Builder(mem)
	defer idxB.Release()
	for _, i := range rows {
		idxB.Append(int32(i))
	}
	idx := idxB.NewArray()
	defer idx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	schema := change.Schema(cols)
	out := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, a := range out {
			a.Release()
		}
	}()
	for _, c := range cols {
		switch c.Name {
		case colOp:
			sb := array.NewStringBuilder(mem)
			for _, i := range rows {
				if catchUp != "" {
					sb.Append(catchUp)
				} else {
					sb.Append(change.Op(ops.Value(i)).String())
				}
			}
			out = append(out, sb.NewArray())
			sb.Release()
			continue
		case colCommitTime:
			tb := array.NewTimestampBuilder(mem, c.Type.(*arrow.TimestampType))
			for _, i := range rows {
				if ts != nil && ts.IsValid(i) {
					tb.Append(ts.Value(i))
				} else {
					tb.AppendNull()
				}
			}
			out = append(out, tb.NewArray())
			tb.Release()
			continue
		case colOrderKey:
			bb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			for _, i := range rows {
				bb.Append(seqs.Value(i))
			}
			out = append(out, bb.NewArray())
			bb.Release()
			continue
		}
		src := column(curated, c.Name)
		if src == nil {
			out = append(out, array.MakeArrayOfNull(mem, c.Type, n))
			continue
		}
		a, err := castTo(mem, src, c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		taken, err := compute.TakeArray(ctx, a, idx)
		a.Release()
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		out = append(out, taken)
	}
	ob := array.NewInt8Builder(mem)
	defer ob.Release()
	sqb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer sqb.Release()
	prefix := genPrefix(gen)
	buf := make([]byte, 0, 64)
	for _, i := range rows {
		ob.Append(int8(change.OpInsert))
		buf = append(append(buf[:0], prefix...), seqs.Value(i)...)
		sqb.Append(buf)
	}
	out = append(out, ob.NewArray(), sqb.NewArray())
	rec := array.NewRecordBatch(schema, out, int64(n))
	sorted, _, err := dedupe.Consume(mem, []arrow.RecordBatch{rec}, ChangelogKeys())
	if err != nil {
		return nil, fmt.Errorf("sort the changelog rows by order key: %w", err)
	}
	return sorted, nil
}

// column is rec's column name, or nil when rec has none (or several).
func column(rec arrow.RecordBatch, name string) arrow.Array {
	if idx := rec.Schema().FieldIndices(name); len(idx) == 1 {
		return rec.Column(idx[0])
	}
	return nil
}

// systemColumns are the columns of a curated batch that every mode reads:
// whether the row passes where, the change's op and its _seq.
func systemColumns(curated arrow.RecordBatch) (*array.Boolean, *array.Int8, *array.Binary, error) {
	pass, _ := column(curated, transform.ColPass).(*array.Boolean)
	ops, _ := column(curated, change.ColOp).(*array.Int8)
	seqs, _ := column(curated, change.ColSeq).(*array.Binary)
	if pass == nil || ops == nil || seqs == nil {
		return nil, nil, nil, fmt.Errorf("the curated batch lacks %s, %s or %s", transform.ColPass, change.ColOp, change.ColSeq)
	}
	return pass, ops, seqs, nil
}
