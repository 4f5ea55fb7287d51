package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The partitioned and sorted prepared tables of TestPreparedPartitioned:
// one curated select for all, with columns of every type a partition
// transform takes (NULLs, negative numbers, dates before 1970).
var partSelect = []string{
	"id",
	"name AS holder",
	"balance - 30 AS net",
	"upper(status) AS status_uc",
	"DATE '1969-12-20' + CAST(balance AS INTEGER) AS opened",
	"CAST(DATE '1969-12-20' AS TIMESTAMP) + to_hours(balance * 7) AS opened_at",
	"sha256(email) AS email_hash",
	"balance >= 40 AS rich",
	"CAST(date_trunc('month', DATE '1969-12-20' + CAST(balance AS INTEGER)) AS DATE) AS opened_month",
}

const partWhere = "status IS DISTINCT FROM 'closed'"

// partTable is one prepared table of the test: its base table, format,
// partition_by and sort_by as the job file writes them, and the layout
// the readers should report: the Iceberg spec and sort order as
// interop/partitions.py writes them, the Delta partition columns.
type partTable struct {
	base, name, format string
	partitionBy        string
	sortBy             string
	spec, order        []string
}

var partTables = []partTable{
	{"acc_ice", "acc_ice_p", "iceberg", `[status_uc, month(opened), "truncate(10, net)"]`, "[net DESC, id]",
		[]string{"status_uc=identity(status_uc)", "opened_month_2=month(opened)", "net_trunc=truncate[10](net)"},
		[]string{"net DESC NULLS LAST", "id ASC NULLS FIRST"}},
	{"acc_ice", "acc_ice_q", "iceberg", `["bucket(3, id)", day(opened), hour(opened_at), "truncate(4, email_hash)"]`, "[holder]",
		[]string{"id_bucket=bucket[3](id)", "opened_day=day(opened)", "opened_at_hour=hour(opened_at)", "email_hash_trunc=truncate[4](email_hash)"},
		[]string{"holder ASC NULLS FIRST"}},
	{"acc_delta", "acc_delta_p", "delta", "[status_uc, rich, opened_month]", "[net DESC]",
		[]string{"status_uc", "rich", "opened_month"}, nil},
}

// partTablesChanged are partTables with partition_by and sort_by changed:
// a run rebuilds the changed tables, evolving their layout.
var partTablesChanged = []partTable{
	{"acc_ice", "acc_ice_p", "iceberg", "[status_uc, year(opened)]", "[id DESC]",
		[]string{"status_uc=identity(status_uc)", "opened_year=year(opened)"},
		[]string{"id DESC NULLS LAST"}},
	partTables[1],
	{"acc_delta", "acc_delta_p", "delta", "[opened, status_uc]", "[holder]",
		[]string{"opened", "status_uc"}, nil},
}

// partRow is the curated row of a (and whether it passes where).
func partRow(a account) (map[string]any, bool) {
	sum := sha256.Sum256([]byte(a.email))
	opened := time.Date(1969, 12, 20, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(a.balance))
	r := map[string]any{
		"id": a.id, "holder": a.name, "net": a.balance - 30, "status_uc": nil,
		"opened":       opened.Format("2006-01-02"),
		"opened_at":    time.Date(1969, 12, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(a.balance*7) * time.Hour).Format("2006-01-02T15:04:05"),
		"email_hash":   hex.EncodeToString(sum[:]),
		"rich":         a.balance >= 40,
		"opened_month": time.Date(opened.Year(), opened.Month(), 1, 0, 0, 0, 0, time.UTC).Format("2006-01-02"),
	}
	if a.status != "" {
		r["status_uc"] = strings.ToUpper(a.status)
	}
	return r, a.status != "closed"
}

// partJob writes the job file of the test: the Iceberg and Delta base
// tables of mirrorWorkload with the prepared tables tables, on_change
// rebuild.
func partJob(t *testing.T, dir string, tables []partTable) {
	t.Helper()
	(&mirrorEnv{dir: dir}).accountsJob(t, func(base string) []prepEntry {
		var ps []prepEntry
		for _, p := range tables {
			if p.base == base {
				ps = append(ps, prepEntry{table: p.name, format: p.format, mode: "mirror", onChange: "rebuild",
					selects: partSelect, where: partWhere, partitionBy: p.partitionBy, sortBy: p.sortBy})
			}
		}
		return ps
	})
}

// partLayout is what interop/partitions.py reports of a table.
type partLayout struct {
	Spec               []string       `json:"spec"`
	SortOrder          []string       `json:"sort_order"`
	DataFiles          int            `json:"data_files"`
	Deletes            int            `json:"deletes"`
	BadPartition       []string       `json:"bad_partition"`
	BadDeletePartition []string       `json:"bad_delete_partition"`
	Unsorted           []string       `json:"unsorted"`
	UnsortedColumn     []string       `json:"unsorted_column"`
	PartitionFiles     map[string]int `json:"partition_files"`
	PrunedFiles        int            `json:"pruned_files"`
	FilteredRows       int            `json:"filtered_rows"`
	// Delta
	PartitionColumns   []string `json:"partition_columns"`
	Files              []string `json:"files"`
	BadFolder          []string `json:"bad_folder"`
	DuckDBFilteredRows int      `json:"duckdb_filtered_rows"`
}

// TestPreparedPartitioned: partitioned and sorted mirror tables (Iceberg
// with identity, month, truncate of a negative number, bucket, day, hour
// and truncate of a string; Delta with identity partition columns of a
// string with NULLs, a boolean and a date before 1970), kept by runs of
// the binary over a random multi-run workload whose updates move keys
// between partitions, with deletes, re-inserts and late changes, equal the
// reference model after every run as pyiceberg, deltalake and DuckDB read
// them. pyiceberg finds every data file's rows in the partition its
// manifest records (by pyiceberg's own transforms), every position-delete
// file in the partition of the data file it deletes from, the files in
// the table's sort order, and prunes files by a partition filter;
// deltalake finds the partition values in the log equal to the rows', the
// files in Hive-style folders, and prunes by partition filters; DuckDB
// filters alike. The Delta table passes a checkpoint on the way. Then
// partition_by and sort_by change (on_change: rebuild): the run rebuilds
// those tables, the Iceberg one with its partition spec and sort order
// evolved (older files keep their spec), the Delta one rewritten under its
// new partition columns, and the checks hold on as before.
func TestPreparedPartitioned(t *testing.T) {
	py := pythonForInterop(t)
	dir := t.TempDir()
	m := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
	w := &mirrorWorkload{rng: rand.New(rand.NewPCG(7, 14)), used: map[int64]bool{}, model: m}
	interop := filepath.Join("..", "..", "interop")
	moves, deletes := 0, 0
	const runs, changedAt = 14, 13
	for run := 1; run <= runs; run++ {
		tables := partTables
		if run >= changedAt {
			tables = partTablesChanged
		}
		partJob(t, dir, tables)
		before := map[int64]string{}
		for id, a := range m.live {
			if r, ok := partRow(a); ok {
				before[id] = fmt.Sprint(r["status_uc"], r["opened"])
			}
		}
		w.run(t, dir)
		for id, a := range m.live {
			if r, ok := partRow(a); ok {
				if old, was := before[id]; was && old != fmt.Sprint(r["status_uc"], r["opened"]) {
					moves++
				}
			}
		}
		sum, r := runSummary(t, dir)
		if r.Code != 0 || !sum.OK {
			t.Fatalf("run %d: %s", run, r)
		}
		for _, tr := range sum.Tables {
			if n := len(tr.Prepared); (tr.Table == "acc_ice" && n != 2) || (tr.Table == "acc_delta" && n != 1) {
				t.Fatalf("run %d: table %s kept %d prepared tables", run, tr.Table, n)
			}
			for _, p := range tr.Prepared {
				if rebuilt := p.How == "rebuild"; rebuilt != (run == changedAt && p.Table != "prepared.acc_ice_q") {
					t.Errorf("run %d: %s went %q", run, p.Table, p.How)
				}
			}
		}
		if py == nil {
			continue
		}
		var want []string
		open := 0
		for _, a := range m.live {
			if r, ok := partRow(a); ok {
				want = append(want, canonicalRow(r))
				if r["status_uc"] == "OPEN" {
					open++
				}
			}
		}
		sort.Strings(want)
		read := func(reader string, args ...string) {
			t.Helper()
			out, err := py.CombinedOutput(args...)
			if err != nil {
				t.Fatalf("run %d: %s: %v\n%s", run, reader, err, out)
			}
			if got := readerRows(t, reader, out); !slices.Equal(got, want) {
				t.Fatalf("run %d: %s reads\n%s\nthe model has\n%s", run, reader, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
		layout := func(args ...string) partLayout {
			t.Helper()
			out, err := py.Output(append([]string{filepath.Join(interop, "partitions.py")}, args...)...)
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("run %d: partitions.py %v: %v\n%s", run, args, err, stderr)
			}
			var l partLayout
			if err := json.Unmarshal(out, &l); err != nil {
				t.Fatalf("run %d: partitions.py %v: %v\n%s", run, args, err, out)
			}
			return l
		}
		wh := filepath.Join(dir, "warehouse")
		for _, p := range tables {
			name := "prepared." + p.name
			last := run == changedAt-1 || run == runs
			// The layout is read every third run and around the change
			// (each read costs seconds).
			check := run%3 == 0 || run >= changedAt-1
			if p.format == "iceberg" {
				read("pyiceberg "+name, filepath.Join(interop, "read_iceberg.py"), "sqlite", filepath.Join(dir, "catalog.db"), "file://"+wh, name, "id")
				if last {
					metas, _ := filepath.Glob(filepath.Join(wh, "prepared.db", p.name, "metadata", "*.metadata.json"))
					slices.Sort(metas)
					read("DuckDB "+name, filepath.Join(interop, "read_iceberg.py"), "--duckdb", metas[len(metas)-1], "id")
				}
				if !check {
					continue
				}
				l := layout("iceberg", filepath.Join(dir, "catalog.db"), "file://"+wh, name, "status_uc", "OPEN")
				if !slices.Equal(l.Spec, p.spec) || !slices.Equal(l.SortOrder, p.order) {
					t.Fatalf("run %d: %s has spec %q and sort order %q, want %q and %q", run, name, l.Spec, l.SortOrder, p.spec, p.order)
				}
				if len(l.BadPartition)+len(l.BadDeletePartition)+len(l.Unsorted) > 0 {
					t.Fatalf("run %d: %s:\npartitions %q\ndelete partitions %q\nunsorted %q", run, name, l.BadPartition, l.BadDeletePartition, l.Unsorted)
				}
				if l.FilteredRows != open {
					t.Errorf("run %d: %s: a scan with status_uc = 'OPEN' returns %d rows, the model has %d", run, name, l.FilteredRows, open)
				}
				if p.name == "acc_ice_p" && l.DataFiles > 1 && l.PrunedFiles >= l.DataFiles {
					t.Errorf("run %d: %s: plan_files with status_uc = 'OPEN' keeps %d of %d data files", run, name, l.PrunedFiles, l.DataFiles)
				}
				deletes += l.Deletes
				if last {
					t.Logf("%s: %d data files, %d live position-delete files; status_uc = 'OPEN' plans %d files", name, l.DataFiles, l.Deletes, l.PrunedFiles)
				}
				continue
			}
			loc := filepath.Join(wh, "prepared.db", p.name)
			read("deltalake "+name, filepath.Join(interop, "read_delta.py"), loc, "id")
			if last {
				read("DuckDB "+name, filepath.Join(interop, "read_delta.py"), "--duckdb", loc, "id")
			}
			if !check {
				continue
			}
			l := layout("delta", loc, "status_uc", "OPEN")
			if !slices.Equal(l.PartitionColumns, p.spec) {
				t.Fatalf("run %d: %s is partitioned by %q", run, name, l.PartitionColumns)
			}
			if len(l.BadPartition)+len(l.BadFolder) > 0 {
				t.Fatalf("run %d: %s:\npartition values %q\nfolders %q", run, name, l.BadPartition, l.BadFolder)
			}
			if l.FilteredRows != open || l.DuckDBFilteredRows != open {
				t.Errorf("run %d: %s: status_uc = 'OPEN' reads %d rows (deltalake), %d (DuckDB); the model has %d", run, name, l.FilteredRows, l.DuckDBFilteredRows, open)
			}
			if last {
				t.Logf("%s: %d data files; file_uris(status_uc = 'OPEN') gives %d", name, len(l.Files), l.PrunedFiles)
			}
			if len(l.Files) > 1 && l.PrunedFiles >= len(l.Files) {
				t.Errorf("run %d: %s: file_uris(status_uc = 'OPEN') keeps %d of %d files", run, name, l.PrunedFiles, len(l.Files))
			}
		}
	}
	t.Logf("%d updates moved a key to another partition; %d position-delete files seen live", moves, deletes)
	if moves == 0 || deletes == 0 {
		t.Errorf("the workload moved %d keys between partitions and left %d position-delete files: the test checks nothing of it", moves, deletes)
	}
	// The Delta table's checkpoint came before the change: read with
	// partitionValues from the checkpoint, the table held as above.
	cps, _ := filepath.Glob(filepath.Join(dir, "warehouse", "prepared.db", "acc_delta_p", "_delta_log", "*.checkpoint.parquet"))
	if len(cps) == 0 {
		t.Errorf("no checkpoint of prepared.acc_delta_p after %d runs", runs)
	}
}
