package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/table"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time           { return c.t }
func (c *fakeClock) advance(ms time.Duration) { c.t = c.t.Add(ms * time.Millisecond) }

// TestRecorderPhases plays the events of a run with one conflict retry
// and checks where the time between them goes, worked out by hand.
func TestRecorderPhases(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := newRecorder(clock.now)
	src1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src2 := src1.Add(time.Hour)
	steps := []struct {
		after time.Duration // ms since the previous step
		e     merge.Event
	}{
		{7, merge.Event{Kind: merge.EventIgnored}},                            // list 7
		{3, merge.Event{Kind: merge.EventListed}},                             // list 3
		{20, merge.Event{Kind: merge.EventFileDecoded, SourceTime: src2}},     // read 20
		{5, merge.Event{Kind: merge.EventFileDecoded, SourceTime: src1}},      // read 5
		{4, merge.Event{Kind: merge.EventFileDecoded}},                        // read 4 (no source time)
		{11, merge.Event{Kind: merge.EventDeduped}},                           // dedupe 11
		{1, merge.Event{Kind: merge.EventCommitAttempt}},                      // write 1
		{30, merge.Event{Kind: merge.EventApplied}},                           // write 30
		{9, merge.Event{Kind: merge.EventCommitRetry}},                        // commit 9
		{100, merge.Event{Kind: merge.EventCommitAttempt}},                    // commit 100: backoff and reload
		{40, merge.Event{Kind: merge.EventApplied}},                           // write 40
		{6, merge.Event{Kind: merge.EventCommitted}},                          // commit 6
		{2, merge.Event{Kind: merge.EventMaintenanceFailed}},                  // commit 2
		{1000, merge.Event{Kind: merge.EventCommitted, Table: "other table"}}, // not this table's
	}
	r.begin("t")
	for _, s := range steps {
		clock.advance(s.after)
		if s.e.Table == "" {
			s.e.Table = "t"
		}
		r.event(s.e)
	}
	clock.advance(8) // the rest of Run: commit
	got, newest := r.end("t", 12*time.Millisecond)
	want := phases{List: 10, Read: 29, Dedupe: 11, Write: 71, Commit: 9 + 100 + 6 + 2 + 1000 + 8, Catalog: 12}
	// The other table's event is not t's: its 1000 ms are time t's run
	// spent after its last event, in the commit phase.
	if got != want {
		t.Errorf("phases %+v, want %+v", got, want)
	}
	if !newest.Equal(src2) {
		t.Errorf("newest source time %v, want %v", newest, src2)
	}
	if p, n := r.end("never begun", 0); p != (phases{}) || !n.IsZero() {
		t.Errorf("end of a table never begun: %+v %v", p, n)
	}
}

// emfLines returns the CloudWatch EMF documents among the lines of stderr.
func emfLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"_aws"`) {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("EMF line is not one JSON object: %v\n%s", err, sc.Text())
		}
		out = append(out, doc)
	}
	return out
}

// checkEMFSpec checks a document against the rules of the EMF
// specification that its JSON schema (testdata/emf_schema.json) cannot
// express: every dimension is a string member of the root, every metric a
// numeric member, at most 9 dimensions a set and 100 metrics a directive.
func checkEMFSpec(t *testing.T, doc map[string]any) {
	t.Helper()
	aws, _ := doc["_aws"].(map[string]any)
	dirs, _ := aws["CloudWatchMetrics"].([]any)
	if len(dirs) == 0 {
		t.Fatalf("no CloudWatchMetrics: %v", doc)
	}
	for _, d := range dirs {
		d := d.(map[string]any)
		for _, set := range d["Dimensions"].([]any) {
			if len(set.([]any)) > 9 {
				t.Errorf("dimension set of %d", len(set.([]any)))
			}
			for _, dim := range set.([]any) {
				if _, ok := doc[dim.(string)].(string); !ok {
					t.Errorf("dimension %s is not a string member of the root", dim)
				}
			}
		}
		ms := d["Metrics"].([]any)
		if len(ms) > 100 {
			t.Errorf("%d metrics in one directive", len(ms))
		}
		for _, m := range ms {
			name := m.(map[string]any)["Name"].(string)
			if _, ok := doc[name].(float64); !ok {
				t.Errorf("metric %s is not a number member of the root: %v", name, doc[name])
			}
		}
	}
}

// validateEMFSchema validates the documents with Python's jsonschema
// against the schema the EMF specification publishes.
func validateEMFSchema(t *testing.T, docs []map[string]any) {
	t.Helper()
	py := pythonForInterop(t)
	if py == nil {
		return
	}
	data, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py.Path(), "-c", `
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
# The schema is written in draft 7 (fragment $ids).
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema)
for doc in json.load(sys.stdin):
    v.validate(doc)
print("valid")
`, filepath.Join("testdata", "emf_schema.json"))
	cmd.Stdin = strings.NewReader(string(data))
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "valid" {
		t.Fatalf("EMF schema validation: %v\n%s", err, out)
	}
}

// newestTsMs is the greatest source.ts_ms of a file of Debezium events:
// the reference for a table's newest change.
func newestTsMs(t *testing.T, path string) time.Time {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var newest int64
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev struct {
			Source struct {
				TsMs int64 `json:"ts_ms"`
			} `json:"source"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		newest = max(newest, ev.Source.TsMs)
	}
	return time.UnixMilli(newest).UTC()
}

// TestMetricsEMF runs the built binary with --metrics emf on a DMS file and
// a Debezium file from real producers and a table with a broken file, and
// checks the EMF line of each table: valid by the specification's schema
// and rules, equal to the JSON summary, and with the lag a reference gives
// (the CDC file name's instant for DMS, the newest source.ts_ms for
// Debezium). A failed table has Failed 1 and no lag; a run with nothing
// pending has no lag either; without --metrics there is no EMF line.
func TestMetricsEMF(t *testing.T) {
	dir := t.TempDir()
	dms := filepath.Join("..", "..", "formats", "dmscsv", "testdata", "real", "aws_docs_employee_cdc", "20141029-1134010000.csv")
	dbz := filepath.Join(realSamples, "sqlserver_docs", "server1.dbo.testDB.customers+0+0000000000.json")
	copyTo := func(src, dst string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyTo(dms, filepath.Join(dir, "raw", "hr", "employee", filepath.Base(dms)))
	copyTo(dbz, filepath.Join(dir, "raw", "topics", "server1.dbo.testDB.customers", "partition=0", filepath.Base(dbz)))
	if err := os.MkdirAll(filepath.Join(dir, "raw", "hr", "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "raw", "hr", "broken", "20240101-000000000.csv"), []byte("I,1,2,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(job, []byte(fmt.Sprintf(`raw: file://%[1]s/raw
warehouse: file://%[1]s/warehouse
catalog: {type: sqlite, path: catalog.db}
tables:
  - source: {schema: hr, table: employee}
    primary_key: [employee_id]
    columns:
      - {name: employee_id, type: int}
      - {name: last_name, type: string}
      - {name: first_name, type: string}
      - {name: hire_date, type: string}
      - {name: office, type: string}
  - name: customers
    source: {schema: dbo, table: customers, topic: server1.dbo.testDB.customers}
    format: debezium-json
    primary_key: [id]
    columns:
      - {name: id, type: int}
      - {name: first_name, type: string}
      - {name: last_name, type: string}
      - {name: email, type: string}
  - source: {schema: hr, table: broken}
    primary_key: [id]
    columns: [{name: id, type: int}]
`, dir)), 0o644); err != nil {
		t.Fatal(err)
	}

	r := clitest.Run(t, "run", "--config", job, "--metrics", "emf", "--metrics-namespace", "Lakemerge/test")
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != exitTableFailed {
		t.Fatalf("want exit 1 (the broken table) and a summary: %v\n%s", err, r)
	}
	docs := emfLines(t, r.Stderr)
	if len(docs) != 3 {
		t.Fatalf("%d EMF lines, want one per table:\n%s", len(docs), r.Stderr)
	}
	validateEMFSchema(t, docs)
	newest := map[string]time.Time{
		"employee":  time.Date(2014, 10, 29, 11, 34, 1, 0, time.UTC), // 20141029-1134010000.csv
		"customers": newestTsMs(t, dbz),
	}
	for i, doc := range docs {
		checkEMFSpec(t, doc)
		tr := sum.Tables[i]
		if doc["Table"] != tr.Table {
			t.Fatalf("EMF line %d is of %v, the summary's table %d is %s", i, doc["Table"], i, tr.Table)
		}
		dirs := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)
		var dims []string
		for _, d := range dirs {
			d := d.(map[string]any)
			if d["Namespace"] != "Lakemerge/test" {
				t.Errorf("namespace %v", d["Namespace"])
			}
			b, _ := json.Marshal(d["Dimensions"])
			dims = append(dims, string(b))
		}
		if !slices.Equal(dims, []string{`[["Table"]]`, `[[]]`}) {
			t.Errorf("%s: dimension sets %v, want per table and overall", tr.Table, dims)
		}
		failed := 0.0
		if tr.Error != "" {
			failed = 1
		}
		want := map[string]float64{
			"Files": float64(tr.Files), "Changes": float64(tr.Changes), "Keys": float64(tr.Keys),
			"RowsInserted": float64(tr.Stats.Inserted), "RowsUpdated": float64(tr.Stats.Updated),
			"RowsDeleted": float64(tr.Stats.Deleted), "RowsStale": float64(tr.Stats.Stale),
			"BytesRead": float64(tr.Bytes), "BytesWritten": float64(tr.Stats.BytesWritten),
			"CommitAttempts": float64(tr.Attempts), "Failed": failed,
			"ListTime": float64(tr.PhasesMS.List), "ReadTime": float64(tr.PhasesMS.Read),
			"DedupeTime": float64(tr.PhasesMS.Dedupe), "WriteTime": float64(tr.PhasesMS.Write),
			"CommitTime": float64(tr.PhasesMS.Commit), "CatalogTime": float64(tr.PhasesMS.Catalog),
		}
		for name, v := range want {
			if doc[name] != v {
				t.Errorf("%s: %s = %v, the summary says %v", tr.Table, name, doc[name], v)
			}
		}
		p := tr.PhasesMS
		if sumPhases := p.List + p.Read + p.Dedupe + p.Write + p.Commit + p.Catalog; float64(sumPhases) > doc["Duration"].(float64) {
			t.Errorf("%s: phases add up to %d ms, more than the duration %v", tr.Table, sumPhases, doc["Duration"])
		}
		if tr.Bytes > 0 && doc["WriteAmplification"] != float64(tr.Stats.BytesWritten)/float64(tr.Bytes) {
			t.Errorf("%s: WriteAmplification %v", tr.Table, doc["WriteAmplification"])
		}
		end := time.UnixMilli(int64(doc["_aws"].(map[string]any)["Timestamp"].(float64)))
		switch want, ok := newest[tr.Table]; {
		case !ok:
			if tr.Error == "" || doc["Lag"] != nil || doc["Error"] == nil {
				t.Errorf("%s: want a failed table with an Error and no Lag: %v", tr.Table, doc)
			}
		case tr.NewestChange == nil || !tr.NewestChange.Equal(want):
			t.Errorf("%s: newest_change %v, want %v", tr.Table, tr.NewestChange, want)
		default:
			lag, _ := doc["Lag"].(float64)
			if wantLag := end.Sub(want).Seconds(); math.Abs(lag-wantLag) > 0.002 {
				t.Errorf("%s: Lag %v s, want %v s (end %v − newest change %v)", tr.Table, lag, wantLag, end, want)
			}
		}
	}

	// Nothing pending: no lag, up to date; without --metrics, no EMF.
	r = clitest.Run(t, "run", "--config", job, "--table", "employee,customers", "--metrics", "emf")
	docs = emfLines(t, r.Stderr)
	if r.Code != 0 || len(docs) != 2 {
		t.Fatalf("second run: %d EMF lines\n%s", len(docs), r)
	}
	for _, doc := range docs {
		if doc["Lag"] != nil || doc["UpToDate"] != true || doc["Files"] != 0.0 {
			t.Errorf("up-to-date table: %v", doc)
		}
	}
	r = clitest.Run(t, "run", "--config", job, "--table", "employee")
	if r.Code != 0 || len(emfLines(t, r.Stderr)) != 0 {
		t.Errorf("EMF lines without --metrics:\n%s", r)
	}
	r = clitest.Run(t, "run", "--config", job, "--metrics", "prometheus")
	if r.Code != exitUsage || !strings.Contains(r.Stderr, "--metrics") {
		t.Errorf("--metrics prometheus: want exit 2 naming the flag: %s", r)
	}
}

// TestTableMetricsFailedKeepsNoLag: a failed table never reports lag,
// even if it decoded files with source times.
func TestTableMetricsFailedKeepsNoLag(t *testing.T) {
	ts := time.Now().Add(-time.Hour)
	tr := tableResult{Result: merge.Result{Table: "t", Bytes: 10, Stats: table.ApplyStats{BytesWritten: 25}}, NewestChange: &ts, Error: "boom"}
	for _, m := range tableMetrics(tr, time.Now()) {
		if m.name == "Lag" {
			t.Fatalf("failed table has Lag %v", m.value)
		}
	}
}
