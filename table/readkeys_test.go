package table

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// TestReadKeyRows: ReadKeyRows returns exactly the live rows of the keys
// asked, in file order, from a key-sorted file of ten 10-row row groups,
// read in batches of 4 rows (batches that straddle row groups): keys in
// several row groups, several rows of one key, a deleted row, keys the
// file lacks, a null key. By an integer key it decodes only the row groups
// whose statistics hold a key asked; by a string column (no statistics
// pruning) every row group.
func TestReadKeyRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	// Rows 0..99: id = row/2*2 (ids 0, 0, 2, 2, …, 98, 98; id NULL at
	// row 51), name "n<id%7>", pos = row.
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String}, {Name: "pos", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(mem, schema)
	for r := range 100 {
		if r == 51 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Int64Builder).Append(int64(r / 2 * 2))
		}
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("n%d", r/2*2%7))
		b.Field(2).(*array.Int64Builder).Append(int64(r))
	}
	rec := b.NewRecordBatch()
	b.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(10)),
		pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pr, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if pr.NumRowGroups() != 10 {
		t.Fatalf("%d row groups, want 10", pr.NumRowGroups())
	}
	read := func(ctx context.Context, rowGroups []int, fn func(arrow.RecordBatch) error) error {
		fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 4}, mem)
		if err != nil {
			return err
		}
		rr, err := fr.GetRecordReader(ctx, nil, rowGroups)
		if err != nil {
			return err
		}
		defer rr.Release()
		for rr.Next() {
			if err := fn(rr.RecordBatch()); err != nil {
				return err
			}
		}
		if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	}
	positions := func(recs []arrow.RecordBatch) []int64 {
		var out []int64
		for _, r := range recs {
			out = append(out, r.Column(2).(*array.Int64).Int64Values()...)
			r.Release()
		}
		return out
	}
	keyBatch := func(field arrow.Field, vals any) arrow.RecordBatch {
		kb := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{field}, nil))
		defer kb.Release()
		switch v := vals.(type) {
		case []int64:
			kb.Field(0).(*array.Int64Builder).AppendValues(v, nil)
		case []string:
			kb.Field(0).(*array.StringBuilder).AppendValues(v, nil)
		}
		return kb.NewRecordBatch()
	}

	// By id: 4 (rows 4, 5), 30 (rows 30, 31; 31 deleted), 50 (row 50;
	// row 51 is the null key), 98 (rows 98, 99); 7, 1000 and -3 are not in
	// the file. Row groups 0, 3, 5 and 9 hold them.
	keys := keyBatch(arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64}, []int64{4, 7, 30, 50, 98, 1000, -3})
	defer keys.Release()
	x, err := NewKeyIndex(keys, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	got, at, cnt, err := ReadKeyRows(ctx, mem, PagePruning{}, pr, 0, x, []int64{31}, read, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{4, 5, 30, 50, 98, 99}
	if pos := positions(got); !slices.Equal(pos, want) {
		t.Errorf("rows by id: %v, want %v", pos, want)
	}
	if !slices.Equal(at, want) {
		t.Errorf("positions returned by id: %v, want %v", at, want)
	}
	if cnt.RowGroups != 4 || cnt.Skipped != 6 {
		t.Errorf("by id: %d row groups read, %d skipped; want 4 and 6", cnt.RowGroups, cnt.Skipped)
	}
	// The file without the key column (keyLeaf -1) holds none of them.
	if got, _, _, err := ReadKeyRows(ctx, mem, PagePruning{}, pr, -1, x, nil, read, nil); err != nil || len(got) != 0 {
		t.Errorf("no key column: %d batches, %v", len(got), err)
	}

	// By name (a string: every row group is read and probed): n3 is the
	// name of the ids ≡ 3 mod 7 (10, 24, 38, 52, 66, 80, 94), n9 of none.
	names := keyBatch(arrow.Field{Name: "name", Type: arrow.BinaryTypes.String}, []string{"n3", "n9"})
	defer names.Release()
	xn, err := NewKeyIndex(names, []string{"name"})
	if err != nil {
		t.Fatal(err)
	}
	got, at, cnt, err = ReadKeyRows(ctx, mem, PagePruning{}, pr, -1, xn, []int64{24, 95}, read, nil)
	if err != nil {
		t.Fatal(err)
	}
	want = []int64{10, 11, 25, 38, 39, 52, 53, 66, 67, 80, 81, 94}
	if pos := positions(got); !slices.Equal(pos, want) {
		t.Errorf("rows by name: %v, want %v", pos, want)
	}
	if !slices.Equal(at, want) {
		t.Errorf("positions returned by name: %v, want %v", at, want)
	}
	if cnt.RowGroups != 10 {
		t.Errorf("by name: %d row groups read, want 10", cnt.RowGroups)
	}
}

// TestReadFiles: ReadFiles returns every file's batches in file order,
// whichever file finishes first, with their counts summed; an error of one
// file is the result, and the batches of the others are released.
func TestReadFiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	schema := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64}}, nil)
	batch := func(i int) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		b.Field(0).(*array.Int64Builder).AppendValues(slices.Repeat([]int64{int64(i)}, i+1), nil)
		return b.NewRecordBatch()
	}
	read := func(fail int) func(context.Context, int) ([]arrow.RecordBatch, []int64, ScanCounts, error) {
		return func(_ context.Context, i int) ([]arrow.RecordBatch, []int64, ScanCounts, error) {
			if i == fail {
				return nil, nil, ScanCounts{}, fmt.Errorf("file %d: broken", i)
			}
			return []arrow.RecordBatch{batch(i)}, []int64{int64(10 * i)}, ScanCounts{RowGroups: 1, Skipped: 2}, nil
		}
	}
	got, pos, cnt, err := ReadFiles(ctx, 6, read(-1))
	if err != nil {
		t.Fatal(err)
	}
	var order []int64
	for _, r := range got {
		order = append(order, r.Column(0).(*array.Int64).Value(0))
		r.Release()
	}
	if want := []int64{0, 1, 2, 3, 4, 5}; !slices.Equal(order, want) {
		t.Errorf("files in order %v, want %v", order, want)
	}
	for i, p := range pos {
		if !slices.Equal(p, []int64{int64(10 * i)}) {
			t.Errorf("positions of file %d: %v, want [%d]", i, p, 10*i)
		}
	}
	if want := (ReadCounts{FilesRead: 6, RowGroups: 6, RowGroupsSkipped: 12, Rows: 21}); cnt != want {
		t.Errorf("counts %+v, want %+v", cnt, want)
	}
	if got, _, _, err := ReadFiles(ctx, 6, read(3)); err == nil || got != nil {
		t.Errorf("a broken file: %d batches, error %v", len(got), err)
	}
}
