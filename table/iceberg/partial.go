package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	iceio "github.com/apache/iceberg-go/io"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table/plan"
)

// fillKept returns changes with every column that a written row left out
// (its change.ColKeep bit set) replaced by the value of the key's stored
// row, as p found it; a key without a live row keeps NULL there (the plan
// counts those rows, KeptMissing). Only the rows at idx are written, so
// only they are filled. The caller releases the result; changes is
// borrowed.
func (x *Txn) fillKept(ctx context.Context, fs iceio.IO, changes arrow.RecordBatch, idx *array.Int64, p *plan.Plan) (arrow.RecordBatch, error) {
	ki := changes.Schema().FieldIndices(change.ColKeep)
	if len(ki) == 0 {
		changes.Retain()
		return changes, nil
	}
	keep := changes.Column(ki[0]).(*array.Binary)
	var user []int // schema index of user column c (bit c)
	for i, f := range changes.Schema().Fields() {
		if !change.IsSystemColumn(f.Name) {
			user = append(user, i)
		}
	}
	// need[c] lists the change rows whose user column c comes from storage.
	need := make([][]int, len(user))
	byFile := map[string][]int{}    // data file → change rows to read from it
	storedAt := make(map[int]int64) // change row → position of its stored row
	for _, i64 := range idx.Int64Values() {
		i := int(i64)
		if keep.IsNull(i) || len(keep.Value(i)) == 0 {
			continue
		}
		at, found := p.StoredAt(i)
		if !found {
			continue
		}
		bits := keep.Value(i)
		any := false
		for c := range user {
			if c/8 < len(bits) && bits[c/8]&(1<<(c%8)) != 0 {
				need[c] = append(need[c], i)
				any = true
			}
		}
		if any {
			byFile[at.File] = append(byFile[at.File], i)
			storedAt[i] = at.Pos
		}
	}
	if len(byFile) == 0 {
		changes.Retain()
		return changes, nil
	}
	var names []string
	for c, rows := range need {
		if len(rows) > 0 {
			names = append(names, changes.Schema().Field(user[c]).Name)
		}
	}
	// stored[name][i] is the stored value of column name for change row i,
	// gathered as one array per column in the order of the rows read.
	order := []int{} // change rows in the order their stored values are read
	parts := map[string][]arrow.Array{}
	defer func() {
		for _, ps := range parts {
			for _, a := range ps {
				a.Release()
			}
		}
	}()
	paths := make([]string, 0, len(byFile))
	for p := range byFile {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	cctx := compute.WithAllocator(ctx, x.t.mem)
	for _, path := range paths {
		rows := byFile[path]
		cols, err := x.readRows(cctx, fs, path, names, rows, storedAt, changes.Schema())
		if err != nil {
			return nil, fmt.Errorf("read stored values from %s: %w", path, err)
		}
		for j, name := range names {
			parts[name] = append(parts[name], cols[j])
		}
		order = append(order, rows...)
	}
	pos := make(map[int]int, len(order)) // change row → index among stored values
	for k, i := range order {
		pos[i] = k
	}
	n := int(changes.NumRows())
	out := make([]arrow.Array, changes.NumCols())
	defer func() {
		for _, a := range out {
			if a != nil {
				a.Release()
			}
		}
	}()
	for f := range out {
		col := changes.Column(f)
		c := slices.Index(user, f)
		if c < 0 || len(need[c]) == 0 {
			col.Retain()
			out[f] = col
			continue
		}
		stored, err := array.Concatenate(parts[changes.Schema().Field(f).Name], x.t.mem)
		if err != nil {
			return nil, err
		}
		both, err := array.Concatenate([]arrow.Array{col, stored}, x.t.mem)
		stored.Release()
		if err != nil {
			return nil, err
		}
		ib := array.NewInt64Builder(x.t.mem)
		for i := 0; i < n; i++ {
			ib.Append(int64(i))
		}
		take := ib.NewInt64Array()
		ib.Release()
		vals := take.Int64Values()
		for _, i := range need[c] {
			vals[i] = int64(n + pos[i])
		}
		filled, err := compute.TakeArray(cctx, both, take)
		both.Release()
		take.Release()
		if err != nil {
			return nil, err
		}
		out[f] = filled
	}
	rec := array.NewRecordBatch(changes.Schema(), out, int64(n))
	return rec, nil
}

// readRows reads columns names of the stored rows of change rows rows (all
// in data file path, at the positions storedAt gives), cast to the types
// of schema. A column the file lacks (added to the table after the file
// was written) is NULL in its rows.
func (x *Txn) readRows(ctx context.Context, fs iceio.IO, path string, names []string, rows []int, storedAt map[int]int64, schema *arrow.Schema) ([]arrow.Array, error) {
	pr, err := openParquet(fs, path)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, x.t.mem)
	if err != nil {
		return nil, err
	}
	var leaves []int
	at := make([]int, len(names)) // column of the records read, -1: not in the file
	for j, name := range names {
		at[j] = -1
		if i := pr.MetaData().Schema.ColumnIndexByName(name); i >= 0 {
			at[j] = len(leaves)
			leaves = append(leaves, i)
		}
	}
	if len(leaves) == 0 {
		out := make([]arrow.Array, len(names))
		for j, name := range names {
			out[j] = array.MakeArrayOfNull(x.t.mem, schema.Field(schema.FieldIndices(name)[0]).Type, len(rows))
		}
		return out, nil
	}
	rr, err := fr.GetRecordReader(ctx, leaves, nil)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for rr.Next() {
		r := rr.RecordBatch()
		r.Retain()
		recs = append(recs, r)
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	ib := array.NewInt64Builder(x.t.mem)
	for _, i := range rows {
		ib.Append(storedAt[i])
	}
	positions := ib.NewInt64Array()
	ib.Release()
	defer positions.Release()
	out := make([]arrow.Array, 0, len(names))
	for j, name := range names {
		want := schema.Field(schema.FieldIndices(name)[0]).Type
		if at[j] < 0 {
			out = append(out, array.MakeArrayOfNull(x.t.mem, want, len(rows)))
			continue
		}
		chunks := make([]arrow.Array, len(recs))
		for k, r := range recs {
			chunks[k] = r.Column(at[j])
		}
		whole, err := array.Concatenate(chunks, x.t.mem)
		if err != nil {
			release(out)
			return nil, err
		}
		vals, err := compute.TakeArray(ctx, whole, positions)
		whole.Release()
		if err != nil {
			release(out)
			return nil, err
		}
		if !arrow.TypeEqual(vals.DataType(), want) {
			cast, err := compute.CastToType(ctx, vals, want)
			vals.Release()
			if err != nil {
				release(out)
				return nil, err
			}
			vals = cast
		}
		out = append(out, vals)
	}
	return out, nil
}

func release(as []arrow.Array) {
	for _, a := range as {
		a.Release()
	}
}
