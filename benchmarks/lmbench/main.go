// Command lmbench generates benchmark workloads for lakemerge and its peers.
//
//	lmbench gen --dir D --rows N --changes M [--inserts 0.2 --deletes 0.1 --dist uniform|recent|zipf --note-bytes 32 --rows-per-file 1000000 --seed 1]
//
// writes D/raw/public/orders/LOAD*.csv (the full load), D/cdc/public/orders/*.csv
// (the changes, to be moved under raw/ for the merge run), D/job.yaml (a
// lakemerge job on D) and D/workload.json (what was written). With
// --format debezium the same changes are written as Kafka Connect S3 sink
// files under D/raw/topics/... and D/cdc/topics/... instead.
//
//	lmbench compare --dir D --lakemerge BIN [--python P] [--tools lakemerge,delta,pyiceberg]
//
// runs each tool on that workload — the full load, then the merge of the
// changes — measuring wall time and peak RSS of each process, counts the
// files and bytes each merge wrote, checks with benchmarks/peers/digest.py
// that every tool produced the same table, and writes D/results.json and
// D/results.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lakemerge/lakemerge/benchmarks/workload"
)

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "compare" {
		if err := compare(os.Args[2:]); err != nil {
			fail(err)
		}
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "gen" {
		fmt.Fprintln(os.Stderr, "usage: lmbench gen --dir D --rows N --changes M [flags]\n       lmbench compare --dir D --lakemerge BIN [--python P --tools lakemerge,delta,pyiceberg]")
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
	var err2 error
	table := "source: { schema: public, table: orders }"
	switch *format {
	case "dms":
		res, err2 = workload.Write(s, filepath.Join(abs, "raw", "public", "orders"), filepath.Join(abs, "cdc", "public", "orders"))
	case "debezium":
		res, err2 = workload.WriteDebezium(s, filepath.Join(abs, "raw"), filepath.Join(abs, "cdc"))
		table = "source: { schema: public, table: orders, topic: " + workload.Topic + " }\n    format: debezium-json\n    debezium: { encodings: { amount: string } }"
	default:
		fail(fmt.Errorf("--format %q: want dms or debezium", *format))
	}
	if err2 != nil {
		fail(err2)
	}
	job := fmt.Sprintf(`raw: file://%[1]s/raw
warehouse: file://%[1]s/warehouse
catalog: { type: sqlite, path: %[1]s/catalog.db }
tables:
  - %[3]s
    primary_key: [id]
    target: { database: bench, table: orders }
    buckets: 16
    columns:
%[2]s`, abs, workload.Columns, table)
	if err := os.WriteFile(filepath.Join(abs, "job.yaml"), []byte(job), 0o644); err != nil {
		fail(err)
	}
	out, _ := json.MarshalIndent(struct {
		Spec   workload.Spec
		Result workload.Result
	}{s, res}, "", "  ")
	if err := os.WriteFile(filepath.Join(abs, "workload.json"), out, 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("load: %d files, %d bytes; cdc: %d files, %d bytes; %d inserts, %d updates, %d deletes; %d final rows\n",
		len(res.LoadFiles), res.LoadBytes, len(res.CDCFiles), res.CDCBytes, res.Inserts, res.Updates, res.Dels, res.FinalRows)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lmbench:", err)
	os.Exit(1)
}
