package merge_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/merge"
)

// ---- reference model ---------------------------------------------------

// change1 is one source change, as the model and the file writer see it.
type change1 struct {
	op   byte // I U D
	id   int64
	name string
	seq  int64 // its position among the changes; 0 in a load
	// keepName: the change did not carry name (a partial row image); the
	// key keeps the name it had, NULL when it had no row.
	keepName bool
}

// model applies changes one by one in seq order: the plain reference.
type model map[int64]change1

func (m model) apply(cs []change1) {
	sorted := slices.Clone(cs)
	slices.SortStableFunc(sorted, func(a, b change1) int { return int(a.seq - b.seq) })
	for _, c := range sorted {
		if c.op == 'D' {
			delete(m, c.id)
			continue
		}
		if c.keepName {
			c.name = "NULL"
			if old, ok := m[c.id]; ok {
				c.name = old.name
			}
		}
		m[c.id] = c
	}
}

func (m model) render() string {
	ids := slices.Sorted(func(yield func(int64) bool) {
		for id := range m {
			if !yield(id) {
				return
			}
		}
	})
	var s strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&s, "%d|%s\n", id, m[id].name)
	}
	return s.String()
}

// gen makes random changes: inserts of new keys, then updates, deletes
// and re-inserts.
type gen struct {
	rng  *rand.Rand
	seq  int64
	keys int
	live map[int64]bool
}

func newGen(seed uint64, keys int) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), keys: keys, live: map[int64]bool{}}
}

func (g *gen) next() change1 {
	g.seq++
	id := int64(g.rng.IntN(g.keys))
	c := change1{id: id, seq: g.seq, name: fmt.Sprintf("n%d", g.seq)}
	switch {
	case !g.live[id]:
		c.op = 'I'
		g.live[id] = true
	case g.rng.IntN(4) == 0:
		c.op = 'D'
		g.live[id] = false
	default:
		c.op = 'U'
		c.keepName = g.rng.IntN(5) == 0
	}
	return c
}

// body renders changes as a lineFormat file.
func body(cs []change1) string {
	var b strings.Builder
	for _, c := range cs {
		name := c.name
		switch {
		case c.keepName:
			name = "~"
		case c.op == 'D':
			name = ""
		}
		fmt.Fprintf(&b, "%c,%d,%s,%d\n", c.op, c.id, name, c.seq)
	}
	return b.String()
}

// ---- harness -----------------------------------------------------------

type env struct {
	t   *testing.T
	raw *memRaw
	tbl *memTable
	mem *memory.CheckedAllocator
	cdc int // CDC files written
}

func newEnv(t *testing.T) *env {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return &env{t: t, raw: newRaw(), tbl: newMemTable(mem), mem: mem}
}

const prefix = "public/items/"

func (e *env) table(target merge.Target) *merge.Table {
	return &merge.Table{Name: "items", Prefix: prefix, Keys: []string{"id"}, Columns: lineCols,
		Raw: e.raw, Format: lineFormat{}, Target: target, Mem: e.mem}
}

func (e *env) run() merge.Result {
	e.t.Helper()
	res, err := e.table(e.tbl).Run(context.Background())
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return res
}

// writeCDC writes the next CDC file; it returns its key.
func (e *env) writeCDC(cs []change1) string {
	e.cdc++
	key := fmt.Sprintf("%scdc-%06d", prefix, e.cdc)
	e.raw.put(key, body(cs))
	return key
}

func (e *env) bookmark() bookmarks.Bookmark { return e.tbl.current().bm }

func diff(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s: first difference at row %d:\n got: %s\nwant: %s\n(%d vs %d rows)", what, i, g, w, len(gl)-1, len(wl)-1)
		}
	}
}

// ---- tests -------------------------------------------------------------

// TestRunsMatchModel: random inserts, updates, deletes, re-inserts and
// partial images in several files a run, over several runs, with a full
// load first; after every run the table equals the reference model
// (invariants 3, 4 and 5: dedupe across files and batches picks each
// key's latest change, a partial image takes its left-out value from an
// earlier change of the run or the stored row).
func TestRunsMatchModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			e := newEnv(t)
			g := newGen(seed, 60)
			m := model{}
			var load []change1
			for id := int64(0); id < 30; id++ {
				g.live[id] = true
				load = append(load, change1{op: 'I', id: id, name: fmt.Sprint("load", id)})
			}
			e.raw.put(prefix+"load-1", body(load[:15]))
			e.raw.put(prefix+"load-2", body(load[15:]))
			m.apply(load)
			for run := range 5 {
				for range 1 + g.rng.IntN(3) {
					var cs []change1
					for range g.rng.IntN(40) {
						cs = append(cs, g.next())
					}
					e.writeCDC(cs)
					m.apply(cs)
				}
				if res := e.run(); res.Files == 0 {
					t.Fatalf("run %d absorbed nothing", run)
				}
				diff(t, fmt.Sprint("run ", run), e.tbl.render(), m.render())
			}
			if res := e.run(); !res.UpToDate {
				t.Fatalf("a run with no new files did something: %+v", res)
			}
		})
	}
}

// TestSplitIndependence: the same changes absorbed in one run and in one
// run per file give the same table (invariant 5).
func TestSplitIndependence(t *testing.T) {
	g := newGen(7, 25)
	var files [][]change1
	for range 6 {
		var cs []change1
		for range 5 + g.rng.IntN(30) {
			cs = append(cs, g.next())
		}
		files = append(files, cs)
	}
	one, many := newEnv(t), newEnv(t)
	m := model{}
	for _, cs := range files {
		one.writeCDC(cs)
		many.writeCDC(cs)
		many.run()
		m.apply(cs)
	}
	one.run()
	diff(t, "one run", one.tbl.render(), m.render())
	diff(t, "run per file", many.tbl.render(), m.render())
}

// TestLateFileIsStale: a file that arrives after newer files, holding
// older changes of keys the table has, changes none of them; its new keys
// land (invariant 4: merge hands the table every change with its _seq,
// and the table keeps the newest).
func TestLateFileIsStale(t *testing.T) {
	e := newEnv(t)
	e.raw.put(prefix+"cdc-000002", body([]change1{{op: 'I', id: 1, name: "new", seq: 20}}))
	e.run()
	e.raw.put(prefix+"cdc-000001", body([]change1{{op: 'U', id: 1, name: "old", seq: 10}, {op: 'I', id: 2, name: "two", seq: 11}}))
	res := e.run()
	if res.Stats.Stale != 1 || res.Stats.Inserted != 1 {
		t.Fatalf("stats %+v, want 1 stale, 1 inserted", res.Stats)
	}
	diff(t, "after the late file", e.tbl.render(), "1|new\n2|two\n")
}

// TestMalformedStopsTable: a bad file stops the table with file and line,
// the bookmark does not move, and after the file is fixed the run
// completes (invariant 6).
func TestMalformedStopsTable(t *testing.T) {
	e := newEnv(t)
	e.writeCDC([]change1{{op: 'I', id: 1, name: "a", seq: 1}})
	e.run()
	before := e.bookmark()
	bad := "I,2,b,2\nI,x,c,3\n"
	key := e.writeCDC(nil)
	e.raw.put(key, bad)
	_, err := e.table(e.tbl).Run(context.Background())
	if !errors.Is(err, change.ErrMalformed) {
		t.Fatalf("got %v, want a malformed-input error", err)
	}
	for _, want := range []string{key, "line 2", `id "x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if !e.bookmark().Equal(before) {
		t.Fatal("bookmark moved past a malformed file")
	}
	diff(t, "after the failure", e.tbl.render(), "1|a\n")
	e.raw.put(key, strings.Replace(bad, "x", "3", 1))
	e.run()
	diff(t, "after the fix", e.tbl.render(), "1|a\n2|b\n3|c\n")
}

// TestFirstMalformedFileInApplyOrder: files are decoded concurrently, yet
// with two bad files the error names the first in apply order, even when
// the later one fails first.
func TestFirstMalformedFileInApplyOrder(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two decoding workers (GOMAXPROCS >= 2) to decode the later file first")
	}
	for trial := range 5 {
		e := newEnv(t)
		first := e.writeCDC(nil)
		e.raw.put(first, "I,1,a,1\nI,2,b,oops\n")
		second := e.writeCDC(nil)
		e.raw.put(second, "bad\n")
		secondOpened := make(chan struct{})
		tbl := e.table(e.tbl)
		tbl.Format = lineFormat{opened: func(key string) {
			switch key {
			case first:
				<-secondOpened // decode the second (and fail) first
			case second:
				close(secondOpened)
			}
		}}
		_, err := tbl.Run(context.Background())
		if !errors.Is(err, change.ErrMalformed) || !strings.Contains(err.Error(), first) || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("trial %d: got %v, want the error of %s line 2", trial, err, first)
		}
	}
}

// TestReloadStartsNewGeneration: a full load written again after CDC (a
// DMS reload) starts a new load generation: keys missing from the new
// load are deleted, and later CDC applies on top.
func TestReloadStartsNewGeneration(t *testing.T) {
	e := newEnv(t)
	e.raw.put(prefix+"load-1", body([]change1{{op: 'I', id: 1, name: "a"}, {op: 'I', id: 2, name: "b"}}))
	e.writeCDC([]change1{{op: 'U', id: 2, name: "b2", seq: 5}, {op: 'I', id: 3, name: "c", seq: 6}})
	e.run()
	diff(t, "before the reload", e.tbl.render(), "1|a\n2|b2\n3|c\n")
	e.raw.put(prefix+"load-1", body([]change1{{op: 'I', id: 2, name: "b3"}, {op: 'I', id: 4, name: "d"}}))
	res := e.run()
	if res.Bookmark.Generation != 1 || res.Stats.Deleted != 2 {
		t.Fatalf("generation %d, stats %+v; want generation 1, 2 rows deleted", res.Bookmark.Generation, res.Stats)
	}
	diff(t, "after the reload", e.tbl.render(), "2|b3\n4|d\n")
	e.writeCDC([]change1{{op: 'D', id: 4, seq: 1}})
	e.run()
	diff(t, "cdc after the reload", e.tbl.render(), "2|b3\n")
}

// TestReloadOverSeveralRuns: DMS writes a reload's load files one by one,
// so runs can see part of the new load. The runs that absorb the rest stay
// in the reload's generation (not start another one that deletes what the
// first run loaded), and end with the table one run over the whole reload
// gives. After CDC of the new generation, a further reload starts a new
// generation again.
func TestReloadOverSeveralRuns(t *testing.T) {
	load1 := []change1{{op: 'I', id: 1, name: "a"}, {op: 'I', id: 2, name: "b"}}
	load2 := []change1{{op: 'I', id: 3, name: "c"}, {op: 'I', id: 4, name: "d"}}
	reload1 := []change1{{op: 'I', id: 1, name: "a2"}, {op: 'I', id: 2, name: "b2"}}
	reload2 := []change1{{op: 'I', id: 3, name: "c2"}, {op: 'I', id: 6, name: "f"}}
	start := func(t *testing.T) *env {
		e := newEnv(t)
		e.raw.put(prefix+"load-1", body(load1))
		e.raw.put(prefix+"load-2", body(load2))
		e.writeCDC([]change1{{op: 'U', id: 2, name: "b1", seq: 1}, {op: 'I', id: 5, name: "e", seq: 2}})
		e.run()
		diff(t, "before the reload", e.tbl.render(), "1|a\n2|b1\n3|c\n4|d\n5|e\n")
		return e
	}
	want := "1|a2\n2|b2\n3|c2\n6|f\n"

	one := start(t)
	one.raw.put(prefix+"load-1", body(reload1))
	one.raw.put(prefix+"load-2", body(reload2))
	if res := one.run(); res.Bookmark.Generation != 1 {
		t.Fatalf("one run: generation %d, want 1", res.Bookmark.Generation)
	}
	diff(t, "reload in one run", one.tbl.render(), want)

	e := start(t)
	e.raw.put(prefix+"load-1", body(reload1))
	if res := e.run(); res.Bookmark.Generation != 1 {
		t.Fatalf("first part: generation %d, want 1", res.Bookmark.Generation)
	}
	e.raw.put(prefix+"load-2", body(reload2))
	if res := e.run(); res.Bookmark.Generation != 1 {
		t.Fatalf("second part: generation %d, want 1 (the reload's)", res.Bookmark.Generation)
	}
	diff(t, "reload over two runs", e.tbl.render(), want)

	e.writeCDC([]change1{{op: 'D', id: 6, seq: 1}})
	e.run()
	diff(t, "cdc after the reload", e.tbl.render(), "1|a2\n2|b2\n3|c2\n")
	e.raw.put(prefix+"load-1", body(load1))
	if res := e.run(); res.Bookmark.Generation != 2 {
		t.Fatalf("second reload: generation %d, want 2", res.Bookmark.Generation)
	}
	diff(t, "second reload", e.tbl.render(), "1|a\n2|b\n")
}

// TestTruncate: a truncate event removes every row older than it, stored
// or among the changes of the same run, and the changes after it apply.
func TestTruncate(t *testing.T) {
	e := newEnv(t)
	e.writeCDC([]change1{{op: 'I', id: 1, name: "a", seq: 1}, {op: 'I', id: 2, name: "b", seq: 2}})
	e.run()
	key := e.writeCDC(nil)
	e.raw.put(key, "I,3,c,5\nT,,,10\nI,4,d,20\n")
	res := e.run()
	if res.Stats.Deleted != 2 || res.Stats.Inserted != 1 {
		t.Fatalf("stats %+v, want 2 deleted by the truncate, 1 inserted after it", res.Stats)
	}
	diff(t, "after the truncate", e.tbl.render(), "4|d\n")
}

// TestSchemaEvolution: a configured type that grows (int → long) widens
// the table's column, a new configured column is added, and a type change
// that is not a widening stops the table with a message naming the
// column, leaving table and bookmark as they were.
func TestSchemaEvolution(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	run := func(cols []change.Column) error {
		tbl := e.table(e.tbl)
		tbl.Columns = cols
		_, err := tbl.Run(ctx)
		return err
	}
	columns := func() string {
		var s []string
		for _, c := range e.tbl.current().cols {
			s = append(s, c.Name+" "+change.TypeName(c.Type))
		}
		return strings.Join(s, ", ")
	}
	qty := func(t arrow.DataType) []change.Column {
		return append(slices.Clone(lineCols), change.Column{Name: "qty", Type: t})
	}
	e.writeCDC([]change1{{op: 'I', id: 1, name: "a", seq: 1}})
	if err := run(qty(arrow.PrimitiveTypes.Int32)); err != nil {
		t.Fatal(err)
	}
	if got := columns(); got != "id long, name string, qty int" {
		t.Fatalf("columns %s", got)
	}
	e.writeCDC([]change1{{op: 'I', id: 2, name: "b", seq: 2}})
	wide := append(qty(arrow.PrimitiveTypes.Int64), change.Column{Name: "note", Type: arrow.BinaryTypes.String})
	if err := run(wide); err != nil {
		t.Fatal(err)
	}
	if got := columns(); got != "id long, name string, qty long, note string" {
		t.Fatalf("columns after evolution %s", got)
	}
	before := e.bookmark()
	e.writeCDC([]change1{{op: 'U', id: 1, name: "x", seq: 3}})
	bad := slices.Clone(wide)
	bad[2].Type = arrow.BinaryTypes.String
	if err := run(bad); err == nil || !strings.Contains(err.Error(), "qty") {
		t.Fatalf("got %v, want an error naming column qty", err)
	}
	if !e.bookmark().Equal(before) || columns() != "id long, name string, qty long, note string" {
		t.Fatal("a refused type change moved the table")
	}
}

// maintainingTarget's Txns report a maintenance error after their commit
// while fail is set (Delta's checkpoint that could not be written).
type maintainingTarget struct {
	*memTable
	fail bool
}

func (m *maintainingTarget) Begin(ctx context.Context) (merge.Txn, error) {
	x, err := m.memTable.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return maintainingTxn{x, m}, nil
}

type maintainingTxn struct {
	merge.Txn
	m *maintainingTarget
}

func (x maintainingTxn) MaintenanceErr() error {
	if x.m.fail {
		return errors.New("maintenance after version 1: checkpoint: folder in the way")
	}
	return nil
}

// TestMaintenanceFailureIsAWarning: when the maintenance that follows a
// commit fails (merge.Maintainer), the commit stands, the run succeeds and
// says so in Result.Warnings; the next run has no warning.
func TestMaintenanceFailureIsAWarning(t *testing.T) {
	e := newEnv(t)
	target := &maintainingTarget{memTable: e.tbl, fail: true}
	e.writeCDC([]change1{{op: 'I', id: 1, name: "a", seq: 1}})
	var events []merge.EventKind
	tbl := e.table(target)
	tbl.Observe = func(ev merge.Event) { events = append(events, ev.Kind) }
	res, err := tbl.Run(context.Background())
	if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "maintenance") || !slices.Contains(events, merge.EventMaintenanceFailed) {
		t.Fatalf("run with failing maintenance: %+v, %v, events %v", res, err, events)
	}
	diff(t, "table", e.tbl.render(), "1|a\n")
	target.fail = false
	e.writeCDC([]change1{{op: 'U', id: 1, name: "b", seq: 2}})
	if res, err := e.table(target).Run(context.Background()); err != nil || len(res.Warnings) != 0 || res.Stats.Updated != 1 {
		t.Fatalf("next run: %+v, %v", res, err)
	}
}
