package tabletest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// matchesModel: random runs of inserts, updates, deletes, re-inserts,
// late changes, partial images and reloads, with a column added half-way,
// into a table of every column type and small data files; after every run
// the table (rows and _seq), the stats and Describe equal the reference
// model's (invariants 3, 4 and 5).
func matchesModel(t *testing.T, f *fixture) {
	seeds, runs := 3, 24
	if f.slow {
		seeds, runs = 1, 10
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			f := f.fresh(t)
			f.opts.TargetFileBytes = 3 << 10
			cols := slices.Clone(Columns)
			mod := NewModel(cols)
			g := NewGen(seed, 120)
			var bm bookmarks.Bookmark
			for r := 0; r < runs; r++ {
				if r == 9 {
					cols = append(cols, change.Column{Name: "note", Type: arrow.BinaryTypes.String})
					mod.AddColumn(cols[len(cols)-1])
				}
				rows := g.Next(mod, 1+g.R.IntN(40))
				rec := BuildChanges(t, f.mem, cols, rows, true)
				var trunc []byte
				var truncSeq *uint64
				if r%8 == 7 {
					// A reload: every row older than this run's changes
					// goes unless the run has a change of its key.
					s := g.Seq - 5
					truncSeq, trunc = &s, SeqBytes(s)
				}
				want := mod.Apply(rec, rows, truncSeq)
				bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%04d.csv", r), ETag: "e", Size: int64(r)}})
				st, err := f.commit(cols, rec, trunc, bm)
				rec.Release()
				if err != nil {
					t.Fatalf("run %d: %v", r, err)
				}
				if got := verdicts(st); got != want {
					t.Fatalf("run %d: stats %+v, model says %+v", r, got, want)
				}
				DiffRows(t, fmt.Sprint("run ", r), f.rows(cols), mod.Render())
				info := f.describe()
				if !info.Exists || !info.Bookmark.Equal(bm) || info.Rows != int64(len(mod.Rows)) {
					t.Fatalf("run %d: describe says exists %v, %d rows, bookmark %s; want %d rows, bookmark %s",
						r, info.Exists, info.Rows, info.Bookmark.Summary(), len(mod.Rows), bm.Summary())
				}
			}
		})
	}
}

// splitIndependence: the same changes absorbed in one run, in one run per
// file, and one run per file in shuffled orders (so late files carry
// older updates, deletes and inserts of keys the table holds or deleted)
// give the same table: the model's (invariants 4 and 5).
func splitIndependence(t *testing.T, f *fixture) {
	cols := Columns[:4]
	g := NewGen(7, 25)
	g.Late, g.Partial = false, false
	mod := NewModel(cols)
	var files []rawFile
	for i := range 8 {
		rows := g.Next(mod, 5+g.R.IntN(20))
		f.model(mod, cols, rows)
		files = append(files, rawFile{name: fmt.Sprintf("raw/%03d.csv", i), rows: rows})
	}
	want := mod.Render()
	orders := map[string][]rawFile{"in order": files}
	shuffles := 3
	if f.slow {
		shuffles = 1
	}
	for s := range shuffles {
		sh := slices.Clone(files)
		g.R.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
		orders[fmt.Sprint("shuffled ", s)] = sh
	}
	t.Run("one run", func(t *testing.T) {
		f := f.fresh(t)
		src := &source{files: files}
		if _, err := f.run(f.open, cols, src, 1, noStep); err != nil {
			t.Fatal(err)
		}
		DiffRows(t, "one run", f.rows(cols), want)
	})
	for name, order := range orders {
		t.Run("run per file, "+name, func(t *testing.T) {
			f := f.fresh(t)
			src := &source{}
			for _, fl := range order {
				src.add(fl.name, fl.rows)
				if res, err := f.run(f.open, cols, src, 1, noStep); err != nil || res.files != 1 {
					t.Fatalf("run of %s: %+v, %v", fl.name, res, err)
				}
			}
			DiffRows(t, name, f.rows(cols), want)
		})
	}
}

var small = []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "Name", Type: arrow.BinaryTypes.String}}

func upsert(op change.Op, seq uint64, id int64, name string) Change {
	return Change{Op: op, Seq: seq, Vals: map[string]any{"id": id, "Name": name}}
}

func del(seq uint64, id int64) Change {
	return Change{Op: change.OpDelete, Seq: seq, Vals: map[string]any{"id": id}}
}

// step commits rows (sorted by key) as the next run, checks the stats
// against want ("inserted updated deleted stale absent"), applies them to
// mod and compares the table with it.
func (f *fixture) step(t *testing.T, what string, cols []change.Column, mod *Model, bm *bookmarks.Bookmark, rows []Change, want string) {
	t.Helper()
	rec := BuildChanges(t, f.mem, cols, rows, true)
	defer rec.Release()
	mst := mod.Apply(rec, rows, nil)
	*bm = bm.Advance([]bookmarks.Entry{{Key: what, ETag: "e", Size: 1}})
	st := f.mustCommit(cols, rec, nil, *bm)
	if got := verdicts(st); got != mst {
		t.Fatalf("%s: stats %+v, model says %+v", what, got, mst)
	}
	if want != "" {
		if got := fmt.Sprint(st.Inserted, st.Updated, st.Deleted, st.Stale, st.Absent); got != want {
			t.Fatalf("%s: stats %q (inserted updated deleted stale absent), want %q", what, got, want)
		}
	}
	DiffRows(t, what, f.rows(cols), mod.Render())
}

// lateChanges: a change older than the stored row is stale and does not
// overwrite it; a delete leaves a tombstone, so an older update of the
// deleted key arriving in a later run is stale instead of bringing the
// row back; a newer insert does bring it back (invariant 4).
func lateChanges(t *testing.T, f *fixture) {
	mod := NewModel(small)
	var bm bookmarks.Bookmark
	f.step(t, "insert", small, mod, &bm, []Change{upsert(change.OpInsert, 20, 1, "new")}, "1 0 0 0 0")
	f.step(t, "older update and a new key", small, mod, &bm, []Change{upsert(change.OpUpdate, 10, 1, "old"), upsert(change.OpInsert, 11, 2, "two")}, "1 0 0 1 0")
	f.step(t, "as old as the stored row", small, mod, &bm, []Change{upsert(change.OpUpdate, 20, 1, "same")}, "0 0 0 1 0")
	f.step(t, "older delete", small, mod, &bm, []Change{del(15, 1)}, "0 0 0 1 0")
	f.step(t, "delete", small, mod, &bm, []Change{del(30, 1)}, "0 0 1 0 0")
	f.step(t, "late update of the deleted key", small, mod, &bm, []Change{upsert(change.OpUpdate, 25, 1, "late"), upsert(change.OpUpdate, 31, 2, "two2")}, "0 1 0 1 0")
	f.step(t, "late delete of the deleted key", small, mod, &bm, []Change{del(26, 1)}, "0 0 0 1 0")
	f.step(t, "delete of a key never seen", small, mod, &bm, []Change{del(32, 9)}, "0 0 0 0 1")
	f.step(t, "late insert of the key never seen", small, mod, &bm, []Change{upsert(change.OpInsert, 27, 9, "late")}, "0 0 0 1 0")
	f.step(t, "newer insert of the deleted key", small, mod, &bm, []Change{upsert(change.OpInsert, 40, 1, "again")}, "1 0 0 0 0")
}

// tombstoneHorizon: a late change of a deleted key is stale while the
// key's tombstone lives; once the horizon dropped it, the change applies.
func tombstoneHorizon(t *testing.T, f *fixture) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMicro())
	f.opts.Now = func() time.Time { return time.UnixMicro(clock.Add(1)).UTC() }
	f.opts.TombstoneHorizon = time.Hour
	mod := NewModel(small)
	var bm bookmarks.Bookmark
	f.step(t, "insert", small, mod, &bm, []Change{upsert(change.OpInsert, 5, 1, "a"), upsert(change.OpInsert, 5, 2, "b")}, "2 0 0 0 0")
	f.step(t, "delete", small, mod, &bm, []Change{del(10, 1)}, "0 0 1 0 0")
	f.step(t, "late update within the horizon", small, mod, &bm, []Change{upsert(change.OpUpdate, 7, 1, "late")}, "0 0 0 1 0")
	clock.Add((2 * time.Hour).Microseconds())
	// The next commit drops the expired tombstone.
	f.step(t, "a commit after the horizon", small, mod, &bm, []Change{upsert(change.OpUpdate, 11, 2, "b2")}, "0 1 0 0 0")
	delete(mod.Tombs, 1) // the model has no horizon
	f.step(t, "late update after the horizon", small, mod, &bm, []Change{upsert(change.OpUpdate, 7, 1, "late")}, "1 0 0 0 0")
}

// partialImages: a change that left columns out (a partial row image:
// Debezium's unchanged TOAST values, DMS's unsupported-value marker) keeps
// the stored row's values there; for a key without a stored row they are
// NULL and counted (KeptMissing).
func partialImages(t *testing.T, f *fixture) {
	cols := Columns[:4]
	mod := NewModel(cols)
	var bm bookmarks.Bookmark
	row := func(op change.Op, seq uint64, id int64, name string, qty int32, kept ...string) Change {
		c := Change{Op: op, Seq: seq, Vals: map[string]any{"id": id, "Name": name, "qty": qty, "price": int64(100 * id)}, Kept: kept}
		for _, k := range kept {
			delete(c.Vals, k)
		}
		return c
	}
	f.step(t, "load", cols, mod, &bm, []Change{row(change.OpInsert, 1, 1, "long text", 5), row(change.OpInsert, 1, 2, "b", 6)}, "2 0 0 0 0")
	f.step(t, "partial updates", cols, mod, &bm, []Change{
		row(change.OpUpdate, 2, 1, "", 7, "Name"),
		row(change.OpUpdate, 2, 2, "b2", 0, "qty", "price"),
		row(change.OpUpdate, 2, 3, "", 8, "Name"), // no stored row: Name stays NULL
	}, "1 2 0 0 0")
	if got := mod.Rows[3]["Name"]; got != "NULL" {
		t.Fatalf("model: a partial insert's left-out column is %s", got)
	}
	f.step(t, "delete", cols, mod, &bm, []Change{row(change.OpDelete, 3, 2, "", 0)}, "0 0 1 0 0")
	f.step(t, "partial image of the deleted key", cols, mod, &bm, []Change{row(change.OpUpdate, 4, 2, "", 9, "Name")}, "1 0 0 0 0")
}

// reload: a new load generation (truncateBefore) removes every stored row
// older than it whose key the reload does not hold, and the tombstones
// older than it; changes after it apply on top.
func reload(t *testing.T, f *fixture) {
	cols := small
	mod := NewModel(cols)
	var bm bookmarks.Bookmark
	f.step(t, "load", cols, mod, &bm, []Change{upsert(change.OpInsert, 1, 1, "a"), upsert(change.OpInsert, 1, 2, "b"), upsert(change.OpInsert, 1, 3, "c"), upsert(change.OpInsert, 1, 4, "d")}, "4 0 0 0 0")
	f.step(t, "cdc", cols, mod, &bm, []Change{upsert(change.OpUpdate, 5, 2, "b2"), del(6, 3)}, "0 1 1 0 0")
	gen := uint64(1000) // the new generation's _seq start
	rows := []Change{upsert(change.OpInsert, gen+1, 2, "b3"), upsert(change.OpInsert, gen+1, 5, "e")}
	rec := BuildChanges(t, f.mem, cols, rows, false)
	want := mod.Apply(rec, rows, &gen)
	bm = bm.Advance([]bookmarks.Entry{{Key: "reload", ETag: "e", Size: 1}})
	st := f.mustCommit(cols, rec, SeqBytes(gen), bm)
	rec.Release()
	if verdicts(st) != want || st.Deleted != 2 || st.Updated != 1 || st.Inserted != 1 {
		t.Fatalf("reload: stats %+v, model says %+v", st, want)
	}
	DiffRows(t, "after the reload", f.rows(cols), mod.Render())
	if _, ok := mod.Tombs[3]; ok {
		t.Fatal("model: the reload kept the older tombstone")
	}
	// Key 3's tombstone went with the reload: a change of the new
	// generation inserts it, however its _seq compares with the old one.
	f.step(t, "cdc after the reload", cols, mod, &bm, []Change{upsert(change.OpUpdate, gen+2, 3, "c2"), del(gen+2, 5)}, "1 0 1 0 0")
}

// schemaChange: a column added by Evolve reads NULL in the rows written
// before; Columns reports the columns in order; a type change that is not
// a widening is refused and changes nothing.
func schemaChange(t *testing.T, f *fixture) {
	ctx := context.Background()
	mod := NewModel(small)
	var bm bookmarks.Bookmark
	f.step(t, "two columns", small, mod, &bm, []Change{upsert(change.OpInsert, 1, 1, "a"), upsert(change.OpInsert, 1, 2, "b")}, "2 0 0 0 0")
	wide := append(slices.Clone(small), change.Column{Name: "note", Type: arrow.BinaryTypes.String}, change.Column{Name: "qty", Type: arrow.PrimitiveTypes.Int32})
	mod.AddColumn(wide[2])
	mod.AddColumn(wide[3])
	f.step(t, "two columns more", wide, mod, &bm, []Change{
		{Op: change.OpInsert, Seq: 2, Vals: map[string]any{"id": int64(3), "Name": "c", "note": "new", "qty": int32(3)}},
		{Op: change.OpUpdate, Seq: 2, Vals: map[string]any{"id": int64(1), "Name": "a2", "qty": int32(1)}},
	}, "1 1 0 0 0")
	x, err := f.open().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := x.Columns()
	if err != nil || !sameColumns(got, wide) {
		t.Fatalf("columns %v (%v), want %v", got, err, wide)
	}
	before := f.describe()
	bad := slices.Clone(wide)
	bad[1] = change.Column{Name: "Name", Type: arrow.PrimitiveTypes.Int64}
	x, err = f.open().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = x.Evolve(ctx, bad)
	if err == nil {
		rec := BuildChanges(t, f.mem, bad, []Change{{Op: change.OpUpdate, Seq: 3, Vals: map[string]any{"id": int64(1), "Name": int64(5)}}}, false)
		_, err = x.Apply(ctx, rec, nil)
		rec.Release()
		if err == nil {
			err = x.Commit(ctx, bm.Advance(nil))
		}
	}
	if err == nil || table.Retryable(err) {
		t.Fatalf("string → long: %v, want a permanent error", err)
	}
	if after := f.describe(); !sameColumns(after.Columns, wide) || !after.Bookmark.Equal(before.Bookmark) {
		t.Fatalf("a refused type change moved the table: columns %v, bookmark %s", after.Columns, after.Bookmark.Summary())
	}
	DiffRows(t, "after the refused change", f.rows(wide), mod.Render())
}

func sameColumns(a, b []change.Column) bool {
	return slices.EqualFunc(a, b, func(x, y change.Column) bool { return x.Name == y.Name && arrow.TypeEqual(x.Type, y.Type) })
}

// widening: int → long (the key too), float → double and decimal
// precision up; rows written before read with the new types, changes
// after it find the rows written before by key, and a widening without
// changes (Evolve, then Commit with no Apply) commits the new types too.
func widening(t *testing.T, f *fixture) {
	ctx := context.Background()
	narrow := []change.Column{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float32},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
	}
	wide := []change.Column{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float64},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}},
	}
	// Values that both types of a column print alike (quarters are exact
	// in float32).
	narrowRow := func(op change.Op, seq uint64, id int32) Change {
		return Change{Op: op, Seq: seq, Vals: map[string]any{"id": id, "qty": id * 3, "ratio": float32(id) / 4, "price": int64(id) * 125}}
	}
	wideRow := func(op change.Op, seq uint64, id int64, qty int64) Change {
		return Change{Op: op, Seq: seq, Vals: map[string]any{"id": id, "qty": qty, "ratio": float64(qty) / 4, "price": qty * 100}}
	}
	mod := NewModel(wide)
	var bm bookmarks.Bookmark
	commit := func(cols []change.Column, rows []Change) table.ApplyStats {
		t.Helper()
		rec := BuildChanges(t, f.mem, cols, rows, false)
		defer rec.Release()
		want := mod.Apply(rec, rows, nil)
		bm = bm.Advance(nil)
		st := f.mustCommit(cols, rec, nil, bm)
		if verdicts(st) != want {
			t.Fatalf("stats %+v, model says %+v", st, want)
		}
		return st
	}
	var rows []Change
	for id := int32(1); id <= 40; id++ {
		rows = append(rows, narrowRow(change.OpInsert, 1, id))
	}
	commit(narrow, rows)
	// Widening without changes.
	x, err := f.open().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, wide); err != nil {
		t.Fatal(err)
	}
	bm = bm.Advance(nil)
	if err := x.Commit(ctx, bm); err != nil {
		t.Fatal(err)
	}
	if info := f.describe(); !sameColumns(info.Columns, wide) || info.Rows != 40 || !info.Bookmark.Equal(bm) {
		t.Fatalf("after widening without changes: columns %v, %d rows, bookmark %s", info.Columns, info.Rows, info.Bookmark.Summary())
	}
	DiffRows(t, "after widening without changes", f.rows(wide), mod.Render())
	// Changes after it: values only the wide types hold, keys written
	// narrow and keys only the wide type holds.
	st := commit(wide, []Change{wideRow(change.OpUpdate, 2, 5, 1<<40), wideRow(change.OpDelete, 2, 6, 0), wideRow(change.OpInsert, 2, 1<<33, 7)})
	if st.Updated != 1 || st.Deleted != 1 || st.Inserted != 1 {
		t.Fatalf("changes after widening: %+v", st)
	}
	DiffRows(t, "after changes of the widened table", f.rows(wide), mod.Render())
}

// compositeKey: a two-column key, in another order than the columns,
// matches rows on both columns (no single-column pruning).
func compositeKey(t *testing.T, f *fixture) {
	cols := []change.Column{{Name: "region", Type: arrow.BinaryTypes.String}, {Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.BinaryTypes.String}}
	f.opts.Keys = []string{"id", "region"}
	row := func(op change.Op, seq uint64, region string, id int64, v string) Change {
		return Change{Op: op, Seq: seq, Vals: map[string]any{"region": region, "id": id, "v": v}}
	}
	var bm bookmarks.Bookmark
	for i, rows := range [][]Change{
		{row(change.OpInsert, 1, "eu", 1, "a"), row(change.OpInsert, 1, "us", 1, "c"), row(change.OpInsert, 1, "eu", 2, "b")},
		{row(change.OpDelete, 2, "us", 1, ""), row(change.OpUpdate, 2, "eu", 2, "B")},
		{row(change.OpUpdate, 1, "eu", 1, "late"), row(change.OpInsert, 3, "us", 2, "d")},
	} {
		rec := BuildChanges(t, f.mem, cols, rows, false)
		bm = bm.Advance(nil)
		if _, err := f.commit(cols, rec, nil, bm); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		rec.Release()
	}
	tbl, err := f.open().Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	var got []string
	for _, r := range TableRows(t, tbl, cols, "id") {
		got = append(got, strings.Join(strings.Fields(r)[:3], " "))
	}
	slices.Sort(got)
	if want := "region=eu id=1 v=a|region=eu id=2 v=B|region=us id=2 v=d"; strings.Join(got, "|") != want {
		t.Fatalf("rows %q, want %q", strings.Join(got, "|"), want)
	}
}

// describeAndRead: before the first run the table does not exist:
// Describe says so without an error, Read fails, VacuumPlan and Register
// do nothing. After it Describe reports the location, the columns, the
// rows and the bookmark committed.
func describeAndRead(t *testing.T, f *fixture) {
	ctx := context.Background()
	w := f.open()
	info, err := w.Describe(ctx)
	if err != nil || info.Exists {
		t.Fatalf("describe before the first run: %+v, %v", info, err)
	}
	if tbl, err := w.Read(ctx); err == nil {
		tbl.Release()
		t.Fatal("read of a table that does not exist succeeded")
	}
	if files, err := w.VacuumPlan(ctx, 0); err != nil || len(files) != 0 {
		t.Fatalf("vacuum plan before the first run: %v, %v", files, err)
	}
	if registered, err := w.Register(ctx, ""); err != nil || registered {
		t.Fatalf("register before the first run: %v, %v; want nothing to register", registered, err)
	}
	mod := NewModel(small)
	var bm bookmarks.Bookmark
	f.step(t, "first run", small, mod, &bm, []Change{upsert(change.OpInsert, 1, 1, "a"), upsert(change.OpInsert, 1, 2, "b"), del(1, 3)}, "2 0 0 0 1")
	info = f.describe()
	if !info.Exists || info.Location == "" || info.Rows != 2 || !sameColumns(info.Columns, small) || !info.Bookmark.Equal(bm) {
		t.Fatalf("describe after the first run: %+v", info)
	}
	if _, err := f.open().Register(ctx, ""); err != nil {
		t.Fatalf("register: %v", err)
	}
}
