package main

import (
	"encoding/json"
	"fmt"
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
	if err := json.Unmarshal([]byte(st.Stdout), &sts); err != nil || st.Code != exitTableFailed {
		t.Fatalf("status: want exit 1: %v\n%s", err, st)
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
	if e := sum.Tables[0].Error; !strings.Contains(e, "list "+dir+"/no-such-raw/public/orders/: folder "+dir+"/no-such-raw does not exist") {
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

// TestLostCatalog: with the catalog file gone, a run does not create new
// tables over the existing ones (that would hide them and re-read the raw
// zone): each Iceberg table fails naming `lakemerge register`, nothing is
// written. register brings the tables back with their bookmarks, and the
// next run has nothing to do. vacuum refuses to judge a location that
// holds another table's metadata.
func TestLostCatalog(t *testing.T) {
	dir := t.TempDir()
	if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	job := filepath.Join(dir, "job.yaml")
	before := tableStatuses(t, job)
	if err := os.Remove(filepath.Join(dir, "catalog.db")); err != nil {
		t.Fatal(err)
	}
	orders := filepath.Join(dir, "warehouse", "demo.db", "orders")
	filesBefore := listTree(t, orders)

	r := clitest.Run(t, "run", "--config", job)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != exitTableFailed {
		t.Fatalf("run without the catalog: want exit 1: %v\n%s", err, r)
	}
	for _, tr := range sum.Tables {
		if !strings.Contains(tr.Error, "table metadata exists where the catalog has no table") || !strings.Contains(tr.Error, "lakemerge register") {
			t.Errorf("table %s: %q", tr.Table, tr.Error)
		}
	}
	if got := listTree(t, orders); got != filesBefore {
		t.Fatalf("the refused run wrote files:\n%s\nbefore:\n%s", got, filesBefore)
	}

	r = clitest.Run(t, "register", "--config", job)
	if r.Code != 0 {
		t.Fatalf("register: %s", r)
	}
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	prepared := 0
	for i := 0; i < len(before); {
		var rr registerResult
		err := dec.Decode(&rr)
		if err == nil && rr.Prepared {
			// The demo's prepared tables come back too, each after its base
			// table.
			if !rr.Registered || rr.Rows == 0 || rr.Error != "" {
				t.Fatalf("register prepared table %s: %+v", rr.Target, rr)
			}
			prepared++
			continue
		}
		if err != nil || !rr.Registered || rr.Rows != before[i].Rows || rr.SnapshotID != before[i].SnapshotID {
			t.Fatalf("register %s: %+v (%v), status before %+v", before[i].Table, rr, err, before[i])
		}
		i++
	}
	var rr registerResult
	if err := dec.Decode(&rr); err == nil && rr.Prepared {
		prepared++
	}
	if prepared != 3 {
		t.Fatalf("register brought back %d prepared tables, want 3:\n%s", prepared, r.Stdout)
	}
	r = clitest.Run(t, "run", "--config", job)
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 {
		t.Fatalf("run after register: %v\n%s", err, r)
	}
	for _, tr := range sum.Tables {
		if !tr.UpToDate {
			t.Errorf("table %s re-read files after register: %+v", tr.Table, tr)
		}
	}
	if r := clitest.Run(t, "register", "--config", job, "--table", "orders"); r.Code != 0 || !strings.Contains(r.Stdout, `"registered":false`) {
		t.Errorf("register of a known table: %s", r)
	}

	// Another table's metadata under orders' location: vacuum deletes
	// nothing there.
	meta := filepath.Join(orders, "metadata")
	ents, err := os.ReadDir(meta)
	if err != nil {
		t.Fatal(err)
	}
	var current string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".metadata.json") {
			current = e.Name()
		}
	}
	b, err := os.ReadFile(filepath.Join(meta, current))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["table-uuid"] = "00000000-0000-4000-8000-000000000001"
	other, _ := json.Marshal(m)
	writeFile(t, filepath.Join(meta, "00000-other.metadata.json"), string(other))
	writeFile(t, filepath.Join(orders, "data", "orphan.parquet"), "old")
	old := time.Now().Add(-30 * 24 * time.Hour)
	if err := os.Chtimes(filepath.Join(orders, "data", "orphan.parquet"), old, old); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, "vacuum", "--config", job, "--table", "orders", "--retention", "1h")
	if r.Code != exitTableFailed || !strings.Contains(r.Stdout, "refused, nothing deleted") {
		t.Fatalf("vacuum with another table's metadata: %s", r)
	}
	if _, err := os.Stat(filepath.Join(orders, "data", "orphan.parquet")); err != nil {
		t.Fatalf("vacuum deleted a file: %v", err)
	}
}

// listTree lists the files under dir with their sizes, sorted.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d\n", strings.TrimPrefix(p, dir), fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestConcurrentRunsOfTheBinary: several lakemerge processes run the same
// table at once while change files keep arriving. None fails on a file
// another one replaced (a side file, a bookmark); each exits 0, or 1 only
// having lost the race more often than its attempts allow; and the table
// ends as one clean run of the same files makes it.
func TestConcurrentRunsOfTheBinary(t *testing.T) {
	demo := func() string {
		dir := t.TempDir()
		if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
			t.Fatalf("demo: %s", r)
		}
		return dir
	}
	cdc := func(i int) (string, string) {
		at := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		name := at.Format("20060102-150405") + "000.csv"
		var b strings.Builder
		for k := range 4 {
			id := 2000 + (i*3+k)%9
			switch (i + k) % 4 {
			case 3:
				fmt.Fprintf(&b, "D,%d,,,,\n", id)
			default:
				fmt.Fprintf(&b, "U,%d,%d,open,%d.00,run %d\n", id, k+1, i*10+k, i)
			}
		}
		return name, b.String()
	}
	const files, procs = 12, 4
	dir := demo()
	job := filepath.Join(dir, "job.yaml")
	orders := filepath.Join(dir, "raw", "public", "orders")
	for round := range files / 3 {
		for i := range 3 {
			name, body := cdc(round*3 + i)
			writeFile(t, filepath.Join(orders, name), body)
		}
		ps := make([]*clitest.Proc, procs)
		for p := range ps {
			ps[p] = clitest.Cmd{Args: []string{"run", "--config", job, "--table", "orders"}}.Start(t)
		}
		for _, p := range ps {
			r := p.Wait(t)
			var sum summary
			if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil {
				t.Fatalf("no summary: %v\n%s", err, r)
			}
			if r.Code != 0 && (r.Code != exitTableFailed || !strings.Contains(sum.Tables[0].Error, "gave up after")) {
				t.Fatalf("a concurrent run failed: %s", r)
			}
		}
	}
	if r := clitest.Run(t, "run", "--config", job, "--table", "orders"); r.Code != 0 {
		t.Fatalf("last run: %s", r)
	}

	clean := demo()
	for i := range files {
		name, body := cdc(i)
		writeFile(t, filepath.Join(clean, "raw", "public", "orders", name), body)
	}
	if r := clitest.Run(t, "run", "--config", filepath.Join(clean, "job.yaml"), "--table", "orders"); r.Code != 0 {
		t.Fatalf("clean run: %s", r)
	}
	got, want := tableStatuses(t, job)[1], tableStatuses(t, filepath.Join(clean, "job.yaml"))[1]
	if got.Rows != want.Rows || got.FilesAbsorbed != want.FilesAbsorbed || got.PendingFiles != 0 {
		t.Fatalf("after concurrent runs %+v, after one clean run %+v", got, want)
	}
	if py := pythonForInterop(t); py != nil {
		read := func(d string) string {
			out, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "sqlite",
				filepath.Join(d, "catalog.db"), "file://"+filepath.Join(d, "warehouse"), "demo.orders", "order_id")
			if err != nil {
				t.Fatalf("pyiceberg: %v\n%s", err, out)
			}
			return string(out)
		}
		if g, w := read(dir), read(clean); g != w {
			t.Fatalf("rows after concurrent runs:\n%s\nafter one clean run:\n%s", g, w)
		}
	}
}

// TestVanishedRawLocation: a table that has absorbed files and then finds
// its raw folder gone (a typo in raw:, an unmounted volume) fails naming
// the location, as one that absorbed nothing does (TestMissingRawLocation):
// run exits 1 with the error in the summary and a Failed metric, status and
// plan report it. A folder that exists but is empty (its files deleted
// after they were absorbed) is up to date.
func TestVanishedRawLocation(t *testing.T) {
	dir := t.TempDir()
	job := ordersJob(t, dir, "catalog.db")
	if r := clitest.Run(t, "run", "--config", job); r.Code != 0 {
		t.Fatalf("first run: %s", r)
	}
	raw := filepath.Join(dir, "raw")
	for _, gone := range []string{raw, filepath.Join(raw, "public", "orders")} {
		if err := os.Rename(gone, gone+"-moved"); err != nil {
			t.Fatal(err)
		}
		r := clitest.Run(t, "run", "--config", job, "--metrics", "emf")
		var sum summary
		if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != exitTableFailed || sum.Tables[0].UpToDate {
			t.Fatalf("%s gone: want exit 1: %v\n%s", gone, err, r)
		}
		e := sum.Tables[0].Error
		if !strings.Contains(e, "list "+raw+"/public/orders/: ") || !strings.Contains(e, gone) {
			t.Errorf("%s gone: the error names neither the location nor the path: %s", gone, e)
		}
		if docs := emfLines(t, r.Stderr); len(docs) != 1 || docs[0]["Failed"] != 1.0 {
			t.Errorf("%s gone: want a Failed metric: %v", gone, docs)
		}
		st := clitest.Run(t, "status", "--config", job, "--json")
		var sts []tableStatus
		if err := json.Unmarshal([]byte(st.Stdout), &sts); err != nil || st.Code != exitTableFailed || !strings.Contains(sts[0].Error, "nothing to read: list "+raw+"/public/orders/") || sts[0].FilesAbsorbed != 1 {
			t.Errorf("%s gone: status does not report the run's error: %v\n%s", gone, err, st)
		}
		pl := clitest.Run(t, "plan", "--config", job)
		var p plan
		if err := json.Unmarshal([]byte(pl.Stdout), &p); err != nil || p.TablesFailed != 1 || p.TablesUpToDate != 0 {
			t.Errorf("%s gone: plan does not count the table failed: %v\n%s", gone, err, pl)
		}
		if err := os.Rename(gone+"-moved", gone); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(raw, "public", "orders", "LOAD00000001.csv")); err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, "run", "--config", job)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 || !sum.Tables[0].UpToDate {
		t.Errorf("an emptied folder: want up to date: %v\n%s", err, r)
	}
	// What status says of it (and of one run, in the singular).
	st := clitest.Run(t, "status", "--config", job)
	for _, want := range []string{"1 data file (1 small), 0 delete files,", " bytes, 1 version\n",
		"absorbed:     1 file, load generation 0, 1 run\n", "raw objects:  0, absorbed or not\n"} {
		if st.Code != 0 || !strings.Contains(st.Stdout, want) {
			t.Errorf("status of an emptied folder does not say %q:\n%s", want, st)
		}
	}
}
