package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lakemerge/lakemerge/internal/testkit/pyrun"
	"github.com/lakemerge/lakemerge/objstore/fault"
)

// changelogDef is the changelog tables' definition and its plain Go
// meaning (the curated row of a, and whether a passes where).
var changelogDef = mirrorDef{
	selects: []string{"id", "sha256(email) AS email_hash", "balance * 2 AS twice", "upper(status) AS status_uc", "change_seq"},
	where:   "status <> 'closed' AND balance >= 10",
	row: func(a account) (map[string]any, bool) {
		r := curatedAccount(a, false)
		r["change_seq"] = fmt.Sprintf("%035d", a.seq)
		return r, a.status != "" && a.status != "closed" && a.balance >= 10
	},
}

// changelogJob writes a job file of two base tables of one source (Iceberg
// and Delta), each with a changelog table of its own format.
func changelogJob(t *testing.T, e *mirrorEnv) {
	t.Helper()
	e.accountsJob(t, func(base string) []prepEntry {
		return []prepEntry{{table: base + "_log", mode: "changelog", selects: changelogDef.selects, where: changelogDef.where}}
	})
}

// clChange is one change of the changelog workload.
type clChange struct {
	op   byte
	a    account // a.seq is the change's order key
	time string  // the commit time: its CDC file's instant, ISO
}

// changelogModel is the reference model of a changelog table: the base
// table's model and the rows appended so far, as canonical lines.
type changelogModel struct {
	base   *mirrorModel
	rows   []string
	logged map[int64]bool // order keys (change_seq) appended
}

func (m *changelogModel) line(op string, a account, at any) string {
	r, _ := changelogDef.row(a)
	r["op"], r["commit_time"] = op, at
	m.logged[a.seq] = true
	return canonicalRow(r)
}

// run applies one run's changes (in file order) and returns the way the
// changelog table should go: the run's net changes (the latest per key)
// but those stale against what the base table stores are appended (a
// delete always, an insert or update when it passes where) with their op
// and commit time — as the run's changes when none is stale, else by a
// catch-up from the base commit's journal, which leaves the stale ones out.
func (m *changelogModel) run(changes []clChange) string {
	net := map[int64]clChange{}
	for _, c := range changes {
		if n, ok := net[c.a.id]; !ok || c.a.seq > n.a.seq {
			net[c.a.id] = c
		}
	}
	stale := map[int64]bool{}
	for id, c := range net {
		if s, ok := m.base.seqs[id]; ok && c.a.seq <= s {
			stale[id] = true
		}
	}
	for _, c := range changes {
		m.base.apply(c.op, c.a, c.a.seq)
	}
	for id, c := range net {
		if _, ok := changelogDef.row(c.a); !stale[id] && (ok || c.op == 'D') {
			m.rows = append(m.rows, m.line(string(c.op), c.a, c.time))
		}
	}
	if len(stale) > 0 {
		return "catch-up"
	}
	return "changes"
}

// changelogFiles writes one or two CDC files of random changes into both
// base tables' folders (inserts, updates, deletes of live and absent keys,
// re-inserts, NULL statuses, late changes) and returns their changes.
func changelogFiles(t *testing.T, dir string, rng *rand.Rand, m *mirrorModel, seq *int64, used map[int64]bool, files *int) []clChange {
	t.Helper()
	return accountFiles(t, dir, rng, m, seq, used, files, writeDMSFile)
}

// accountWriter writes the changes of one raw file, the file-th of the
// workload, into both base tables' folders; it may give each change its
// own commit time (clChange.time).
type accountWriter func(t *testing.T, dir string, file int, changes []clChange)

// accountFiles is changelogFiles with the files written by write.
func accountFiles(t *testing.T, dir string, rng *rand.Rand, m *mirrorModel, seq *int64, used map[int64]bool, files *int, write accountWriter) []clChange {
	t.Helper()
	var out []clChange
	live := map[int64]account{}
	for k, v := range m.live {
		live[k] = v
	}
	seqs := map[int64]int64{}
	for k, v := range m.seqs {
		seqs[k] = v
	}
	for range 1 + rng.IntN(2) {
		*files++
		at := fmt.Sprintf("2024-06-01T00:00:%02d", *files)
		var file []clChange
		for range rng.IntN(14) {
			id := int64(1 + rng.IntN(20))
			cur, isLive := live[id]
			a := account{id: id, name: fmt.Sprintf("holder %d", id), email: fmt.Sprintf("u%d@example.com", rng.IntN(5)),
				balance: int64(rng.IntN(60)), status: statuses[rng.IntN(len(statuses))]}
			op := byte('U')
			switch {
			case !isLive && rng.IntN(5) > 0:
				op = 'I'
			case isLive && rng.IntN(4) == 0, !isLive:
				op = 'D'
				if isLive {
					a = cur
				}
			}
			*seq += 10
			s := *seq
			if stored, ok := seqs[id]; ok && rng.IntN(12) == 0 {
				for late := stored - 1; late > stored-10; late-- {
					if late > 0 && !used[late] {
						s = late
						break
					}
				}
			}
			used[s] = true
			a.seq = s
			if s > seqs[id] {
				seqs[id] = s
				if op == 'D' {
					delete(live, id)
				} else {
					live[id] = a
				}
			}
			file = append(file, clChange{op: op, a: a, time: at})
		}
		write(t, dir, *files, file)
		out = append(out, file...)
	}
	return out
}

// writeDMSFile is an accountWriter of DMS CSV files (with a header and
// change_seq as the order column), named after the file's instant.
func writeDMSFile(t *testing.T, dir string, file int, changes []clChange) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Op,id,name,email,balance,status,change_seq\n")
	for _, c := range changes {
		a := c.a
		fmt.Fprintf(&b, "%c,%d,%s,%s,%d,%s,%035d\n", c.op, a.id, a.name, a.email, a.balance, a.status, a.seq)
	}
	writeAccountsFile(t, dir, fmt.Sprintf("2024/06/01/20240601-%06d000.csv", file), b.String())
}

// writeAccountsFile writes the raw file name (a path under the source
// table's folder) with body into both base tables' folders.
func writeAccountsFile(t *testing.T, dir, name, body string) {
	t.Helper()
	for _, table := range []string{"acc_ice", "acc_delta"} {
		p := filepath.Join(dir, "raw", "bank", table, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readChangelogRows reads a changelog table with a reader script and
// returns its rows as canonical lines without order_key, after checking
// that order_key is unique and orders the rows as change_seq does.
func readChangelogRows(t *testing.T, py *pyrun.Python, reader string, args ...string) []string {
	t.Helper()
	out, err := py.CombinedOutput(args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", reader, err, out)
	}
	type kv struct{ key, seq string }
	var keys []kv
	var rows []string
	for _, r := range jsonRows(t, reader, out) {
		k, _ := r["order_key"].(string)
		s, _ := r["change_seq"].(string)
		keys = append(keys, kv{k, s})
		delete(r, "order_key")
		rows = append(rows, canonicalRow(r))
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].key < keys[j].key })
	for i := 1; i < len(keys); i++ {
		if keys[i].key == keys[i-1].key {
			t.Fatalf("%s: order_key %s twice", reader, keys[i].key)
		}
	}
	// A catch-up's D row has the key only (no change_seq).
	keys = slices.DeleteFunc(keys, func(k kv) bool { return k.seq == "" })
	for i := 1; i < len(keys); i++ {
		if keys[i].seq <= keys[i-1].seq {
			t.Fatalf("%s: order_key %s (change_seq %s) after %s (change_seq %s): not in change_seq order",
				reader, keys[i].key, keys[i].seq, keys[i-1].key, keys[i-1].seq)
		}
	}
	sort.Strings(rows)
	return rows
}

// TestPreparedChangelogModel: changelog tables (Iceberg and Delta) of an
// Iceberg and a Delta base table, kept by runs of the binary over a random
// multi-run workload (inserts, updates, deletes, re-inserts, late changes,
// NULLs and a filter), read back by pyiceberg, deltalake and DuckDB, equal
// the reference model after every run: each net change of a run appended
// once with its op and commit time (the CDC file's instant), but the late
// changes the base table found stale (a run with those catches up from its
// commit's journal); a run without new files appends nothing.
func TestPreparedChangelogModel(t *testing.T) {
	changelogModelRuns(t, &mirrorEnv{dir: t.TempDir()}, 7)
}

// TestPreparedChangelogModelOnAWS is TestPreparedChangelogModel on S3 and
// Glue (the moto server), read back through Glue (pyiceberg) and from S3
// (deltalake).
func TestPreparedChangelogModelOnAWS(t *testing.T) {
	changelogModelRuns(t, awsEnv(t), 8)
}

func changelogModelRuns(t *testing.T, e *mirrorEnv, seed uint64) {
	dir := e.dir
	changelogJob(t, e)
	_, prepDB := e.databases()
	py := pythonForInterop(t)
	base := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
	m := &changelogModel{base: base, logged: map[int64]bool{}}
	rng := rand.New(rand.NewPCG(seed, 14))
	var seq int64
	used := map[int64]bool{}
	files := 0
	hows := map[string]int{}
	for run := 1; run <= 7; run++ {
		want := "up to date"
		if run != 4 { // run 4 finds no new files
			want = m.run(changelogFiles(t, dir, rng, base, &seq, used, &files))
			e.sync(t)
		}
		sum, r := runSummary(t, dir)
		if r.Code != 0 || !sum.OK {
			t.Fatalf("run %d: %s", run, r)
		}
		for _, tr := range sum.Tables {
			if len(tr.Prepared) != 1 || tr.Prepared[0].How != want {
				t.Fatalf("run %d: table %s kept %+v, want one that went %q", run, tr.Table, tr.Prepared, want)
			}
			hows[want]++
		}
		if py == nil {
			continue
		}
		wantRows := slices.Clone(m.rows)
		sort.Strings(wantRows)
		for _, tb := range [][2]string{{"acc_ice_log", "iceberg"}, {"acc_delta_log", "delta"}} {
			for _, rd := range e.readers(t, prepDB, tb[0], tb[1], "order_key", run == 7) {
				if got := readChangelogRows(t, py, rd.label, rd.args...); !slices.Equal(got, wantRows) {
					t.Fatalf("run %d: %s reads\n%s\nthe model has\n%s", run, rd.label, strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
				}
			}
		}
	}
	if hows["changes"] == 0 || hows["up to date"] == 0 {
		t.Errorf("ways: %v", hows)
	}
	t.Logf("ways: %v, %d changelog rows", hows, len(m.rows))
}

// TestPreparedChangelogCrashThenRerun: a run that fails at any write to
// the warehouse from the base table's commit on (before the write reaches
// the store, or after it landed), then a run without faults, leaves the
// changelog as one clean run does — ops, commit times and deletes'
// details included: a re-run that catches up from the base commit replays
// its journal, not the net change the base table's files give (the rows
// it had, then the commit's upserts as I or U and its deletes with the
// key only, without commit times — which must differ here).
func TestPreparedChangelogCrashThenRerun(t *testing.T) {
	for _, b := range accountBases {
		t.Run(b.format, func(t *testing.T) { changelogCrashThenRerun(t, b.name, b.format) })
	}
}

// changelogCrashThenRerun is TestPreparedChangelogCrashThenRerun of the
// changelog table of base table baseName.
func changelogCrashThenRerun(t *testing.T, baseName, format string) {
	log := "prepared." + baseName + "_log"
	// setup writes and runs the first run, then writes the run under
	// test; before and after are the base table's live rows around it.
	var before, after map[int64]account
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		changelogJob(t, &mirrorEnv{dir: dir})
		// base makes the workload (as it always has, without the first
		// run); stored is the base table.
		base := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
		stored := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
		rng := rand.New(rand.NewPCG(3, 9))
		var seq int64
		used := map[int64]bool{}
		files := 0
		for _, c := range changelogFiles(t, dir, rng, base, &seq, used, &files) {
			stored.apply(c.op, c.a, c.a.seq)
		}
		if sum := runBaseInProcess(t, dir, baseName, nil, nil, nil); !sum.OK {
			t.Fatalf("first run: %+v", sum)
		}
		before = maps.Clone(stored.live)
		for _, c := range changelogFiles(t, dir, rng, base, &seq, used, &files) {
			base.apply(c.op, c.a, c.a.seq)
			stored.apply(c.op, c.a, c.a.seq)
		}
		after = stored.live
		return dir
	}
	// rows is the changelog of the run in dir without order_key (a
	// catch-up's D row has an order key of its own).
	rows := func(dir string) []string {
		var out []string
		for _, r := range tableRowsOf(t, dir, baseName)[log] {
			i := strings.Index(r, "order_key=")
			j := strings.Index(r[i:], " ")
			if i < 0 || j < 0 {
				t.Fatalf("row layout: %s", r)
			}
			out = append(out, r[:i]+r[i+j+1:])
		}
		slices.Sort(out)
		return out
	}
	ref := setup(t)
	prior := rows(ref)
	var points atomic.Int64
	var keys []string
	sum := runBaseInProcess(t, ref, baseName, nil, &points, &keys)
	if !sum.OK || sum.Tables[0].Prepared[0].How != "changes" {
		t.Fatalf("clean run: %+v", sum)
	}
	clean := rows(ref)
	// The caught-up changelog: the rows it had, then the clean run's new
	// rows but its deletes, each without a commit time, I for a key that
	// was not live before the run, U for one that was; and a D row with
	// the key only for each key the run deleted.
	caughtUp := slices.Clone(prior)
	for _, r := range clean {
		if slices.Contains(prior, r) || strings.Contains(r, "op=D ") {
			continue
		}
		var id int64
		fmt.Sscanf(r, "id=%d ", &id)
		op := "op=I "
		if _, ok := before[id]; ok {
			op = "op=U "
		}
		r = strings.Replace(strings.Replace(r, "op=I ", op, 1), "op=U ", op, 1)
		i := strings.Index(r, "commit_time=")
		if i < 0 {
			t.Fatalf("row layout: %s", r)
		}
		caughtUp = append(caughtUp, r[:i]+"commit_time=(null) ")
	}
	deleted := 0
	for id := range before {
		if _, ok := after[id]; !ok {
			deleted++
			caughtUp = append(caughtUp, fmt.Sprintf("id=%d email_hash=(null) twice=(null) status_uc=(null) change_seq=(null) op=D commit_time=(null) ", id))
		}
	}
	slices.Sort(caughtUp)
	if len(clean) == len(prior) || slices.Equal(clean, caughtUp) || deleted == 0 {
		t.Fatalf("the clean run appended nothing a catch-up would not, or deleted nothing:\n%s", strings.Join(clean, "\n"))
	}
	writes := writesFrom(t, keys, commitPrefix(baseName, format))
	ways := map[string]int{}
	for _, n := range writes {
		for _, kind := range []fault.Kind{fault.Fail, fault.FailAfter} {
			dir := setup(t)
			faulty := runBaseInProcess(t, dir, baseName, fault.Nth(n, kind), nil, nil)
			again := runBaseInProcess(t, dir, baseName, nil, nil, nil)
			if !again.OK {
				t.Fatalf("write %d %s: the re-run failed: %+v", n, kind, again.Tables[0].Error)
			}
			got := rows(dir)
			if !slices.Equal(got, clean) {
				t.Fatalf("write %d %s (faulty run ok=%v: %s): the changelog after the re-run\n%s\nclean run\n%s", n, kind, faulty.OK,
					faulty.Tables[0].Error, strings.Join(got, "\n"), strings.Join(clean, "\n"))
			}
			ways[again.Tables[0].Prepared[0].How]++
		}
	}
	t.Logf("%d faults at the writes among calls %d..%d: re-runs %v", 2*len(writes), writes[0], writes[len(writes)-1], ways)
	if ways["catch-up"] == 0 {
		t.Errorf("no fault fell between the base commit and the changelog's: %v", ways)
	}
}
