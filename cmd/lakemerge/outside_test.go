package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// What a scheduler sees of the binary when a run cannot start, or is asked
// for one table twice: stdout is the JSON summary of every `run`, whatever
// its exit code.

// ordersJob writes a job file for one DMS table, orders, with one full-load
// file, and returns its path; catalog is the sqlite path in it.
func ordersJob(t *testing.T, dir, catalog string) string {
	t.Helper()
	writeFile(t, filepath.Join(dir, "raw", "public", "orders", "LOAD00000001.csv"), "1,a\n2,b\n")
	job := filepath.Join(dir, "job.yaml")
	writeFile(t, job, `raw: file://`+dir+`/raw
warehouse: file://`+dir+`/warehouse
catalog: {type: sqlite, path: `+catalog+`}
tables:
  - source: {schema: public, table: orders}
    primary_key: [id]
    columns:
      - {name: id, type: long}
      - {name: v, type: string}
`)
	return job
}

// TestRunSummaryWhenCatalogCannotOpen: a catalog that cannot be opened (its
// path is a folder) stops the run before any table: exit 1, the reason on
// stderr, and still the JSON summary on stdout, every table not started
// with that reason, and with --metrics emf each table's Failed metric.
func TestRunSummaryWhenCatalogCannotOpen(t *testing.T) {
	dir := t.TempDir()
	catalog := filepath.Join(dir, "catalog-folder")
	if err := os.Mkdir(catalog, 0o755); err != nil {
		t.Fatal(err)
	}
	job := ordersJob(t, dir, catalog)
	r := clitest.Run(t, "run", "--config", job, "--metrics", "emf")
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil {
		t.Fatalf("no JSON summary on stdout: %v\n%s", err, r)
	}
	if docs := emfLines(t, r.Stderr); len(docs) != 1 || docs[0]["Table"] != "orders" || docs[0]["Failed"] != 1.0 {
		t.Errorf("want one EMF line, orders Failed 1: %v", docs)
	} else {
		checkEMFSpec(t, docs[0])
	}
	if r.Code != exitTableFailed || sum.OK || sum.Interrupted || len(sum.Tables) != 1 {
		t.Fatalf("want exit 1 and a failed summary of one table: %s", r)
	}
	if e := sum.Tables[0].Error; sum.Tables[0].Table != "orders" || !strings.HasPrefix(e, "not started: ") || !strings.Contains(e, catalog) {
		t.Errorf("the table's error does not say it did not start, naming %s: %+v", catalog, sum.Tables[0])
	}
	if !strings.Contains(r.Stderr, `"error":"open catalog `+catalog) {
		t.Errorf("stderr does not name the catalog:\n%s", r.Stderr)
	}
}

// TestTableNamedTwiceRunsOnce: --table orders,orders (or --table given
// twice) runs and reports the table once, as status does.
func TestTableNamedTwiceRunsOnce(t *testing.T) {
	dir := t.TempDir()
	job := ordersJob(t, dir, "catalog.db")
	r := clitest.Run(t, "run", "--config", job, "--table", "orders,orders", "--table", "orders")
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 {
		t.Fatalf("run: %v\n%s", err, r)
	}
	if len(sum.Tables) != 1 || sum.Tables[0].Files != 1 {
		t.Fatalf("want one entry for orders, with its file: %s", r.Stdout)
	}
	st := clitest.Run(t, "status", "--config", job, "--json", "--table", "orders,orders")
	var sts []tableStatus
	if err := json.Unmarshal([]byte(st.Stdout), &sts); err != nil || st.Code != 0 || len(sts) != 1 {
		t.Fatalf("status: want one entry: %v\n%s", err, st)
	}
}

// TestRebuildWithoutPreparedExit2: rebuild of a table that has no prepared
// tables can never succeed, so it is a usage error (exit 2: a scheduler
// does not try again) naming the table, with nothing on stdout.
func TestRebuildWithoutPreparedExit2(t *testing.T) {
	job := ordersJob(t, t.TempDir(), "catalog.db")
	r := clitest.Run(t, "rebuild", "--config", job, "--table", "orders")
	if r.Code != exitUsage || r.Stdout != "" || !strings.Contains(r.Stderr, "table orders has no prepared tables") {
		t.Fatalf("want exit 2 naming orders, empty stdout: %s", r)
	}
}

// TestJSONLogsOnTerminalHaveNoProgressBars: --log-format json on a terminal
// (docker run -t, a scheduler that allocates a pseudo-terminal) gives JSON
// log lines only: no progress bar drawn between them, which would put the
// bar's text in front of the next log line in a captured log.
func TestJSONLogsOnTerminalHaveNoProgressBars(t *testing.T) {
	dir := t.TempDir()
	if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	for i := range 3 {
		writeFile(t, filepath.Join(dir, "raw", "public", "orders", fmt.Sprintf("20240530-0%d0000000.csv", i+1)), "U,1005,1,shipped,9.99,\n")
	}
	r := clitest.Cmd{Args: []string{"run", "--config", filepath.Join(dir, "job.yaml"), "--table", "orders", "--log-format", "json"}, Terminal: true}.Run(t)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"msg":"committed"`) {
		t.Fatalf("run --log-format json on a terminal: %s", r)
	}
	if strings.Contains(r.Stdout, "\r") || strings.Contains(r.Stdout, "(1/3)") {
		t.Fatalf("a progress bar among the JSON log lines:\n%q", r.Stdout)
	}
}

// TestByteOrderMarkNamed: a DMS file saved with a UTF-8 byte order mark (by
// an editor: DMS writes none) fails the table with an error that says so,
// at line 1 of that file, not "operation \ufeffI" or a bad first value.
func TestByteOrderMarkNamed(t *testing.T) {
	dir := t.TempDir()
	job := ordersJob(t, dir, "catalog.db")
	writeFile(t, filepath.Join(dir, "raw", "public", "orders", "LOAD00000001.csv"), "\ufeff1,a\n2,b\n")
	r := clitest.Run(t, "run", "--config", job)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != exitTableFailed {
		t.Fatalf("want exit 1: %v\n%s", err, r)
	}
	if e := sum.Tables[0].Error; !strings.Contains(e, "LOAD00000001.csv") || !strings.Contains(e, "line 1") ||
		!strings.Contains(e, "starts with a UTF-8 byte order mark") {
		t.Errorf("the error does not name the byte order mark, file and line: %s", e)
	}
}

// TestLastLineUnderJSONLogs: under JSON logs the line a failed command
// ends with (why it exits non-zero) is a JSON log line too, level ERROR
// with the error and the exit code, so a log shipper reading JSON lines
// keeps it; every stderr line parses: also for a wrong command line
// (an unknown flag, whether --log-format comes before or after it), with
// the hint saying where the command's usage is. Under text logs, and when
// no logger can be made (a bad --log-format), it stays a "lakemerge: ..."
// text line, the hint on the next.
func TestLastLineUnderJSONLogs(t *testing.T) {
	dir := t.TempDir()
	job := ordersJob(t, dir, "catalog.db")
	writeFile(t, filepath.Join(dir, "raw", "public", "orders", "LOAD00000002.csv"), "x,a\n")
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"run", "--config", job, "--log-format", "json"}, exitTableFailed, "lakemerge: the summary on stdout names each error"},
		{[]string{"status", "--log-format", "json"}, exitUsage, "lakemerge: usage or job-file error"},
	} {
		r := clitest.Run(t, c.args...)
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		var last map[string]any
		for _, l := range lines {
			last = nil
			if err := json.Unmarshal([]byte(l), &last); err != nil {
				t.Errorf("%v: stderr line is not JSON: %q", c.args, l)
			}
		}
		if r.Code != c.code || last["level"] != "ERROR" || last["msg"] != c.msg || last["error"] == "" || last["exit_code"] != float64(c.code) {
			t.Errorf("%v: want exit %d and a last JSON line ERROR %q with the error: %v\n%s", c.args, c.code, c.msg, last, r)
		}
	}
	r := clitest.Run(t, "run", "--config", job, "--log-format", "text")
	if want := "lakemerge: some tables failed (the summary on stdout names each error)\n"; r.Code != exitTableFailed || !strings.HasSuffix(r.Stderr, want) {
		t.Errorf("text logs: want the last line %q: %s", want, r)
	}
	// A wrong command line: the log flags are read whatever comes before
	// them, the flag cobra stopped at included.
	for _, args := range [][]string{
		{"run", "--tabel", "x", "--log-format", "json"},
		{"--log-format", "json", "run", "--tabel", "x"},
	} {
		r = clitest.Run(t, args...)
		var last map[string]any
		if err := json.Unmarshal([]byte(r.Stderr), &last); err != nil || strings.Count(r.Stderr, "\n") != 1 {
			t.Errorf("%v: want one JSON line on stderr: %v\n%s", args, err, r)
		}
		if r.Code != exitUsage || last["level"] != "ERROR" || last["error"] != "usage: unknown flag: --tabel" ||
			last["hint"] != "Run 'lakemerge run --help' for usage." || last["exit_code"] != float64(exitUsage) {
			t.Errorf("%v: want exit 2 and an ERROR line naming --tabel with the hint: %v\n%s", args, last, r)
		}
	}
	r = clitest.Run(t, "run", "--tabel", "x", "--log-format", "xml")
	if want := "lakemerge: usage: unknown flag: --tabel\nRun 'lakemerge run --help' for usage.\n"; r.Code != exitUsage || r.Stderr != want {
		t.Errorf("a bad flag and a bad --log-format: want only %q on stderr: %s", want, r)
	}
}

// TestCopiedOldFileOrdersByName: what the README says of DMS order. Without
// dms.change_seq_column a change file's place is its name: an old file
// copied under a newer name wins over the newer changes. With the column
// (AR_H_CHANGE_SEQ) its changes are older than the stored row's and lose.
func TestCopiedOldFileOrdersByName(t *testing.T) {
	for _, c := range []struct {
		dms  string
		want string
	}{
		{"{}", "id=1 v=old seq=20240101000000000000000000000000002 "},
		{"{change_seq_column: seq}", "id=1 v=new seq=20240102000000000000000000000000003 "},
	} {
		dir := t.TempDir()
		orders := filepath.Join(dir, "raw", "public", "orders")
		old := "I,1,a,20240101000000000000000000000000001\nU,1,old,20240101000000000000000000000000002\n"
		writeFile(t, filepath.Join(orders, "20240101-000000000.csv"), old)
		job := filepath.Join(dir, "job.yaml")
		writeFile(t, job, `raw: file://`+dir+`/raw
warehouse: file://`+dir+`/warehouse
catalog: {type: sqlite, path: catalog.db}
tables:
  - source: {schema: public, table: orders}
    primary_key: [id]
    columns: [{name: id, type: long}, {name: v, type: string}, {name: seq, type: string}]
    dms: `+c.dms+`
`)
		for i, f := range []string{"", "20240102-000000000.csv", "20240103-000000000.csv"} {
			switch i {
			case 1:
				writeFile(t, filepath.Join(orders, f), "U,1,new,20240102000000000000000000000000003\n")
			case 2:
				writeFile(t, filepath.Join(orders, f), old) // the old file, copied under a newer name
			}
			if r := clitest.Run(t, "run", "--config", job); r.Code != 0 {
				t.Fatalf("dms %s: run %d: %s", c.dms, i+1, r)
			}
		}
		w := readOnlyJob(t, job, "orders")
		if got := readRows(t, "orders", w.Tables[0].Table); len(got) != 1 || got[0] != c.want {
			t.Errorf("dms %s: rows %q, want %q", c.dms, got, c.want)
		}
	}
}
