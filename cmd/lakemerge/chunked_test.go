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
	w := newChunkWorkload(t, dir, chunkKeys)
	keys, model := chunkKeys, w.model
	w.load("load", 0, keys)
	spill := w.spill()
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
		s := runChunkPair(t, step, small, large, spill)
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

	w.cdc()
	check("cdc")

	// A reload after CDC: a new generation holding keys/2 … keys*3/2; every
	// other row goes, whichever chunk its key falls in.
	w.load("reload", keys/2, keys*3/2)
	check("reload")
}

// chunkKeys are the keys of the binary tests' full load: 200,000 rows
// of 200 bytes, which decoded pass half of memory_mb 64.
const chunkKeys = 200_000

// chunkWorkload writes the DMS raw zone of public.items (id, name) under
// dir/raw, keeping the rows the table must hold in model; keys is the
// size of its first full load.
type chunkWorkload struct {
	t     *testing.T
	dir   string
	raw   string
	keys  int
	pad   string // makes a name 200 bytes long
	model map[int]string
}

func newChunkWorkload(t *testing.T, dir string, keys int) *chunkWorkload {
	raw := filepath.Join(dir, "raw", "public", "items")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("padded-to-look-like-a-real-column-value ", 5)
	return &chunkWorkload{t: t, dir: dir, raw: raw, keys: keys, pad: pad, model: map[int]string{}}
}

// load writes LOAD00000001.csv: the keys from … to-1, named after gen.
func (w *chunkWorkload) load(gen string, from, to int) {
	clear(w.model)
	writeRawFile(w.t, w.raw, "LOAD00000001.csv", func(b *bufio.Writer) {
		for id := from; id < to; id++ {
			w.model[id] = fmt.Sprintf("%s-%d-%s", gen, id, w.pad)
			fmt.Fprintf(b, "%d,%s\n", id, w.model[id])
		}
	})
}

// cdc writes a CDC file: updates, deletes and inserts of keys in every
// chunk; a quarter of the loaded keys keep their row (a stored file keeps
// rows, and loses rows to several chunks).
func (w *chunkWorkload) cdc() {
	writeRawFile(w.t, w.raw, "20240102-150400000.csv", func(b *bufio.Writer) {
		for id := range w.keys + w.keys/4 {
			switch {
			case id >= w.keys:
				w.model[id] = fmt.Sprintf("insert-%d-%s", id, w.pad)
				fmt.Fprintf(b, "I,%d,%s\n", id, w.model[id])
			case id%4 == 0: // kept
			case id%4 != 1:
				w.model[id] = fmt.Sprintf("update-%d-%s", id, w.pad)
				fmt.Fprintf(b, "U,%d,%s\n", id, w.model[id])
			default:
				delete(w.model, id)
				fmt.Fprintf(b, "D,%d,\n", id)
			}
		}
	})
}

// spill makes the spill folder the jobs of spillJob name.
func (w *chunkWorkload) spill() string {
	spill := filepath.Join(w.dir, "spill")
	if err := os.MkdirAll(spill, 0o755); err != nil {
		w.t.Fatal(err)
	}
	return spill
}

// want is the model as read_iceberg.py and read_delta.py print a table.
func (w *chunkWorkload) want() string {
	var b strings.Builder
	for id := range w.keys * 2 {
		if name, ok := w.model[id]; ok {
			fmt.Fprintf(&b, "{\"id\": %d, \"name\": %q}\n", id, name)
		}
	}
	return b.String()
}

// runChunkPair runs the binary on the job files small (a budget the
// step's changes do not fit) and large (one they fit): the first must
// apply several chunks, the second none, and their counts must agree. It
// returns the chunked run's result.
func runChunkPair(t *testing.T, step, small, large, spill string) tableResult {
	t.Helper()
	s, l := runChunkStep(t, step, small, spill), runChunkStep(t, step, large, spill)
	if s.Chunks < 2 || l.Chunks != 0 || s.SpilledRows == 0 || l.SpilledRows != 0 {
		t.Fatalf("%s: small budget applied %d chunks (spilled %d rows), large %d (spilled %d); want several and none",
			step, s.Chunks, s.SpilledRows, l.Chunks, l.SpilledRows)
	}
	if s.Stats.Inserted != l.Stats.Inserted || s.Stats.Updated != l.Stats.Updated || s.Stats.Deleted != l.Stats.Deleted || s.Keys != l.Keys {
		t.Fatalf("%s: chunked stats %+v (%d keys), whole %+v (%d keys)", step, s.Stats, s.Keys, l.Stats, l.Keys)
	}
	return s
}

// runChunkStep runs the binary on job; it must exit 0 with one table and
// leave the spill folder empty.
func runChunkStep(t *testing.T, step, job, spill string) tableResult {
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
