package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeAccountChanges writes one change file of rows ("Op id balance
// status seq", status "-" for NULL) into both base tables' folders of the
// accounts source and applies them to the model.
func writeAccountChanges(t *testing.T, dir string, m *mirrorModel, file int, rows ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("Op,id,name,email,balance,status,change_seq\n")
	for _, r := range rows {
		var op byte
		var a account
		var seq int64
		if _, err := fmt.Sscanf(r, "%c %d %d %s %d", &op, &a.id, &a.balance, &a.status, &seq); err != nil {
			t.Fatalf("change %q: %v", r, err)
		}
		if a.status == "-" {
			a.status = ""
		}
		a.name, a.email = fmt.Sprintf("holder %d", a.id), fmt.Sprintf("u%d@example.com", a.id)
		fmt.Fprintf(&b, "%c,%d,%s,%s,%d,%s,%035d\n", op, a.id, a.name, a.email, a.balance, a.status, seq)
		m.apply(op, a, seq)
	}
	name := fmt.Sprintf("2024/06/01/20240601-%09d.csv", file*1000)
	for _, base := range accountBases {
		p := filepath.Join(dir, "raw", "bank", base.name, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tombstoneFiles lists the tombstone files under a table's folder (Iceberg:
// metadata/lakemerge-tombstones-*, Delta: _delta_log/_lakemerge/tombstones-*)
// and the metadata or state files that reference one.
func tombstoneFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if strings.Contains(name, "tombstones-") {
			out = append(out, p)
			return nil
		}
		// The current state's reference: the newest metadata file
		// (lmtref:) or lakemerge state file (tombstones).
		if strings.HasSuffix(name, ".metadata.json") || strings.HasPrefix(filepath.Base(filepath.Dir(p)), "_lakemerge") && strings.HasSuffix(name, ".json") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "lmtref:") || strings.Contains(string(b), `"tombstones"`) {
				out = append(out, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPreparedMirrorKeepsNoTombstones: a mirror table keeps no tombstones
// — neither for the keys its base table deletes nor for the base rows its
// where filters out — in Iceberg and Delta, and a late change of a key the
// base table deleted (or whose row the where filtered out) still does not
// come back in the mirror: the base table's tombstone (or newer row) finds
// it stale, and the mirror catches up from the base commit. The tables,
// read back by pyiceberg, deltalake and DuckDB, equal the model after
// every run of the binary.
func TestPreparedMirrorKeepsNoTombstones(t *testing.T) {
	e := &mirrorEnv{dir: t.TempDir()}
	dir := e.dir
	baseDB, prepDB := e.databases()
	e.job(t, defV1, false, "stop")
	m := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
	runs := []struct {
		changes []string
		how     string
		stale   int64
	}{
		// The first run derives the mirror from the whole base table: the
		// closed account 4 is filtered out (a delete of a key the mirror
		// does not hold).
		{[]string{"I 1 20 open 10", "I 2 20 open 20", "I 3 20 frozen 30", "I 4 20 closed 40", "I 5 20 open 41"},
			"catch-up (whole table)", 0},
		// A delete, a row that the where now filters out, an update, a
		// delete of a key never seen.
		{[]string{"D 1 20 open 50", "U 2 20 closed 60", "U 3 30 frozen 70", "D 9 0 - 71"}, "changes", 0},
		// Late changes: of the deleted key 1 (below its delete), of key 2
		// (below its filtered-out row), of the never-seen key 9 (below
		// its delete); and one in order.
		{[]string{"U 1 50 open 45", "U 2 50 open 55", "I 9 50 open 65", "I 6 20 open 80"}, "catch-up", 3},
		// Key 5 deleted, then re-inserted with a newer change: the mirror
		// takes it back.
		{[]string{"D 5 20 open 90"}, "changes", 0},
		{[]string{"I 5 44 open 100"}, "changes", 0},
	}
	for i, r := range runs {
		writeAccountChanges(t, dir, m, i+1, r.changes...)
		sum, res := runSummary(t, dir)
		if res.Code != 0 || !sum.OK {
			t.Fatalf("run %d: %s", i+1, res)
		}
		for _, tr := range sum.Tables {
			if tr.Stats.Stale != r.stale {
				t.Errorf("run %d: base table %s found %d changes stale, want %d", i+1, tr.Table, tr.Stats.Stale, r.stale)
			}
			if len(tr.Prepared) != 1 || tr.Prepared[0].How != r.how {
				t.Errorf("run %d: %s's prepared tables went %+v, want one %q", i+1, tr.Table, tr.Prepared, r.how)
			}
		}
		for _, base := range accountBases {
			if got := tombstoneFiles(t, filepath.Join(dir, "warehouse", prepDB+".db", base.name+"_m")); len(got) > 0 {
				t.Errorf("run %d: the mirror of %s has %d tombstone files or references: %s, …", i+1, base.name, len(got), got[0])
			}
			// The base table keeps its tombstones (of keys 1 and 9 from the
			// second run on): what stops the late changes.
			if got := tombstoneFiles(t, filepath.Join(dir, "warehouse", baseDB+".db", base.name)); i >= 1 && len(got) == 0 {
				t.Errorf("run %d: the base table %s has no tombstone file", i+1, base.name)
			}
		}
		e.checkMirrors(t, m, defV1, false, i == len(runs)-1)
	}
	if _, ok := m.live[1]; ok {
		t.Fatal("the model brought back the deleted key 1")
	}
}
