package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// Paths where lakemerge once skipped or invented something without a word,
// checked as a user sees them: exit code, summary and files on disk.

// TestUnknownFileFailsTable: an object under a table's prefix whose name
// is not a change file name (here an 8-digit time) stops that table with
// exit 1, naming the object and the ignore: setting; the bookmark does not
// move. Listed under ignore:, it is absorbed unread and counted.
func TestUnknownFileFailsTable(t *testing.T) {
	dir := t.TempDir()
	if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	job := filepath.Join(dir, "job.yaml")
	odd := filepath.Join(dir, "raw", "public", "orders", "20240530-09000000.csv")
	writeFile(t, odd, "U,1001,1,shipped,40.00,updated\n")
	before := tableStatuses(t, job)

	r := clitest.Run(t, "run", "--config", job, "--table", "orders")
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != exitTableFailed {
		t.Fatalf("want exit 1 and a summary: %v\n%s", err, r)
	}
	e := sum.Tables[0].Error
	for _, want := range []string{"public/orders/20240530-09000000.csv", "ignore:"} {
		if !strings.Contains(e, want) {
			t.Errorf("error does not name %q: %s", want, e)
		}
	}
	after := tableStatuses(t, job)
	if after[1].FilesAbsorbed != before[1].FilesAbsorbed || after[1].SnapshotID != before[1].SnapshotID || after[1].PendingUnknown != 1 {
		t.Fatalf("the failed run moved the table: before %+v after %+v", before[1], after[1])
	}

	// The user decides: the object is not a change file, skip it.
	data, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "    target: { database: demo, table: orders }\n",
		"    target: { database: demo, table: orders }\n    ignore: [\"*-09000000.csv\"]\n", 1)
	if edited == string(data) {
		t.Fatal("the demo job file changed: cannot add ignore: to orders")
	}
	writeFile(t, job, edited)
	r = clitest.Run(t, "run", "--config", job, "--table", "orders")
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 {
		t.Fatalf("with ignore: want exit 0: %v\n%s", err, r)
	}
	if tr := sum.Tables[0]; tr.Ignored != 1 || tr.Stats.Updated != 0 {
		t.Fatalf("with ignore: %+v", tr)
	}
	if !strings.Contains(r.Stderr, "20240530-09000000.csv") {
		t.Errorf("the ignored object is not logged:\n%s", r.Stderr)
	}
}

// TestMissingRawLocation: a raw location that does not exist is an error
// naming it (exit 1), not an "up to date" table; status and run create
// nothing in the raw zone, and status creates no catalog either.
func TestMissingRawLocation(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "job.yaml")
	writeFile(t, job, `raw: file://`+dir+`/no-such-raw
warehouse: file://`+dir+`/warehouse
catalog: {type: sqlite, path: catalog.db}
tables:
  - source: {schema: public, table: orders}
    primary_key: [id]
    columns: [{name: id, type: long}]
`)
	st := clitest.Run(t, "status", "--config", job, "--json")
	var sts []tableStatus
	if err := json.Unmarshal([]byte(st.Stdout), &sts); err != nil || st.Code != 0 {
		t.Fatalf("status: %v\n%s", err, st)
	}
	if sts[0].Exists || !strings.Contains(sts[0].Error, "no-such-raw/public/orders/") {
		t.Errorf("status does not name the missing location: %+v", sts[0])
	}
	for _, p := range []string{"no-such-raw", "catalog.db", "warehouse"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("status created %s", p)
		}
	}

	r := clitest.Run(t, "run", "--config", job)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != exitTableFailed {
		t.Fatalf("want exit 1: %v\n%s", err, r)
	}
	if e := sum.Tables[0].Error; !strings.Contains(e, "file://"+dir+"/no-such-raw/public/orders/") {
		t.Errorf("error does not name the raw location: %s", e)
	}
	if _, err := os.Stat(filepath.Join(dir, "no-such-raw")); !os.IsNotExist(err) {
		t.Errorf("run created the raw folder")
	}
}

// TestCopiedRawZoneIsNotReloaded: raw files are known by their content, so
// a copy of the raw folder that does not keep modification times (cp
// without -p) is not taken for rewritten files: the next run has nothing
// to do, where a reload would have started a new load generation.
func TestCopiedRawZoneIsNotReloaded(t *testing.T) {
	dir := t.TempDir()
	if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	raw, copied := filepath.Join(dir, "raw"), filepath.Join(dir, "raw-copy")
	later := time.Now().Add(time.Hour)
	err := filepath.WalkDir(raw, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		to := filepath.Join(copied, strings.TrimPrefix(p, raw))
		writeFile(t, to, string(b))
		return os.Chtimes(to, later, later)
	})
	if err != nil {
		t.Fatal(err)
	}
	job := filepath.Join(dir, "job.yaml")
	data, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, job, strings.Replace(string(data), "raw: file://"+raw+"\n", "raw: file://"+copied+"\n", 1))
	r := clitest.Run(t, "run", "--config", job)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 {
		t.Fatalf("run on the copy: %v\n%s", err, r)
	}
	for _, tr := range sum.Tables {
		if !tr.UpToDate {
			t.Errorf("table %s took the copied files for new ones: %+v", tr.Table, tr)
		}
	}
}

// TestSymlinkInRawFailsTable: a symbolic link under a table's prefix is
// not followed and not passed over: the table stops naming it, unless an
// ignore: glob names it.
func TestSymlinkInRawFailsTable(t *testing.T) {
	dir := t.TempDir()
	if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	target := filepath.Join(dir, "elsewhere.csv")
	writeFile(t, target, "U,1001,1,shipped,40.00,updated\n")
	link := filepath.Join(dir, "raw", "public", "orders", "20240530-090000000.csv")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symlinks: %v", err)
	}
	job := filepath.Join(dir, "job.yaml")
	r := clitest.Run(t, "run", "--config", job, "--table", "orders")
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != exitTableFailed {
		t.Fatalf("want exit 1: %v\n%s", err, r)
	}
	if e := sum.Tables[0].Error; !strings.Contains(e, "public/orders/20240530-090000000.csv") || !strings.Contains(e, "symbolic link") {
		t.Fatalf("error does not name the link: %s", e)
	}
	data, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, job, strings.Replace(string(data), "    target: { database: demo, table: orders }\n",
		"    target: { database: demo, table: orders }\n    ignore: [\"20240530-090000000.csv\"]\n", 1))
	r = clitest.Run(t, "run", "--config", job, "--table", "orders")
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 || sum.Tables[0].Ignored != 1 {
		t.Fatalf("with ignore: %v\n%s", err, r)
	}
}
