package table

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// rowsFileRows is how many rows rowsFile writes: row groups of 1000,
// 1000 and 500 rows.
const rowsFileRows = 2500

// rowsFile writes a Parquet file of rowsFileRows rows of every flat column
// type the stored tables use — with nulls, dictionary and plain encoded
// strings, decimals of 4 and 16 bytes, a timestamp, a date, a time — and
// a list column when nested, and when arrowSchema a large string with the
// Arrow schema stored in the file (a type pqarrow takes from that schema,
// not from the Parquet one: a file read whole), in pages of about 64 rows, key id = row/2
// sorted, and returns its reader and the Arrow schema written.
func rowsFile(t *testing.T, mem memory.Allocator, pageIndex, decimalAsInt, nested, arrowSchema bool) (*file.Reader, *arrow.Schema) {
	t.Helper()
	fields := []arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.Binary},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "tod", Type: arrow.FixedWidthTypes.Time64us},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 9, Scale: 2}, Nullable: true},
		{Name: "big", Type: &arrow.Decimal128Type{Precision: 30, Scale: 4}},
		{Name: "code", Type: &arrow.FixedSizeBinaryType{ByteWidth: 4}, Nullable: true},
	}
	if nested {
		fields = append(fields, arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true})
	}
	if arrowSchema {
		fields = append(fields, arrow.Field{Name: "long", Type: arrow.BinaryTypes.LargeString})
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	statuses := []string{"open", "paid", "shipped", "cancelled"}
	for r := range rowsFileRows {
		b.Field(0).(*array.Int64Builder).Append(int64(r / 2))
		if r%7 == 3 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int32Builder).Append(int32(r*31 - 5000))
		}
		b.Field(2).(*array.Uint32Builder).Append(uint32(r) * 2654435761)
		b.Field(3).(*array.Float32Builder).Append(float32(r) / 3)
		if r%5 == 1 {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.Float64Builder).Append(float64(r) * 1.5)
		}
		if r%11 == 0 {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.BooleanBuilder).Append(r%3 == 0)
		}
		if r%13 == 0 {
			b.Field(6).AppendNull()
		} else {
			b.Field(6).(*array.StringBuilder).Append(statuses[r%len(statuses)])
		}
		b.Field(7).(*array.BinaryBuilder).Append([]byte(fmt.Sprintf("note %d of row %d", r*r, r)))
		b.Field(8).(*array.Date32Builder).Append(arrow.Date32(19000 + r/10))
		if r%9 == 2 {
			b.Field(9).AppendNull()
		} else {
			b.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000_000 + int64(r)*1_000_003))
		}
		b.Field(10).(*array.Time64Builder).Append(arrow.Time64(int64(r) * 7_000_001))
		if r%6 == 5 {
			b.Field(11).AppendNull()
		} else {
			b.Field(11).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(r*1234 - 900_000)))
		}
		b.Field(12).(*array.Decimal128Builder).Append(decimal128.New(int64(r%4-2), uint64(r)*0x9e3779b97f4a7c15))
		if r%8 == 7 {
			b.Field(13).AppendNull()
		} else {
			b.Field(13).(*array.FixedSizeBinaryBuilder).Append([]byte{byte(r), byte(r >> 8), 0xab, byte(r % 7)})
		}
		if nested {
			lb := b.Field(14).(*array.ListBuilder)
			if r%4 == 0 {
				lb.AppendNull()
			} else {
				lb.Append(true)
				for k := range r % 3 {
					lb.ValueBuilder().(*array.Int32Builder).Append(int32(r + k))
				}
			}
		}
	}
	if arrowSchema {
		n := len(fields)
		for r := range rowsFileRows {
			b.Field(n - 1).(*array.LargeStringBuilder).Append(fmt.Sprintf("long %d", r))
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	awp := pqarrow.DefaultWriterProps()
	if arrowSchema {
		awp = pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())
	}
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1000), parquet.WithBatchSize(64),
		parquet.WithDataPageSize(256), parquet.WithPageIndexEnabled(pageIndex),
		parquet.WithDictionaryFor("note", false), parquet.WithStoreDecimalAsInteger(decimalAsInt))
	w, err := pqarrow.NewFileWriter(schema, &buf, props, awp)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pr, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if pr.NumRowGroups() != 3 {
		t.Fatalf("%d row groups, want 3", pr.NumRowGroups())
	}
	return pr, schema
}

// fileColumns returns the FileColumns reading every column of pr as a
// batch of schema, and the RowGroupReader that reads the same whole (as
// the Iceberg table reads its data files), counting its calls in calls.
func fileColumns(mem memory.Allocator, pr *file.Reader, schema *arrow.Schema, calls *int) (*FileColumns, RowGroupReader) {
	var leaves []int
	for l := range pr.MetaData().Schema.NumColumns() {
		leaves = append(leaves, l)
	}
	cols := &FileColumns{Leaves: leaves, Conform: func(_ context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
		// NewRecordBatch panics on a column of another type than schema's.
		return array.NewRecordBatch(schema, rec.Columns(), rec.NumRows()), nil
	}}
	whole := cols.RowGroups(pr, mem)
	read := func(ctx context.Context, rowGroups []int, fn func(arrow.RecordBatch) error) error {
		*calls++
		return whole(ctx, rowGroups, fn)
	}
	return cols, read
}

// concatColumns returns each column of recs (released) concatenated.
func concatColumns(t *testing.T, mem memory.Allocator, schema *arrow.Schema, recs []arrow.RecordBatch) []arrow.Array {
	t.Helper()
	defer releaseBatches(recs)
	out := make([]arrow.Array, schema.NumFields())
	for i := range out {
		var parts []arrow.Array
		for _, r := range recs {
			parts = append(parts, r.Column(i))
		}
		if len(parts) == 0 {
			out[i] = array.MakeArrayOfNull(mem, schema.Field(i).Type, 0)
			continue
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// rowsKeys returns a key batch of the ids of the rows rows (id = row/2).
func rowsKeys(mem memory.Allocator, rows []int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil))
	defer b.Release()
	seen := map[int64]bool{}
	for _, r := range rows {
		if !seen[r/2] {
			seen[r/2] = true
			b.Field(0).(*array.Int64Builder).Append(r / 2)
		}
	}
	return b.NewRecordBatch()
}

// TestReadKeyRowsMatchedRowsOnly: ReadKeyRows with FileColumns (reading
// the matched rows of each column only) returns exactly what it returns
// reading the row groups that hold a match whole: every flat column type
// with nulls, dictionary and plain strings, decimals stored as integers
// and as fixed-length bytes, keys at the first and last row of every page
// of several columns and of every row group, deleted rows among them, in
// three row groups, with and without an offset index; a file with a list
// column, or with a type pqarrow takes from the Arrow schema stored in
// the file, is read whole (the RowGroupReader), with the same result.
func TestReadKeyRowsMatchedRowsOnly(t *testing.T) {
	for _, c := range []struct {
		name                                       string
		pageIndex, decimalAsInt, list, arrowSchema bool
	}{
		{"offset index", true, false, false, false},
		{"no offset index", false, true, false, false},
		{"decimals as integers", true, true, false, false},
		{"list column", true, false, true, false},
		{"stored Arrow schema", true, false, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			ctx := context.Background()
			pr, schema := rowsFile(t, mem, c.pageIndex, c.decimalAsInt, c.list, c.arrowSchema)
			defer pr.Close()
			// Rows at page boundaries: the page starts of a dictionary
			// string, a plain binary and a nullable decimal column (from a
			// file with an offset index: the same pages without one).
			withIndex, _ := rowsFile(t, mem, true, c.decimalAsInt, c.list, c.arrowSchema)
			var rows []int64
			var base int64
			for rg := range withIndex.NumRowGroups() {
				rgr := withIndex.RowGroup(rg)
				n := rgr.NumRows()
				rows = append(rows, base, base+n-1)
				for _, name := range []string{"status", "note", "amount"} {
					starts := pageStarts(withIndex, rg, rgr, withIndex.MetaData().Schema.ColumnIndexByName(name))
					if len(starts) < 4 {
						t.Fatalf("column %s of row group %d: %d pages, want several", name, rg, len(starts))
					}
					for _, s := range starts[1:] {
						rows = append(rows, base+s-1, base+s)
					}
				}
				base += n
			}
			withIndex.Close()
			rng := rand.New(rand.NewPCG(14, 1))
			for range 60 {
				rows = append(rows, rng.Int64N(rowsFileRows))
			}
			keys := rowsKeys(mem, rows)
			defer keys.Release()
			x, err := NewKeyIndex(keys, []string{"id"})
			if err != nil {
				t.Fatal(err)
			}
			// Deleted: a row of some matched keys, and a whole key.
			dead := []int64{rows[0], rows[3] | 1, rows[3] &^ 1, rows[10]}
			slices.Sort(dead)
			dead = slices.Compact(dead)

			var calls int
			cols, read := fileColumns(mem, pr, schema, &calls)
			whole, wcnt, err := ReadKeyRows(ctx, mem, pr, 0, x, dead, read, nil)
			if err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("whole read: RowGroupReader called %d times, want 1", calls)
			}
			calls = 0
			got, gcnt, err := ReadKeyRows(ctx, mem, pr, 0, x, dead, read, cols)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{false: 0, true: 1}[c.list || c.arrowSchema]; calls != want {
				t.Errorf("RowGroupReader called %d times, want %d", calls, want)
			}
			if gcnt != wcnt {
				t.Errorf("counts %+v, whole read %+v", gcnt, wcnt)
			}
			wantCols := concatColumns(t, mem, schema, whole)
			gotCols := concatColumns(t, mem, schema, got)
			defer func() {
				for i := range wantCols {
					wantCols[i].Release()
					gotCols[i].Release()
				}
			}()
			// Every key is in two rows, the dead rows among them.
			if n, want := wantCols[0].Len(), 2*int(keys.NumRows())-len(dead); n != want || n < 200 {
				t.Fatalf("%d rows read, want %d (more than 200)", n, want)
			}
			for i, f := range schema.Fields() {
				if !array.Equal(gotCols[i], wantCols[i]) {
					t.Errorf("column %s: %d rows differ from the whole read's %d:\n%v\n%v", f.Name, gotCols[i].Len(), wantCols[i].Len(), gotCols[i], wantCols[i])
				}
			}
		})
	}
}

// countingAllocator counts the bytes allocated through it.
type countingAllocator struct {
	memory.Allocator
	bytes int64
}

func (a *countingAllocator) Allocate(size int) []byte {
	a.bytes += int64(size)
	return a.Allocator.Allocate(size)
}

func (a *countingAllocator) Reallocate(size int, b []byte) []byte {
	if size > len(b) {
		a.bytes += int64(size - len(b))
	}
	return a.Allocator.Reallocate(size, b)
}

// TestReadKeyRowsSkips counts what reading the matched rows only saves: for
// 20 keys of one row group of 1000 rows, the whole read builds Arrow
// arrays of the 1000 rows, the read of the matched rows arrays of the 40
// rows (one allocation per column at most), a tenth of the bytes or less;
// it never calls the RowGroupReader.
func TestReadKeyRowsSkips(t *testing.T) {
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)
	mem := &countingAllocator{Allocator: checked}
	ctx := context.Background()
	pr, schema := rowsFile(t, checked, true, false, false, false)
	defer pr.Close()
	var rows []int64
	for r := int64(1200); r < 1240; r++ {
		rows = append(rows, r)
	}
	keys := rowsKeys(checked, rows)
	defer keys.Release()
	x, err := NewKeyIndex(keys, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	cols, read := fileColumns(mem, pr, schema, &calls)
	whole, _, err := ReadKeyRows(ctx, mem, pr, 0, x, nil, read, nil)
	if err != nil {
		t.Fatal(err)
	}
	releaseBatches(whole)
	wholeBytes := mem.bytes
	mem.bytes, calls = 0, 0
	got, cnt, err := ReadKeyRows(ctx, mem, pr, 0, x, nil, read, cols)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range got {
		n += int(r.NumRows())
	}
	releaseBatches(got)
	if n != 40 || calls != 0 || cnt.RowGroups != 1 || cnt.Skipped != 2 {
		t.Errorf("%d rows, %d whole reads, %+v; want 40 rows, no whole read, 1 row group read and 2 skipped", n, calls, cnt)
	}
	if mem.bytes*10 > wholeBytes {
		t.Errorf("matched rows only: %d bytes allocated, whole row group: %d; want a tenth or less", mem.bytes, wholeBytes)
	}
	t.Logf("Arrow bytes allocated: %d reading 40 rows, %d reading the row group whole", mem.bytes, wholeBytes)
}
