package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/fault"
)

// runInProcess runs table acc_ice of the job file in dir in this process,
// as the binary does, with the warehouse store wrapped by inj (nil: no
// faults). It returns the summary; err is the run's own error.
func runInProcess(t *testing.T, dir string, inj fault.Injector, points *atomic.Int64, prepKeys *[]string) summary {
	t.Helper()
	return runBaseInProcess(t, dir, "acc_ice", inj, points, prepKeys)
}

// runBaseInProcess is runInProcess of base table base.
func runBaseInProcess(t *testing.T, dir, base string, inj fault.Injector, points *atomic.Int64, prepKeys *[]string) summary {
	t.Helper()
	return runTableInProcess(t, filepath.Join(dir, "job.yaml"), base, 0, inj, points, prepKeys)
}

// runTableInProcess is runInProcess of table name of the job file at
// path, with a memory budget of memoryMB MiB instead of the job file's
// when it is not 0 (below the job file's minimum, for a small workload
// that spills).
func runTableInProcess(t *testing.T, path, name string, memoryMB int, inj fault.Injector, points *atomic.Int64, prepKeys *[]string) summary {
	t.Helper()
	ctx := context.Background()
	job, prep, tables, err := loadJobPrepared(ctx, path, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	if memoryMB != 0 {
		job.MemoryMB = memoryMB
	}
	var out, errb bytes.Buffer
	_, a := newRootCmd(&out, &errb)
	a.wireOpts = []wire.Option{wire.WithStoreWrapper(func(zone string, s objstore.Store) objstore.Store {
		if zone != wire.ZoneWarehouse {
			return s
		}
		return fault.New(s, fault.Config{Injector: inj, Observe: func(e fault.Event) {
			if points != nil {
				n := points.Add(1)
				if prepKeys != nil {
					*prepKeys = append(*prepKeys, fmt.Sprintf("%d %s %s", n, e.Op, e.Key))
				}
			}
		}})
	})}
	sum, err := a.run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), job, tables, &keeper{cfgPath: "job.yaml", prep: prep})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return sum
}

// tableRows reads the base table acc_ice and its prepared tables with
// lakemerge's own readers: each table's rows, user columns only (a
// prepared table's order keys carry its generation, which a catch-up
// moves on), as sorted lines.
func tableRows(t *testing.T, dir string) map[string][]string {
	t.Helper()
	return tableRowsOf(t, dir, "acc_ice")
}

// tableRowsOf is tableRows of base table base and its prepared tables.
func tableRowsOf(t *testing.T, dir, base string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	job, _, tables, err := loadJobPrepared(ctx, filepath.Join(dir, "job.yaml"), []string{base})
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	w, err := wire.BuildReadOnly(ctx, job, tables, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	out := map[string][]string{}
	bt := w.Tables[0]
	out["base."+bt.Config.Name] = readRows(t, "base."+bt.Config.Name, bt.Table)
	for _, p := range bt.Config.Prepared {
		tbl, _ := w.PreparedWriter(bt.Config, p, []string{"id"})
		name := p.Target.Database + "." + p.Target.Table
		out[name] = readRows(t, name, tbl)
	}
	return out
}

// readRows reads table name with lakemerge's own reader: its rows, user
// columns only, as sorted lines.
func readRows(t *testing.T, name string, tbl interface {
	Read(context.Context) (arrow.Table, error)
}) []string {
	t.Helper()
	at, err := tbl.Read(context.Background())
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer at.Release()
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	var rows []string
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var b strings.Builder
			for j, f := range rec.Schema().Fields() {
				if f.Name == "_seq" {
					continue
				}
				fmt.Fprintf(&b, "%s=%s ", f.Name, rec.Column(j).ValueStr(i))
			}
			rows = append(rows, b.String())
		}
	}
	slices.Sort(rows)
	return rows
}

// writesFromBaseCommit returns the numbers of the writes (puts, exclusive
// creates, deletes) among a run's calls to the warehouse (keys: "N op
// key", as runInProcess records them) from the Iceberg base table's commit
// on: from its first write of metadata (a manifest under
// base.db/acc_ice/metadata/) to the run's last write. Reads that fail there
// fail the run before the write they lead to, which the failed writes
// cover.
func writesFromBaseCommit(t *testing.T, keys []string) []int64 {
	t.Helper()
	return writesFrom(t, keys, "base.db/acc_ice/metadata/")
}

// commitPrefix is where the base table base of accountBases writes its
// commit's first file: an Iceberg manifest, a Delta state file.
func commitPrefix(base, format string) string {
	if format == "delta" {
		return "base.db/" + base + "/_delta_log/"
	}
	return "base.db/" + base + "/metadata/"
}

// writesFrom is writesFromBaseCommit of the base table whose commit's
// first write is under prefix (commitPrefix).
func writesFrom(t *testing.T, keys []string, prefix string) []int64 {
	t.Helper()
	var writes []int64
	for _, k := range keys {
		var n int64
		var op, key string
		fmt.Sscanf(k, "%d %s %s", &n, &op, &key)
		isWrite := op == fault.OpPut.String() || op == fault.OpCreateExclusive.String() || op == fault.OpDelete.String()
		if isWrite && (len(writes) > 0 || strings.HasPrefix(key, prefix)) {
			writes = append(writes, n)
		}
	}
	if len(writes) < 3 {
		t.Fatalf("no base commit among the calls: %q", keys)
	}
	return writes
}

// TestPreparedCrashThenRerun: a run that fails at any call to the
// warehouse from the base table's commit on — before a call reaches the
// store, or after it landed (an unknown outcome) — then a run without
// faults, leaves the base table and both its mirror tables (Iceberg and
// Delta) as one clean run does.
func TestPreparedCrashThenRerun(t *testing.T) {
	// setup writes the workload's first run, runs it, then writes the
	// second run's files (the run under test).
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		m := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
		w := &mirrorWorkload{rng: rand.New(rand.NewPCG(7, 14)), used: map[int64]bool{}, model: m}
		mirrorJob(t, dir, defV1, true, "stop")
		w.run(t, dir)
		if sum := runInProcess(t, dir, nil, nil, nil); !sum.OK {
			t.Fatalf("first run: %+v", sum)
		}
		w.run(t, dir)
		return dir
	}
	ref := setup(t)
	var points atomic.Int64
	var keys []string
	sum := runInProcess(t, ref, nil, &points, &keys)
	if !sum.OK || sum.Tables[0].Prepared[0].How != "changes" {
		t.Fatalf("clean run: %+v", sum)
	}
	want := tableRows(t, ref)
	// The writes from the base table's commit to the last prepared
	// table's commit.
	writes := writesFromBaseCommit(t, keys)
	t.Logf("faults at the %d writes among calls %d..%d", len(writes), writes[0], writes[len(writes)-1])
	failed := 0
	for _, n := range writes {
		for _, kind := range []fault.Kind{fault.Fail, fault.FailAfter} {
			dir := setup(t)
			faulty := runInProcess(t, dir, fault.Nth(n, kind), nil, nil)
			if !faulty.OK {
				failed++
			}
			again := runInProcess(t, dir, nil, nil, nil)
			if !again.OK {
				t.Fatalf("call %d %s: the re-run failed: %+v", n, kind, again.Tables[0].Error)
			}
			got := tableRows(t, dir)
			for name, rows := range want {
				if !slices.Equal(got[name], rows) {
					t.Fatalf("call %d %s (faulty run ok=%v: %s): %s after the re-run\n%s\nclean run\n%s", n, kind, faulty.OK, faulty.Tables[0].Error,
						name, strings.Join(got[name], "\n"), strings.Join(rows, "\n"))
				}
			}
		}
	}
	// Nearly every injected fault fails its run (not those in best-effort
	// maintenance after a commit, such as a Delta checkpoint, nor those a
	// retry got past): the faults reached what they were meant to.
	t.Logf("%d of %d faulty runs failed", failed, 2*len(writes))
	if failed < len(writes) {
		t.Errorf("only %d of %d faulty runs failed", failed, 2*len(writes))
	}
}
