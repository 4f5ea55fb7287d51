package iceberg

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
)

// TestDeleteCacheLoad: a position-delete file whose file_path statistics
// show one path is read by its pos column alone (onlyPath), one with
// several paths or without statistics by both columns; all give the same
// positions by data file.
func TestDeleteCacheLoad(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	dir := t.TempDir()
	type row struct {
		path string
		pos  int64
	}
	write := func(name string, stats bool, rows ...row) string {
		t.Helper()
		b := array.NewRecordBuilder(mem, icetable.PositionalDeleteArrowSchema)
		defer b.Release()
		for _, r := range rows {
			b.Field(0).(*array.StringBuilder).Append(r.path)
			b.Field(1).(*array.Int64Builder).Append(r.pos)
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
		defer tbl.Release()
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// Row groups of 2 rows: a path per row group is not one path.
		if err := pqarrow.WriteTable(tbl, f, 2, parquet.NewWriterProperties(parquet.WithStats(stats)), pqarrow.DefaultWriterProps()); err != nil {
			t.Fatal(err)
		}
		return path
	}
	c := newDeleteCache(iceio.LocalFS{}, mem)
	for _, tc := range []struct {
		name string
		path string
		only string
		want map[string][]int64
	}{
		{"one path", write("one.parquet", true, row{"d1", 5}, row{"d1", 1}, row{"d1", 9}), "d1",
			map[string][]int64{"d1": {5, 1, 9}}},
		{"two paths", write("two.parquet", true, row{"d1", 2}, row{"d1", 4}, row{"d2", 7}, row{"d2", 3}), "",
			map[string][]int64{"d1": {2, 4}, "d2": {7, 3}}},
		{"no statistics", write("nostats.parquet", false, row{"d1", 5}, row{"d1", 1}, row{"d1", 9}), "",
			map[string][]int64{"d1": {5, 1, 9}}},
	} {
		pr, err := openParquet(iceio.LocalFS{}, tc.path)
		if err != nil {
			t.Fatal(err)
		}
		only, one := onlyPath(pr, 0)
		pr.Close()
		if only != tc.only || one != (tc.only != "") {
			t.Errorf("%s: onlyPath %q, %v; want %q", tc.name, only, one, tc.only)
		}
		got, err := c.load(context.Background(), tc.path)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: load %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
