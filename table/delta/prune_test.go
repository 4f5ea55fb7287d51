package delta

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// TestPruningKeepsKeysAtBounds: a file the merge skips by its key
// min/max (the log's stats, the row groups' statistics) never holds a
// changed key. Updates of exactly a file's first and last key update them
// (no second live row, no insert), and a key inside the bounds that the
// file lacks is an insert; for string keys longer than the 32 characters
// the log's stats keep, sharing a 40-character prefix, where a truncated
// maximum below the real one would skip the file.
func TestPruningKeepsKeysAtBounds(t *testing.T) {
	prefix := strings.Repeat("customer-", 5)[:40]
	cases := []struct {
		name   string
		typ    arrow.DataType
		stored []any
		change []any // sorted by key
		want   table.ApplyStats
	}{
		{"long", arrow.PrimitiveTypes.Int64, []any{int64(-7), int64(3), int64(1000)},
			[]any{int64(-7), int64(4), int64(1000)}, table.ApplyStats{Updated: 2, Inserted: 1}},
		{"long-max-only", arrow.PrimitiveTypes.Int64, []any{int64(-7), int64(3), int64(1000)},
			[]any{int64(1000)}, table.ApplyStats{Updated: 1}},
		{"long-min-only", arrow.PrimitiveTypes.Int64, []any{int64(-7), int64(3), int64(1000)},
			[]any{int64(-7)}, table.ApplyStats{Updated: 1}},
		{"string-max-only", arrow.BinaryTypes.String, []any{prefix + "a", prefix + "zz"},
			[]any{prefix + "zz"}, table.ApplyStats{Updated: 1}},
		{"truncated-string", arrow.BinaryTypes.String, []any{prefix + "a", prefix + "m", prefix + "zz"},
			[]any{prefix + "a", prefix + "b", prefix + "zz"}, table.ApplyStats{Updated: 2, Inserted: 1}},
		{"string-prefix-of-bound", arrow.BinaryTypes.String, []any{prefix, prefix + "\xff\xff"},
			[]any{prefix, prefix + "\xff\xff"}, table.ApplyStats{Updated: 2}},
	}
	for _, c := range cases {
		for sname, store := range stores(t) {
			t.Run(c.name+"/"+sname, func(t *testing.T) {
				m := checkedMem(t)
				tb := New(store, "t/", Options{Keys: []string{"id"}}, m)
				cols := []change.Column{{Name: "id", Type: c.typ}, {Name: "v", Type: arrow.BinaryTypes.String}}
				changes := func(seq uint64, keys []any) []chg {
					var rows []chg
					for _, k := range keys {
						rows = append(rows, chg{Op: change.OpUpdate, Seq: seq, Vals: map[string]any{"id": k, "v": fmt.Sprint("v", seq)}})
					}
					return rows
				}
				first := buildChanges(t, m, cols, changes(1, c.stored), false)
				defer first.Release()
				run(t, tb, cols, first, nil, bookmarks.Bookmark{Runs: 1})
				second := buildChanges(t, m, cols, changes(2, c.change), false)
				defer second.Release()
				st, _ := run(t, tb, cols, second, nil, bookmarks.Bookmark{Runs: 2})
				got := table.ApplyStats{Inserted: st.Inserted, Updated: st.Updated, Deleted: st.Deleted, Stale: st.Stale}
				if got != c.want {
					t.Errorf("merge: %+v, want %+v", got, c.want)
				}
				rec, err := tb.Read(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer rec.Release()
				if want := int64(len(c.stored)) + c.want.Inserted; rec.NumRows() != want {
					t.Errorf("table holds %d rows, want %d", rec.NumRows(), want)
				}
			})
		}
	}
}
