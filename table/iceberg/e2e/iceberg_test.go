package e2e_test

import (
	"cmp"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	iofs "io/fs"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/table/iceberg"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

// fixture is one table of an env with its reference model, written run
// by run through iceberg.Txn.
type fixture struct {
	t    *testing.T
	e    *env
	mem  *memory.CheckedAllocator
	cols []change.Column
	mod  *tabletest.Model
	bm   bookmarks.Bookmark
	now  func() time.Time // the writer's clock; nil: time.Now
	// journal makes commit write a journal of its rows (Txn.Journal).
	journal bool
}

func newFixture(t *testing.T, backend string, cols []change.Column) *fixture {
	f := &fixture{t: t, e: newEnv(t, backend), mem: memory.NewCheckedAllocator(memory.NewGoAllocator()), cols: cols, mod: tabletest.NewModel(cols)}
	t.Cleanup(func() { f.mem.AssertSize(t, 0) })
	return f
}

func (f *fixture) table() *iceberg.Table {
	return iceberg.New(f.e.cat, f.e.options(tabletest.Options{Now: f.now}, f.e.db), f.mem)
}

// commit applies rows to the model and commits them with a bookmark that
// absorbed the objects entries more.
func (f *fixture) commit(rows []tabletest.Change, entries ...bookmarks.Entry) {
	f.t.Helper()
	ctx := context.Background()
	rec := tabletest.BuildChanges(f.t, f.mem, f.cols, rows, false)
	defer rec.Release()
	want := f.mod.Apply(rec, rows, nil)
	x, err := f.table().Begin(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := x.Evolve(ctx, f.cols); err != nil {
		f.t.Fatal(err)
	}
	if f.journal {
		x.Journal(rec)
	}
	st, err := x.Apply(ctx, rec, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.bm = f.bm.Advance(entries)
	if err := x.Commit(ctx, f.bm); err != nil {
		f.t.Fatal(err)
	}
	if st.Inserted != want.Inserted || st.Updated != want.Updated || st.Deleted != want.Deleted || st.Stale != want.Stale {
		f.t.Fatalf("stats %+v, model says %+v", st, want)
	}
}

// check compares the table with the model.
// wholeRows is a generator of change sets over keys keys whose changes
// carry whole rows (fixture.commit writes whole rows).
func wholeRows(seed uint64, keys int64) *tabletest.Gen {
	g := tabletest.NewGen(seed, keys)
	g.Partial = false
	return g
}

func (f *fixture) check(what string) {
	f.t.Helper()
	tbl, err := f.table().Read(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	defer tbl.Release()
	tabletest.DiffRows(f.t, what, tabletest.TableRows(f.t, tbl, f.cols, "id"), f.mod.Render())
}

func (f *fixture) bookmark() bookmarks.Bookmark {
	f.t.Helper()
	x, err := f.table().Begin(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return x.Bookmark()
}

var small = []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "Name", Type: arrow.BinaryTypes.String}}

func upsert(seq uint64, id int64, name string) tabletest.Change {
	return tabletest.Change{Op: change.OpUpdate, Seq: seq, Vals: map[string]any{"id": id, "Name": name}}
}

// TestBookmarkFile: once the bookmark outgrows what catalogs keep in a
// table property, it is written to a file beside the table metadata and
// the property references it (lmbref:); bookmark files of earlier states
// stay (their metadata files reference them), also through Vacuum.
func TestBookmarkFile(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, b, small)
			for run := range 3 {
				var entries []bookmarks.Entry
				for i := range 500 {
					key := fmt.Sprintf("public/items/20240102-%02d%04d000.csv", run, i)
					sum := md5.Sum([]byte(key)) // S3's ETag of a simple upload
					entries = append(entries, bookmarks.Entry{Key: key, ETag: `"` + hex.EncodeToString(sum[:]) + `"`, Size: int64(1000 + i)})
				}
				f.commit([]tabletest.Change{upsert(uint64(run+1), int64(run), "v")}, entries...)
			}
			f.check("table")
			tbl, err := f.e.cat.LoadTable(ctx, icetable.Identifier{f.e.db, "items"})
			if err != nil {
				t.Fatal(err)
			}
			prop := tbl.Properties()[iceberg.BookmarkProperty]
			if !strings.HasPrefix(prop, "lmbref:") || len(prop) > 1024 {
				t.Fatalf("bookmark property is not a file reference: %.80s… (%d bytes)", prop, len(prop))
			}
			if bm := f.bookmark(); len(bm.Entries) != 1500 || bm.Runs != 3 {
				t.Fatalf("bookmark %s", bm.Summary())
			}
			countFiles := func() int {
				fs, err := tbl.FS(ctx)
				if err != nil {
					t.Fatal(err)
				}
				lst, ok := fs.(iceio.ListableIO)
				if !ok {
					t.Fatalf("table io %T cannot list", fs)
				}
				n := 0
				err = lst.WalkDir(strings.TrimRight(tbl.Location(), "/")+"/metadata", func(p string, d iofs.DirEntry, err error) error {
					if err == nil && strings.HasSuffix(p, ".lmb") {
						n++
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := countFiles(); n < 2 {
				t.Fatalf("%d bookmark files, want one for each state whose bookmark is too large", n)
			}
			before := countFiles()
			if _, err := f.table().Vacuum(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if n := countFiles(); n != before {
				t.Fatalf("vacuum deleted bookmark files that metadata files reference: %d of %d left", n, before)
			}
			if bm := f.bookmark(); len(bm.Entries) != 1500 {
				t.Fatalf("bookmark after vacuum %s", bm.Summary())
			}
		})
	}
}

// TestCatalogRollback: pointing the catalog back at an earlier metadata
// file of the table (a rollback) leaves a table whose bookmark and
// tombstone files still exist; the next run applies what came after again
// and the table equals the one that never rolled back.
func TestCatalogRollback(t *testing.T) {
	rounds := [][]tabletest.Change{
		{upsert(1, 1, "a"), upsert(1, 2, "b"), upsert(1, 3, "c")},
		{upsert(2, 1, "a1"), {Op: change.OpDelete, Seq: 3, Vals: map[string]any{"id": int64(2)}}}, // leaves a tombstone
		{upsert(4, 3, "c1"), upsert(5, 4, "d")},
	}
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, b, small)
			var early string
			for r, rows := range rounds {
				f.commit(rows, bookmarks.Entry{Key: fmt.Sprintf("round%d", r)})
				if r == 1 {
					tbl, err := f.e.cat.LoadTable(ctx, icetable.Identifier{f.e.db, "items"})
					if err != nil {
						t.Fatal(err)
					}
					early = tbl.MetadataLocation()
				}
			}
			want := f.mod.Render()
			f.e.rollBack(early)
			if got := f.bookmark(); got.Runs != 2 {
				t.Fatalf("bookmark after the rollback: %s", got.Summary())
			}
			// The run after the rollback: round 2 again, against the
			// earlier state (its tombstones keep key 2 deleted).
			f.mod = tabletest.NewModel(small)
			for _, rows := range rounds[:2] {
				rec := tabletest.BuildChanges(t, f.mem, small, rows, false)
				f.mod.Apply(rec, rows, nil)
				rec.Release()
			}
			f.bm = f.bookmark()
			f.commit(append([]tabletest.Change{upsert(3, 2, "late")}, rounds[2]...), bookmarks.Entry{Key: "round2"})
			f.check("after the rollback and a run")
			tbl, err := f.table().Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tbl.Release()
			tabletest.DiffRows(t, "equal to the table that never rolled back", tabletest.TableRows(t, tbl, small, "id"), want)
		})
	}
}

// rollBack points the catalog entry of the table at the metadata file
// loc: in the SQLite file directly, in Glue by dropping the entry and
// registering loc.
func (e *env) rollBack(loc string) {
	e.t.Helper()
	ctx := context.Background()
	ident := icetable.Identifier{e.db, "items"}
	if e.backend == "aws" {
		c := e.cat.(interface {
			wire.Catalog
			RegisterTable(context.Context, icetable.Identifier, string) (*icetable.Table, error)
		})
		if err := c.DropTable(ctx, ident); err != nil {
			e.t.Fatal(err)
		}
		if _, err := c.RegisterTable(ctx, ident, loc); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	db, err := sql.Open(sqliteshim.ShimName, "file:"+filepath.Join(e.dir, "catalog.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `UPDATE iceberg_tables SET metadata_location = ? WHERE table_namespace = ? AND table_name = ?`, loc, e.db, "items")
	if err != nil {
		e.t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		e.t.Fatalf("rollback updated %d catalog rows", n)
	}
}

// TestPyIcebergReadsTable reads a table lakemerge wrote through random
// runs with pyiceberg (an engine nobody here wrote) and compares it with
// what lakemerge reads, which equals the reference model. It needs
// LAKEMERGE_PYTHON, a Python with interop/requirements.txt installed
// (scripts/test.sh provides it); under CI it must run.
func TestPyIcebergReadsTable(t *testing.T) {
	py := testenv.Python(t)
	cols := tabletest.Columns[:4] // id, Name, qty, price: values JSON and Python print alike
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			f := newFixture(t, b, cols)
			g := wholeRows(11, 80)
			for range 4 {
				f.commit(g.Next(f.mod, 40))
			}
			f.check("table")
			tbl, err := f.table().Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := jsonRows(t, tbl, cols)
			tbl.Release()
			args := append([]string{filepath.Join("..", "..", "..", "interop", "read_iceberg.py")}, f.e.catArgs...)
			var names []string
			for _, c := range cols {
				names = append(names, c.Name)
			}
			out, err := exec.Command(py, append(args, f.e.db+".items", "id", strings.Join(names, ","))...).Output()
			if err != nil {
				t.Fatalf("pyiceberg read failed: %v", err)
			}
			var got []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if line == "" {
					continue
				}
				var r map[string]any
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("read_iceberg.py line %q: %v", line, err)
				}
				got = append(got, r)
			}
			if len(got) != len(want) {
				t.Fatalf("pyiceberg reads %d rows, lakemerge %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("row %d:\npyiceberg: %v\nlakemerge: %v", i, got[i], want[i])
				}
			}
		})
	}
}

// jsonRows renders tbl's columns cols as read_iceberg.py does (decimals as
// their text), decoded from JSON as its lines are, sorted by id.
func jsonRows(t *testing.T, tbl arrow.Table, cols []change.Column) []map[string]any {
	t.Helper()
	var rows []map[string]any
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for _, c := range cols {
				col := rec.Column(rec.Schema().FieldIndices(c.Name)[0])
				switch a := col.(type) {
				case *array.Decimal128:
					if a.IsValid(i) {
						row[c.Name] = a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
					} else {
						row[c.Name] = nil
					}
				default:
					row[c.Name] = col.GetOneForMarshal(i)
				}
			}
			rows = append(rows, row)
		}
	}
	raw, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b map[string]any) int { return cmp.Compare(a["id"].(float64), b["id"].(float64)) })
	return out
}
