package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// TestBinaryMaintainDeltaWithinBudget: a Delta table that chunked runs
// under memory_mb 64 left in many small files (a full load of 200,000
// rows of 200 bytes, then CDC in every chunk; maintenance off in runs) is
// optimized by `lakemerge maintain` under the same budget: exit 0, one
// JSON line saying it rewrote the small files into fewer while holding a
// fraction of the rows at a time, having copied some of them to the job's
// spill_dir first (left empty; with a file in the folder's place the pass
// fails), and lakemerge, deltalake and DuckDB read the model's rows.
func TestBinaryMaintainDeltaWithinBudget(t *testing.T) {
	dir := t.TempDir()
	w := newChunkWorkload(t, dir, chunkKeys)
	w.load("load", 0, chunkKeys)
	spill := w.spill()
	job := deltaSpillJob(t, dir, "small", 64, "    maintenance: { enabled: false, compact_small_files: 2 }")
	if r := runChunkStep(t, "full load", job, spill); r.Chunks < 2 {
		t.Fatalf("full load: %d chunks, want several", r.Chunks)
	}
	w.cdc()
	runChunkStep(t, "cdc", job, spill)
	before := deltaRows(t, job)

	// The files the optimize copies go to the job's spill_dir: with a
	// file in its place, the pass fails and the table stays as it was.
	if err := os.Remove(spill); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spill, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := clitest.Cmd{Args: []string{"maintain", "--config", job}}.Run(t)
	var res maintainResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &res); r.Code != 1 || err != nil || !strings.Contains(res.Error, "spill") {
		t.Fatalf("maintain with spill_dir a file: %v\n%s", err, r)
	}
	if err := os.Remove(spill); err != nil {
		t.Fatal(err)
	}
	spill = w.spill()

	r = clitest.Cmd{Args: []string{"maintain", "--config", job}}.Run(t)
	res = maintainResult{}
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &res); r.Code != 0 || err != nil {
		t.Fatalf("maintain: %v\n%s", err, r)
	}
	rows := int64(len(before))
	if res.Error != "" || res.Compactions != 1 || res.FilesRewritten < 4 || res.Files == nil ||
		res.Files.DataFiles >= res.FilesRewritten || res.RowsHeld == 0 || res.RowsHeld >= rows/2 ||
		res.FilesSpilled == 0 {
		t.Fatalf("maintain of %d rows: %+v %+v", rows, res, res.Files)
	}
	if left, err := os.ReadDir(spill); err != nil || len(left) > 0 {
		t.Fatalf("spill folder after maintain: %v %v", left, err)
	}
	t.Logf("maintain: %d small files into %d (%d spilled first), holding at most %d of %d rows", res.FilesRewritten, res.FilesWritten, res.FilesSpilled, res.RowsHeld, rows)
	if after := deltaRows(t, job); !slices.Equal(after, before) {
		t.Fatalf("lakemerge reads %d rows after maintain, %d before", len(after), len(before))
	}
	py := pythonForInterop(t)
	if py == nil {
		t.Log("LAKEMERGE_PYTHON not set: the table is not read back by deltalake and DuckDB")
		return
	}
	table := filepath.Join(dir, "small", "shop.db", "items")
	for _, reader := range [][]string{{table, "id"}, {"--duckdb", table, "id"}} {
		o, err := py.CombinedOutput(append([]string{filepath.Join("..", "..", "interop", "read_delta.py")}, reader...)...)
		if err != nil {
			t.Fatalf("read_delta.py %s: %v\n%s", strings.Join(reader, " "), err, o)
		}
		if want := w.want(); string(o) != want {
			t.Fatalf("read_delta.py %s reads %d bytes, the model %d", strings.Join(reader, " "), len(o), len(want))
		}
	}
}
