package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
	"github.com/lakemerge/lakemerge/config"
)

// TestPreparedSQLErrorsExit2: the SQL of prepared tables is checked when
// the job file is loaded, by every command; each problem is reported with
// its line, all at once, and the exit code is 2. The lines are those the
// job file marks, and the messages are in prepared_invalid.golden.
func TestPreparedSQLErrorsExit2(t *testing.T) {
	src := filepath.Join("testdata", "prepared_invalid.yaml")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "# want error") {
			want = append(want, "prepared_invalid.yaml:"+strconv.Itoa(i+1)+":")
		}
	}
	dir := t.TempDir()
	job := filepath.Join(dir, "prepared_invalid.yaml")
	if err := os.WriteFile(job, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"check", "run", "status", "plan"} {
		r := clitest.Cmd{Args: []string{cmd, "--config", "prepared_invalid.yaml", "--log-format", "text"}, Dir: dir}.Run(t)
		if r.Code != exitUsage || r.Stdout != "" {
			t.Fatalf("%s: %s", cmd, r)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(strings.TrimPrefix(r.Stderr, "lakemerge: usage: ")), "\n") {
			if at, _, ok := strings.Cut(l, " "); ok && !slices.Contains(lines, at) {
				lines = append(lines, at)
			}
		}
		if !slices.Equal(lines, want) {
			t.Errorf("%s: errors on\n%q\nwant\n%q\n%s", cmd, lines, want, r.Stderr)
		}
		if cmd == "check" {
			golden(t, "prepared_invalid.golden", r.Stderr)
		}
	}
}

// TestCheckExample: the example job file's prepared tables pass, and check
// prints their curated columns, key and fingerprint.
func TestCheckExample(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(config.Example), 0o644); err != nil {
		t.Fatal(err)
	}
	r := clitest.Cmd{Args: []string{"check", "--config", "job.yaml"}, Dir: dir}.Run(t)
	if r.Code != 0 {
		t.Fatalf("check: %s", r)
	}
	var out struct {
		OK       bool
		Prepared []preparedTable
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || !out.OK || len(out.Prepared) != 2 {
		t.Fatalf("check: %v\n%s", err, r)
	}
	mirror := out.Prepared[0]
	var cols []string
	for _, c := range mirror.Columns {
		cols = append(cols, c.Name+" "+c.Type+" "+c.From)
	}
	wantCols := []string{"customer_id long customer_id", "customer_name string name", "email_sha256 string ",
		"balance double ", "tier string ", "signed_up date signed_up", "updated_month timestamp "}
	if mirror.Target != "prepared.customers" || mirror.Mode != "mirror" || !slices.Equal(cols, wantCols) ||
		!slices.Equal(mirror.Key, []string{"customer_id"}) || !strings.HasPrefix(mirror.Fingerprint, "v1:") || mirror.Checked != "all" {
		t.Errorf("mirror table %+v\ncolumns %q", mirror, cols)
	}
	if h := out.Prepared[1]; h.Target != "prepared.customers_history" || h.Format != "delta" || h.Fingerprint == mirror.Fingerprint {
		t.Errorf("history table %+v", h)
	}
	// --table picks what is printed.
	r = clitest.Cmd{Args: []string{"check", "--config", "job.yaml", "--table", "orders"}, Dir: dir}.Run(t)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"prepared": []`) {
		t.Errorf("check --table orders: %s", r)
	}
}

// TestPreparedWithoutEngine: a binary built without the SQL engine (no
// -tags duckdb_arrow) refuses a job file with prepared tables, exit 2,
// naming how to build one with it, and runs the rest.
func TestPreparedWithoutEngine(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "lakemerge-noengine")
	build := exec.Command("go", "build", "-tags", "grpcnotrace", "-o", bin, "github.com/lakemerge/lakemerge/cmd/lakemerge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(config.Example), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "check", "--config", "job.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage ||
		!strings.Contains(string(out), "tables[0].prepared: this lakemerge was built without the SQL engine that prepared tables need (DuckDB): build it with cgo and -tags duckdb_arrow") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "version")
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "sql engine  none: built without cgo or -tags duckdb_arrow") {
		t.Fatalf("version: %v\n%s", err, out)
	}
	// Without prepared tables the job file is fine.
	job := config.Example[:strings.Index(config.Example, "    # Prepared tables:")] + config.Example[strings.Index(config.Example, "  - source: { schema: public, table: orders }"):]
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(bin, "check", "--config", "job.yaml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), `"prepared": []`) {
		t.Fatalf("check without prepared tables: %v\n%s", err, out)
	}
}
