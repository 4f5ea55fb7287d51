package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/objstore/fault"
	"github.com/lakemerge/lakemerge/table"
)

// accountSchemaYAML is the key, columns and DMS options of a job file's
// table of accounts (changelogFiles' workload).
const accountSchemaYAML = `    primary_key: [id]
    columns:
      - { name: id, type: long }
      - { name: name, type: string }
      - { name: email, type: string }
      - { name: balance, type: long }
      - { name: status, type: string }
      - { name: change_seq, type: string }
` + dmsAccountsYAML

// dmsAccountsYAML is the DMS options of accountSchemaYAML.
const dmsAccountsYAML = `    dms: { header: true, change_seq_column: change_seq }
`

// catchUpJob writes a job file of one Iceberg base table (acc_ice) with a
// mirror, a changelog (Delta) and a history table, curated and filtered
// as changelogDef says; maintenance off, so that the summaries of the
// runs count every file the base table's commits write (a failed table's
// maintenance pass is not in its summary; compactions between the
// commits are in table/tabletest's ChangesSince).
func catchUpJob(t *testing.T, dir string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "raw: file://%s/raw\nwarehouse: file://%s/warehouse\ncatalog: { type: sqlite, path: %s/catalog.db }\n", dir, dir, dir)
	b.WriteString(`defaults: { buckets: 2, maintenance: { enabled: false }, prepared: { database: prepared } }
tables:
  - name: acc_ice
    source: { schema: bank, table: acc_ice }
    target: { database: base, table: acc_ice }
` + accountSchemaYAML + "    prepared:\n")
	for _, p := range []prepEntry{{table: "acc_ice_m", mode: "mirror"}, {table: "acc_ice_log", format: "delta", mode: "changelog"}, {table: "acc_ice_hist", mode: "history"}} {
		p.selects, p.where = changelogDef.selects, changelogDef.where
		b.WriteString(p.yaml())
	}
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// failPrepared denies every write of a prepared table's commit (Iceberg
// metadata, Delta log entries): the base table commits, its prepared
// tables do not.
type failPrepared struct{}

func (failPrepared) Fault(p fault.Point) fault.Kind {
	if p.Op.IsWrite() && strings.HasPrefix(p.Key, "prepared.db/") &&
		(strings.Contains(p.Key, "/metadata/") || strings.Contains(p.Key, "/_delta_log/")) {
		return fault.Denied
	}
	return fault.None
}

func (failPrepared) String() string { return "deny the prepared tables' commits" }

// baseDataFiles is the number of live data files of the base table of
// the job in dir: what a catch-up from the whole table reads.
func baseDataFiles(t *testing.T, dir string) int64 {
	t.Helper()
	ctx := context.Background()
	w := readOnlyJob(t, filepath.Join(dir, "job.yaml"), "acc_ice")
	m, ok := w.Tables[0].Table.(table.Maintainer)
	if !ok {
		t.Fatal("the base table is not a table.Maintainer")
	}
	fs, err := m.Files(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fs.DataFiles
}

// TestPreparedCatchUpFromCommits: the prepared tables' commits fail for
// three runs in a row (the base table commits each time), then a run
// catches them up from the base table's commits since the state they
// recorded: the mirror, the changelog and the history equal those of a
// clean run of the same workload after every run (the changelog and the
// history replay the journals of the commits they missed), and read back
// by deltalake and pyiceberg they hold what the reference model's runs
// make. The catch-up reads only the files of the commits (its count in
// the summary, journals included): at most what they wrote and rewrote,
// as the base table's summaries count them.
func TestPreparedCatchUpFromCommits(t *testing.T) {
	py := pythonForInterop(t)
	ref, got := t.TempDir(), t.TempDir()
	catchUpJob(t, ref)
	catchUpJob(t, got)
	type workload struct {
		rng   *rand.Rand
		base  *mirrorModel
		seq   int64
		used  map[int64]bool
		files int
	}
	newWorkload := func() *workload {
		return &workload{rng: rand.New(rand.NewPCG(21, 4)), base: &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}, used: map[int64]bool{}}
	}
	wRef, wGot := newWorkload(), newWorkload()
	newBase := func() *mirrorModel { return &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}} }
	clm := &changelogModel{base: newBase(), logged: map[int64]bool{}}
	hm := &historyModel{base: newBase(), hist: map[int64][]histEntry{}}
	const failFrom, failTo, runs = 7, 9, 12
	var written int64
	for run := 1; run <= runs; run++ {
		var changes []clChange
		for _, w := range []*workload{wRef, wGot} {
			dir := ref
			if w == wGot {
				dir = got
			}
			changes = changelogFiles(t, dir, w.rng, w.base, &w.seq, w.used, &w.files)
			for _, c := range changes {
				w.base.apply(c.op, c.a, c.a.seq)
			}
		}
		if sum := runInProcess(t, ref, nil, nil, nil); !sum.OK {
			t.Fatalf("run %d, clean: %+v", run, sum)
		}
		var inj fault.Injector
		if run >= failFrom && run <= failTo {
			inj = failPrepared{}
		}
		sum := runInProcess(t, got, inj, nil, nil)
		switch {
		case inj != nil:
			// The base table committed; its prepared tables did not.
			if sum.OK || sum.Tables[0].Bookmark == "" || len(sum.Tables[0].Prepared) != 3 {
				t.Fatalf("run %d, prepared commits denied: %+v", run, sum)
			}
		case !sum.OK:
			t.Fatalf("run %d: %+v", run, sum)
		}
		// The models of the changelog and the history: the runs', the
		// missed ones' caught up from their commits' journals included.
		clm.run(changes)
		hm.run(changes)
		// What the base table's commits since the prepared tables' state
		// wrote and rewrote: a catch-up reads these files only.
		if run >= failFrom {
			st := sum.Tables[0].Stats
			written += st.DataFiles + 2*st.DeleteFiles // a file that gained deletes is read before and after
		}
		if run == failTo+1 {
			files := baseDataFiles(t, got)
			for _, p := range sum.Tables[0].Prepared {
				cu := p.CatchUp
				// The runs' commits, and any maintenance commit between.
				if p.How != "catch-up" || cu == nil || cu.Whole != "" || cu.Commits < failTo+2-failFrom {
					t.Fatalf("run %d: %s went %q (%+v), want a catch-up from %d base commits or more", run, p.Table, p.How, cu, failTo+2-failFrom)
				}
				if cu.FilesRead == 0 || int64(cu.FilesRead) > written {
					t.Errorf("run %d: %s read %d files of %d commits, which wrote or rewrote %d", run, p.Table, cu.FilesRead, cu.Commits, written)
				}
				t.Logf("run %d: %s caught up: %+v; the commits wrote or rewrote %d files, the base table has %d live data files", run, p.Table, *cu, written, files)
			}
		}
		if inj != nil {
			continue
		}
		gotRows, refRows := tableRows(t, got), tableRows(t, ref)
		for _, name := range []string{"prepared.acc_ice_m", "prepared.acc_ice_log", "prepared.acc_ice_hist"} {
			if g, w := gotRows[name], refRows[name]; !slices.Equal(g, w) {
				t.Fatalf("run %d: %s\n%s\nthe clean run's\n%s", run, name, strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
		}
		if py == nil || (run != failTo+1 && run != runs) {
			continue
		}
		interop := filepath.Join("..", "..", "interop")
		wantLog := slices.Clone(clm.rows)
		sort.Strings(wantLog)
		loc := filepath.Join(got, "warehouse", "prepared.db", "acc_ice_log")
		if g := readChangelogRows(t, py, "deltalake prepared.acc_ice_log", filepath.Join(interop, "read_delta.py"), loc, "order_key"); !slices.Equal(g, wantLog) {
			t.Fatalf("run %d: deltalake reads the changelog\n%s\nthe model has\n%s", run, strings.Join(g, "\n"), strings.Join(wantLog, "\n"))
		}
		wantHist := hm.want()
		if g := readHistoryRows(t, py, "pyiceberg prepared.acc_ice_hist", filepath.Join(interop, "read_iceberg.py"), "sqlite", filepath.Join(got, "catalog.db"),
			"file://"+filepath.Join(got, "warehouse"), "prepared.acc_ice_hist", "id"); !slices.Equal(g, wantHist) {
			t.Fatalf("run %d: pyiceberg reads the history\n%s\nthe model has\n%s", run, strings.Join(g, "\n"), strings.Join(wantHist, "\n"))
		}
	}
}
