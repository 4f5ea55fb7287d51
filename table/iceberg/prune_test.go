package iceberg

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// TestPruningKeepsKeysAtBounds: the files a merge skips by their key
// bounds (manifest bounds, row-group statistics) never hold a changed
// key. On an unpartitioned table, whose one data file has key bounds
// equal to its first and last key, updates of exactly those keys update
// them (no second live row, no insert), and a key inside the bounds that
// the file lacks is an insert. String keys longer than the 16 characters
// Iceberg truncates manifest bounds to, sharing a 20-character prefix,
// are the case where a truncated upper bound below the real maximum would
// skip the file.
func TestPruningKeepsKeysAtBounds(t *testing.T) {
	prefix := strings.Repeat("customer-0000000", 2)[:20]
	cases := []struct {
		name   string
		typ    arrow.DataType
		stored []string
		change []string // updated (or inserted when not stored)
		want   table.ApplyStats
	}{
		{"long", arrow.PrimitiveTypes.Int64, []string{"-7", "3", "1000"},
			[]string{"-7", "1000", "4"}, table.ApplyStats{Updated: 2, Inserted: 1}},
		{"long-max-only", arrow.PrimitiveTypes.Int64, []string{"-7", "3", "1000"},
			[]string{"1000"}, table.ApplyStats{Updated: 1}},
		{"long-min-only", arrow.PrimitiveTypes.Int64, []string{"-7", "3", "1000"},
			[]string{"-7"}, table.ApplyStats{Updated: 1}},
		{"string-max-only", arrow.BinaryTypes.String, []string{prefix + "a", prefix + "zz"},
			[]string{prefix + "zz"}, table.ApplyStats{Updated: 1}},
		{"int", arrow.PrimitiveTypes.Int32, []string{"10", "20", "30"},
			[]string{"30", "10"}, table.ApplyStats{Updated: 2}},
		{"truncated-string", arrow.BinaryTypes.String, []string{prefix + "a", prefix + "m", prefix + "zz"},
			[]string{prefix + "zz", prefix + "a", prefix + "b"}, table.ApplyStats{Updated: 2, Inserted: 1}},
		{"string-prefix-of-bound", arrow.BinaryTypes.String, []string{prefix, prefix + "\xff\xff"},
			[]string{prefix + "\xff\xff", prefix}, table.ApplyStats{Updated: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cat := localCatalog(t)
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			cols := []change.Column{{Name: "id", Type: c.typ}, {Name: "v", Type: arrow.BinaryTypes.String}}
			tb := New(cat, Options{Database: "db", Name: "t", Keys: []string{"id"}}, mem)
			var bm bookmarks.Bookmark
			run := func(seq byte, keys []string) table.ApplyStats {
				t.Helper()
				rec := keyChanges(t, mem, cols, seq, keys)
				defer rec.Release()
				return applyCommit(t, tb, cols, &bm, seq, rec)
			}
			run(1, c.stored)
			st := run(2, c.change)
			got := table.ApplyStats{Inserted: st.Inserted, Updated: st.Updated, Deleted: st.Deleted, Stale: st.Stale}
			if got != c.want {
				t.Errorf("merge: %+v, want %+v", got, c.want)
			}
			at := readAll(t, tb)
			defer at.Release()
			want := int64(len(c.stored)) + c.want.Inserted
			if at.NumRows() != want {
				t.Errorf("table holds %d rows, want %d", at.NumRows(), want)
			}
		})
	}
}

// keyChanges builds an update per key (keys given as text, sorted by key
// as the merge hands them over); the caller releases it.
func keyChanges(t *testing.T, mem memory.Allocator, cols []change.Column, seq byte, keys []string) arrow.RecordBatch {
	t.Helper()
	keys = sortedKeys(t, cols[0].Type, keys)
	b := array.NewRecordBuilder(mem, change.Schema(cols))
	defer b.Release()
	for i, k := range keys {
		switch kb := b.Field(0).(type) {
		case *array.Int64Builder:
			var v int64
			fmt.Sscan(k, &v)
			kb.Append(v)
		case *array.Int32Builder:
			var v int32
			fmt.Sscan(k, &v)
			kb.Append(v)
		case *array.StringBuilder:
			kb.Append(k)
		default:
			appendKey(t, kb, k)
		}
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("v%d", seq))
		b.Field(2).(*array.Int8Builder).Append(int8(change.OpUpdate))
		var sb change.SeqBuilder
		b.Field(3).(*array.BinaryBuilder).Append(sb.Byte(seq).Uint64(uint64(i)).Bytes())
	}
	return b.NewRecordBatch()
}

// sortedKeys orders text keys as the key column orders them.
func sortedKeys(t *testing.T, typ arrow.DataType, keys []string) []string {
	t.Helper()
	out := append([]string(nil), keys...)
	less := func(a, b string) bool { return a < b }
	if id := typ.ID(); id != arrow.STRING && id != arrow.BINARY {
		less = func(a, b string) bool {
			var x, y int64
			fmt.Sscan(a, &x)
			fmt.Sscan(b, &y)
			return x < y
		}
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if less(out[j], out[i]) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestPruningSeveralKeyColumns: a merge on a key of two columns whose
// first is an integer (a history table's key and order_key) reads only
// the files whose first-column bounds hold a changed value (counted in
// FilesScanned), and finds in them exactly the stored rows of its whole
// keys: an update of a stored (id, sub) replaces its row, a change of a
// stored id with a sub no row has is an insert.
func TestPruningSeveralKeyColumns(t *testing.T) {
	cat := localCatalog(t)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cols := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "sub", Type: arrow.BinaryTypes.String},
		{Name: "v", Type: arrow.BinaryTypes.String}}
	tb := New(cat, Options{Database: "db", Name: "t", Keys: []string{"id", "sub"}}, mem)
	var bm bookmarks.Bookmark
	type key struct {
		id  int64
		sub string
	}
	run := func(seq byte, keys []key) table.ApplyStats {
		t.Helper()
		b := array.NewRecordBuilder(mem, change.Schema(cols))
		defer b.Release()
		for i, k := range keys {
			b.Field(0).(*array.Int64Builder).Append(k.id)
			b.Field(1).(*array.StringBuilder).Append(k.sub)
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("v%d", seq))
			b.Field(3).(*array.Int8Builder).Append(int8(change.OpUpdate))
			var sb change.SeqBuilder
			b.Field(4).(*array.BinaryBuilder).Append(sb.Byte(seq).Uint64(uint64(i)).Bytes())
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		return applyCommit(t, tb, cols, &bm, seq, rec)
	}
	// Three files, ids 0–9, 100–109, 200–209, two versions each.
	for f := range int64(3) {
		var keys []key
		for id := 100 * f; id < 100*f+10; id++ {
			keys = append(keys, key{id, "a"}, key{id, "b"})
		}
		if st := run(byte(1+f), keys); st.Inserted != 20 {
			t.Fatalf("load of file %d: %+v", f, st)
		}
	}
	st := run(9, []key{{103, "a"}, {105, "b"}, {105, "c"}, {150, "a"}})
	if st.FilesScanned != 1 || st.Updated != 2 || st.Inserted != 2 || st.Deleted != 0 {
		t.Errorf("merge: %+v, want 1 file scanned, 2 updated, 2 inserted", st)
	}
	at := readAll(t, tb)
	defer at.Release()
	if at.NumRows() != 62 {
		t.Errorf("table holds %d rows, want 62", at.NumRows())
	}
}

// applyCommit applies the changes rec to tb in one transaction, after
// evolving it to cols, and commits them with bm advanced by the run's raw
// object raw/seq.
func applyCommit(t *testing.T, tb *Table, cols []change.Column, bm *bookmarks.Bookmark, seq byte, rec arrow.RecordBatch) table.ApplyStats {
	t.Helper()
	ctx := context.Background()
	x, err := tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, cols); err != nil {
		t.Fatal(err)
	}
	st, err := x.Apply(ctx, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	*bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%d", seq)}})
	if err := x.Commit(ctx, *bm); err != nil {
		t.Fatal(err)
	}
	return st
}
