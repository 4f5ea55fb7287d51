package iceberg

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
)

// TestKeyScanSkipsPagesOfOtherBuckets: a merge into a table of 4 key
// buckets decodes only the key pages (1,024 rows) whose min/max hold a
// changed key of their own file's bucket (ApplyStats.RowsScanned), and
// finds every stored row it changes: 20,000 keys 0…19,999, then updates
// of 4 stored keys — the first and last key of the table among them —
// and an insert of a new one, read back. A page of a bucket's file spans
// about 4,000 key values, so without the bucket each of the 4 files would
// decode the pages holding any of the 5 keys' values. A prepared table's
// (EvolveLayout) prunes alike.
func TestKeyScanSkipsPagesOfOtherBuckets(t *testing.T) {
	for _, evolve := range []bool{false, true} {
		t.Run(fmt.Sprint("evolve=", evolve), func(t *testing.T) { testKeyScanSkipsPages(t, evolve) })
	}
}

// testKeyScanSkipsPages is TestKeyScanSkipsPagesOfOtherBuckets, of a
// table with EvolveLayout set or not.
func testKeyScanSkipsPages(t *testing.T, evolve bool) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cols := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.BinaryTypes.String}}
	tb := New(localCatalog(t), Options{Database: "db", Name: "t", Keys: []string{"id"}, Buckets: 4, EvolveLayout: evolve}, mem)
	var bm bookmarks.Bookmark
	const rows = 20000
	run := func(seq byte, keys []int64) (updated, inserted, scanned int64) {
		t.Helper()
		b := array.NewRecordBuilder(mem, change.Schema(cols))
		defer b.Release()
		for i, k := range keys { // keys sorted, as the merge hands them over
			b.Field(0).(*array.Int64Builder).Append(k)
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("v%d", seq))
			b.Field(2).(*array.Int8Builder).Append(int8(change.OpUpdate))
			var sb change.SeqBuilder
			b.Field(3).(*array.BinaryBuilder).Append(sb.Byte(seq).Uint64(uint64(i)).Bytes())
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		st := applyCommit(t, tb, cols, &bm, seq, rec)
		return st.Updated, st.Inserted, st.RowsScanned
	}
	load := make([]int64, rows)
	for i := range load {
		load[i] = int64(i)
	}
	run(1, load)
	changed := []int64{0, 777, 12345, rows - 1, rows + 1}
	updated, inserted, scanned := run(2, changed)
	if updated != 4 || inserted != 1 {
		t.Errorf("merge updated %d, inserted %d; want 4 and 1", updated, inserted)
	}
	if scanned == 0 || scanned > 4*1024 {
		t.Errorf("merge decoded %d stored keys, want at most the 4 pages of the 4 stored keys (4,096)", scanned)
	}
	at := readAll(t, tb)
	defer at.Release()
	if at.NumRows() != rows+1 {
		t.Errorf("table holds %d rows, want %d", at.NumRows(), rows+1)
	}
	v2 := 0
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		ids := rec.Column(0).(*array.Int64)
		vs := rec.Column(1).(*array.String)
		for i := range ids.Len() {
			isChanged := false
			for _, k := range changed {
				isChanged = isChanged || ids.Value(i) == k
			}
			if got := vs.Value(i) == "v2"; got != isChanged {
				t.Errorf("key %d holds %q", ids.Value(i), vs.Value(i))
			}
			if isChanged {
				v2++
			}
		}
	}
	if v2 != len(changed) {
		t.Errorf("%d rows hold the merge's value, want %d", v2, len(changed))
	}
	t.Logf("decoded %d of %d stored keys", scanned, rows)

	// A read of the changed keys (ReadKeys, as a history table reads its
	// stored versions) prunes the same pages and returns their rows.
	kb := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil))
	defer kb.Release()
	kb.Field(0).(*array.Int64Builder).AppendValues(changed, nil)
	keys := kb.NewRecordBatch()
	defer keys.Release()
	got, cnt, err := tb.ReadKeys(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	if got.NumRows() != int64(len(changed)) || cnt.Rows != got.NumRows() {
		t.Errorf("read %d rows (counted %d) of the %d changed keys", got.NumRows(), cnt.Rows, len(changed))
	}
	if cnt.KeysDecoded == 0 || cnt.KeysDecoded > 4*1024 || cnt.PagesSkipped == 0 {
		t.Errorf("read of the changed keys: %+v; want at most the 4 pages of the 4 stored keys (4,096) decoded", cnt)
	}
	t.Logf("read of the changed keys: %+v", cnt)
}

// readAll reads the live rows of tb's current snapshot (iceberg-go's
// scanner); the caller releases them.
func readAll(t *testing.T, tb *Table) arrow.Table {
	t.Helper()
	ctx := context.Background()
	tbl, err := tb.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return at
}
