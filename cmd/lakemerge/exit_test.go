package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/benchmarks/workload"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// The exit-code contract of README and `lakemerge run --help`, checked on
// the built binary run as a process, the way a scheduler sees it: 0 done,
// 1 a table failed, 2 usage or job-file error, 130 interrupted.

// TestUsageErrorsExit2: cobra's own errors (unknown command, unknown flag,
// stray arguments), a bad log flag and a missing --config exit 2 with the
// message on stderr naming what was wrong, then a line saying where the
// command's usage is, and nothing on stdout.
func TestUsageErrorsExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		cmd  string // whose usage the hint names
	}{
		{[]string{"no-such-command"}, `unknown command "no-such-command"`, "lakemerge"},
		{[]string{"run", "--bogus"}, "unknown flag: --bogus", "lakemerge run"},
		{[]string{"run", "--tabel", "x"}, "unknown flag: --tabel", "lakemerge run"},
		{[]string{"run", "--config"}, "flag needs an argument: --config", "lakemerge run"},
		{[]string{"run"}, "--config is required", "lakemerge run"},
		{[]string{"run", "--config", "x.yaml", "extra"}, `unknown command "extra"`, "lakemerge run"},
		{[]string{"status", "--config", "x.yaml", "--log-level", "loud"}, "--log-level", "lakemerge status"},
	} {
		r := clitest.Run(t, append([]string{"--log-format", "text"}, c.args...)...)
		hint := "\nRun '" + c.cmd + " --help' for usage.\n"
		if r.Code != exitUsage || !strings.Contains(r.Stderr, c.want) || !strings.HasSuffix(r.Stderr, hint) || r.Stdout != "" {
			t.Errorf("lakemerge %s: want exit 2, %q on stderr, ending with %q, empty stdout; got %s", strings.Join(c.args, " "), c.want, hint, r)
		}
	}
}

// TestMissingJobFileExit2: a job file that does not exist is a usage error
// naming the path, for every command that reads one.
func TestMissingJobFileExit2(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, cmd := range []string{"run", "status", "vacuum"} {
		r := clitest.Run(t, cmd, "--config", missing)
		if r.Code != exitUsage || !strings.Contains(r.Stderr, missing) {
			t.Errorf("%s with a missing job file: want exit 2 naming %s; got %s", cmd, missing, r)
		}
	}
}

// TestNothingPendingExit0: a run with nothing new says so per table and
// exits 0, and stderr holds only log lines (no error).
func TestNothingPendingExit0(t *testing.T) {
	dir := t.TempDir()
	if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	r := clitest.Run(t, "run", "--config", filepath.Join(dir, "job.yaml"))
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 {
		t.Fatalf("want exit 0 and a summary: %v\n%s", err, r)
	}
	for _, tr := range sum.Tables {
		if !tr.UpToDate || tr.Error != "" {
			t.Errorf("table %s: %+v", tr.Table, tr)
		}
	}
	if strings.Contains(r.Stderr, "lakemerge:") {
		t.Errorf("stderr has an error line:\n%s", r.Stderr)
	}
}

// TestSignalExit130: SIGINT or SIGTERM in the middle of a run stops it with
// exit 130 and a summary on stdout naming the interrupted table; the table
// is unchanged, and the next run absorbs everything.
func TestSignalExit130(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			raw := filepath.Join(dir, "raw", "public", "orders")
			res, err := workload.Write(workload.Spec{Seed: 7, BaseRows: 400_000, RowsPerFile: 20_000, NoteBytes: 16}, raw, filepath.Join(dir, "unused"))
			if err != nil {
				t.Fatal(err)
			}
			job := filepath.Join(dir, "job.yaml")
			writeFile(t, job, fmt.Sprintf(`raw: file://%s/raw
warehouse: file://%s/warehouse
catalog: {type: sqlite, path: catalog.db}
tables:
  - source: {schema: public, table: orders}
    primary_key: [id]
    columns:
%s`, dir, dir, workload.Columns))

			p := clitest.Cmd{Args: []string{"run", "--config", job}}.Start(t)
			if !p.WaitStderr("pending files listed", time.Minute) {
				t.Fatalf("run did not list its files: %s", p.Wait(t))
			}
			p.Signal(t, sig)
			r := p.Wait(t)
			var sum summary
			if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil {
				t.Fatalf("no JSON summary on stdout: %v\n%s", err, r)
			}
			if r.Code != exitInterrupted || sum.OK || !sum.Interrupted || len(sum.Tables) != 1 ||
				!strings.HasPrefix(sum.Tables[0].Error, "interrupted") {
				t.Fatalf("want exit 130, ok=false, the table interrupted; got %s", r)
			}
			if !strings.Contains(r.Stderr, "lakemerge: interrupted") {
				t.Errorf("stderr does not say it was interrupted:\n%s", r.Stderr)
			}
			st := tableStatuses(t, job)
			if st[0].Exists && st[0].FilesAbsorbed != 0 || st[0].PendingFiles != len(res.LoadFiles) {
				t.Fatalf("the interrupted run changed the table: %+v", st[0])
			}

			r = clitest.Run(t, "run", "--config", job)
			if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 {
				t.Fatalf("re-run: %v\n%s", err, r)
			}
			st = tableStatuses(t, job)
			if st[0].Rows != int64(res.FinalRows) || st[0].FilesAbsorbed != len(res.LoadFiles) || st[0].PendingFiles != 0 {
				t.Fatalf("after the re-run: %+v, want %d rows from %d files", st[0], res.FinalRows, len(res.LoadFiles))
			}
		})
	}
}

// tableStatuses runs status --json of job, checking its exit code: 1 when
// a table's entry has an error, else 0.
func tableStatuses(t *testing.T, job string) []tableStatus {
	t.Helper()
	r := clitest.Run(t, "status", "--config", job, "--json")
	var sts []tableStatus
	if err := json.Unmarshal([]byte(r.Stdout), &sts); err != nil || r.Code != statusExit(sts) {
		t.Fatalf("status: %v, want exit %d\n%s", err, statusExit(sts), r)
	}
	return sts
}

// statusExit is the exit code of a status that printed sts.
func statusExit(sts []tableStatus) int {
	for _, s := range sts {
		if s.Error != "" {
			return exitTableFailed
		}
	}
	return exitOK
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
