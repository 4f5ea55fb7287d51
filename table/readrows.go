package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// FileColumns is how a read by keys turns the leaf columns of a Parquet
// data file into batches of a table's columns, for ReadKeyRows to read
// the matched rows only.
type FileColumns struct {
	// Leaves are the leaf column indexes of the file to read, in the
	// order of the columns Conform gets.
	Leaves []int
	// Conform returns the table's batch (the caller releases it) of rec
	// (borrowed), whose columns are the leaves Leaves, in order, of the
	// Arrow types pqarrow reads them as with default ArrowReadProperties.
	Conform func(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error)
}

// rowReader reads chosen rows of the leaf columns of a Parquet file as
// Arrow arrays, without building Arrow arrays of the other rows
// (readValues).
type rowReader struct {
	pr    *file.Reader
	types []arrow.DataType // Arrow type of each leaf of FileColumns.Leaves
}

// newRowReader returns a rowReader of the leaves of pr, or nil when one of
// them is not a flat (top-level, not repeated) column of a type it reads;
// those files are read by whole row groups.
func newRowReader(pr *file.Reader, leaves []int) *rowReader {
	sch := pr.MetaData().Schema
	m, err := pqarrow.NewSchemaManifest(sch, pr.MetaData().KeyValueMetadata(), &pqarrow.ArrowReadProperties{})
	if err != nil {
		return nil
	}
	// The types of the Parquet schema alone: where an Arrow schema stored
	// in the file gives another (a timestamp in seconds, a date64, a
	// dictionary), pqarrow converts the values, which readValues does not.
	plain, err := pqarrow.NewSchemaManifest(sch, nil, &pqarrow.ArrowReadProperties{})
	if err != nil {
		return nil
	}
	types := make([]arrow.DataType, len(leaves))
	for i, leaf := range leaves {
		if leaf < 0 || leaf >= sch.NumColumns() || sch.Column(leaf).MaxRepetitionLevel() > 0 {
			return nil
		}
		f, err := m.GetColumnField(leaf)
		if err != nil || m.GetParent(f) != nil || !readsAs(sch.Column(leaf).PhysicalType(), f.Field.Type) {
			return nil
		}
		if pf, err := plain.GetColumnField(leaf); err != nil || !arrow.TypeEqual(pf.Field.Type, f.Field.Type) {
			return nil
		}
		types[i] = f.Field.Type
	}
	return &rowReader{pr: pr, types: types}
}

// readsAs reports whether readLeaf reads a column of physical type t
// as Arrow type dt.
func readsAs(t parquet.Type, dt arrow.DataType) bool {
	switch t {
	case parquet.Types.Boolean:
		return dt.ID() == arrow.BOOL
	case parquet.Types.Int32:
		switch dt.ID() {
		case arrow.INT32, arrow.UINT32, arrow.DATE32, arrow.TIME32, arrow.DECIMAL128:
			return true
		}
	case parquet.Types.Int64:
		switch dt.ID() {
		case arrow.INT64, arrow.UINT64, arrow.TIMESTAMP, arrow.TIME64, arrow.DURATION, arrow.DECIMAL128:
			return true
		}
	case parquet.Types.Float:
		return dt.ID() == arrow.FLOAT32
	case parquet.Types.Double:
		return dt.ID() == arrow.FLOAT64
	case parquet.Types.ByteArray:
		switch dt.ID() {
		case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
			return true
		}
	case parquet.Types.FixedLenByteArray:
		switch dt.ID() {
		case arrow.FIXED_SIZE_BINARY, arrow.DECIMAL128:
			return true
		}
	}
	return false
}

// read returns the rows rows (increasing, relative to row group rg) of
// the leaves as a batch of them (the caller releases it).
func (rr *rowReader) read(mem memory.Allocator, rg int, leaves []int, rows []int64) (arrow.RecordBatch, error) {
	rgr := rr.pr.RowGroup(rg)
	cols := make([]arrow.Array, 0, len(leaves))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	fields := make([]arrow.Field, len(leaves))
	for i, leaf := range leaves {
		c, err := rr.readLeaf(mem, rg, rgr, leaf, rr.types[i], rows)
		if err != nil {
			return nil, fmt.Errorf("row group %d: column %s: %w", rg, rr.pr.MetaData().Schema.Column(leaf).Name(), err)
		}
		cols = append(cols, c)
		fields[i] = arrow.Field{Name: rr.pr.MetaData().Schema.Column(leaf).Name(), Type: rr.types[i], Nullable: true}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(rows))), nil
}

// readLeaf reads the rows rows of leaf column leaf of a row group as an
// array of type dt (readsAs): values are appended to a builder of the
// column's physical type, whose array is then given type dt (of the same
// layout), or to one of dt for a decimal.
func (rr *rowReader) readLeaf(mem memory.Allocator, rg int, rgr *file.RowGroupReader, leaf int, dt arrow.DataType, rows []int64) (arrow.Array, error) {
	ccr, err := rgr.Column(leaf)
	if err != nil {
		return nil, err
	}
	defer ccr.Close()
	starts := pageStarts(rr.pr, rg, rgr, leaf)
	var b array.Builder
	switch r := ccr.(type) {
	case *file.BooleanColumnChunkReader:
		bb := array.NewBooleanBuilder(mem)
		b, err = bb, readValues[bool](r, starts, rows, bb, bb.Append)
	case *file.Int32ColumnChunkReader:
		if d, ok := dt.(*arrow.Decimal128Type); ok {
			db := array.NewDecimal128Builder(mem, d)
			b, err = db, readValues[int32](r, starts, rows, db, func(v int32) { db.Append(decimal128.FromI64(int64(v))) })
			break
		}
		ib := array.NewInt32Builder(mem)
		b, err = ib, readValues[int32](r, starts, rows, ib, ib.Append)
	case *file.Int64ColumnChunkReader:
		if d, ok := dt.(*arrow.Decimal128Type); ok {
			db := array.NewDecimal128Builder(mem, d)
			b, err = db, readValues[int64](r, starts, rows, db, func(v int64) { db.Append(decimal128.FromI64(v)) })
			break
		}
		ib := array.NewInt64Builder(mem)
		b, err = ib, readValues[int64](r, starts, rows, ib, ib.Append)
	case *file.Float32ColumnChunkReader:
		fb := array.NewFloat32Builder(mem)
		b, err = fb, readValues[float32](r, starts, rows, fb, fb.Append)
	case *file.Float64ColumnChunkReader:
		fb := array.NewFloat64Builder(mem)
		b, err = fb, readValues[float64](r, starts, rows, fb, fb.Append)
	case *file.ByteArrayColumnChunkReader:
		storage := arrow.BinaryTypes.Binary
		if dt.ID() == arrow.LARGE_STRING || dt.ID() == arrow.LARGE_BINARY {
			storage = arrow.BinaryTypes.LargeBinary
		}
		bb := array.NewBinaryBuilder(mem, storage)
		b, err = bb, readValues[parquet.ByteArray](r, starts, rows, bb, func(v parquet.ByteArray) { bb.Append(v) })
	case *file.FixedLenByteArrayColumnChunkReader:
		if d, ok := dt.(*arrow.Decimal128Type); ok {
			db := array.NewDecimal128Builder(mem, d)
			b, err = db, readValues[parquet.FixedLenByteArray](r, starts, rows, db, func(v parquet.FixedLenByteArray) { db.Append(decimalFromBigEndian(v)) })
			break
		}
		fb := array.NewFixedSizeBinaryBuilder(mem, dt.(*arrow.FixedSizeBinaryType))
		b, err = fb, readValues[parquet.FixedLenByteArray](r, starts, rows, fb, func(v parquet.FixedLenByteArray) { fb.Append(v) })
	default:
		return nil, fmt.Errorf("column is %s", ccr.Type())
	}
	defer b.Release()
	if err != nil {
		return nil, err
	}
	return withType(b.NewArray(), dt), nil
}

// rowBatch is how many values readValues decodes at a time.
const rowBatch = 1024

// pageReader is a typed column chunk reader of the Parquet file package
// (file.Int32ColumnChunkReader, …) as readValues uses it.
type pageReader[T any] interface {
	ReadBatchInPage(batchSize int64, values []T, defLvls, repLvls []int16) (int64, int, error)
	seeker
	Descriptor() *schema.Column
}

// readValues appends the values of the rows rows (increasing, relative to
// the row group) of a flat column, read through r, to b (appendValue; a
// null as b.AppendNull), decoding rowBatch values at a time, within a
// page, and appending only those of the rows asked (ReadBatchInPage: the
// values need not be copied before they are appended). A page without a
// row asked is not decoded when the column has an offset index (starts:
// the first row of each page; nil without one); a run of more than
// rowBatch rows without one is skipped (Skip).
func readValues[T any](r pageReader[T], starts []int64, rows []int64, b array.Builder, appendValue func(T)) error {
	b.Reserve(len(rows))
	maxDef := r.Descriptor().MaxDefinitionLevel()
	vals := make([]T, rowBatch)
	var defs []int16
	if maxDef > 0 {
		defs = make([]int16, rowBatch)
	}
	pos := newPagePos(starts)
	for i := 0; i < len(rows); {
		next := rows[i]
		if err := pos.moveTo(r, next, rowBatch); err != nil {
			return err
		}
		cur := pos.cur
		levels, n, err := r.ReadBatchInPage(rowBatch, vals, defs, nil)
		if err != nil {
			return err
		}
		if levels == 0 {
			return fmt.Errorf("row %d: past the end", next)
		}
		if maxDef == 0 {
			for ; i < len(rows) && rows[i] < cur+levels; i++ {
				appendValue(vals[rows[i]-cur])
			}
		} else {
			vi := 0
			for l := range levels {
				null := defs[l] < maxDef
				if i < len(rows) && rows[i] == cur+l {
					if null {
						b.AppendNull()
					} else {
						appendValue(vals[vi])
					}
					i++
				}
				if !null {
					vi++
				}
			}
			if vi != n {
				return fmt.Errorf("decoded %d values for %d non-null levels", n, vi)
			}
		}
		pos.advance(levels)
	}
	return nil
}

// withType returns a (released) as an array of type dt, whose layout is
// a's.
func withType(a arrow.Array, dt arrow.DataType) arrow.Array {
	if arrow.TypeEqual(a.DataType(), dt) {
		return a
	}
	defer a.Release()
	d := array.NewData(dt, a.Len(), a.Data().Buffers(), nil, a.NullN(), a.Data().Offset())
	defer d.Release()
	return array.MakeFromData(d)
}

// decimalFromBigEndian is the decimal of a Parquet FIXED_LEN_BYTE_ARRAY
// decimal: big-endian two's complement.
func decimalFromBigEndian(b parquet.FixedLenByteArray) decimal128.Num {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return decimal128.FromBigInt(v)
}

// readConformed reads the rows rows[i] of each row group groups[i] (as
// read does) and conforms them (cols.Conform), one batch per row group;
// the caller releases them.
func (rr *rowReader) readConformed(ctx context.Context, mem memory.Allocator, groups []int, rows [][]int64, cols *FileColumns) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	for i, rg := range groups {
		rec, err := rr.read(mem, rg, cols.Leaves, rows[i])
		if err != nil {
			releaseBatches(out)
			return nil, err
		}
		conformed, err := cols.Conform(ctx, rec)
		rec.Release()
		if err != nil {
			releaseBatches(out)
			return nil, err
		}
		out = append(out, conformed)
	}
	return out, nil
}

// releaseBatches releases recs.
func releaseBatches(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// RowGroups returns the RowGroupReader that reads the leaves c.Leaves of
// pr by whole row groups, through pqarrow (batches of 64Ki rows, arrays
// from mem), and conforms each batch (c.Conform).
func (c *FileColumns) RowGroups(pr *file.Reader, mem memory.Allocator) RowGroupReader {
	return func(ctx context.Context, rowGroups []int, fn func(arrow.RecordBatch) error) error {
		fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem)
		if err != nil {
			return err
		}
		rr, err := fr.GetRecordReader(ctx, c.Leaves, rowGroups)
		if err != nil {
			return err
		}
		defer rr.Release()
		for rr.Next() {
			rec, err := c.Conform(ctx, rr.RecordBatch())
			if err != nil {
				return err
			}
			err = fn(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
		if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	}
}
