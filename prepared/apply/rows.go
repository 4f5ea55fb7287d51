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
	"github.com/lakemerge/lakemerge/table"
)

// whole reports whether every insert and update of changes carries its
// whole row (no column marked kept in _keep): the transform needs whole
// rows.
func whole(changes arrow.RecordBatch) bool {
	idx := changes.Schema().FieldIndices(change.ColKeep)
	if len(idx) == 0 {
		return true
	}
	keep := changes.Column(idx[0]).(*array.Binary)
	ops := changes.Column(changes.Schema().FieldIndices(change.ColOp)[0]).(*array.Int8)
	for i := 0; i < keep.Len(); i++ {
		if keep.IsNull(i) || change.Op(ops.Value(i)) == change.OpDelete {
			continue
		}
		for _, b := range keep.Value(i) {
			if b != 0 {
				return false
			}
		}
	}
	return true
}

// readBase reads every live row of the base table as a change set: one
// upsert per key with the row's _seq, sorted by key (info.Columns, then
// _op and _seq). The caller releases it. It lets go of the rows read as
// soon as the sorted set holds them (dedupe.Consume).
func readBase(ctx context.Context, mem memory.Allocator, base Base, info table.Info, keys []string) (arrow.RecordBatch, error) {
	tbl, err := base.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the base table: %w", err)
	}
	batches, err := func() ([]arrow.RecordBatch, error) {
		defer tbl.Release()
		after, err := base.Describe(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe the base table: %w", err)
		}
		if BaseDigest(after.Bookmark) != BaseDigest(info.Bookmark) {
			return nil, fmt.Errorf("read the base table: it changed while it was read: %w", table.ErrConflict)
		}
		schema := change.Schema(info.Columns)
		tr := array.NewTableReader(tbl, 64<<10)
		defer tr.Release()
		var batches []arrow.RecordBatch
		for tr.Next() {
			b, err := asChanges(mem, tr.RecordBatch(), schema)
			if err != nil {
				releaseAll(batches)
				return nil, fmt.Errorf("read the base table: %w", err)
			}
			batches = append(batches, b)
		}
		if err := tr.Err(); err != nil {
			releaseAll(batches)
			return nil, fmt.Errorf("read the base table: %w", err)
		}
		if len(batches) == 0 {
			batches = append(batches, emptyBatch(mem, schema))
		}
		return batches, nil
	}()
	if err != nil {
		return nil, err
	}
	out, _, err := dedupe.Consume(mem, batches, keys)
	if err != nil {
		return nil, fmt.Errorf("sort the base table's rows by key: %w", err)
	}
	return out, nil
}

func releaseAll(bs []arrow.RecordBatch) {
	for _, b := range bs {
		b.Release()
	}
}

// asChanges turns rows of a table (user columns and _seq) into upserts
// of schema (a change schema; a column the rows lack is NULL); the caller
// releases the result.
func asChanges(mem memory.Allocator, rows arrow.RecordBatch, schema *arrow.Schema) (arrow.RecordBatch, error) {
	n := int(rows.NumRows())
	cols := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, f := range schema.Fields() {
		if f.Name == change.ColOp {
			b := array.NewInt8Builder(mem)
			b.Reserve(n)
			for range n {
				b.UnsafeAppend(int8(change.OpUpdate))
			}
			cols = append(cols, b.NewArray())
			b.Release()
			continue
		}
		idx := rows.Schema().FieldIndices(f.Name)
		if len(idx) == 0 && f.Name != change.ColSeq {
			cols = append(cols, array.MakeArrayOfNull(mem, f.Type, n)) // a column added since
			continue
		}
		if len(idx) != 1 {
			return nil, fmt.Errorf("the rows have no column %s", f.Name)
		}
		c, err := castTo(mem, rows.Column(idx[0]), f.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		cols = append(cols, c)
	}
	return array.NewRecordBatch(schema, cols, int64(n)), nil
}

// castTo returns a (retained or new) array of a with type t.
func castTo(mem memory.Allocator, a arrow.Array, t arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(a.DataType(), t) {
		a.Retain()
		return a, nil
	}
	return compute.CastToType(compute.WithAllocator(context.Background(), mem), a, t)
}

// emptyBatch is a batch of schema without rows.
func emptyBatch(mem memory.Allocator, schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		cols[i] = array.MakeArrayOfNull(mem, f.Type, 0)
	}
	rec := array.NewRecordBatch(schema, cols, 0)
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// mirrorChanges turns a curated batch (transform.Program.Transform's
// result) into the changes of a mirror table with columns cols: the
// curated row as an upsert where it passes, a delete of its key where it
// does not, each with the order key gen ‖ the base change's _seq. Columns
// of cols the batch lacks are NULL. The caller releases the result.
func mirrorChanges(mem memory.Allocator, curated arrow.RecordBatch, cols []change.Column, gen uint32) (arrow.RecordBatch, error) {
	sch := curated.Schema()
	col := func(name string) (arrow.Array, error) {
		idx := sch.FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("the curated batch has no column %s", name)
		}
		return curated.Column(idx[0]), nil
	}
	pass, err := col(transform.ColPass)
	if err != nil {
		return nil, err
	}
	opc, err := col(change.ColOp)
	if err != nil {
		return nil, err
	}
	seqc, err := col(change.ColSeq)
	if err != nil {
		return nil, err
	}
	passes, ops, seqs := pass.(*array.Boolean), opc.(*array.Int8), seqc.(*array.Binary)
	n := int(curated.NumRows())
	schema := change.Schema(cols)
	out := make([]arrow.Array, 0, schema.NumFields())
	defer func() {
		for _, a := range out {
			a.Release()
		}
	}()
	for _, c := range cols {
		idx := sch.FieldIndices(c.Name)
		if len(idx) == 0 {
			out = append(out, array.MakeArrayOfNull(mem, c.Type, n))
			continue
		}
		a, err := castTo(mem, curated.Column(idx[0]), c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		out = append(out, a)
	}
	ob := array.NewInt8Builder(mem)
	defer ob.Release()
	sb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer sb.Release()
	ob.Reserve(n)
	sb.Reserve(n)
	prefix := genPrefix(gen)
	buf := make([]byte, 0, 64)
	for i := range n {
		op := change.Op(ops.Value(i))
		if !passes.IsValid(i) || !passes.Value(i) {
			op = change.OpDelete
		}
		ob.UnsafeAppend(int8(op))
		buf = append(append(buf[:0], prefix...), seqs.Value(i)...)
		sb.Append(buf)
	}
	out = append(out, ob.NewArray(), sb.NewArray())
	return array.NewRecordBatch(schema, out, int64(n)), nil
}
