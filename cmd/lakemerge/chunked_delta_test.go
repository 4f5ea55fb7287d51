package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/objstore/fault"
)

// TestBinaryChunkedDelta is TestBinaryChunkedLoad with a Delta target:
// the built binary runs a full load, CDC files (updates, deletes and
// inserts of keys in every chunk, so stored files lose rows to several
// chunks) and a reload (whose truncate spans every chunk) into two
// warehouses, with memory_mb 64 (the runs spill and the Delta writer takes
// the changes in chunks within one commit) and 4096 (in memory). After
// each run both exit 0, the small budget's summary says it applied several
// chunks (the large one's, none), the counts agree, lakemerge reads the
// same rows from both, and deltalake and DuckDB (when LAKEMERGE_PYTHON is
// set) read the reference model's rows from both.
func TestBinaryChunkedDelta(t *testing.T) {
	dir := t.TempDir()
	w := newChunkWorkload(t, dir, chunkKeys)
	w.load("load", 0, chunkKeys)
	spill := w.spill()
	small, large := deltaSpillJob(t, dir, "small", 64), deltaSpillJob(t, dir, "large", 4096)
	py := pythonForInterop(t)
	check := func(step string) {
		t.Helper()
		runChunkPair(t, step, small, large, spill)
		if got, want := deltaRows(t, small), deltaRows(t, large); !slices.Equal(got, want) {
			t.Fatalf("%s: lakemerge reads %d rows from the chunked table, %d from the other", step, len(got), len(want))
		}
		if py == nil {
			t.Logf("%s: LAKEMERGE_PYTHON not set: the tables are not read back by deltalake and DuckDB", step)
			return
		}
		want := w.want()
		for _, name := range []string{"small", "large"} {
			table := filepath.Join(dir, name, "shop.db", "items")
			for _, reader := range [][]string{{table, "id"}, {"--duckdb", table, "id"}} {
				o, err := py.CombinedOutput(append([]string{filepath.Join("..", "..", "interop", "read_delta.py")}, reader...)...)
				if err != nil {
					t.Fatalf("%s: read_delta.py %s: %v\n%s", step, strings.Join(reader, " "), err, o)
				}
				if string(o) != want {
					t.Fatalf("%s: %s budget, read_delta.py %s reads %d bytes, the model %d; first lines:\n%.300s\nwant\n%.300s",
						step, name, reader[0], len(o), len(want), o, want)
				}
			}
		}
	}
	check("full load")
	w.cdc()
	check("cdc")
	w.load("reload", chunkKeys/2, chunkKeys*3/2)
	check("reload")
}

// TestChunkedDeltaCrashThenRerun: a chunked run into a Delta table (CDC
// of keys in every chunk into a table loaded in memory, so its stored file
// loses rows to every chunk; 4,000 keys under a budget of 1 MiB, below the
// job file's minimum) that fails at any write to the warehouse — before
// the write reaches the store, or after it landed (an unknown outcome) —
// then a run without faults, leaves the table as one clean run does. The
// runs are in this process (runTableInProcess), each from a copy of the
// same loaded table.
func TestChunkedDeltaCrashThenRerun(t *testing.T) {
	const keys, budgetMB = 4000, 1
	tmpl := t.TempDir()
	w := newChunkWorkload(t, tmpl, keys)
	w.load("load", 0, keys)
	w.spill()
	if sum := runTableInProcess(t, deltaSpillJob(t, tmpl, "small", 64), "items", 4096, nil, nil, nil); !sum.OK || sum.Tables[0].Chunks != 0 {
		t.Fatalf("full load: %+v", sum.Tables)
	}
	w.cdc()

	// copyOf is a copy of the loaded table and raw zone, its job file
	// pointing at the copy.
	copyOf := func() (string, string) {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(tmpl)); err != nil {
			t.Fatal(err)
		}
		return dir, deltaSpillJob(t, dir, "small", 64)
	}
	ref, job := copyOf()
	var points atomic.Int64
	var calls []string
	sum := runTableInProcess(t, job, "items", budgetMB, nil, &points, &calls)
	if st := sum.Tables[0]; !sum.OK || st.Chunks < 2 || st.Stats.FilesRewritten == 0 || st.Stats.DataFiles <= int64(st.Chunks) {
		t.Fatalf("clean run: want several chunks and stored files rewritten with rows they keep: %+v", sum.Tables)
	}
	want := deltaRows(t, job)
	var writes []int64
	for i, c := range calls {
		if f := strings.Fields(c); f[1] == fault.OpPut.String() || f[1] == fault.OpCreateExclusive.String() || f[1] == fault.OpDelete.String() {
			writes = append(writes, int64(i+1))
		}
	}
	os.RemoveAll(ref)
	t.Logf("clean run: %d chunks, %d calls to the warehouse, %d of them writes", sum.Tables[0].Chunks, len(calls), len(writes))
	failed := 0
	for _, n := range writes {
		for _, kind := range []fault.Kind{fault.Fail, fault.FailAfter} {
			dir, job := copyOf()
			faulty := runTableInProcess(t, job, "items", budgetMB, fault.Nth(n, kind), nil, nil)
			if !faulty.OK {
				failed++
			}
			again := runTableInProcess(t, job, "items", budgetMB, nil, nil, nil)
			if !again.OK {
				t.Fatalf("call %d %s: the re-run failed: %+v", n, kind, again.Tables[0].Error)
			}
			if got := deltaRows(t, job); !slices.Equal(got, want) {
				t.Fatalf("call %d %s (faulty run ok=%v: %s): the re-run's table has %d rows, a clean run's %d",
					n, kind, faulty.OK, faulty.Tables[0].Error, len(got), len(want))
			}
			os.RemoveAll(dir)
		}
	}
	// Nearly every injected fault fails its run (not those in best-effort
	// maintenance after the commit): the faults reached what they were
	// meant to.
	t.Logf("%d of %d faulty runs failed", failed, 2*len(writes))
	if failed < len(writes) {
		t.Errorf("only %d of %d faulty runs failed", failed, 2*len(writes))
	}
}

// deltaSpillJob is spillJob with a Delta target.
func deltaSpillJob(t *testing.T, dir, name string, memoryMB int, extra ...string) string {
	t.Helper()
	p := spillJob(t, dir, name, memoryMB, extra...)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	from, to := "target: { database: shop, table: items }", "target: { database: shop, table: items, format: delta }"
	if !strings.Contains(string(b), from) {
		t.Fatalf("job file %s has no %q", p, from)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// deltaRows reads table items of the job file at path with lakemerge's
// own reader (readRows).
func deltaRows(t *testing.T, path string) []string {
	t.Helper()
	w := readOnlyJob(t, path, "items")
	return readRows(t, "items", w.Tables[0].Table)
}

// readOnlyJob wires table name of the job file at path read-only; it is
// closed when the test ends.
func readOnlyJob(t *testing.T, path, name string) *wire.Job {
	t.Helper()
	ctx := context.Background()
	job, _, tables, err := loadJobPrepared(ctx, path, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wire.BuildReadOnly(ctx, job, tables, memory.NewGoAllocator())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}
