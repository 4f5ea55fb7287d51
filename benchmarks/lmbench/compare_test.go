package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestResultsTable checks that every row of compare's table has the
// header's columns, that the load averages of a tool's load and merge are
// in its row (a failed tool's too), and that the JSON carries them.
func TestResultsTable(t *testing.T) {
	results := []toolResult{
		{Tool: "lakemerge", MergeSeconds: 3.5, MergeCPU: 4.25, LoadSeconds: 12, LoadCPU: 20.5, Rows: 10, Digest: "d",
			LoadLoadAvg: "1.00 2.00 3.00", MergeLoadAvg: "1.50 2.10 3.00"},
		{Tool: "delta", MergeSeconds: 17, Rows: 10, Digest: "e", LoadLoadAvg: "4.00 4.00 4.00", MergeLoadAvg: "5.00 4.00 4.00"},
		{Tool: "spark", Error: "spark_merge.py load: exit status 1\nOutOfMemoryError | heap", LoadLoadAvg: "6.00 5.00 4.00"},
	}
	lines := strings.Split(strings.TrimSuffix(resultsTable(results), "\n"), "\n")
	if len(lines) != 2+len(results) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), 2+len(results), strings.Join(lines, "\n"))
	}
	cols := strings.Count(lines[0], "|")
	for i, l := range lines {
		if n := strings.Count(l, "|"); n != cols {
			t.Errorf("line %d has %d bars, the header %d: %s", i, n, cols, l)
		}
	}
	for i, want := range []string{
		"| lakemerge | 3.50 | 4.25 | 0 | 0 | 0.00 | 12.00 | 20.50 | 0 | 10 | true | 1.00 2.00 3.00; 1.50 2.10 3.00 |",
		"| delta | 17.00 | 0.00 | 0 | 0 | 0.00 | 0.00 | 0.00 | 0 | 10 | false | 4.00 4.00 4.00; 5.00 4.00 4.00 |",
		"| spark | failed: spark_merge.py load: exit status 1 |||||||||| 6.00 5.00 4.00 |",
	} {
		if got := lines[2+i]; got != want {
			t.Errorf("row %d:\n got %s\nwant %s", i, got, want)
		}
	}
	js, err := json.Marshal(results[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"load_loadavg":"1.00 2.00 3.00"`, `"merge_loadavg":"1.50 2.10 3.00"`, `"merge_cpu_seconds":4.25`, `"load_cpu_seconds":20.5`} {
		if !strings.Contains(string(js), f) {
			t.Errorf("JSON %s lacks %s", js, f)
		}
	}
}

// TestLoadAvg checks that loadAvg reads the 1, 5 and 15 minute averages of
// this machine's /proc/loadavg.
func TestLoadAvg(t *testing.T) {
	if got := loadAvg(); !regexp.MustCompile(`^\d+\.\d\d \d+\.\d\d \d+\.\d\d$`).MatchString(got) {
		t.Errorf("loadAvg() = %q, want three averages", got)
	}
}

// TestRunTreeCPU checks that run counts the CPU time of a process its
// parent does not wait for (Spark's JVM under its Python driver): sh
// starts a busy loop of about half a second of CPU in the background and
// execs sleep, which never reaps it, so the rusage of the process lacks
// the loop's time.
func TestRunTreeCPU(t *testing.T) {
	loop := `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`
	st, _, err := run(t.TempDir(), nil, 0, "sh", "-c", "("+loop+") & exec sleep 4")
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU < 200*time.Millisecond {
		t.Errorf("CPU %v for a busy loop of about half a second in the tree, want most of it", st.CPU)
	}
}
