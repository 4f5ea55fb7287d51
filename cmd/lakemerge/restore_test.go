package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryRunAfterDeltaRestore: an operator restores a Delta table two
// runs back with delta-rs (a RESTORE log entry puts back the files of that
// version; lakemerge's state is not in it). The next run re-absorbs the
// files of the runs restored away, and the table read back by deltalake
// equals the table of the same files run once without a restore. A
// restore to a time names no version: the run stops with the reason.
func TestBinaryRunAfterDeltaRestore(t *testing.T) {
	py := pythonForInterop(t)
	if py == nil {
		t.Skip("needs LAKEMERGE_PYTHON (deltalake restores the table)")
	}
	table := func(dir string) string { return filepath.Join(dir, "warehouse", "shop.db", "items_delta") }
	read := func(dir string) string {
		t.Helper()
		o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_delta.py"), table(dir), "id")
		if err != nil {
			t.Fatalf("deltalake read: %v\n%s", err, o)
		}
		return string(o)
	}
	restore := func(dir string, args ...string) {
		t.Helper()
		o, err := py.CombinedOutput(append([]string{filepath.Join("..", "..", "interop", "restore_delta.py"), table(dir)}, args...)...)
		if err != nil {
			t.Fatalf("deltalake restore %v: %v\n%s", args, err, o)
		}
	}
	job := func(dir string) (string, string) { return maintainJob(t, dir, "{ enabled: false }") }
	j, raw := undoScenario(t, job, 1, read, func(dir string) { restore(dir, "3") })

	// A second run has nothing to do.
	out, errs, code := runBinary(t, "run", "--config", j)
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || !sum.Tables[1].UpToDate {
		t.Fatalf("second run after the restore: exit %d: %v\n%s\n%s", code, err, out, errs)
	}

	// A restore to a time names no version: the run cannot tell which raw
	// files the table holds, and stops with an error that says what to do
	// instead of guessing.
	runOnce(t, j, raw, 5)
	restore(filepath.Dir(j), "4", "--by-time")
	if err := os.WriteFile(filepath.Join(raw, "20240101-000000006.csv"), []byte("U,6,renamed6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = runBinary(t, "run", "--config", j)
	if code != exitTableFailed || !strings.Contains(out+errs, "restore it by version instead") {
		t.Fatalf("run after a restore by time: exit %d, want %d and the reason\n%s\n%s", code, exitTableFailed, out, errs)
	}
}
