package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lakemerge/lakemerge/internal/testkit/pyrun"
	"github.com/lakemerge/lakemerge/objstore/fault"
)

// historyJob writes a job file of two base tables of one source (Iceberg
// and Delta), each with a history table of its own format, curated and
// filtered as changelogDef says.
func historyJob(t *testing.T, e *mirrorEnv) {
	t.Helper()
	e.accountsJob(t, func(base string) []prepEntry {
		return []prepEntry{{table: base + "_hist", mode: "history", selects: changelogDef.selects, where: changelogDef.where}}
	})
}

// histEntry is a row of the reference model's history of a key: a
// version (the curated row) or a D row (the key only), at its order key
// (change_seq; a catch-up's D row has the one of the version it closes
// and after), with its commit time (nil: none).
type histEntry struct {
	seq   int64
	after bool // a catch-up's D row: just after seq
	at    any
	op    string
	row   map[string]any
}

func (e histEntry) less(o histEntry) bool {
	if e.seq != o.seq {
		return e.seq < o.seq
	}
	return !e.after && o.after
}

// historyModel is the reference model of a history table: the base
// table's model and the entries of each key.
type historyModel struct {
	base *mirrorModel
	hist map[int64][]histEntry
	// middle counts the versions placed before a newer entry of their
	// key (late changes that land in the middle of the history).
	middle int
}

func (m *historyModel) has(id, seq int64) bool {
	return slices.ContainsFunc(m.hist[id], func(e histEntry) bool { return e.seq == seq && !e.after })
}

// entry is the history entry of change a: a version when it is not a
// delete and passes where, else a D row with the key only.
func entry(op string, a account, at any) histEntry {
	r, ok := changelogDef.row(a)
	if op == "D" || !ok {
		return histEntry{seq: a.seq, at: at, op: "D", row: map[string]any{"id": a.id, "email_hash": nil, "twice": nil, "status_uc": nil, "change_seq": nil}}
	}
	return histEntry{seq: a.seq, at: at, op: op, row: r}
}

// run applies one run's changes (in file order): the run's net change of
// each key (its latest) is a new entry of the key's history unless the
// history has its order key — stale or not in the base table.
func (m *historyModel) run(changes []clChange) {
	net := map[int64]clChange{}
	for _, c := range changes {
		if n, ok := net[c.a.id]; !ok || c.a.seq > n.a.seq {
			net[c.a.id] = c
		}
	}
	for _, c := range changes {
		m.base.apply(c.op, c.a, c.a.seq)
	}
	for id, c := range net {
		if m.has(id, c.a.seq) {
			continue
		}
		if slices.ContainsFunc(m.hist[id], func(e histEntry) bool { return e.seq > c.a.seq }) {
			m.middle++
		}
		m.hist[id] = append(m.hist[id], entry(string(c.op), c.a, c.time))
	}
}

// catchUp applies what a catch-up does after a base commit whose
// history commit was lost (before: the base table's live rows before the
// commit): a key live after it whose order key changed is a new entry
// without a commit time (I when the key was not live, U when it was; a D
// row with the key only when the row fails where), a key live before and
// not after gets a D row just after its last order key; an entry the
// history has is not added again.
func (m *historyModel) catchUp(before map[int64]account) {
	for id, a := range m.base.live {
		b, was := before[id]
		if (was && b.seq == a.seq) || m.has(id, a.seq) {
			continue
		}
		op := "I"
		if was {
			op = "U"
		}
		m.hist[id] = append(m.hist[id], entry(op, a, nil))
	}
	for id, b := range before {
		if _, ok := m.base.live[id]; ok || slices.ContainsFunc(m.hist[id], func(e histEntry) bool { return e.seq == b.seq && e.after }) {
			continue
		}
		d := entry("D", account{id: id, seq: b.seq}, nil)
		d.after = true
		m.hist[id] = append(m.hist[id], d)
	}
}

// want is the history table's rows as canonical lines (without
// order_key): each entry's row with valid_from (its commit time),
// valid_to (the next entry's commit time; a D row's own) and is_current
// (the last entry, unless a D row).
func (m *historyModel) want() []string {
	var out []string
	for _, es := range m.hist {
		es = slices.Clone(es)
		sort.Slice(es, func(i, j int) bool { return es[i].less(es[j]) })
		for i, e := range es {
			r := map[string]any{}
			for k, v := range e.row {
				r[k] = v
			}
			r["op"], r["valid_from"], r["valid_to"], r["is_current"] = e.op, e.at, nil, false
			switch {
			case e.op == "D":
				r["valid_to"] = e.at
			case i+1 < len(es):
				r["valid_to"] = es[i+1].at
			default:
				r["is_current"] = true
			}
			out = append(out, canonicalRow(r))
		}
	}
	sort.Strings(out)
	return out
}

// readHistoryRows reads a history table with a reader script and returns
// its rows as canonical lines without order_key, after checking that id
// and order_key identify each row.
func readHistoryRows(t *testing.T, py *pyrun.Python, reader string, args ...string) []string {
	t.Helper()
	out, err := py.CombinedOutput(args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", reader, err, out)
	}
	seen := map[string]bool{}
	var rows []string
	for _, r := range jsonRows(t, reader, out) {
		k := fmt.Sprint(r["id"], "/", r["order_key"])
		if seen[k] {
			t.Fatalf("%s: id and order_key %s twice", reader, k)
		}
		seen[k] = true
		delete(r, "order_key")
		rows = append(rows, canonicalRow(r))
	}
	sort.Strings(rows)
	return rows
}

// TestPreparedHistoryModel: history tables (Iceberg and Delta) of an
// Iceberg and a Delta base table, kept by runs of the binary over a random
// multi-run workload (inserts, updates, deletes, re-inserts, late changes
// the base table finds stale, NULLs and a filter), read back by
// pyiceberg, deltalake and DuckDB, equal the SCD2 reference model after
// every run: the run's net change of each key a version at its commit
// time (the CDC file's instant), placed by its order key — a late change
// in the middle of its key's history, closing the version before it at
// its time and closed by the one after it; deletes and rows that fail
// where as D rows. A run without new files changes nothing. Once the
// history exists, its writer scans no keys of its own (the summary's
// stats): it plans from the stored versions the run read.
func TestPreparedHistoryModel(t *testing.T) {
	historyModelRuns(t, &mirrorEnv{dir: t.TempDir()}, 4)
}

// TestPreparedHistoryModelOnAWS is TestPreparedHistoryModel on S3 and
// Glue (the moto server): the raw zone and the warehouse on S3, the base
// and history tables in their own Glue databases, read back through Glue
// (pyiceberg) and from S3 (deltalake).
func TestPreparedHistoryModelOnAWS(t *testing.T) {
	historyModelRuns(t, awsEnv(t), 5)
}

func historyModelRuns(t *testing.T, e *mirrorEnv, seed uint64) {
	dir := e.dir
	historyJob(t, e)
	_, prepDB := e.databases()
	py := pythonForInterop(t)
	base := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
	m := &historyModel{base: base, hist: map[int64][]histEntry{}}
	rng := rand.New(rand.NewPCG(seed, 14))
	var seq int64
	used := map[int64]bool{}
	files := 0
	hows := map[string]int{}
	for run := 1; run <= 10; run++ {
		want := "up to date"
		if run != 4 { // run 4 finds no new files
			m.run(changelogFiles(t, dir, rng, base, &seq, used, &files))
			e.sync(t)
			want = "changes"
		}
		sum, r := runSummary(t, dir)
		if r.Code != 0 || !sum.OK {
			t.Fatalf("run %d: %s", run, r)
		}
		for _, tr := range sum.Tables {
			if len(tr.Prepared) != 1 || tr.Prepared[0].How != want || tr.Prepared[0].Mode != "history" {
				t.Fatalf("run %d: table %s kept %+v, want one that went %q", run, tr.Table, tr.Prepared, want)
			}
			hows[want]++
			// Once the history exists, a run's writer plans from the
			// stored versions the run read (stored_read): it scans no
			// data file's keys of its own.
			if p := tr.Prepared[0]; run > 1 && want == "changes" &&
				(p.StoredRead == nil || p.Stats.FilesScanned != 0 || p.Stats.RowsScanned != 0) {
				t.Errorf("run %d: history of %s read %+v and its writer scanned %d files, %d rows; want a read and no scan", run, tr.Table, p.StoredRead, p.Stats.FilesScanned, p.Stats.RowsScanned)
			}
		}
		if py == nil {
			continue
		}
		wantRows := m.want()
		for _, tb := range [][2]string{{"acc_ice_hist", "iceberg"}, {"acc_delta_hist", "delta"}} {
			for _, rd := range e.readers(t, prepDB, tb[0], tb[1], "id", run == 10) {
				if got := readHistoryRows(t, py, rd.label, rd.args...); !slices.Equal(got, wantRows) {
					t.Fatalf("run %d: %s reads\n%s\nthe model has\n%s", run, rd.label, strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
				}
			}
		}
	}
	// The workload must hold what the test is about: late changes that
	// land before a key's newest version, and closed versions.
	closed := 0
	for _, r := range m.want() {
		if strings.Contains(r, "is_current=false") && strings.Contains(r, `op="U"`) {
			closed++
		}
	}
	if hows["changes"] == 0 || hows["up to date"] == 0 || m.middle < 2 || closed == 0 {
		t.Errorf("ways: %v, %d versions placed in the middle, %d closed updates", hows, m.middle, closed)
	}
	t.Logf("ways: %v, %d versions placed in the middle, %d closed updates, %d history rows", hows, m.middle, closed, len(m.want()))
}

// lines renders the model as tableRows does (lakemerge's own readers:
// name=value in column order), without order_key (the base change's _seq,
// which holds more than change_seq), for the crash test.
func (m *historyModel) lines() []string {
	var out []string
	for _, es := range m.hist {
		es = slices.Clone(es)
		sort.Slice(es, func(i, j int) bool { return es[i].less(es[j]) })
		for i, e := range es {
			val := func(v any) string {
				if v == nil {
					return "(null)"
				}
				return fmt.Sprint(v)
			}
			at := func(v any) string {
				if v == nil {
					return "(null)"
				}
				return v.(string)
			}
			to, current := "(null)", "false"
			switch {
			case e.op == "D":
				to = at(e.at)
			case i+1 < len(es):
				to = at(es[i+1].at)
			default:
				current = "true"
			}
			out = append(out, fmt.Sprintf("id=%s email_hash=%s twice=%s status_uc=%s change_seq=%s valid_from=%s valid_to=%s is_current=%s op=%s ",
				val(e.row["id"]), val(e.row["email_hash"]), val(e.row["twice"]), val(e.row["status_uc"]), val(e.row["change_seq"]),
				at(e.at), to, current, e.op))
		}
	}
	slices.Sort(out)
	return out
}

// historyRows is the history table of the run in dir as tableRows reads
// it, without order_key, after checking that id and order_key identify
// each row.
func historyRows(t *testing.T, dir, name string) []string {
	t.Helper()
	return historyRowsOf(t, dir, "acc_ice", name)
}

// historyRowsOf is historyRows of a history table of base table base.
func historyRowsOf(t *testing.T, dir, base, name string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, r := range tableRowsOf(t, dir, base)[name] {
		i := strings.Index(r, "order_key=")
		if i < 0 || !strings.HasPrefix(r, "id=") {
			t.Fatalf("row layout: %s", r)
		}
		k := r[:strings.Index(r, " ")] + r[i:]
		if seen[k] {
			t.Fatalf("%s twice", k)
		}
		seen[k] = true
		out = append(out, r[:i])
	}
	slices.Sort(out)
	return out
}

// TestPreparedHistoryCrashThenRerun: a run that fails at any write to the
// warehouse from the base table's commit on (before the write reaches the
// store, or after it landed), then a run without faults, leaves the
// history table as one clean run does — commit times, deletes and their
// order keys included: a re-run that catches up from the base commit
// replays its journal, not the net change the base table's files give
// (which the model's catch-up shows, and which must differ here).
func TestPreparedHistoryCrashThenRerun(t *testing.T) {
	for _, b := range accountBases {
		t.Run(b.format, func(t *testing.T) {
			historyCrashThenRerun(t, b.name, b.format, historyRuns{first: changelogFiles, next: changelogFiles})
		})
	}
}

// runFiles writes one run's raw files of the accounts source into both
// base tables' folders and returns their changes (changelogFiles): m is
// the base table before the run, seq the last order key given, used the
// order keys given, files the number of files written.
type runFiles func(t *testing.T, dir string, rng *rand.Rand, m *mirrorModel, seq *int64, used map[int64]bool, files *int) []clChange

// historyRuns is the workload of historyCrashThenRerun: the files of the
// first run and of the run under test, of Debezium topics (debezium) or
// DMS folders.
type historyRuns struct {
	debezium    bool
	first, next runFiles
}

// historyCrashThenRerun is TestPreparedHistoryCrashThenRerun of the
// history table of base table baseName under workload w.
func historyCrashThenRerun(t *testing.T, baseName, format string, w historyRuns) {
	type setupOut struct {
		dir   string
		model *historyModel
		next  []clChange // the run under test
	}
	setup := func(t *testing.T) setupOut {
		dir := t.TempDir()
		historyJob(t, &mirrorEnv{dir: dir, debezium: w.debezium})
		base := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
		m := &historyModel{base: base, hist: map[int64][]histEntry{}}
		rng := rand.New(rand.NewPCG(5, 9))
		var seq int64
		used := map[int64]bool{}
		files := 0
		m.run(w.first(t, dir, rng, base, &seq, used, &files))
		if sum := runBaseInProcess(t, dir, baseName, nil, nil, nil); !sum.OK {
			t.Fatalf("first run: %+v", sum)
		}
		return setupOut{dir, m, w.next(t, dir, rng, base, &seq, used, &files)}
	}
	hist := "prepared." + baseName + "_hist"
	ref := setup(t)
	if got, want := historyRowsOf(t, ref.dir, baseName, hist), ref.model.lines(); !slices.Equal(got, want) {
		t.Fatalf("after the first run: the history\n%s\nthe model\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The two outcomes the model allows.
	cleanModel := &historyModel{base: &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}, hist: map[int64][]histEntry{}}
	caughtModel := &historyModel{base: &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}, hist: map[int64][]histEntry{}}
	for _, c := range []*historyModel{cleanModel, caughtModel} {
		for k, v := range ref.model.base.live {
			c.base.live[k] = v
		}
		for k, v := range ref.model.base.seqs {
			c.base.seqs[k] = v
		}
		for k, v := range ref.model.hist {
			c.hist[k] = slices.Clone(v)
		}
	}
	cleanModel.run(ref.next)
	before := maps.Clone(caughtModel.base.live)
	for _, c := range ref.next {
		caughtModel.base.apply(c.op, c.a, c.a.seq)
	}
	caughtModel.catchUp(before)
	clean, caughtUp := cleanModel.lines(), caughtModel.lines()
	if slices.Equal(clean, caughtUp) {
		t.Fatal("a catch-up would make what the clean run makes: the run under test shows nothing")
	}

	var points atomic.Int64
	var keys []string
	sum := runBaseInProcess(t, ref.dir, baseName, nil, &points, &keys)
	if !sum.OK || sum.Tables[0].Prepared[0].How != "changes" {
		t.Fatalf("clean run: %+v", sum)
	}
	if got := historyRowsOf(t, ref.dir, baseName, hist); !slices.Equal(got, clean) {
		t.Fatalf("clean run: the history\n%s\nthe model\n%s", strings.Join(got, "\n"), strings.Join(clean, "\n"))
	}
	checkHistoryReaders(t, &mirrorEnv{dir: ref.dir}, cleanModel, baseName, format)
	writes := writesFrom(t, keys, commitPrefix(baseName, format))
	ways := map[string]int{}
	for _, n := range writes {
		for _, kind := range []fault.Kind{fault.Fail, fault.FailAfter} {
			s := setup(t)
			faulty := runBaseInProcess(t, s.dir, baseName, fault.Nth(n, kind), nil, nil)
			again := runBaseInProcess(t, s.dir, baseName, nil, nil, nil)
			if !again.OK {
				t.Fatalf("write %d %s: the re-run failed: %+v", n, kind, again.Tables[0].Error)
			}
			got := historyRowsOf(t, s.dir, baseName, hist)
			if !slices.Equal(got, clean) {
				t.Fatalf("write %d %s (faulty run ok=%v: %s): the history after the re-run\n%s\nclean run\n%s", n, kind, faulty.OK,
					faulty.Tables[0].Error, strings.Join(got, "\n"), strings.Join(clean, "\n"))
			}
			ways[again.Tables[0].Prepared[0].How]++
		}
	}
	t.Logf("%d faults at the writes among calls %d..%d: re-runs %v", 2*len(writes), writes[0], writes[len(writes)-1], ways)
	if ways["catch-up"] == 0 || ways["changes"] == 0 {
		t.Errorf("the faults did not fall on both sides of the history's commit: %v", ways)
	}
}

// checkHistoryReaders reads the base table baseName (of format) and its
// history table back with pyiceberg or deltalake and DuckDB and compares
// them with the model m.
func checkHistoryReaders(t *testing.T, e *mirrorEnv, m *historyModel, baseName, format string) {
	t.Helper()
	py := pythonForInterop(t)
	if py == nil {
		return
	}
	baseDB, prepDB := e.databases()
	for _, r := range e.readers(t, baseDB, baseName, format, "id", true) {
		out, err := py.CombinedOutput(r.args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", r.label, err, out)
		}
		if got, want := readerRows(t, r.label, out), m.base.rows(); !slices.Equal(got, want) {
			t.Fatalf("%s reads\n%s\nthe model has\n%s", r.label, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	for _, r := range e.readers(t, prepDB, baseName+"_hist", format, "id", true) {
		if got, want := readHistoryRows(t, py, r.label, r.args...), m.want(); !slices.Equal(got, want) {
			t.Fatalf("%s reads\n%s\nthe model has\n%s", r.label, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
