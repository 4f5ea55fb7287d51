package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	testkitgolden "github.com/lakemerge/lakemerge/internal/testkit/golden"
	"github.com/lakemerge/lakemerge/internal/testkit/pyrun"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) {
	wire.RegisterFileIO()
	os.Exit(clitest.Main(m))
}

// lakemerge runs the built binary as a process and returns its stdout,
// stderr and exit code.
func lakemerge(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r := clitest.Run(t, args...)
	return r.Stdout, r.Stderr, r.Code
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	testkitgolden.Check(t, filepath.Join("testdata", name), got, *update)
}

// TestDemo: the demo's printed tables are what its DMS files mean (checked
// by hand against demo_data.go and kept as a golden file), with what each
// table absorbed in each of the demo's runs before them and a hint naming this binary after; a
// second run has nothing to do; status reports the bookmark and rows.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := lakemerge(t, "demo", "--dir", dir)
	if code != 0 {
		t.Fatalf("demo exit %d\n%s", code, errs)
	}
	golden(t, "demo.golden", strings.ReplaceAll(strings.ReplaceAll(out, dir, "$DIR"), clitest.Binary(t), "$LAKEMERGE"))
	// The demo logs warnings and errors only, and it has none.
	if errs != "" {
		t.Fatalf("demo logged:\n%s", errs)
	}

	job := filepath.Join(dir, "job.yaml")
	out, errs, code = lakemerge(t, "run", "--config", job)
	if code != 0 {
		t.Fatalf("second run exit %d\n%s", code, errs)
	}
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	if !sum.OK || len(sum.Tables) != 3 {
		t.Fatalf("second run: %s", out)
	}
	for _, tr := range sum.Tables {
		if !tr.UpToDate {
			t.Fatalf("second run did something: %s", out)
		}
	}
	if !strings.Contains(errs, "table up to date: no new files") {
		t.Fatalf("second run does not say it did nothing:\n%s", errs)
	}

	out, _, code = lakemerge(t, "status", "--config", job, "--json")
	var sts []tableStatus
	if err := json.Unmarshal([]byte(out), &sts); code != 0 || err != nil {
		t.Fatalf("status exit %d: %v\n%s", code, err, out)
	}
	if sts[0].Rows != 5 || sts[0].FilesAbsorbed != 4 || sts[1].Rows != 4 || sts[1].FilesAbsorbed != 3 || sts[2].Rows != 3 || sts[2].FilesAbsorbed != 2 ||
		sts[0].PendingFiles != 0 || sts[0].SnapshotID == 0 {
		t.Fatalf("status %+v", sts)
	}

	// A new CDC file is pending, then absorbed alone.
	cdc := filepath.Join(dir, "raw", "public", "orders", "20240530-090000000.csv")
	if err := os.WriteFile(cdc, []byte("D,1001,,,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, _ = lakemerge(t, "status", "--config", job, "--json", "--table", "orders")
	if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 1 || sts[0].PendingFiles != 1 {
		t.Fatalf("status after new file: %s", out)
	}
	out, errs, code = lakemerge(t, "run", "--config", job, "--table", "orders")
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil {
		t.Fatalf("run exit %d: %v\n%s", code, err, errs)
	}
	if r := sum.Tables[0]; r.Files != 1 || r.Stats.Deleted != 1 || r.Stats.Inserted+r.Stats.Updated != 0 {
		t.Fatalf("incremental run: %+v", r)
	}

	// vacuum on Iceberg tables: nothing is orphaned, nothing is young
	// enough to go anyway; one JSON result per table.
	out, errs, code = lakemerge(t, "vacuum", "--config", job, "--retention", "1h")
	dec := json.NewDecoder(strings.NewReader(out))
	for i := 0; i < 3; i++ {
		var vr vacuumResult
		if err := dec.Decode(&vr); code != 0 || err != nil || vr.Error != "" || vr.FilesDeleted != 0 {
			t.Fatalf("vacuum exit %d: %v\n%s\n%s", code, err, out, errs)
		}
	}

	// The tables read back by pyiceberg, an engine nobody here wrote.
	py := pythonForInterop(t)
	if py == nil {
		return
	}
	var got strings.Builder
	for _, tb := range []struct{ name, keys string }{{"demo.customers", "customer_id"}, {"demo.orders", "order_id"}, {"demo.shipments", "shipment_id"}} {
		o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "sqlite",
			filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), tb.name, tb.keys)
		if err != nil {
			t.Fatalf("pyiceberg read %s: %v\n%s", tb.name, err, o)
		}
		got.WriteString("# " + tb.name + "\n")
		got.Write(o)
	}
	golden(t, "demo_pyiceberg.golden", got.String())

	// The prepared tables, by pyiceberg (Iceberg) and deltalake (Delta).
	got.Reset()
	for _, r := range []struct {
		name   string
		reader []string
	}{
		{"demo_prepared.vip_customers", []string{"read_iceberg.py", "sqlite", filepath.Join(dir, "catalog.db"), "file://" + filepath.Join(dir, "warehouse"), "demo_prepared.vip_customers", "customer_id"}},
		{"demo_prepared.customers_history", []string{"read_iceberg.py", "sqlite", filepath.Join(dir, "catalog.db"), "file://" + filepath.Join(dir, "warehouse"), "demo_prepared.customers_history", "customer_id,valid_from"}},
		{"demo_prepared.weighed_shipments", []string{"read_delta.py", filepath.Join(dir, "warehouse", "demo_prepared.db", "weighed_shipments"), "shipment_id"}},
	} {
		o, err := py.CombinedOutput(append([]string{filepath.Join("..", "..", "interop", r.reader[0])}, r.reader[1:]...)...)
		if err != nil {
			t.Fatalf("read %s: %v\n%s", r.name, err, o)
		}
		got.WriteString("# " + r.name + "\n")
		got.Write(o)
	}
	golden(t, "demo_prepared.golden", got.String())
}

// pythonForInterop is the interop Python for the test, its scripts run in
// one interpreter (pyrun), or nil when LAKEMERGE_PYTHON is not set.
func pythonForInterop(t *testing.T) *pyrun.Python {
	py := testenv.Optional(t, "LAKEMERGE_PYTHON", "the pyiceberg check")
	if py == "" {
		return nil
	}
	return pyrun.New(t, py)
}

// TestJobFileErrorsExit2: every problem of a job file is reported at once
// and the exit code is 2.
func TestJobFileErrorsExit2(t *testing.T) {
	job := filepath.Join(t.TempDir(), "job.yaml")
	bad := "raw: /relative\nwarehouse: file:///w\ncatalog: {type: sqlite}\ntables:\n  - source: {schema: s, table: t}\n    primary_keys: [id]\n"
	if err := os.WriteFile(job, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := lakemerge(t, "run", "--config", job)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"job.yaml:1: raw:", "job.yaml:3: catalog.path: required", "job.yaml:6: tables[0].primary_keys: unknown field; did you mean primary_key?", "tables[0].columns: required"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if _, _, code := lakemerge(t, "run"); code != exitUsage {
		t.Fatalf("run without --config: exit %d", code)
	}
	if _, _, code := lakemerge(t, "run", "--bogus"); code != exitUsage {
		t.Fatalf("unknown flag: exit %d", code)
	}
}

// TestFailedTableExit1: a malformed file stops its table (named with file
// and line in the summary), the other table still runs, exit code 1.
func TestFailedTableExit1(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := lakemerge(t, "demo", "--dir", dir); code != 0 {
		t.Fatalf("demo: %s", errs)
	}
	job := filepath.Join(dir, "job.yaml")
	if _, _, code := lakemerge(t, "run", "--config", job, "--table", "nope"); code != exitUsage {
		t.Fatalf("unknown table: exit %d", code)
	}
	bad := filepath.Join(dir, "raw", "public", "orders", "20240530-090000000.csv")
	if err := os.WriteFile(bad, []byte("I,1006,1,open,9.99,\nI,1007,1,open,12.x5,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "raw", "public", "customers", "20240530-090000000.csv")
	if err := os.WriteFile(good, []byte("Op,dms_ts,customer_id,name,email,balance,vip,signed_up,change_seq\nD,2024-05-30 09:00:00.000000,6,,,,,,20240530090000000000000000000000300\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := lakemerge(t, "run", "--config", job)
	if code != exitTableFailed {
		t.Fatalf("exit %d, want %d", code, exitTableFailed)
	}
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.OK || sum.Tables[0].Error != "" || sum.Tables[0].Stats.Deleted != 1 {
		t.Fatalf("customers should have run: %+v", sum.Tables[0])
	}
	if e := sum.Tables[1].Error; !strings.Contains(e, "20240530-090000000.csv") || !strings.Contains(e, "line 2") || !strings.Contains(e, "total") {
		t.Fatalf("orders error does not name file, line and column: %q", e)
	}
}

// TestProfileNotWritten: a profile file that cannot be created stops the
// command before it does anything (exit 2, no summary, no table); one
// that cannot be written when the command ends (/dev/full) fails the
// command that did its work (exit 1, its summary printed); both end
// stderr with a JSON log line under JSON logs, naming the flag. A command
// that fails still writes its profiles.
func TestProfileNotWritten(t *testing.T) {
	dir := t.TempDir()
	job := ordersJob(t, dir, "catalog.db")
	lastLine := func(r clitest.Result) map[string]any {
		t.Helper()
		var last map[string]any
		for _, l := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
			last = nil
			if err := json.Unmarshal([]byte(l), &last); err != nil {
				t.Errorf("stderr line is not JSON: %q", l)
			}
		}
		return last
	}
	for _, flag := range []string{"--memprofile", "--cpuprofile"} {
		r := clitest.Run(t, "run", "--config", job, "--log-format", "json", flag, filepath.Join(dir, "no", "such", "dir", "p.pprof"))
		last := lastLine(r)
		if e, _ := last["error"].(string); r.Code != exitUsage || r.Stdout != "" || last["exit_code"] != float64(exitUsage) || !strings.Contains(e, flag) {
			t.Errorf("%s in a missing folder: want exit 2, no summary and a last JSON line naming the flag: %v\n%s", flag, last, r)
		}
		if _, err := os.Stat(filepath.Join(dir, "warehouse")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s in a missing folder: the run did something (warehouse: %v)", flag, err)
		}
	}
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	for _, flag := range []string{"--memprofile", "--cpuprofile"} {
		r := clitest.Run(t, "run", "--config", job, "--log-format", "json", flag, "/dev/full")
		var sum summary
		if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || !sum.OK || len(sum.Tables) != 1 {
			t.Errorf("%s /dev/full: want the summary of a run whose tables are done: %v\n%s", flag, err, r)
		}
		last := lastLine(r)
		if e, _ := last["error"].(string); r.Code != exitTableFailed || last["exit_code"] != float64(exitTableFailed) ||
			!strings.HasPrefix(e, flag+": ") || !strings.Contains(e, "no space left on device") {
			t.Errorf("%s /dev/full: want exit 1 and a last JSON line naming the flag and why: %v\n%s", flag, last, r)
		}
	}
	writeFile(t, filepath.Join(dir, "raw", "public", "orders", "LOAD00000002.csv"), "x,a\n")
	cpu := filepath.Join(dir, "cpu.pprof")
	if r := clitest.Run(t, "run", "--config", job, "--cpuprofile", cpu); r.Code != exitTableFailed {
		t.Fatalf("a failing run: want exit 1: %s", r)
	}
	if b, err := os.ReadFile(cpu); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("a failing run's CPU profile: %v, %d bytes, want a gzip-compressed profile", err, len(b))
	}
}

// TestProfiles: --cpuprofile and --memprofile write Go pprof profiles
// (gzip-compressed protobuf), even for a command shorter than the heap
// sampling interval.
func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, heap := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "heap.pprof")
	_, errs, code := lakemerge(t, "demo", "--dir", filepath.Join(dir, "demo"), "--cpuprofile", cpu, "--memprofile", heap)
	if code != 0 {
		t.Fatalf("demo exit %d\n%s", code, errs)
	}
	for _, p := range []string{cpu, heap} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Fatalf("%s is not a gzip-compressed profile (%d bytes)", filepath.Base(p), len(b))
		}
	}
}
