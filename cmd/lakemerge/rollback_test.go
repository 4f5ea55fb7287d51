package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// undoScenario is the shape of the rollback and restore tests: five runs
// of the same raw files into a clean job and into one whose table is then
// put back two runs outside lakemerge (undo, by an engine nobody here
// wrote); the next run must absorb the two undone files again (files, in
// the summary of table index tbl) and leave the table read(dir) as in the
// clean job. It returns the job file and raw folder of the undone job.
func undoScenario(t *testing.T, job func(dir string) (string, string), tbl int, read func(dir string) string, undo func(dir string)) (string, string) {
	t.Helper()
	clean := t.TempDir()
	cj, craw := job(clean)
	for r := range 5 {
		runOnce(t, cj, craw, r)
	}
	want := read(clean)
	dir := t.TempDir()
	j, raw := job(dir)
	for r := range 5 {
		runOnce(t, j, raw, r)
	}
	undo(dir)
	if got := read(dir); got == want {
		t.Fatalf("undoing two runs changed nothing: the test proves nothing")
	}
	out, errs, code := runBinary(t, "run", "--config", j)
	if code != 0 {
		t.Fatalf("run after undoing two runs: exit %d\n%s\n%s", code, out, errs)
	}
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || len(sum.Tables) <= tbl || sum.Tables[tbl].Files != 2 {
		t.Errorf("the run after undoing two runs did not absorb their two files again (%v):\n%s", err, out)
	}
	if got := read(dir); got != want {
		t.Fatalf("after undoing two runs and a run:\n%s\nwant (one clean run):\n%s", got, want)
	}
	return j, raw
}

// TestBinaryRunAfterRollbackInsideMetadata: an operator rolls an Iceberg
// table back two runs with pyiceberg's rollback_to_snapshot (the main
// branch moves back, the table properties, bookmark included, stay as the
// newest run left them). The next run re-absorbs the files of the runs
// rolled back, and the table read back by pyiceberg equals the table of
// the same files run once without a rollback.
func TestBinaryRunAfterRollbackInsideMetadata(t *testing.T) {
	py := pythonForInterop(t)
	if py == nil {
		t.Skip("needs LAKEMERGE_PYTHON (pyiceberg rolls the table back)")
	}
	read := func(dir string) string {
		t.Helper()
		o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "sqlite",
			filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), "shop.items", "id")
		if err != nil {
			t.Fatalf("pyiceberg read: %v\n%s", err, o)
		}
		return string(o)
	}
	job := func(dir string) (string, string) { return itemsJob(t, dir, "{ enabled: false }", "") }
	undoScenario(t, job, 0, read, func(dir string) {
		o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "rollback_iceberg.py"),
			filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), "shop.items", "3")
		if err != nil {
			t.Fatalf("pyiceberg rollback: %v\n%s", err, o)
		}
	})
}
