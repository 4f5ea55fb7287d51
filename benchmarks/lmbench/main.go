// Command lmbench generates benchmark workloads for lakemerge and its peers.
//
//	lmbench gen --dir D --rows N --changes M [--inserts 0.2 --deletes 0.1 --dist uniform|recent|zipf --note-bytes 32 --rows-per-file 1000000 --seed 1 --memory-mb 0 --maintenance=true]
//
// writes D/raw/public/orders/LOAD*.csv (the full load), D/cdc/public/orders/*.csv
// (the changes, to be moved under raw/ for the merge run), D/job.yaml (a
// lakemerge job on D) and D/workload.json (what was written). With
// --format debezium the same changes are written as Kafka Connect S3 sink
// files under D/raw/topics/... and D/cdc/topics/... instead. With
// --sets 1000,10000 it writes one change set per count under
// D/sets/N/public/orders instead of D/cdc, each the one gen --changes N
// writes, all on the same load (workload.WriteSets).
//
//	lmbench compare --dir D --lakemerge BIN [--python P] [--tools lakemerge,delta,pyiceberg]
//
// runs each tool on that workload — the full load, then the merge of the
// changes — measuring wall time, CPU time and peak RSS of each process and
// recording /proc/loadavg at the start of each, counts the files and bytes
// each merge wrote, checks with benchmarks/peers/digest.py
// that every tool produced the same table, and writes D/results.json and
// D/results.md.
//
//	lmbench scaling --dir D --lakemerge BIN [--rows 1000000,10000000 --changes 1000,10000,100000,1000000 --tools lakemerge,delta --python P --memory-mb 1024 --max-rss-mib 8192 --verify-max-rows 0 --report]
//
// measures the microbatch-scaling matrix: per table size, D/rows-N gets one
// load and one change set per count (gen --sets; kept when D/rows-N already
// holds them), each tool loads its table once (kept in D/rows-N/pristine),
// and each change set is merged into a fresh copy of it (cp -r back to the
// same paths), measuring wall time, CPU time, peak RSS and files written,
// with /proc/loadavg at the start of each merge, and digesting the result.
// D/results.json and D/results.md are rewritten after every step; a re-run
// skips the loads and cells they hold without error (--report only renders
// results.md anew, e.g. with every size and tool after runs of parts of
// the matrix). Every job file has
// memory_mb (--memory-mb) and the maintenance pass after a run off, so a
// cell measures the merge alone.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lakemerge/lakemerge/benchmarks/workload"
)

func main() {
	if len(os.Args) >= 2 && (os.Args[1] == "compare" || os.Args[1] == "scaling") {
		cmd := compare
		if os.Args[1] == "scaling" {
			cmd = scaling
		}
		if err := cmd(os.Args[2:]); err != nil {
			fail(err)
		}
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "gen" {
		fmt.Fprintln(os.Stderr, "usage: lmbench gen --dir D --rows N --changes M [flags]\n       lmbench compare --dir D --lakemerge BIN [--python P --tools lakemerge,delta,pyiceberg]\n       lmbench scaling --dir D --lakemerge BIN [--rows 1000000,10000000 --changes 1000,10000 --python P --tools lakemerge,delta]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", "", "output folder (required)")
	var s workload.Spec
	fs.Uint64Var(&s.Seed, "seed", 1, "random seed")
	fs.IntVar(&s.BaseRows, "rows", 1_000_000, "rows of the full load")
	fs.IntVar(&s.Changes, "changes", 100_000, "change rows")
	fs.Float64Var(&s.Inserts, "inserts", 0.2, "fraction of changes that insert")
	fs.Float64Var(&s.Deletes, "deletes", 0.1, "fraction of changes that delete")
	dist := fs.String("dist", "uniform", "key distribution: uniform, recent, zipf")
	fs.IntVar(&s.NoteBytes, "note-bytes", 32, "maximum width of the note column")
	fs.IntVar(&s.RowsPerFile, "rows-per-file", 1_000_000, "rows per file")
	format := fs.String("format", "dms", "file format: dms (DMS CSV) or debezium (Kafka Connect S3 sink JSON, PostgreSQL connector)")
	setList := fs.String("sets", "", "change counts, comma-separated: one change set each under D/sets/N/public/orders, all on the one load (dms only; --changes is not used)")
	memoryMB := fs.Int("memory-mb", 0, "memory_mb of the job file (0: not set, lakemerge's default)")
	maintenance := fs.Bool("maintenance", true, "false: the job file turns the maintenance pass after each run off")
	fs.Parse(os.Args[2:])
	s.Dist = workload.Dist(*dist)
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "lmbench gen: --dir is required")
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fail(err)
	}
	var res workload.Result
	var sets []workload.Result
	var err2 error
	table := "source: { schema: public, table: orders }"
	switch {
	case *setList != "" && *format != "dms":
		fail(fmt.Errorf("--sets: only with --format dms"))
	case *setList != "":
		var ss []workload.Set
		for _, f := range strings.Split(*setList, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 {
				fail(fmt.Errorf("--sets: %q is not a change count", f))
			}
			ss = append(ss, workload.Set{Changes: n, Dir: filepath.Join(abs, "sets", f, "public", "orders")})
		}
		if sets, err2 = workload.WriteSets(s, filepath.Join(abs, "raw", "public", "orders"), ss); err2 == nil {
			res = sets[0]
		}
	case *format == "dms":
		res, err2 = workload.Write(s, filepath.Join(abs, "raw", "public", "orders"), filepath.Join(abs, "cdc", "public", "orders"))
	case *format == "debezium":
		res, err2 = workload.WriteDebezium(s, filepath.Join(abs, "raw"), filepath.Join(abs, "cdc"))
		table = "source: { schema: public, table: orders, topic: " + workload.Topic + " }\n    format: debezium-json\n    debezium: { encodings: { amount: string } }"
	default:
		fail(fmt.Errorf("--format %q: want dms or debezium", *format))
	}
	if err2 != nil {
		fail(err2)
	}
	if !*maintenance {
		table += "\n    maintenance: { enabled: false }"
	}
	budget := ""
	if *memoryMB > 0 {
		budget = fmt.Sprintf("memory_mb: %d\n", *memoryMB)
	}
	job := fmt.Sprintf(`raw: file://%[1]s/raw
warehouse: file://%[1]s/warehouse
catalog: { type: sqlite, path: %[1]s/catalog.db }
%[4]stables:
  - %[3]s
    primary_key: [id]
    target: { database: bench, table: orders }
    buckets: 16
    columns:
%[2]s`, abs, workload.Columns, table, budget)
	if err := os.WriteFile(filepath.Join(abs, "job.yaml"), []byte(job), 0o644); err != nil {
		fail(err)
	}
	out, _ := json.MarshalIndent(struct {
		Spec   workload.Spec
		Result workload.Result
		Sets   []workload.Result `json:",omitempty"`
	}{s, res, sets}, "", "  ")
	if err := os.WriteFile(filepath.Join(abs, "workload.json"), out, 0o644); err != nil {
		fail(err)
	}
	if sets == nil {
		sets = []workload.Result{res}
	}
	for _, r := range sets {
		fmt.Printf("load: %d files, %d bytes; cdc: %d files, %d bytes; %d inserts, %d updates, %d deletes; %d final rows\n",
			len(r.LoadFiles), r.LoadBytes, len(r.CDCFiles), r.CDCBytes, r.Inserts, r.Updates, r.Dels, r.FinalRows)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lmbench:", err)
	os.Exit(1)
}
