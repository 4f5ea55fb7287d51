package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// TestBinaryChunkedLoad runs the built binary on one DMS raw zone into two
// warehouses: with memory_mb at its minimum, so that the full load spills
// and the writer takes its deduplicated changes in several chunks within
// one commit, and with a budget it fits. Then CDC files and a reload (new
// LOAD files after CDC: a new load generation, whose truncate spans every
// chunk) follow in both. After each run both exit 0, the small budget's
// summary says it applied several chunks (the large one's, none), the
// inserted/updated/deleted counts agree, and pyiceberg (when
// LAKEMERGE_PYTHON is set) reads the same rows from both tables, equal to
// the reference model's, and from both tables' prepared mirror (which the
// chunked runs hand no change set: it catches up from the base table).
//
// The chunks follow the table's key buckets (merge.Bucketer): a chunked
// run writes at most chunks + buckets - 1 data files (each chunk one file
// per bucket it holds, a bucket in several chunks only when they hold
// nothing else), where a spill by a hash of the key wrote about chunks ×
// buckets; a CDC run's chunks read only the files of their own buckets;
// every data file is sorted by key and holds one bucket's rows (pyiceberg's
// transform). With the default 16 buckets each bucket fits one chunk and
// the full load leaves exactly one data file per bucket; with 2 buckets
// under the same budget a bucket is too large for a chunk and is split by
// key range (more chunks than buckets).
func TestBinaryChunkedLoad(t *testing.T) {
	for _, buckets := range []int{0, 2} {
		t.Run(fmt.Sprint("buckets=", buckets), func(t *testing.T) { testChunkedLoad(t, buckets) })
	}
}

// testChunkedLoad is TestBinaryChunkedLoad with buckets key buckets (0:
// the default, 16).
func testChunkedLoad(t *testing.T, buckets int) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw", "public", "items")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		t.Fatal(err)
	}
	model := map[int]string{}
	writeFile := func(name string, rows func(w *bufio.Writer)) { writeRawFile(t, raw, name, rows) }
	// 200,000 rows of 200 bytes: decoded, more than half of 64 MiB.
	const keys = 200_000
	pad := strings.Repeat("padded-to-look-like-a-real-column-value ", 5)
	load := func(gen string, from, to int) {
		for k := range model {
			delete(model, k)
		}
		writeFile("LOAD00000001.csv", func(w *bufio.Writer) {
			for id := from; id < to; id++ {
				model[id] = fmt.Sprintf("%s-%d-%s", gen, id, pad)
				fmt.Fprintf(w, "%d,%s\n", id, model[id])
			}
		})
	}
	load("load", 0, keys)
	spill := filepath.Join(dir, "spill")
	if err := os.Mkdir(spill, 0o755); err != nil {
		t.Fatal(err)
	}
	// A prepared mirror of the table: a chunked run hands it no change
	// set, and it catches up from the base table.
	mirror := []string{"    prepared:", "      - target: { table: items_uc }", "        mode: mirror",
		"        select: [id, upper(name) AS name_uc]", ""}
	nb := 16
	if buckets > 0 {
		nb = buckets
		mirror = append([]string{fmt.Sprintf("    buckets: %d", buckets)}, mirror...)
	}
	job := func(name string, memoryMB int) string { return spillJob(t, dir, name, memoryMB, mirror...) }
	small, large := job("small", 64), job("large", 4096)
	run := func(step, job string) tableResult {
		t.Helper()
		r := clitest.Cmd{Args: []string{"run", "--config", job}}.Run(t)
		var sum summary
		if err := json.Unmarshal([]byte(r.Stdout), &sum); r.Code != 0 || err != nil || len(sum.Tables) != 1 {
			t.Fatalf("%s, run %s: %v\n%s", step, job, err, r)
		}
		if left, err := os.ReadDir(spill); err != nil || len(left) > 0 {
			t.Fatalf("%s: spill folder after the run: %v %v", step, left, err)
		}
		t.Logf("%s, %s: %d chunks", step, filepath.Base(job), sum.Tables[0].Chunks)
		return sum.Tables[0]
	}
	py := pythonForInterop(t)
	// layout is how pyiceberg sees the small budget's table.
	layout := func(step string) partLayout {
		t.Helper()
		o, err := py.Output(filepath.Join("..", "..", "interop", "partitions.py"), "iceberg",
			filepath.Join(dir, "small.db"), "file://"+filepath.Join(dir, "small"), "shop.items", "id", "1")
		var l partLayout
		if err == nil {
			err = json.Unmarshal(o, &l)
		}
		if err != nil {
			t.Fatalf("%s: partitions.py: %v\n%s", step, err, o)
		}
		if len(l.BadPartition)+len(l.BadDeletePartition)+len(l.UnsortedColumn) > 0 || len(l.PartitionFiles) != nb {
			t.Fatalf("%s: the chunked table's files: %+v", step, l)
		}
		return l
	}
	var before partLayout // after the previous step
	check := func(step string) {
		t.Helper()
		s, l := run(step, small), run(step, large)
		if s.Chunks < 2 || l.Chunks != 0 || s.SpilledRows == 0 || l.SpilledRows != 0 {
			t.Fatalf("%s: small budget applied %d chunks (spilled %d rows), large %d (spilled %d); want several and none",
				step, s.Chunks, s.SpilledRows, l.Chunks, l.SpilledRows)
		}
		if s.Stats.DataFiles > int64(s.Chunks+nb-1) || (buckets == 2) != (s.Chunks > nb) {
			t.Fatalf("%s: %d chunks of %d buckets wrote %d data files", step, s.Chunks, nb, s.Stats.DataFiles)
		}
		t.Logf("%s: %d chunks wrote %d data files, scanned %d", step, s.Chunks, s.Stats.DataFiles, s.Stats.FilesScanned)
		if step == "cdc" && before.DataFiles > 0 {
			// Each chunk reads the files of its own buckets only (a
			// bucket in several chunks only when they hold nothing else),
			// where a chunk of a spill by hash read every file.
			most := 0
			for _, n := range before.PartitionFiles {
				most = max(most, n)
			}
			if s.Stats.FilesScanned > int64(most*(s.Chunks+nb-1)) {
				t.Fatalf("%s: %d chunks scanned %d files of a table of %d (at most %d a bucket)", step, s.Chunks, s.Stats.FilesScanned, before.DataFiles, most)
			}
		}
		if s.Stats.Inserted != l.Stats.Inserted || s.Stats.Updated != l.Stats.Updated || s.Stats.Deleted != l.Stats.Deleted || s.Keys != l.Keys {
			t.Fatalf("%s: chunked stats %+v (%d keys), whole %+v (%d keys)", step, s.Stats, s.Keys, l.Stats, l.Keys)
		}
		if py == nil {
			t.Logf("%s: LAKEMERGE_PYTHON not set: the tables' contents are not read back by pyiceberg", step)
			return
		}
		var want, wantUC []byte
		for id := range keys * 2 {
			if name, ok := model[id]; ok {
				want = fmt.Appendf(want, "{\"id\": %d, \"name\": %q}\n", id, name)
				wantUC = fmt.Appendf(wantUC, "{\"id\": %d, \"name_uc\": %q}\n", id, strings.ToUpper(name))
			}
		}
		for _, name := range []string{"small", "large"} {
			for _, tc := range []struct {
				table string
				want  []byte
			}{{"shop.items", want}, {"prepared.items_uc", wantUC}} {
				o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "sqlite",
					filepath.Join(dir, name+".db"), "file://"+filepath.Join(dir, name), tc.table, "id")
				if err != nil {
					t.Fatalf("%s: pyiceberg read %s %s: %v\n%s", step, name, tc.table, err, o)
				}
				if string(o) != string(tc.want) {
					t.Fatalf("%s: %s budget, %s: pyiceberg reads %d bytes, the model %d; first lines:\n%.300s\nwant\n%.300s",
						step, name, tc.table, len(o), len(tc.want), o, tc.want)
				}
			}
		}
		before = layout(step)
		if step == "full load" && buckets == 0 && before.DataFiles != nb {
			t.Fatalf("%s: %d data files in %d buckets, want one a bucket: %v", step, before.DataFiles, nb, before.PartitionFiles)
		}
	}
	check("full load")

	// CDC: updates, deletes and inserts of keys in every chunk.
	writeFile("20240102-150400000.csv", func(w *bufio.Writer) {
		for id := range keys + keys/10 {
			switch {
			case id >= keys:
				model[id] = fmt.Sprintf("insert-%d-%s", id, pad)
				fmt.Fprintf(w, "I,%d,%s\n", id, model[id])
			case id%3 != 0:
				model[id] = fmt.Sprintf("update-%d-%s", id, pad)
				fmt.Fprintf(w, "U,%d,%s\n", id, model[id])
			default:
				delete(model, id)
				fmt.Fprintf(w, "D,%d,\n", id)
			}
		}
	})
	check("cdc")

	// A reload after CDC: a new generation holding keys/2 … keys*3/2; every
	// other row goes, whichever chunk its key falls in.
	load("reload", keys/2, keys*3/2)
	check("reload")
}
