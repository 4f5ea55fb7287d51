package apply

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/delta"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// TestStoredTableReadKeys: both writers' ReadKeysAt (StoredTable, as a
// history run reads its stored versions) return exactly the live rows of
// the keys asked, located in the state read. The table is keyed (id, n), as a history table is by
// its key and order key, and read by id: two rows per id, spread over
// eight commits (a file each), some rows updated in later commits
// (Iceberg: position deletes and a new file; Delta: rewritten files),
// some deleted, ids the table never held and ids whose rows are all
// deleted among those asked. Reading a few ids opens fewer files than the
// table has; reading none opens none. The runs that update and delete
// apply from the rows of their ids read and located (ApplyLocated), with
// no key scan of their own; an attempt whose rows are read from a later
// state than the one it began from is a conflict.
func TestStoredTableReadKeys(t *testing.T) {
	ctx := context.Background()
	long, _ := change.ParseType("long")
	str, _ := change.ParseType("string")
	cols := []change.Column{{Name: "id", Type: long}, {Name: "n", Type: long}, {Name: "v", Type: str}}
	keys := []string{"id", "n"}
	type writer struct {
		begin func(context.Context) (Txn, error)
		read  StoredTable
	}
	dir := t.TempDir()
	cat, err := local.Open(filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if err := cat.EnsureNamespace(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	wmem := memory.NewGoAllocator()
	ice := iceberg.New(cat, iceberg.Options{Database: "db", Name: "h", Keys: keys}, wmem)
	dl := delta.New(mem.New(), "db/h/", delta.Options{Name: "db.h", Keys: keys}, wmem)
	writers := map[string]writer{
		"iceberg": {func(ctx context.Context) (Txn, error) { return ice.Begin(ctx) }, ice},
		"delta":   {func(ctx context.Context) (Txn, error) { return dl.Begin(ctx) }, dl},
	}
	for name, w := range writers {
		t.Run(name, func(t *testing.T) {
			checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer checked.AssertSize(t, 0)
			type key struct{ id, n int64 }
			model := map[key]string{}
			var bm bookmarks.Bookmark
			seq := uint64(0)
			for run := range 8 {
				// change rows, sorted by key: op and value ("" for a delete)
				type chg struct {
					k  key
					op change.Op
					v  string
				}
				var cs []chg
				for id := int64(run * 10); id < int64(run*10+10); id++ {
					for n := range int64(2) {
						cs = append(cs, chg{key{id, n}, change.OpInsert, fmt.Sprintf("r%d", run)})
					}
				}
				if run >= 4 {
					// Update (id, 0) and delete (id, 1) of some earlier ids;
					// id 41 loses both rows.
					for _, id := range []int64{int64(run-4)*10 + 3, int64(run-4)*10 + 7} {
						cs = append(cs, chg{key{id, 0}, change.OpUpdate, fmt.Sprintf("u%d", run)}, chg{key{id, 1}, change.OpDelete, ""})
					}
					if run == 5 {
						cs = append(cs, chg{key{41, 0}, change.OpDelete, ""}, chg{key{41, 1}, change.OpDelete, ""})
					}
				}
				slices.SortFunc(cs, func(a, b chg) int {
					if a.k.id != b.k.id {
						return int(a.k.id - b.k.id)
					}
					return int(a.k.n - b.k.n)
				})
				b := array.NewRecordBuilder(wmem, change.Schema(cols))
				for _, c := range cs {
					seq++
					b.Field(0).(*array.Int64Builder).Append(c.k.id)
					b.Field(1).(*array.Int64Builder).Append(c.k.n)
					if c.op == change.OpDelete {
						b.Field(2).AppendNull()
						delete(model, c.k)
					} else {
						b.Field(2).(*array.StringBuilder).Append(c.v)
						model[c.k] = c.v
					}
					b.Field(3).(*array.Int8Builder).Append(int8(c.op))
					var sb change.SeqBuilder
					b.Field(4).(*array.BinaryBuilder).Append(sb.Uint64(seq).Bytes())
				}
				rec := b.NewRecordBatch()
				b.Release()
				txn, err := w.begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var stale Txn
				if run == 7 {
					// An attempt that began on the state run 6 made.
					if stale, err = w.begin(ctx); err != nil {
						t.Fatal(err)
					}
				}
				if err := txn.Evolve(ctx, cols); err != nil {
					t.Fatal(err)
				}
				if run < 4 {
					if _, err := txn.Apply(ctx, rec, nil); err != nil {
						t.Fatal(err)
					}
				} else {
					// The runs that update and delete plan from the rows
					// of their ids read and located, as a history run.
					st, err := applyLocated(ctx, checked, w.read, txn, rec)
					if err != nil {
						t.Fatal(err)
					}
					deleted := int64(2)
					if run == 5 {
						deleted = 4 // and id 41's two rows
					}
					if st.FilesScanned != 0 || st.RowsScanned != 0 || st.Updated != 2 || st.Deleted != deleted {
						t.Errorf("run %d, located: %+v", run, st)
					}
				}
				bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("f%d", run), ETag: "e", Size: 1}})
				if err := txn.Commit(ctx, bm); err != nil {
					t.Fatal(err)
				}
				if stale != nil {
					// Its rows read now are of the state run 7 made.
					if err := stale.Evolve(ctx, cols); err != nil {
						t.Fatal(err)
					}
					if _, err := applyLocated(ctx, checked, w.read, stale, rec); !errors.Is(err, table.ErrConflict) {
						t.Errorf("rows located in a later state than the attempt's: %v, want a conflict", err)
					}
				}
				rec.Release()
			}
			read := func(ids []int64) ([]string, int, int, int64) {
				t.Helper()
				kb := array.NewRecordBuilder(checked, arrow.NewSchema([]arrow.Field{{Name: "id", Type: long}}, nil))
				kb.Field(0).(*array.Int64Builder).AppendValues(ids, nil)
				kr := kb.NewRecordBatch()
				kb.Release()
				defer kr.Release()
				tbl, at, cnt, err := w.read.ReadKeysAt(ctx, kr)
				if err != nil {
					t.Fatal(err)
				}
				defer tbl.Release()
				info, err := w.read.Describe(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var located int64
				for _, f := range at.Files {
					located += int64(len(f.Pos))
				}
				if at.State != info.Snapshot || located != tbl.NumRows() {
					t.Errorf("located %d rows in state %d, read %d rows of state %d", located, at.State, tbl.NumRows(), info.Snapshot)
				}
				var got []string
				tr := array.NewTableReader(tbl, 0)
				defer tr.Release()
				for tr.Next() {
					r := tr.RecordBatch()
					id, n, v := column(r, "id").(*array.Int64), column(r, "n").(*array.Int64), column(r, "v").(*array.String)
					if column(r, change.ColSeq) == nil {
						t.Fatalf("no %s column", change.ColSeq)
					}
					for i := range int(r.NumRows()) {
						got = append(got, fmt.Sprintf("%d|%d|%s", id.Value(i), n.Value(i), v.Value(i)))
					}
				}
				slices.Sort(got)
				if cnt.Rows != int64(len(got)) {
					t.Errorf("counted %d rows, read %d", cnt.Rows, len(got))
				}
				return got, cnt.Files, cnt.FilesRead, cnt.Rows
			}
			want := func(ids []int64) []string {
				var out []string
				for k, v := range model {
					if slices.Contains(ids, k.id) {
						out = append(out, fmt.Sprintf("%d|%d|%s", k.id, k.n, v))
					}
				}
				slices.Sort(out)
				return out
			}
			// Ids updated and deleted (3, 13), untouched (25, 26), all
			// deleted (41), never held (80, 1000, -1), in the files of
			// runs 0, 1, 2, 4 and 5.
			ids := []int64{3, 13, 25, 26, 41, 80, 1000, -1}
			got, files, opened, _ := read(ids)
			if w := want(ids); !slices.Equal(got, w) {
				t.Errorf("read %v:\n%v\nwant\n%v", ids, got, w)
			}
			t.Logf("read %d ids: opened %d of %d files", len(ids), opened, files)
			if opened >= files || files < 8 {
				t.Errorf("read %v: opened %d of %d files, want fewer than all of at least 8", ids, opened, files)
			}
			// Every id: every live row.
			var all []int64
			for id := int64(0); id < 80; id++ {
				all = append(all, id)
			}
			if got, _, _, _ := read(all); !slices.Equal(got, want(all)) || len(got) != len(model) {
				t.Errorf("read every id: %d rows, want %d", len(got), len(model))
			}
			if got, _, opened, _ := read(nil); len(got) != 0 || opened != 0 {
				t.Errorf("read no id: %d rows, %d files opened", len(got), opened)
			}
		})
	}
}

// applyLocated applies changes in txn from the stored rows of their first
// key column's values read and located (readHistoryAt, without its
// bookmark check), as a history run does.
func applyLocated(ctx context.Context, mem memory.Allocator, stored StoredTable, txn Txn, changes arrow.RecordBatch) (table.ApplyStats, error) {
	ids := slices.Compact(slices.Clone(changes.Column(0).(*array.Int64).Int64Values()))
	kb := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{changes.Schema().Field(0)}, nil))
	kb.Field(0).(*array.Int64Builder).AppendValues(ids, nil)
	keys := kb.NewRecordBatch()
	kb.Release()
	defer keys.Release()
	info, err := stored.Describe(ctx)
	if err != nil {
		return table.ApplyStats{}, err
	}
	rows, at, _, err := readHistoryAt(ctx, mem, stored, info.Bookmark, keys)
	if err != nil {
		return table.ApplyStats{}, err
	}
	defer rows.Release()
	return txn.(LocatedApplier).ApplyLocated(ctx, changes, rows, *at)
}
