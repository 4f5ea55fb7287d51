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
	raw, schema := rowsFileBytes(t, mem, pageIndex, decimalAsInt, nested, arrowSchema)
	pr, err := file.NewParquetReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if pr.NumRowGroups() != 3 {
		t.Fatalf("%d row groups, want 3", pr.NumRowGroups())
	}
	return pr, schema
}

// rowsFileBytes is rowsFile's file, as bytes.
func rowsFileBytes(t *testing.T, mem memory.Allocator, pageIndex, decimalAsInt, nested, arrowSchema bool) ([]byte, *arrow.Schema) {
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
	return buf.Bytes(), schema
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
			whole, wpos, wcnt, err := ReadKeyRows(ctx, mem, PagePruning{}, pr, 0, x, dead, read, nil)
			if err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("whole read: RowGroupReader called %d times, want 1", calls)
			}
			calls = 0
			got, gpos, gcnt, err := ReadKeyRows(ctx, mem, PagePruning{}, pr, 0, x, dead, read, cols)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(wpos, gpos) {
				t.Errorf("positions of the matched rows %v, of the whole row groups' %v", gpos, wpos)
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
	whole, _, _, err := ReadKeyRows(ctx, mem, PagePruning{}, pr, 0, x, nil, read, nil)
	if err != nil {
		t.Fatal(err)
	}
	releaseBatches(whole)
	wholeBytes := mem.bytes
	mem.bytes, calls = 0, 0
	got, _, cnt, err := ReadKeyRows(ctx, mem, PagePruning{}, pr, 0, x, nil, read, cols)
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

// TestReadKeyRowsPrunesPages: ReadKeyRows of a file without a column
// index (as iceberg-go writes them), given the file's bytes
// (PagePruning.Raw), decodes only the key pages whose header min/max hold
// a key — exactly the rows of those pages, counted from the same file
// written with an offset index — and returns exactly the rows it returns
// without the bytes (every key page decoded), reading matched rows only
// and row groups whole: keys at page boundaries, in two row groups of
// three, deleted rows among them.
func TestReadKeyRowsPrunesPages(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	raw, schema := rowsFileBytes(t, mem, false, false, false, false)
	pr, err := file.NewParquetReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	withIndex, _ := rowsFile(t, mem, true, false, false, false)
	defer withIndex.Close()
	// Keys of rows in the first and last row group only: the first row, a
	// page's last row and the next page's first, a row mid-page.
	var pages [][2]int64 // rows [first, end) of each key page of the file
	var base int64
	for rg := range withIndex.NumRowGroups() {
		rgr := withIndex.RowGroup(rg)
		starts := append(pageStarts(withIndex, rg, rgr, 0), rgr.NumRows())
		if len(starts) < 6 {
			t.Fatalf("row group %d: %d key pages, want several", rg, len(starts)-1)
		}
		for i := range starts[:len(starts)-1] {
			pages = append(pages, [2]int64{base + starts[i], base + starts[i+1]})
		}
		base += rgr.NumRows()
	}
	first, last := pages[0], pages[len(pages)-1]
	mid := pages[len(pages)-3]
	rows := []int64{0, first[1] - 1, first[1], (mid[0] + mid[1]) / 2, last[1] - 1}
	keys := rowsKeys(mem, rows)
	defer keys.Release()
	x, err := NewKeyIndex(keys, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	dead := []int64{1, rows[3] ^ 1} // the other row of the first and the mid-page key
	slices.Sort(dead)
	var wantDecoded int64 // rows of the pages holding a key's value (id = row/2)
	wantSkipped := 0
	for _, p := range pages {
		hit, inGroup := false, false
		for _, r := range rows {
			k := r / 2
			hit = hit || p[0]/2 <= k && k <= (p[1]-1)/2
			inGroup = inGroup || r/1000 == p[0]/1000
		}
		switch {
		case hit:
			wantDecoded += p[1] - p[0]
		case inGroup:
			wantSkipped++
		}
	}

	var calls int
	cols, read := fileColumns(mem, pr, schema, &calls)
	var results [][]arrow.Array
	for _, c := range []struct {
		name string
		pp   PagePruning
		cols *FileColumns
	}{
		{"pruned, matched rows", PagePruning{Raw: bytes.NewReader(raw)}, cols},
		{"pruned, whole row groups", PagePruning{Raw: bytes.NewReader(raw)}, nil},
		{"every page, matched rows", PagePruning{}, cols},
	} {
		got, _, cnt, err := ReadKeyRows(ctx, mem, c.pp, pr, 0, x, dead, read, c.cols)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		decoded, skipped := wantDecoded, wantSkipped
		if c.pp.Raw == nil {
			decoded, skipped = 1000+rowsFileRows-2000, 0 // the first and last row group
		}
		if cnt.RowGroups != 2 || cnt.Skipped != 1 || cnt.Rows != decoded || cnt.PagesSkipped != skipped {
			t.Errorf("%s: counts %+v; want 2 row groups read, 1 skipped, %d keys decoded, %d pages skipped", c.name, cnt, decoded, skipped)
		}
		results = append(results, concatColumns(t, mem, schema, got))
	}
	defer func() {
		for _, r := range results {
			for _, c := range r {
				c.Release()
			}
		}
	}()
	if n, want := results[0][0].Len(), 2*int(keys.NumRows())-len(dead); n != want {
		t.Errorf("%d rows read, want %d", n, want)
	}
	for _, r := range results[1:] {
		for i, f := range schema.Fields() {
			if !array.Equal(results[0][i], r[i]) {
				t.Errorf("column %s: %d rows differ from the pruned read's %d:\n%v\n%v", f.Name, results[0][i].Len(), r[i].Len(), results[0][i], r[i])
			}
		}
	}
	if wantDecoded*4 > 1000+rowsFileRows-2000 {
		t.Errorf("the keys' pages hold %d rows of their row groups' %d; want a quarter or less for the test to tell", wantDecoded, 1000+rowsFileRows-2000)
	}
}
