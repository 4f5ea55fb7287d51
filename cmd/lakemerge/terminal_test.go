package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// screen is what a terminal shows of out: colors dropped, each line as it
// stands after carriage returns overwrote it (a progress bar cleared by
// "\r   \r").
func screen(out string) string {
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]") // colors, line clearing
	lines := strings.Split(ansi.ReplaceAllString(out, ""), "\n")
	for i, l := range lines {
		if j := strings.LastIndexByte(l, '\r'); j >= 0 {
			l = l[j+1:]
		}
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// jsonLines returns the lines of out that are JSON objects.
func jsonLines(out string) []string {
	var found []string
	for _, l := range strings.Split(out, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(strings.TrimSpace(l)), &rec) == nil {
			found = append(found, l)
		}
	}
	return found
}

// TestDemoOnTerminal: in a user's terminal the demo shows what each table
// absorbed and the tables (the same text as when stdout is a file, see
// demo.golden), no JSON log lines, and a closing hint that names this
// binary, which runs.
func TestDemoOnTerminal(t *testing.T) {
	dir := t.TempDir()
	r := clitest.Cmd{Args: []string{"demo", "--dir", dir}, Terminal: true}.Run(t)
	if r.Code != 0 {
		t.Fatalf("demo on a terminal: %s", r)
	}
	shown := screen(r.Stdout)
	if j := jsonLines(shown); len(j) > 0 {
		t.Fatalf("the terminal shows JSON lines:\n%s", strings.Join(j, "\n"))
	}
	want, err := os.ReadFile(filepath.Join("testdata", "demo.golden"))
	if err != nil {
		t.Fatal(err)
	}
	bin := clitest.Binary(t)
	got := strings.ReplaceAll(strings.ReplaceAll(shown, dir, "$DIR"), bin, "$LAKEMERGE")
	// Only the progress bars, cleared when each table is done, may come
	// before the demo's own text.
	if strings.TrimLeft(got, "\n") != string(want) {
		t.Fatalf("terminal shows\n%s\nwant (testdata/demo.golden)\n%s", got, want)
	}
	// The hint's command works as printed.
	r = clitest.Cmd{Args: []string{"status", "--config", filepath.Join(dir, "job.yaml")}, Terminal: true}.Run(t)
	if r.Code != 0 || !strings.Contains(r.Stdout, "orders → demo.orders (iceberg)") {
		t.Fatalf("status as the hint says: %s", r)
	}
}

// TestLogFormats: on a terminal, run logs one human line per record
// (level, message, key=value), not JSON; --log-format json gives JSON lines
// there too; with stderr not a terminal (a file, a pipe, a scheduler's log)
// the default is JSON lines, and --log-format text gives human lines
// without color codes; NO_COLOR turns colors off on a terminal too.
func TestLogFormats(t *testing.T) {
	dir := t.TempDir()
	if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	job := filepath.Join(dir, "job.yaml")
	addFile := func(name string) {
		t.Helper()
		p := filepath.Join(dir, "raw", "public", "orders", name)
		if err := os.WriteFile(p, []byte("U,1005,1,shipped,9.99,\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	addFile("20240530-090000000.csv")
	r := clitest.Cmd{Args: []string{"run", "--config", job, "--table", "orders"}, Terminal: true}.Run(t)
	colored, shown := r.Stdout, screen(r.Stdout)
	if r.Code != 0 {
		t.Fatalf("run on a terminal: %s", r)
	}
	for _, want := range []string{"INF pending files listed table=orders files=1", "INF committed table=orders files=1 inserted=0 updated=1"} {
		if !strings.Contains(shown, want) {
			t.Errorf("terminal lacks %q:\n%s", want, shown)
		}
	}
	// The only JSON on the terminal is the summary (stdout), no log line.
	if strings.Contains(shown, `"level"`) || strings.Contains(shown, `"msg"`) {
		t.Fatalf("terminal shows JSON log lines:\n%s", shown)
	}

	addFile("20240530-100000000.csv")
	r = clitest.Cmd{Args: []string{"run", "--config", job, "--table", "orders", "--log-format", "json"}, Terminal: true}.Run(t)
	if r.Code != 0 {
		t.Fatalf("run --log-format json on a terminal: %s", r)
	}
	var msgs []string
	for _, l := range jsonLines(screen(r.Stdout)) {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(l), &rec); err == nil && rec.Msg != "" {
			msgs = append(msgs, rec.Level+" "+rec.Msg)
		}
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "INFO committed") {
		t.Fatalf("--log-format json on a terminal: no JSON log line says committed: %q\n%s", msgs, r.Stdout)
	}

	addFile("20240530-110000000.csv")
	r = clitest.Run(t, "run", "--config", job, "--table", "orders")
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if r.Code != 0 || len(jsonLines(r.Stderr)) != len(lines) || !strings.Contains(r.Stderr, `"msg":"committed"`) {
		t.Fatalf("stderr not a terminal: want JSON lines only: %s", r)
	}

	addFile("20240530-120000000.csv")
	r = clitest.Run(t, "run", "--config", job, "--table", "orders", "--log-format", "text")
	if r.Code != 0 || len(jsonLines(r.Stderr)) != 0 || !strings.Contains(r.Stderr, "INF committed table=orders") || strings.Contains(r.Stderr, "\x1b[") {
		t.Fatalf("--log-format text to a file: want plain human lines: %s", r)
	}

	// Colors on a terminal (as in the first run), none with NO_COLOR
	// (no-color.org).
	if !strings.Contains(colored, "\x1b[") {
		t.Fatalf("no color codes on a terminal:\n%q", colored)
	}
	addFile("20240530-130000000.csv")
	r = clitest.Cmd{Args: []string{"run", "--config", job, "--table", "orders"}, Env: []string{"NO_COLOR=1"}, Terminal: true}.Run(t)
	if r.Code != 0 || strings.Contains(r.Stdout, "\x1b[") || !strings.Contains(r.Stdout, "INF committed table=orders") {
		t.Fatalf("NO_COLOR=1 on a terminal: want human lines without color codes: %s", r)
	}

	if r := clitest.Run(t, "status", "--config", job, "--log-format", "xml"); r.Code != exitUsage || !strings.Contains(r.Stderr, `--log-format "xml"`) {
		t.Fatalf("--log-format xml: %s", r)
	}
}
