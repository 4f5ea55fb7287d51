package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// TestBinarySummaryCountsPages runs the built binary on a DMS raw zone of
// 40,000 keys into an Iceberg table of 2 key buckets with a history
// table, then on a CDC file updating 5 of them, and reads the run's
// summary: the merge's stats say how many key pages it skipped
// (pages_skipped) and that it decoded fewer keys than the table holds
// (rows_scanned); the history's stored_read how many keys it decoded
// (keys_decoded) and pages it skipped reading the 5 keys' stored
// versions, and the history's stats that its writer scanned nothing (it
// plans from the rows that read located); pyiceberg (when LAKEMERGE_PYTHON is set) reads the
// base table equal to the reference model.
func TestBinarySummaryCountsPages(t *testing.T) {
	const keys = 40_000
	dir := t.TempDir()
	w := newChunkWorkload(t, dir, keys)
	w.load("load", 0, keys)
	job := spillJob(t, dir, "wh", 4096, "    buckets: 2", "    prepared:",
		"      - target: { table: items_hist }", "        mode: history", "        select: [id, name]", "")
	run := func(step string) (tableResult, string) {
		t.Helper()
		r := clitest.Cmd{Args: []string{"run", "--config", job}}.Run(t)
		var sum summary
		if err := json.Unmarshal([]byte(r.Stdout), &sum); r.Code != 0 || err != nil || !sum.OK || len(sum.Tables) != 1 || len(sum.Tables[0].Prepared) != 1 {
			t.Fatalf("%s: %v\n%s", step, err, r)
		}
		return sum.Tables[0], r.Stdout
	}
	run("full load")

	changed := []int{0, 7_777, 20_001, 31_234, keys - 1}
	writeRawFile(t, w.raw, "20240102-150400000.csv", func(b *bufio.Writer) {
		for _, id := range changed {
			w.model[id] = fmt.Sprintf("update-%d-%s", id, w.pad)
			fmt.Fprintf(b, "U,%d,%s\n", id, w.model[id])
		}
	})
	tr, out := run("cdc")
	for _, field := range []string{`"pages_skipped":`, `"keys_decoded":`} {
		if !strings.Contains(out, field) {
			t.Errorf("cdc: the summary has no %s field:\n%s", field, out)
		}
	}
	st := tr.Stats
	if st.Updated != int64(len(changed)) || st.PagesSkipped == 0 || st.RowsScanned == 0 || st.RowsScanned >= keys/2 {
		t.Errorf("cdc: stats %+v; want %d updated, pages skipped and fewer than %d keys decoded", st, len(changed), keys/2)
	}
	if hs := tr.Prepared[0].Stats; hs.Updated+hs.Inserted == 0 || hs.FilesScanned != 0 || hs.RowsScanned != 0 {
		t.Errorf("cdc: the history's stats %+v; want rows written and no key scan of its own", hs)
	}
	rd := tr.Prepared[0].StoredRead
	if rd == nil || rd.Rows != int64(len(changed)) || rd.PagesSkipped == 0 || rd.KeysDecoded == 0 || rd.KeysDecoded >= keys/2 {
		t.Errorf("cdc: the history's stored_read %+v; want the %d keys' versions, pages skipped and fewer than %d keys decoded", rd, len(changed), keys/2)
	}
	t.Logf("cdc: merge decoded %d keys, skipped %d pages; history read %+v", st.RowsScanned, st.PagesSkipped, rd)

	py := pythonForInterop(t)
	if py == nil {
		t.Log("LAKEMERGE_PYTHON not set: the table is not read back by pyiceberg")
		return
	}
	o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "sqlite",
		filepath.Join(dir, "wh.db"), "file://"+filepath.Join(dir, "wh"), "shop.items", "id")
	if err != nil {
		t.Fatalf("pyiceberg read: %v\n%s", err, o)
	}
	if want := w.want(); string(o) != want {
		t.Fatalf("pyiceberg reads %d bytes, the model %d; first lines:\n%.300s\nwant\n%.300s", len(o), len(want), o, want)
	}
}
