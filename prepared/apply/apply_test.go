//go:build duckdb_arrow && cgo

package apply

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/prepared"
	"github.com/lakemerge/lakemerge/prepared/transform"
	"github.com/lakemerge/lakemerge/table/delta"
)

// deltaTarget is table/delta as a Target.
type deltaTarget struct{ t *delta.Table }

func (d deltaTarget) Begin(ctx context.Context) (Txn, error) {
	x, err := d.t.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// TestKeepMirrorModel: a mirror table kept by Keep after each commit of a
// base table (both real Delta tables in memory, the SQL evaluated by the
// real engine) over random change sets holds the curated rows of the base
// table's live rows that pass where, whichever way each run goes; every
// Arrow buffer Keep allocates is released.
func TestKeepMirrorModel(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	wmem := memory.NewGoAllocator()
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)

	long, _ := change.ParseType("long")
	str, _ := change.ParseType("string")
	cols := []change.Column{{Name: "id", Type: long}, {Name: "v", Type: long}, {Name: "tag", Type: str}}
	base := delta.New(store, "base/t/", delta.Options{Name: "base.t", Keys: []string{"id"}}, wmem)
	mirror := delta.New(store, "prepared/t/", delta.Options{Name: "prepared.t", Keys: []string{"key"}}, wmem)
	engine, err := transform.Open(ctx, transform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	def := prepared.Definition{Mode: prepared.Mirror, Format: "delta",
		Select: []string{"id AS key", "v * 10 AS v10", "upper(tag) AS tag"}, Where: "v % 3 <> 0 AND tag IS NOT NULL"}
	keep := &Table{Name: "prepared.t", BaseTable: "t", Def: def, BaseKeys: []string{"id"}, Keys: []string{"key"},
		OnChange: "stop", RebuildCommand: "lakemerge rebuild", Target: deltaTarget{mirror}, Mem: checked,
		Compile: func(ctx context.Context, base []change.Column) (Program, error) {
			p, err := engine.Compile(ctx, base, transform.Definition{Select: def.Select, Where: def.Where})
			if err != nil {
				return nil, err
			}
			return p, nil
		}}

	type row struct {
		v   int64
		tag string // "" is NULL
	}
	live := map[int64]row{}
	rng := rand.New(rand.NewPCG(3, 4))
	var bm bookmarks.Bookmark
	seq := uint32(0)
	hows := map[string]int{}
	for run := range 12 {
		// One change per key, sorted by key, as dedupe leaves them.
		keys := map[int64]bool{}
		for range rng.IntN(12) {
			keys[int64(rng.IntN(20))] = true
		}
		ids := make([]int64, 0, len(keys))
		for k := range keys {
			ids = append(ids, k)
		}
		slices.Sort(ids)
		b := array.NewRecordBuilder(wmem, change.Schema(cols))
		for _, id := range ids {
			seq++
			var sb change.SeqBuilder
			op := change.OpUpdate
			r := row{v: int64(rng.IntN(10))}
			if rng.IntN(3) > 0 {
				r.tag = fmt.Sprintf("t%d", rng.IntN(3))
			}
			if rng.IntN(4) == 0 {
				op = change.OpDelete
				delete(live, id)
			} else {
				live[id] = r
			}
			b.Field(0).(*array.Int64Builder).Append(id)
			b.Field(1).(*array.Int64Builder).Append(r.v)
			if r.tag == "" {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.StringBuilder).Append(r.tag)
			}
			b.Field(3).(*array.Int8Builder).Append(int8(op))
			b.Field(4).(*array.BinaryBuilder).Append(sb.Uint32(0).Uint32(seq).Bytes())
		}
		changes := b.NewRecordBatch()
		b.Release()

		txn, err := base.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		parent := txn.Bookmark()
		next := parent.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("f%03d.csv", run), ETag: "e", Size: 1}})
		if err := txn.Evolve(ctx, cols); err != nil {
			t.Fatal(err)
		}
		st, err := txn.Apply(ctx, changes, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Commit(ctx, next); err != nil {
			t.Fatal(err)
		}
		bm = next
		r := Run{Changes: changes, Parent: parent, Next: bm, Stale: st.Stale}
		if run == 4 {
			changes.Release()
			continue // as after a crash between the commits
		}
		if run == 5 {
			r = Run{} // and again: a catch-up from the two commits
		}
		res, err := keep.Keep(ctx, base, r)
		changes.Release()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		hows[res.How]++
		if run == 5 && (res.How != HowCatchUp || res.CatchUp.Commits != 2 || res.CatchUp.Steps != 1) {
			t.Fatalf("run %d: %+v, want a catch-up from 2 commits", run, res)
		}

		var want []string
		for id, r := range live {
			if r.v%3 != 0 && r.tag != "" {
				want = append(want, fmt.Sprintf("%d %d %s", id, r.v*10, strings.ToUpper(r.tag)))
			}
		}
		sort.Strings(want)
		tbl, err := mirror.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		tr := array.NewTableReader(tbl, 1024)
		for tr.Next() {
			rec := tr.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				got = append(got, fmt.Sprintf("%d %d %s", rec.Column(0).(*array.Int64).Value(i), rec.Column(1).(*array.Int64).Value(i), rec.Column(2).(*array.String).Value(i)))
			}
		}
		tr.Release()
		tbl.Release()
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Fatalf("run %d (%s): mirror\n%s\nmodel\n%s", run, res.How, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// Keeping again finds nothing to do.
		if res, err := keep.Keep(ctx, base, Run{}); err != nil || res.How != HowUpToDate {
			t.Fatalf("run %d again: %+v, %v", run, res, err)
		}
	}
	// The first run finds a new table (catch-up from the whole base
	// table: no state to start from), run 5 catches up from the commits.
	if hows[HowCatchUp] != 1 || hows[HowCatchUpWhole] != 1 || hows[HowChanges] != 9 {
		t.Errorf("ways: %v", hows)
	}

	// Another definition: stop names the command; rebuild rebuilds.
	keep.Def.Where = "v % 2 = 0"
	if _, err := keep.Keep(ctx, base, Run{}); err == nil || !strings.Contains(err.Error(), "rebuild it with `lakemerge rebuild`") {
		t.Fatalf("changed definition: %v", err)
	}
	res, err := keep.Rebuild(ctx, base)
	if err != nil || res.How != HowRebuild || res.Rows != int64(len(live)) {
		t.Fatalf("rebuild: %+v, %v (%d live rows)", res, err, len(live))
	}
}

// TestKeepChangelogModel: a changelog table kept by Keep after each commit
// of a base table (real Delta tables in memory, the real SQL engine) holds
// exactly what a plain model appends: per run, each delete and each insert
// or update that passes where, with its op, its commit time (_ts) and its
// order key; two runs missed (as after a crash between the commits) are
// caught up from the base table's commits, one after the other, with
// their ops and without commit times, and keeping again appends nothing.
func TestKeepChangelogModel(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	wmem := memory.NewGoAllocator()
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer checked.AssertSize(t, 0)

	long, _ := change.ParseType("long")
	str, _ := change.ParseType("string")
	cols := []change.Column{{Name: "id", Type: long}, {Name: "v", Type: long}, {Name: "tag", Type: str}}
	base := delta.New(store, "base/t/", delta.Options{Name: "base.t", Keys: []string{"id"}}, wmem)
	log := delta.New(store, "prepared/log/", delta.Options{Name: "prepared.log", Keys: ChangelogKeys()}, wmem)
	engine, err := transform.Open(ctx, transform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	def := prepared.Definition{Mode: prepared.Changelog, Format: "delta",
		Select: []string{"id", "v * 10 AS v10", "upper(tag) AS tag"}, Where: "v % 3 <> 0 AND tag IS NOT NULL"}
	var keep *Table
	keep = &Table{Name: "prepared.log", BaseTable: "t", Def: def, BaseKeys: []string{"id"},
		OnChange: "stop", RebuildCommand: "lakemerge rebuild", Target: deltaTarget{log}, Mem: checked,
		Compile: func(ctx context.Context, base []change.Column) (Program, error) {
			p, err := engine.Compile(ctx, base, transform.Definition{Select: keep.Def.Select, Where: keep.Def.Where})
			if err != nil {
				return nil, err
			}
			return p, nil
		}}

	type row struct {
		v   int64
		tag string // "" is NULL
		seq string // hex of the base _seq of the key's latest change
	}
	upperOrNull := func(s string) string {
		if s == "" {
			return "NULL"
		}
		return strings.ToUpper(s)
	}
	live := map[int64]row{}
	var model []string  // "order_key|op|commit_time|id|v10|tag"
	var missed []string // the rows of the runs the changelog missed
	rng := rand.New(rand.NewPCG(5, 6))
	seq := uint32(0)
	schema := arrow.NewSchema(append(change.Schema(cols).Fields(), arrow.Field{Name: change.ColTS, Type: change.TSType(), Nullable: true}), nil)
	for run := range 10 {
		keys := map[int64]bool{}
		for range rng.IntN(10) {
			keys[int64(rng.IntN(15))] = true
		}
		ids := make([]int64, 0, len(keys))
		for k := range keys {
			ids = append(ids, k)
		}
		slices.Sort(ids)
		var appended []string
		before := maps.Clone(live)
		b := array.NewRecordBuilder(wmem, schema)
		for _, id := range ids {
			seq++
			var sb change.SeqBuilder
			s := sb.Uint32(0).Uint32(seq).Bytes()
			op := change.OpUpdate
			if _, ok := live[id]; !ok {
				op = change.OpInsert
			}
			r := row{v: int64(rng.IntN(10)), seq: fmt.Sprintf("%x", s)}
			if rng.IntN(3) > 0 {
				r.tag = fmt.Sprintf("t%d", rng.IntN(3))
			}
			if rng.IntN(4) == 0 {
				op = change.OpDelete
				delete(live, id)
			} else {
				live[id] = r
			}
			ts := int64(1_700_000_000_000_000) + int64(seq)*1000
			if op == change.OpDelete || (r.v%3 != 0 && r.tag != "") {
				appended = append(appended, fmt.Sprintf("%x|%s|%d|%d|%d|%s", s, op, ts, id, r.v*10, upperOrNull(r.tag)))
			}
			b.Field(0).(*array.Int64Builder).Append(id)
			b.Field(1).(*array.Int64Builder).Append(r.v)
			if r.tag == "" {
				b.Field(2).AppendNull()
			} else {
				b.Field(2).(*array.StringBuilder).Append(r.tag)
			}
			b.Field(3).(*array.Int8Builder).Append(int8(op))
			b.Field(4).(*array.BinaryBuilder).Append(s)
			b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(ts))
		}
		changes := b.NewRecordBatch()
		b.Release()

		txn, err := base.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		parent := txn.Bookmark()
		next := parent.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("f%03d.csv", run), ETag: "e", Size: 1}})
		if err := txn.Evolve(ctx, cols); err != nil {
			t.Fatal(err)
		}
		st, err := txn.Apply(ctx, changes, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := txn.Commit(ctx, next); err != nil {
			t.Fatal(err)
		}
		r := Run{Changes: changes, Parent: parent, Next: next, Stale: st.Stale}
		if run == 6 || run == 7 {
			// As after a crash between the commits, twice: the next run
			// catches up from the base table's commits it missed, one
			// after the other, and appends their net changes without
			// commit times: the keys a commit deleted (the key only, at
			// the deleted row's order key and a 0 byte), and the rows it
			// wrote that pass where, I for a key that was not live, U
			// for one that was.
			r = Run{}
			for _, id := range ids {
				was, wasLive := before[id]
				lr, isLive := live[id]
				switch {
				case !isLive && wasLive:
					missed = append(missed, fmt.Sprintf("%s00|D|NULL|%d|(null)|NULL", was.seq, id))
				case isLive && lr.v%3 != 0 && lr.tag != "":
					op := "I"
					if wasLive {
						op = "U"
					}
					missed = append(missed, fmt.Sprintf("%s|%s|NULL|%d|%d|%s", lr.seq, op, id, lr.v*10, upperOrNull(lr.tag)))
				}
			}
			appended = missed
			if run == 6 {
				changes.Release()
				continue // the prepared commit failed
			}
		}
		res, err := keep.Keep(ctx, base, r)
		changes.Release()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if run == 7 && (res.How != HowCatchUp || res.CatchUp == nil || res.CatchUp.Commits != 2 || res.CatchUp.Steps != 2) {
			t.Fatalf("run %d: %+v, want a catch-up from 2 commits", run, res)
		}
		model = append(model, appended...)
		want := slices.Clone(model)
		sort.Strings(want)
		got := readChangelog(t, ctx, log)
		if !slices.Equal(got, want) {
			t.Fatalf("run %d (%s): changelog\n%s\nmodel\n%s", run, res.How, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// Keeping again, and a catch-up over what is there, append nothing.
		if res, err := keep.Keep(ctx, base, Run{}); err != nil || res.How != HowUpToDate {
			t.Fatalf("run %d again: %+v, %v", run, res, err)
		}
	}

	// A rebuild starts the changelog over: the live rows that pass the new
	// where, as I without a commit time.
	keep.Def.Where = "v % 2 = 0"
	rb, err := keep.Rebuild(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if rb.How != HowRebuild {
		t.Fatalf("rebuild: %+v", rb)
	}
	var want []string
	for id, lr := range live {
		if lr.v%2 == 0 {
			want = append(want, fmt.Sprintf("%s|I|NULL|%d|%d|%s", lr.seq, id, lr.v*10, upperOrNull(lr.tag)))
		}
	}
	sort.Strings(want)
	if got := readChangelog(t, ctx, log); !slices.Equal(got, want) {
		t.Fatalf("rebuild: changelog\n%s\nmodel\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// readChangelog reads a changelog table as sorted
// "order_key|op|commit_time|id|v10|tag" lines.
func readChangelog(t *testing.T, ctx context.Context, tb *delta.Table) []string {
	t.Helper()
	tbl, err := tb.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	var got []string
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		c := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		for i := 0; i < int(rec.NumRows()); i++ {
			ts := "NULL"
			if a := c("commit_time"); a.IsValid(i) {
				ts = fmt.Sprint(int64(a.(*array.Timestamp).Value(i)))
			}
			tag := "NULL"
			if a := c("tag"); a.IsValid(i) {
				tag = a.(*array.String).Value(i)
			}
			got = append(got, fmt.Sprintf("%x|%s|%s|%s|%s|%s", c("order_key").(*array.Binary).Value(i), c("op").(*array.String).Value(i),
				ts, c("id").ValueStr(i), c("v10").ValueStr(i), tag))
		}
	}
	sort.Strings(got)
	return got
}
