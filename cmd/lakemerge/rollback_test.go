package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

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
	clean := t.TempDir()
	job, raw := itemsJob(t, clean, "{ enabled: false }", "")
	for r := range 5 {
		runOnce(t, job, raw, r)
	}
	want := read(clean)

	dir := t.TempDir()
	job, raw = itemsJob(t, dir, "{ enabled: false }", "")
	for r := range 5 {
		runOnce(t, job, raw, r)
	}
	o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "rollback_iceberg.py"),
		filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), "shop.items", "3")
	if err != nil {
		t.Fatalf("pyiceberg rollback: %v\n%s", err, o)
	}
	if got := read(dir); got == want {
		t.Fatalf("the rollback changed nothing: the test proves nothing")
	}
	out, errs, code := runBinary(t, "run", "--config", job)
	if code != 0 {
		t.Fatalf("run after the rollback: exit %d\n%s\n%s", code, out, errs)
	}
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || len(sum.Tables) != 1 || sum.Tables[0].Files != 2 {
		t.Errorf("the run after the rollback did not absorb the two rolled-back files again (%v):\n%s", err, out)
	}
	if got := read(dir); got != want {
		t.Fatalf("after the rollback and a run:\n%s\nwant (one clean run):\n%s", got, want)
	}
}
