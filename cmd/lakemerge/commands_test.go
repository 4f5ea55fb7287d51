package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// currentSnapshot reads the current snapshot id of an Iceberg table from
// its newest metadata file, keeping the number's digits exactly.
func currentSnapshot(t *testing.T, tableDir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(tableDir, "metadata", "*.metadata.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no metadata files in %s: %v", tableDir, err)
	}
	// Names start with the zero-padded metadata version.
	slices.Sort(files)
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Current json.Number `json:"current-snapshot-id"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&md); err != nil || md.Current == "" {
		t.Fatalf("metadata %s: %v", files[len(files)-1], err)
	}
	return md.Current.String()
}

// TestStatus: status shows, as text and as JSON, every field the README
// lists, with the values the table and the raw zone have: the snapshot id
// as the table metadata holds it (also as a string in JSON, equal to the
// number digit for digit), rows, files absorbed, generation, runs, last
// file, pending change files and pending objects that are not change files.
func TestStatus(t *testing.T) {
	dir := t.TempDir()
	if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	job := filepath.Join(dir, "job.yaml")
	orders := filepath.Join(dir, "raw", "public", "orders")
	for name, body := range map[string]string{
		"20240530-090000000.csv": "D,1001,,,,\n", // a pending change file
		"notes.txt":              "not a DMS file\n",
	} {
		if err := os.WriteFile(filepath.Join(orders, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := currentSnapshot(t, filepath.Join(dir, "warehouse", "demo.db", "orders"))
	var dataBytes int64
	err := filepath.WalkDir(filepath.Join(dir, "warehouse", "demo.db", "orders", "data"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		dataBytes += fi.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// notes.txt is not a change file and no ignore: glob names it: status
	// says that a run would stop on it, and exits 1 after printing the
	// table (a monitor reads the exit code first).
	unknownErr := "objects that are not change files: 1 object(s) under file://" + filepath.Join(dir, "raw", "public", "orders") +
		`/ cannot be read as change files, the first public/orders/notes.txt: dms file "public/orders/notes.txt": name does not end in .csv or .csv.gz; ` +
		"fix or move them, or list them in the table's ignore: globs in the job file to skip them on purpose"
	r := clitest.Run(t, "status", "--config", job, "--table", "orders", "--json")
	if r.Code != exitTableFailed || !strings.Contains(r.Stderr, "1 of 1 tables could not be read") {
		t.Fatalf("status --json: want exit 1: %s", r)
	}
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.UseNumber()
	var raw []map[string]any
	if err := dec.Decode(&raw); err != nil || len(raw) != 1 {
		t.Fatalf("status --json: %v\n%s", err, r.Stdout)
	}
	got := raw[0]
	want := map[string]any{
		"table": "orders", "target": "demo.orders", "exists": true, "format": "iceberg",
		"location":    "file://" + filepath.Join(dir, "warehouse", "demo.db", "orders"),
		"snapshot_id": json.Number(snap), "snapshot_id_str": snap,
		"rows": json.Number("4"), "files_absorbed": json.Number("3"), "generation": json.Number("0"), "runs": json.Number("3"),
		"last_file":     "public/orders/20240529-081502114.csv",
		"pending_files": json.Number("1"), "pending_ignored": json.Number("0"), "pending_unknown": json.Number("1"),
		"raw_objects": json.Number("5"), "error": unknownErr,
		// The demo's three runs (full load, then a day's changes each)
		// wrote six data files and, as the changes update and delete
		// rows, three delete files; every file under data/ is live.
		"files": map[string]any{"data_files": json.Number("6"), "delete_files": json.Number("3"), "small_files": json.Number("6"),
			"bytes": json.Number(strconv.FormatInt(dataBytes, 10)), "versions": json.Number("3")},
	}
	for k, v := range want {
		if m, ok := v.(map[string]any); ok {
			if !reflect.DeepEqual(got[k], m) {
				t.Errorf("status --json %s = %v, want %v", k, got[k], m)
			}
			continue
		}
		if got[k] != v {
			t.Errorf("status --json %s = %v (%T), want %v", k, got[k], got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("status --json has fields %v, want those of %v", keys(got), keys(want))
	}
	// The string and the number are the same id, whatever its size.
	if id, err := strconv.ParseInt(got["snapshot_id_str"].(string), 10, 64); err != nil || json.Number(strconv.FormatInt(id, 10)) != got["snapshot_id"] {
		t.Errorf("snapshot_id_str %v does not equal snapshot_id %v", got["snapshot_id_str"], got["snapshot_id"])
	}

	r = clitest.Run(t, "status", "--config", job, "--table", "orders")
	if r.Code != exitTableFailed {
		t.Fatalf("status: want exit 1: %s", r)
	}
	wantText := fmt.Sprintf(`orders → demo.orders (iceberg)
  error:        %s
  location:     file://%s/warehouse/demo.db/orders
  snapshot:     %s
  rows:         4
  files:        6 data files (6 small), 3 delete files, %d bytes, 3 versions
  absorbed:     3 files, load generation 0, 3 runs
  last file:    public/orders/20240529-081502114.csv
  pending:      1 change file, 0 ignored objects, 1 unknown object (a run stops on these)
  raw objects:  5, absorbed or not
`, unknownErr, dir, snap, dataBytes)
	if r.Stdout != wantText {
		t.Fatalf("status text:\n%s\nwant\n%s", r.Stdout, wantText)
	}

	// Without it every table is read: exit 0.
	if err := os.Remove(filepath.Join(orders, "notes.txt")); err != nil {
		t.Fatal(err)
	}
	if r := clitest.Run(t, "status", "--config", job, "--json"); r.Code != 0 || strings.Contains(r.Stdout, `"error"`) {
		t.Fatalf("status --json without the unknown object: want exit 0 and no error: %s", r)
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// tree lists every file under dir with its size.
func tree(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files[p] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestVacuumDryRun: vacuum --dry-run lists the files vacuum would delete
// (an old orphan in an Iceberg table and in a Delta table, not a young
// one, not the tables' own files) with their bytes, and deletes nothing;
// vacuum then deletes exactly those.
func TestVacuumDryRun(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeDemo(dir); err != nil {
		t.Fatal(err)
	}
	job := filepath.Join(dir, "job.yaml")
	b, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(b), "target: { database: demo, table: orders }", "target: { database: demo, table: orders, format: delta }", 1)
	if yaml == string(b) {
		t.Fatal("job rewrite failed")
	}
	if err := os.WriteFile(job, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := clitest.Run(t, "run", "--config", job); r.Code != 0 {
		t.Fatalf("run: %s", r)
	}
	tables := filepath.Join(dir, "warehouse", "demo.db")
	old := time.Now().Add(-3 * time.Hour)
	orphans := map[string]int{ // path → size; the young one must stay
		filepath.Join(tables, "customers", "data", "orphan-old.parquet"):   1000,
		filepath.Join(tables, "customers", "data", "orphan-young.parquet"): 10,
		filepath.Join(tables, "orders", "part-orphan-old.parquet"):         2000,
	}
	for p, size := range orphans {
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(p, "old") {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := tree(t, dir)

	r := clitest.Run(t, "vacuum", "--config", job, "--retention", "1h", "--dry-run")
	if r.Code != 0 {
		t.Fatalf("vacuum --dry-run: %s", r)
	}
	want := `{"table":"customers","dry_run":true,"files_to_delete":1,"bytes_to_delete":1000,"files":[{"path":"file://$T/customers/data/orphan-old.parquet","bytes":1000}]}
{"table":"orders","dry_run":true,"files_to_delete":1,"bytes_to_delete":2000,"files":[{"path":"file://$T/orders/part-orphan-old.parquet","bytes":2000}]}
{"table":"shipments","dry_run":true,"files_to_delete":0,"bytes_to_delete":0,"files":[]}
`
	if got := strings.ReplaceAll(r.Stdout, tables, "$T"); got != want {
		t.Fatalf("vacuum --dry-run printed\n%s\nwant\n%s", got, want)
	}
	if after := tree(t, dir); !maps.Equal(before, after) {
		t.Fatalf("vacuum --dry-run changed files:\nbefore %v\nafter  %v", before, after)
	}

	r = clitest.Run(t, "vacuum", "--config", job, "--retention", "1h")
	if r.Code != 0 {
		t.Fatalf("vacuum: %s", r)
	}
	del := regexp.MustCompile(`"files_deleted":(\d+),"bytes_deleted":(\d+)`).FindAllStringSubmatch(r.Stdout, -1)
	if len(del) != 3 || del[0][1] != "1" || del[0][2] != "1000" || del[1][1] != "1" || del[1][2] != "2000" || del[2][1] != "0" {
		t.Fatalf("vacuum after the dry run: %s", r)
	}
	after := tree(t, dir)
	for p := range before {
		_, kept := after[p]
		if gone := strings.Contains(p, "orphan-old"); kept == gone {
			t.Errorf("%s: kept %v after vacuum", p, kept)
		}
	}
	if len(after) != len(before)-2 {
		t.Errorf("vacuum deleted %d files, want the 2 listed", len(before)-len(after))
	}
}
