package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// account is a row of the mirrorWorkload's source table.
type account struct {
	id      int64
	name    string
	email   string
	balance int64
	status  string // "" is NULL
	seq     int64  // the change's order key (change_seq)
}

// mirrorModel is the reference model of a base table and its mirror
// tables: changes apply one by one, each only when its order key is
// greater than the key's stored one (live row or tombstone); a mirror holds
// the curated row of every live row that passes where.
type mirrorModel struct {
	live map[int64]account
	seqs map[int64]int64 // the order key stored per key (row or tombstone)
}

// apply applies one change.
func (m *mirrorModel) apply(op byte, a account, seq int64) {
	if s, ok := m.seqs[a.id]; ok && seq <= s {
		return
	}
	m.seqs[a.id] = seq
	a.seq = seq
	if op == 'D' {
		delete(m.live, a.id)
		return
	}
	m.live[a.id] = a
}

// mirrorDef is a definition of the test's mirror tables and its plain Go
// meaning.
type mirrorDef struct {
	selects []string
	where   string
	// row is the curated row of a, and whether a passes where.
	row func(a account) (map[string]any, bool)
}

func curatedAccount(a account, withName bool) map[string]any {
	sum := sha256.Sum256([]byte(a.email))
	r := map[string]any{"id": a.id, "email_hash": hex.EncodeToString(sum[:]), "twice": 2 * a.balance, "status_uc": nil}
	if a.status != "" {
		r["status_uc"] = strings.ToUpper(a.status)
	}
	if withName {
		r["holder"] = a.name
	}
	return r
}

var (
	defV1 = mirrorDef{
		selects: []string{"id", "name AS holder", "sha256(email) AS email_hash", "balance * 2 AS twice", "upper(status) AS status_uc"},
		where:   "status <> 'closed' AND balance >= 10",
		row: func(a account) (map[string]any, bool) {
			return curatedAccount(a, true), a.status != "" && a.status != "closed" && a.balance >= 10
		},
	}
	// defV2 changes where only.
	defV2 = mirrorDef{
		selects: defV1.selects,
		where:   "status <> 'closed' AND balance >= 40",
		row: func(a account) (map[string]any, bool) {
			return curatedAccount(a, true), a.status != "" && a.status != "closed" && a.balance >= 40
		},
	}
	// defV3 adds a column and drops the filter on balance.
	defV3 = mirrorDef{
		selects: append(slices.Clone(defV1.selects), "balance >= 40 AS rich"),
		where:   "status IS DISTINCT FROM 'closed'",
		row: func(a account) (map[string]any, bool) {
			r := curatedAccount(a, true)
			r["rich"] = a.balance >= 40
			return r, a.status != "closed"
		},
	}
)

// want is the rows of a mirror table of m under def, as canonical lines.
func (m *mirrorModel) want(def mirrorDef) []string {
	var out []string
	for _, a := range m.live {
		if r, ok := def.row(a); ok {
			out = append(out, canonicalRow(r))
		}
	}
	sort.Strings(out)
	return out
}

// canonicalRow writes a row as name=value pairs in name order, values as
// JSON writes them.
func canonicalRow(r map[string]any) string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		v, _ := json.Marshal(r[n])
		fmt.Fprintf(&b, "%s=%s ", n, v)
	}
	return b.String()
}

// readerRows turns a reader's JSON lines (interop/read_*.py) into
// canonical lines.
func readerRows(t *testing.T, reader string, out []byte) []string {
	t.Helper()
	var rows []string
	for _, r := range jsonRows(t, reader, out) {
		rows = append(rows, canonicalRow(r))
	}
	sort.Strings(rows)
	return rows
}

// jsonRows decodes a reader's output: a JSON object a line, numbers as
// json.Number.
func jsonRows(t *testing.T, reader string, out []byte) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s: %v in %q", reader, err, line)
		}
		rows = append(rows, r)
	}
	return rows
}

// mirrorJob writes the test's job file: two base tables of the same
// source (one Iceberg, one Delta), with their mirror tables under def.
// withLater adds a second mirror of the Iceberg base (a Delta table),
// onChange is the prepared tables' on_change.
func mirrorJob(t *testing.T, dir string, def mirrorDef, withLater bool, onChange string) {
	t.Helper()
	(&mirrorEnv{dir: dir}).job(t, def, withLater, onChange)
}

func (e *mirrorEnv) job(t *testing.T, def mirrorDef, withLater bool, onChange string) {
	t.Helper()
	e.accountsJob(t, func(base string) []prepEntry {
		ps := []prepEntry{{table: base + "_m", mode: "mirror", onChange: onChange, selects: def.selects, where: def.where}}
		if withLater && base == "acc_ice" {
			ps = append(ps, prepEntry{table: "acc_ice_md", format: "delta", mode: "mirror", onChange: onChange, selects: def.selects, where: def.where})
		}
		return ps
	})
}

// mirrorWorkload draws the change files of the test's runs.
type mirrorWorkload struct {
	rng   *rand.Rand
	seq   int64
	used  map[int64]bool
	model *mirrorModel
	files int
}

var statuses = []string{"open", "open", "frozen", "closed", ""}

// run writes one or two change files of random changes into both base
// tables' folders and applies them to the model: inserts, updates,
// deletes (of live and absent keys), re-inserts, NULL statuses, and late
// changes (an order key lower than the key's stored one).
func (w *mirrorWorkload) run(t *testing.T, dir string) {
	t.Helper()
	for range 1 + w.rng.IntN(2) {
		var b strings.Builder
		b.WriteString("Op,id,name,email,balance,status,change_seq\n")
		for range w.rng.IntN(16) {
			id := int64(1 + w.rng.IntN(24))
			cur, live := w.model.live[id]
			a := account{id: id, name: fmt.Sprintf("holder %d \"%c\"", id, 'a'+w.rng.IntN(26)), email: fmt.Sprintf("u%d@example.com", w.rng.IntN(5)),
				balance: int64(w.rng.IntN(60)), status: statuses[w.rng.IntN(len(statuses))]}
			op := byte('U')
			switch {
			case !live && w.rng.IntN(5) > 0:
				op = 'I'
			case live && w.rng.IntN(4) == 0, !live:
				op = 'D'
				if live {
					a = cur
				}
			}
			w.seq += 10
			seq := w.seq
			if stored, ok := w.model.seqs[id]; ok && w.rng.IntN(20) == 0 {
				// A late change: older than what the key stores.
				for late := stored - 1; late > stored-10; late-- {
					if late > 0 && !w.used[late] {
						seq = late
						break
					}
				}
			}
			w.used[seq] = true
			status := a.status
			fmt.Fprintf(&b, "%c,%d,%s,%s,%d,%s,%035d\n", op, a.id, `"`+strings.ReplaceAll(a.name, `"`, `""`)+`"`, a.email, a.balance, status, seq)
			w.model.apply(op, a, seq)
		}
		w.files++
		name := fmt.Sprintf("2024/06/01/20240601-%09d.csv", w.files*1000)
		for _, table := range []string{"acc_ice", "acc_delta"} {
			p := filepath.Join(dir, "raw", "bank", table, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// runSummary runs lakemerge run and decodes its summary.
func runSummary(t *testing.T, dir string) (summary, clitest.Result) {
	t.Helper()
	r := clitest.Cmd{Args: []string{"run", "--config", "job.yaml"}, Dir: dir}.Run(t)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil {
		t.Fatalf("run: %v\n%s", err, r)
	}
	return sum, r
}

// baseRows are the base table's rows as canonical lines.
func (m *mirrorModel) baseRows() []string {
	var base []string
	for _, a := range m.live {
		r := map[string]any{"id": a.id, "name": a.name, "email": a.email, "balance": a.balance, "status": nil, "change_seq": fmt.Sprintf("%035d", a.seq)}
		if a.status != "" {
			r["status"] = a.status
		}
		base = append(base, canonicalRow(r))
	}
	sort.Strings(base)
	return base
}

// checkMirrors reads the Iceberg base table and every mirror table back
// with pyiceberg or deltalake (and DuckDB, locally, when duck is set) and
// compares them with the model.
func (e *mirrorEnv) checkMirrors(t *testing.T, m *mirrorModel, def mirrorDef, withLater, duck bool) {
	t.Helper()
	py := pythonForInterop(t)
	if py == nil {
		return
	}
	baseDB, prepDB := e.databases()
	want, base := m.want(def), m.baseRows()
	check := func(r reader) {
		want := want
		if strings.Contains(r.label, " "+baseDB+".") {
			want = base
		}
		out, err := py.CombinedOutput(r.args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", r.label, err, out)
		}
		if got := readerRows(t, r.label, out); !slices.Equal(got, want) {
			t.Fatalf("%s reads\n%s\nthe model has\n%s", r.label, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	tables := [][3]string{{baseDB, "acc_ice", "iceberg"}, {prepDB, "acc_ice_m", "iceberg"}, {prepDB, "acc_delta_m", "delta"}}
	if withLater {
		tables = append(tables, [3]string{prepDB, "acc_ice_md", "delta"})
	}
	for _, tb := range tables {
		for _, r := range e.readers(t, tb[0], tb[1], tb[2], "id", duck && tb[0] == prepDB) {
			check(r)
		}
	}
}

// TestPreparedMirrorModel: mirror tables of an Iceberg and a Delta base
// table, kept by runs of the binary over a random multi-run workload
// (inserts, updates, deletes, re-inserts, late changes, NULLs and a filter),
// read back by pyiceberg, deltalake and DuckDB, equal the reference model
// after every run. A mirror added later catches up from its base table; a
// changed definition stops the table (exit 1) naming lakemerge rebuild,
// which rebuilds it; with on_change: rebuild a run rebuilds it itself.
func TestPreparedMirrorModel(t *testing.T) {
	mirrorModelRuns(t, &mirrorEnv{dir: t.TempDir()}, 1)
}

// TestPreparedMirrorModelOnAWS is TestPreparedMirrorModel on S3 and Glue
// (the moto server): the raw zone and the warehouse on S3, the base and
// prepared tables in their own Glue databases, read back through Glue
// (pyiceberg) and from S3 (deltalake).
func TestPreparedMirrorModelOnAWS(t *testing.T) {
	mirrorModelRuns(t, awsEnv(t), 2)
}

func mirrorModelRuns(t *testing.T, e *mirrorEnv, seed uint64) {
	dir := e.dir
	_, prepDB := e.databases()
	m := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
	w := &mirrorWorkload{rng: rand.New(rand.NewPCG(seed, 14)), used: map[int64]bool{}, model: m}
	later := false
	hows := map[string]int{}
	for run := 1; run <= 6; run++ {
		later = run >= 3
		e.job(t, defV1, later, "stop")
		w.run(t, dir)
		e.sync(t)
		sum, r := runSummary(t, dir)
		if r.Code != 0 || !sum.OK {
			t.Fatalf("run %d: %s", run, r)
		}
		for _, tr := range sum.Tables {
			want := 1
			if later && tr.Table == "acc_ice" {
				want = 2
			}
			if len(tr.Prepared) != want {
				t.Fatalf("run %d: table %s kept %d prepared tables", run, tr.Table, len(tr.Prepared))
			}
			for _, p := range tr.Prepared {
				hows[p.How]++
				// A prepared table's first run catches up from the whole
				// base table (it records no base state yet); after that
				// each base commit's change set is applied as it is, unless
				// the base table found late changes stale: then it catches
				// up from the base commit.
				want := "changes"
				switch {
				case run == 1 || (run == 3 && p.Table == prepDB+".acc_ice_md"):
					want = "catch-up (whole table)"
				case tr.Stats.Stale > 0:
					want = "catch-up"
				case tr.UpToDate:
					want = "up to date"
				}
				if p.How != want {
					t.Errorf("run %d: %s went %q, want %q (base stats %+v)", run, p.Table, p.How, want, tr.Stats)
				}
			}
		}
		e.checkMirrors(t, m, defV1, later, run == 6)
	}
	t.Logf("ways the runs went: %v", hows)
	if hows["changes"] < 5 {
		t.Errorf("ways the runs went: %v", hows)
	}

	// The definition changes, on_change stop: the base tables commit, the
	// prepared tables fail naming the command that rebuilds them.
	e.job(t, defV2, true, "stop")
	w.run(t, dir)
	e.sync(t)
	sum, r := runSummary(t, dir)
	if r.Code != exitTableFailed || sum.OK {
		t.Fatalf("run after the definition changed: %s", r)
	}
	for _, tr := range sum.Tables {
		if !strings.Contains(tr.Error, "committed, but prepared table "+prepDB+"."+tr.Table+"_m: the definition changed since the table was built") ||
			!strings.Contains(tr.Error, "rebuild it with `lakemerge rebuild --config job.yaml --table "+tr.Table+"`, or set on_change: rebuild") {
			t.Errorf("table %s: %s", tr.Table, tr.Error)
		}
	}
	r = clitest.Cmd{Args: []string{"rebuild", "--config", "job.yaml", "--table", "acc_ice,acc_delta"}, Dir: dir}.Run(t)
	if r.Code != 0 || strings.Count(r.Stdout, `"how":"rebuild"`) != 3 {
		t.Fatalf("rebuild: %s", r)
	}
	e.checkMirrors(t, m, defV2, true, false)

	// on_change: rebuild, and a column more: the run rebuilds.
	e.job(t, defV3, true, "rebuild")
	w.run(t, dir)
	e.sync(t)
	sum, r = runSummary(t, dir)
	if r.Code != 0 || !sum.OK {
		t.Fatalf("run with on_change rebuild: %s", r)
	}
	for _, tr := range sum.Tables {
		for _, p := range tr.Prepared {
			if p.How != "rebuild" {
				t.Errorf("%s: %s, want rebuild", p.Table, p.How)
			}
		}
	}
	e.checkMirrors(t, m, defV3, true, true)
}
