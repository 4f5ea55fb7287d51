//go:build duckdb_arrow && cgo

package apply

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/delta"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// historyRig is a base table and its history table (real Delta tables in
// memory, the SQL evaluated by the real engine): id, v, tag → id, v10,
// tag (upper), where v % 3 <> 0.
type historyRig struct {
	t       *testing.T
	ctx     context.Context
	base    *delta.Table
	hist    *delta.Table
	keep    *Table
	cols    []change.Column
	schema  *arrow.Schema
	wmem    memory.Allocator
	run     int
	checked *memory.CheckedAllocator
	last    Result // what the last commit's Keep did
	// journal makes the base commits carry a journal of their changes
	// (delta.Txn.Journal), as for a base table of a history in a run.
	journal bool
	// owned hands each run's change set over to Keep (Run.Owned), made
	// by recMem, whose size the test checks.
	owned  bool
	recMem memory.Allocator
}

func newHistoryRig(t *testing.T) *historyRig {
	t.Helper()
	ctx := context.Background()
	store := mem.New()
	wmem := memory.NewGoAllocator()
	checked := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { checked.AssertSize(t, 0) })
	long, _ := change.ParseType("long")
	str, _ := change.ParseType("string")
	cols := []change.Column{{Name: "id", Type: long}, {Name: "v", Type: long}, {Name: "tag", Type: str}}
	base := delta.New(store, "base/t/", delta.Options{Name: "base.t", Keys: []string{"id"}}, wmem)
	hist := delta.New(store, "prepared/h/", delta.Options{Name: "prepared.h", Keys: HistoryKeys([]string{"id"})}, wmem)
	engine, err := transform.Open(ctx, transform.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	def := prepared.Definition{Mode: prepared.History, Format: "delta",
		Select: []string{"id", "v * 10 AS v10", "upper(tag) AS tag"}, Where: "v % 3 <> 0"}
	r := &historyRig{t: t, ctx: ctx, base: base, hist: hist, cols: cols, wmem: wmem, checked: checked,
		schema: arrow.NewSchema(append(change.Schema(cols).Fields(), arrow.Field{Name: change.ColTS, Type: change.TSType(), Nullable: true}), nil)}
	r.keep = &Table{Name: "prepared.h", BaseTable: "t", Def: def, BaseKeys: []string{"id"}, Keys: []string{"id"},
		OnChange: "stop", RebuildCommand: "lakemerge rebuild", Target: deltaTarget{hist}, Stored: hist, Mem: checked,
		Compile: func(ctx context.Context, base []change.Column) (Program, error) {
			p, err := engine.Compile(ctx, base, transform.Definition{Select: r.keep.Def.Select, Where: r.keep.Def.Where})
			if err != nil {
				return nil, err
			}
			return p, nil
		}}
	return r
}

// hChange is one change of a test run: op, key, order key (a number),
// commit time (seconds; < 0 for none), v and tag ("" is NULL).
type hChange struct {
	op     change.Op
	id     int64
	seq    uint32
	ts     int64
	v      int64
	tag    string
	passes bool // set by the rig: v % 3 <> 0
}

func hSeq(n uint32) []byte {
	var sb change.SeqBuilder
	return slices.Clone(sb.Uint32(0).Uint32(n).Bytes())
}

const hEpoch = int64(1_700_000_000_000_000) // µs

// commit commits changes (one per key) to the base table and keeps the
// history table with them (or, with lost set, as after a crash between
// the commits: Keep without the run). It returns how Keep went.
func (r *historyRig) commit(changes []hChange, lost bool) string {
	t := r.t
	t.Helper()
	rec, run := r.commitBase(changes)
	defer rec.Release()
	if lost {
		run = Run{}
	}
	if r.owned && !lost {
		rec.Retain() // the reference Keep takes over
		run.Owned = true
	}
	res, err := r.keep.Keep(r.ctx, r.base, run)
	if err != nil {
		t.Fatalf("run %d: %v", r.run, err)
	}
	r.last = res
	// Keeping again does nothing.
	if again, err := r.keep.Keep(r.ctx, r.base, Run{}); err != nil || again.How != HowUpToDate {
		t.Fatalf("run %d again: %+v, %v", r.run, again, err)
	}
	return res.How
}

// commitBase commits changes (one per key) to the base table and returns
// them (the caller releases the batch) and the Run it made.
func (r *historyRig) commitBase(changes []hChange) (arrow.RecordBatch, Run) {
	t := r.t
	t.Helper()
	r.run++
	slices.SortFunc(changes, func(a, b hChange) int { return int(a.id - b.id) })
	b := array.NewRecordBuilder(cmp.Or[memory.Allocator](r.recMem, r.wmem), r.schema)
	for _, c := range changes {
		b.Field(0).(*array.Int64Builder).Append(c.id)
		b.Field(1).(*array.Int64Builder).Append(c.v)
		if c.tag == "" {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(c.tag)
		}
		b.Field(3).(*array.Int8Builder).Append(int8(c.op))
		b.Field(4).(*array.BinaryBuilder).Append(hSeq(c.seq))
		if c.ts < 0 {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(hEpoch + c.ts*1_000_000))
		}
	}
	rec := b.NewRecordBatch()
	b.Release()
	txn, err := r.base.Begin(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	parent := txn.Bookmark()
	next := parent.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("f%03d.csv", r.run), ETag: "e", Size: 1}})
	if err := txn.Evolve(r.ctx, r.cols); err != nil {
		t.Fatal(err)
	}
	if r.journal {
		txn.Journal(rec)
	}
	st, err := txn.Apply(r.ctx, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(r.ctx, next); err != nil {
		t.Fatal(err)
	}
	return rec, Run{Changes: rec, Parent: parent, Next: next, Stale: st.Stale}
}

// step commits changes as commit does, applies them to the model m (as a
// catch-up with lost set) and fails the test unless the history table
// holds the model's rows. It returns how Keep went.
func (r *historyRig) step(m *historyModel, changes []hChange, lost bool) string {
	r.t.Helper()
	before := maps.Clone(m.live)
	how := r.commit(changes, lost)
	m.base(changes)
	if lost {
		m.catchUp(before)
	} else {
		m.changes(changes)
	}
	if got, want := r.rows(), m.want(); !slices.Equal(got, want) {
		r.t.Fatalf("run %d (%s): history\n%s\nmodel\n%s", r.run, how, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	return how
}

// rows reads the history table as sorted lines
// "id|order_key|op|valid_from|valid_to|is_current|v10|tag", times in
// seconds after hEpoch, order keys as numbers ("35+0" for the order key
// of 35 followed by a 0 byte).
func (r *historyRig) rows() []string {
	t := r.t
	t.Helper()
	tbl, err := r.hist.Read(r.ctx)
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
			ts := func(name string) string {
				if a := c(name); a.IsValid(i) {
					return fmt.Sprint((int64(a.(*array.Timestamp).Value(i)) - hEpoch) / 1_000_000)
				}
				return "NULL"
			}
			str := func(name string) string {
				if a := c(name); a.IsValid(i) {
					return a.ValueStr(i)
				}
				return "NULL"
			}
			ok := c("order_key").(*array.Binary).Value(i)
			seq := fmt.Sprint(uint32(ok[4])<<24 | uint32(ok[5])<<16 | uint32(ok[6])<<8 | uint32(ok[7]))
			if len(ok) > 8 {
				seq += fmt.Sprintf("+%x", ok[8:])
			}
			got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s", str("id"), seq, str("op"), ts("valid_from"), ts("valid_to"),
				str("is_current"), str("v10"), str("tag")))
		}
	}
	sort.Slice(got, func(i, j int) bool { return lineLess(got[i], got[j]) })
	return got
}

// lineLess orders lines by id then order key, as numbers.
func lineLess(a, b string) bool {
	var ai, aseq, bi, bseq float64
	fmt.Sscanf(strings.ReplaceAll(a, "|", " "), "%g %g", &ai, &aseq)
	fmt.Sscanf(strings.ReplaceAll(b, "|", " "), "%g %g", &bi, &bseq)
	if ai != bi {
		return ai < bi
	}
	if aseq != bseq {
		return aseq < bseq
	}
	// "35+00" (a catch-up's D row) comes after "35".
	return strings.ReplaceAll(a, "+", "~") < strings.ReplaceAll(b, "+", "~")
}

// TestHistoryIntervals: the interval rule over hand-written runs of one
// base table, each run's history table in a golden file
// (testdata/history_intervals.golden); among them a late change that
// lands in the middle of a key's history (asserted on its own too).
func TestHistoryIntervals(t *testing.T) {
	r := newHistoryRig(t)
	steps := []struct {
		name    string
		changes []hChange
		lost    bool
	}{
		{"inserts", []hChange{{op: change.OpInsert, id: 1, seq: 10, ts: 10, v: 1, tag: "a"}, {op: change.OpInsert, id: 2, seq: 11, ts: 11, v: 2}}, false},
		{"updates", []hChange{{op: change.OpUpdate, id: 1, seq: 30, ts: 30, v: 4, tag: "b"}, {op: change.OpUpdate, id: 2, seq: 31, ts: 31, v: 5}}, false},
		{"a late change of key 1 (stale in the base table) lands between its versions", []hChange{{op: change.OpUpdate, id: 1, seq: 20, ts: 20, v: 7, tag: "late"}}, false},
		{"the same late change again is the same version", []hChange{{op: change.OpUpdate, id: 1, seq: 20, ts: 20, v: 7, tag: "late"}}, false},
		{"key 1 deleted, key 2 fails where", []hChange{{op: change.OpDelete, id: 1, seq: 40, ts: 40, v: 4, tag: "b"}, {op: change.OpUpdate, id: 2, seq: 41, ts: 41, v: 3}}, false},
		{"a late change of key 1 before its delete is closed by the delete", []hChange{{op: change.OpUpdate, id: 1, seq: 35, ts: 35, v: 8, tag: "c"}}, false},
		{"a late change of key 2 before the row that failed where is closed by it", []hChange{{op: change.OpUpdate, id: 2, seq: 36, ts: 36, v: 10}}, false},
		{"key 1 re-inserted, key 2 passes again, key 3 without a commit time", []hChange{{op: change.OpInsert, id: 1, seq: 50, ts: 50, v: 1, tag: "d"}, {op: change.OpUpdate, id: 2, seq: 51, ts: 51, v: 2}, {op: change.OpInsert, id: 3, seq: 52, ts: -1, v: 1}}, false},
		{"a late delete of key 1 between two versions", []hChange{{op: change.OpDelete, id: 1, seq: 25, ts: 25}}, false},
		{"key 3 updated, key 2 deleted, key 4 inserted: the run lost (a catch-up)", []hChange{{op: change.OpUpdate, id: 3, seq: 60, ts: 60, v: 2}, {op: change.OpDelete, id: 2, seq: 61, ts: 61}, {op: change.OpInsert, id: 4, seq: 62, ts: 62, v: 1}}, true},
	}
	var b strings.Builder
	for i, s := range steps {
		how := r.commit(s.changes, s.lost)
		rows := r.rows()
		fmt.Fprintf(&b, "# run %d: %s (%s)\n%s\n\n", i+1, s.name, how, strings.Join(rows, "\n"))
		if i == 2 {
			// The late version (order key 20) lands between 10 and 30:
			// 10 closes at 20, 20 closes at 30, 30 stays current.
			want := []string{
				"1|10|I|10|20|false|10|A",
				"1|20|U|20|30|false|70|LATE",
				"1|30|U|30|NULL|true|40|B",
			}
			if got := rows[:3]; !slices.Equal(got, want) {
				t.Fatalf("the late version did not land in the middle:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if how != HowChanges {
				t.Fatalf("a stale change went %s, want %s", how, HowChanges)
			}
		}
	}
	// A rebuild starts the history over from the base table's live rows.
	r.keep.Def.Where = "v % 2 = 1"
	res, err := r.keep.Rebuild(r.ctx, r.base)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "# a rebuild with where v %% 2 = 1 (%s)\n%s\n", res.How, strings.Join(r.rows(), "\n"))
	golden := filepath.Join("testdata", "history_intervals.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("history tables:\n%s\ngolden file %s:\n%s", b.String(), golden, want)
	}
}

// hEntry is one entry of the reference model's history of a key.
type hEntry struct {
	seq  string // order key as the test writes it (see rows)
	sort []byte
	ts   int64 // < 0: none
	op   string
	v10  string
	tag  string
}

// historyModel is a plain reference model of a base table and its
// history table.
type historyModel struct {
	live map[int64]hChange // the base table's live rows
	seqs map[int64]uint32  // the base table's stored order key per key
	hist map[int64][]hEntry
}

func newHistoryModel() *historyModel {
	return &historyModel{live: map[int64]hChange{}, seqs: map[int64]uint32{}, hist: map[int64][]hEntry{}}
}

func (m *historyModel) entry(c hChange, op string, gap bool) hEntry {
	e := hEntry{seq: fmt.Sprint(c.seq), sort: hSeq(c.seq), ts: c.ts, op: op, v10: fmt.Sprint(c.v * 10), tag: strings.ToUpper(c.tag)}
	if c.tag == "" {
		e.tag = "NULL"
	}
	if gap {
		e.v10, e.tag = "NULL", "NULL"
	}
	return e
}

func (m *historyModel) has(id int64, seq []byte) bool {
	return slices.ContainsFunc(m.hist[id], func(e hEntry) bool { return string(e.sort) == string(seq) })
}

// base applies a run's changes to the base table's model.
func (m *historyModel) base(changes []hChange) {
	for _, c := range changes {
		if s, ok := m.seqs[c.id]; ok && c.seq <= s {
			continue
		}
		m.seqs[c.id] = c.seq
		if c.op == change.OpDelete {
			delete(m.live, c.id)
		} else {
			m.live[c.id] = c
		}
	}
}

// changes is a run whose change set reaches the history: every change is
// a version of its key (stale or not) unless the key has its order key.
func (m *historyModel) changes(changes []hChange) {
	for _, c := range changes {
		if m.has(c.id, hSeq(c.seq)) {
			continue
		}
		gap := c.op == change.OpDelete || c.v%3 == 0
		op := c.op.String()
		if gap {
			op = "D"
		}
		m.hist[c.id] = append(m.hist[c.id], m.entry(c, op, gap))
	}
}

// catchUp is a base commit whose change set was lost, caught up from
// the base table's commit (before: the base table's live rows before
// it): a key live after it whose order key changed is a version without
// a commit time (I when the key was not live, U when it was; a D row when
// it fails where), a key live before and not after gets a D row without
// a commit time at its last order key followed by a 0 byte; an entry
// whose order key the key's history holds is not added again.
func (m *historyModel) catchUp(before map[int64]hChange) {
	for id, c := range m.live {
		b, was := before[id]
		if (was && b.seq == c.seq) || m.has(id, hSeq(c.seq)) {
			continue
		}
		op, gap := "I", c.v%3 == 0
		if was {
			op = "U"
		}
		if gap {
			op = "D"
		}
		c.ts = -1
		m.hist[id] = append(m.hist[id], m.entry(c, op, gap))
	}
	for id, b := range before {
		if _, ok := m.live[id]; ok {
			continue
		}
		seq := append(hSeq(b.seq), 0)
		if m.has(id, seq) {
			continue
		}
		m.hist[id] = append(m.hist[id], hEntry{seq: fmt.Sprint(b.seq) + "+00", sort: seq, ts: -1, op: "D", v10: "NULL", tag: "NULL"})
	}
}

// want is the history table's rows, as rows writes them.
func (m *historyModel) want() []string {
	var out []string
	tsText := func(ts int64) string {
		if ts < 0 {
			return "NULL"
		}
		return fmt.Sprint(ts)
	}
	for id, es := range m.hist {
		es = slices.Clone(es)
		slices.SortFunc(es, func(a, b hEntry) int { return strings.Compare(string(a.sort), string(b.sort)) })
		for i, e := range es {
			to, current := "NULL", "false"
			switch {
			case e.op == "D":
				to = tsText(e.ts)
			case i+1 < len(es):
				to = tsText(es[i+1].ts)
			default:
				current = "true"
			}
			out = append(out, fmt.Sprintf("%d|%s|%s|%s|%s|%s|%s|%s", id, e.seq, e.op, tsText(e.ts), to, current, e.v10, e.tag))
		}
	}
	sort.Slice(out, func(i, j int) bool { return lineLess(out[i], out[j]) })
	return out
}

// TestKeepHistoryModel: a history table kept by Keep after each commit of
// a base table over random runs (inserts, updates, deletes, re-inserts,
// late changes the base table finds stale, rows that fail where, changes
// without a commit time, runs whose change set is lost) equals a plain
// reference model after every run; every Arrow buffer Keep allocates is
// released.
func TestKeepHistoryModel(t *testing.T) {
	r := newHistoryRig(t)
	m := newHistoryModel()
	rng := rand.New(rand.NewPCG(11, 12))
	seq := uint32(1000)
	used := map[uint32]bool{}
	hows := map[string]int{}
	for run := range 16 {
		var changes []hChange
		for _, id := range rng.Perm(12)[:rng.IntN(8)] {
			seq += 10
			c := hChange{id: int64(id), seq: seq, ts: int64(seq), v: int64(rng.IntN(10))}
			if rng.IntN(3) > 0 {
				c.tag = fmt.Sprintf("t%d", rng.IntN(3))
			}
			if rng.IntN(8) == 0 {
				c.ts = -1
			}
			if s, ok := m.seqs[c.id]; ok && rng.IntN(4) == 0 {
				// A late change: older than what the key stores.
				for late := s - 1; late > s-10; late-- {
					if !used[late] {
						c.seq, c.ts = late, int64(late)
						break
					}
				}
			}
			used[c.seq] = true
			_, live := m.live[c.id]
			switch {
			case live && rng.IntN(4) == 0:
				c.op = change.OpDelete
			case live:
				c.op = change.OpUpdate
			default:
				c.op = change.OpInsert
			}
			changes = append(changes, c)
		}
		// Runs 3, 8, 13 commit to the base table only (as after a crash
		// between the commits), and the next run loses its change set
		// too: it catches up from the two base commits.
		before := maps.Clone(m.live)
		lost := run%5 == 3 || run%5 == 4
		m.base(changes)
		if lost {
			m.catchUp(before)
		} else {
			m.changes(changes)
		}
		if run%5 == 3 {
			r.commitBase(changes)
			continue
		}
		how := r.commit(changes, lost)
		hows[how]++
		if got, want := r.rows(), m.want(); !slices.Equal(got, want) {
			t.Fatalf("run %d (%s): history\n%s\nmodel\n%s", run, how, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	if hows[HowChanges] == 0 || hows[HowCatchUp] == 0 {
		t.Fatalf("ways: %v", hows)
	}
	t.Logf("ways %v, %d history rows", hows, len(m.want()))
}

// TestHistoryRunReadsTouchedFiles: a history run reads the stored
// versions of the keys it touches only from the files that may hold them
// (Result.StoredRead), and the history it writes is the model's. Eight
// runs insert ids of their own range (a file each); then a run updates,
// deletes and late-changes ids of one range: it opens one file of the
// history's; a catch-up from the base commit that changes one id does too.
func TestHistoryRunReadsTouchedFiles(t *testing.T) {
	r := newHistoryRig(t)
	m := newHistoryModel()
	seq := uint32(1000)
	apply := func(changes []hChange, lost bool) string { return r.step(m, changes, lost) }
	for run := range 8 {
		var changes []hChange
		for id := int64(run * 100); id < int64(run*100+20); id++ {
			seq += 10
			changes = append(changes, hChange{op: change.OpInsert, id: id, seq: seq, ts: int64(seq), v: id % 5, tag: "t"})
		}
		apply(changes, false)
	}
	// Ids of run 3's range: an update, a delete, a late update (below the
	// key's stored order key), and a new id inside the range.
	seq += 10
	changes := []hChange{
		{op: change.OpUpdate, id: 302, seq: seq, ts: int64(seq), v: 7, tag: "u"},
		{op: change.OpDelete, id: 305, seq: seq + 1, ts: int64(seq + 1)},
		{op: change.OpUpdate, id: 310, seq: m.seqs[310] - 5, ts: int64(m.seqs[310] - 5), v: 1, tag: "late"},
		{op: change.OpInsert, id: 399, seq: seq + 2, ts: int64(seq + 2), v: 2, tag: "n"},
	}
	seq += 10
	if how := apply(changes, false); how != HowChanges {
		t.Fatalf("run went %s, want %s", how, HowChanges)
	}
	rd := r.last.StoredRead
	if rd == nil {
		t.Fatal("no stored_read")
	}
	t.Logf("read %+v", *rd)
	if rd.Files < 8 || rd.FilesRead != 1 || rd.Rows != 3 {
		t.Errorf("read %+v: want 1 file opened of at least 8, the 3 stored versions of 302, 305 and 310", *rd)
	}
	// The writer planned from those rows: it read no key column itself.
	if st := r.last.Stats; st.FilesScanned != 0 || st.RowsScanned != 0 || st.Updated == 0 {
		t.Errorf("the history's writer scanned %d files, %d rows (updated %d): want none, from the rows the run read", st.FilesScanned, st.RowsScanned, st.Updated)
	}
	// A catch-up from the base commits reads the stored versions of the
	// keys they touch alike: id 701 is in run 7's file.
	seq += 10
	apply([]hChange{{op: change.OpUpdate, id: 701, seq: seq, ts: int64(seq), v: 4, tag: "c"}}, true)
	if rd := r.last.StoredRead; r.last.How != HowCatchUp || rd == nil || rd.FilesRead != 1 || rd.Rows != 1 {
		t.Errorf("catch-up: went %s, read %+v; want %s, 1 file opened, the stored version of 701", r.last.How, rd, HowCatchUp)
	}
}

// TestHistoryLocatedConflict: a history run plans its writer's commit
// from the stored rows it read, located in the state it read them from;
// a compaction of the history table (a commit that keeps its bookmark
// and moves its rows to other files at other positions) that lands after
// the attempt began — before the read, or after the writer planned —
// makes that attempt a conflict, and the next attempt reads again: the
// history is the model's, planned from the rows read again.
func TestHistoryLocatedConflict(t *testing.T) {
	for _, when := range []string{"before the read", "after the plan"} {
		t.Run(when, func(t *testing.T) {
			r := newHistoryRig(t)
			m := newHistoryModel()
			seq := uint32(1000)
			for run := range 4 {
				r.step(m, hUpserts(&seq, int64(run*10), int64(run*10+10), 0), false)
			}
			compacted := false
			compact := func(ctx context.Context) error {
				if compacted {
					return nil
				}
				compacted = true
				st, err := r.hist.Maintain(ctx, table.Policy{CompactSmallFiles: 2, SmallFileBytes: 1 << 30})
				if err == nil && st.FilesRewritten == 0 {
					err = fmt.Errorf("compaction rewrote no file: %+v", st)
				}
				return err
			}
			r.keep.Target = racingTarget{t: r.hist, before: when == "before the read", compact: compact}
			var changes []hChange
			for _, id := range []int64{3, 14, 25, 36} {
				seq += 10
				changes = append(changes, hChange{op: change.OpUpdate, id: id, seq: seq, ts: int64(seq), v: 7, tag: "u"})
			}
			seq += 10
			changes = append(changes, hChange{op: change.OpDelete, id: 17, seq: seq, ts: int64(seq)})
			if how := r.step(m, changes, false); how != HowChanges {
				t.Fatalf("run went %s, want %s", how, HowChanges)
			}
			if !compacted || r.last.Attempts != 2 {
				t.Errorf("compacted %v, %d attempts: want a compaction and 2 attempts", compacted, r.last.Attempts)
			}
			if st := r.last.Stats; st.FilesScanned != 0 || st.RowsScanned != 0 || st.Updated == 0 {
				t.Errorf("the retry scanned %d files, %d rows (updated %d): want none, from the rows read again", st.FilesScanned, st.RowsScanned, st.Updated)
			}
		})
	}
}

// hUpserts returns a change of each key from from to to (excluded),
// their order keys counted on from *seq by 10 and their commit times
// alike, v id%5+1 and tag "t": updates of the first updates keys,
// inserts of the others.
func hUpserts(seq *uint32, from, to int64, updates int) []hChange {
	var changes []hChange
	for id := from; id < to; id++ {
		*seq += 10
		op := change.OpInsert
		if id < from+int64(updates) {
			op = change.OpUpdate
		}
		changes = append(changes, hChange{op: op, id: id, seq: *seq, ts: int64(*seq), v: id%5 + 1, tag: "t"})
	}
	return changes
}

// TestKeepOwnedChanges: a run that hands its change set over to Keep
// (Run.Owned, as the last prepared table of a run gets it) leaves the
// history the model's and releases the change set: its allocator ends at
// zero once the caller released its own reference (Keep's left, or one
// too many, would show). An attempt after the first, which has let the
// changes go, catches up from the base table's journal instead, to the
// same history.
func TestKeepOwnedChanges(t *testing.T) {
	for _, race := range []bool{false, true} {
		t.Run(fmt.Sprintf("retried=%v", race), func(t *testing.T) {
			r := newHistoryRig(t)
			recMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			r.journal, r.owned, r.recMem = true, true, recMem
			m := newHistoryModel()
			seq := uint32(1000)
			for run := range 3 {
				// Keys run*4 to run*4+7: the first four run-1 inserted.
				changes := hUpserts(&seq, int64(run*4), int64(run*4+8), min(run, 1)*4)
				if how := r.step(m, changes, false); how != HowChanges {
					t.Fatalf("run %d went %s, want %s", run, how, HowChanges)
				}
				recMem.AssertSize(t, 0)
			}
			want := HowChanges
			if race {
				r.keep.Target = racingTarget{t: r.hist, compact: func(ctx context.Context) error {
					_, err := r.hist.Maintain(ctx, table.Policy{CompactSmallFiles: 2, SmallFileBytes: 1 << 30})
					r.keep.Target = deltaTarget{r.hist}
					return err
				}}
				want = HowCatchUp
			}
			seq += 10
			changes := []hChange{{op: change.OpUpdate, id: 5, seq: seq, ts: int64(seq), v: 7, tag: "u"},
				{op: change.OpDelete, id: 9, seq: seq + 1, ts: int64(seq + 1)}}
			if how := r.step(m, changes, false); how != want || (r.last.Attempts == 2) != race {
				t.Fatalf("the last run went %s in %d attempts, want %s", how, r.last.Attempts, want)
			}
			recMem.AssertSize(t, 0)
		})
	}
}

// racingTarget is a history table's Delta writer whose first attempt
// meets a concurrent commit (compact): right after Begin (before), so
// that the attempt reads its stored rows from a later state than it
// began from, or else right after ApplyLocated planned.
type racingTarget struct {
	t       *delta.Table
	before  bool
	compact func(context.Context) error
}

func (r racingTarget) Begin(ctx context.Context) (Txn, error) {
	x, err := r.t.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if r.before {
		if err := r.compact(ctx); err != nil {
			return nil, err
		}
		return x, nil
	}
	return racingTxn{x, r.compact}, nil
}

// racingTxn is a Delta Txn that runs compact after ApplyLocated.
type racingTxn struct {
	*delta.Txn
	compact func(context.Context) error
}

func (x racingTxn) ApplyLocated(ctx context.Context, changes, rows arrow.RecordBatch, at table.Located) (table.ApplyStats, error) {
	st, err := x.Txn.ApplyLocated(ctx, changes, rows, at)
	if err != nil {
		return st, err
	}
	return st, x.compact(ctx)
}
