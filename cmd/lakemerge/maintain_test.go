package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// maintainJob writes a job file with one Iceberg and one Delta table fed
// by the same DMS files, with the maintenance section given, and returns
// its path and the raw folder.
func maintainJob(t *testing.T, dir, maintenance string) (job, raw string) {
	t.Helper()
	return itemsJob(t, dir, maintenance, `  - name: dl
    source: { schema: public, table: items }
    primary_key: [id]
    target: { database: shop, table: items_delta, format: delta }
    columns:
      - { name: id, type: long }
      - { name: name, type: string }
`)
}

// itemsJob writes a job file with the maintenance section given and the
// Iceberg table ice of the DMS files of public.items (id, name), followed
// by more (YAML: its prepared tables, more tables), and returns its path
// and the raw folder.
func itemsJob(t *testing.T, dir, maintenance, more string) (job, raw string) {
	t.Helper()
	raw = filepath.Join(dir, "raw", "public", "items")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		t.Fatal(err)
	}
	job = filepath.Join(dir, "job.yaml")
	body := fmt.Sprintf(`raw: file://%[1]s/raw
warehouse: file://%[1]s/warehouse
catalog: { type: sqlite, path: %[1]s/catalog.db }
defaults:
  maintenance: %[2]s
tables:
  - name: ice
    source: { schema: public, table: items }
    primary_key: [id]
    target: { database: shop, table: items }
    buckets: 2
    columns:
      - { name: id, type: long }
      - { name: name, type: string }
`, dir, maintenance) + more
	if err := os.WriteFile(job, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return job, raw
}

// runOnce writes one CDC file that updates and deletes some of ids 1-40
// and inserts a new one (r > 0; r = 0 loads ids 1-40), and runs the job through the binary; it returns the summary.
func runOnce(t *testing.T, job, raw string, r int) summary {
	t.Helper()
	var b strings.Builder
	if r == 0 {
		for id := 1; id <= 40; id++ {
			fmt.Fprintf(&b, "I,%d,name%d\n", id, id)
		}
	} else {
		fmt.Fprintf(&b, "U,%d,renamed%d\n", r, r)
		fmt.Fprintf(&b, "U,%d,renamed%d\n", r+20, r)
		fmt.Fprintf(&b, "D,%d,\n", r+10)
		fmt.Fprintf(&b, "I,%d,new%d\n", 100+r, r) // a new key: Delta writes a new file
	}
	name := filepath.Join(raw, fmt.Sprintf("20240101-%09d.csv", r))
	if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runBinary(t, "run", "--config", job)
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || !sum.OK {
		t.Fatalf("run %d: exit %d: %v\n%s\n%s", r, code, err, out, errs)
	}
	return sum
}

func statusOf(t *testing.T, job string) map[string]tableStatus {
	t.Helper()
	out, errs, code := runBinary(t, "status", "--config", job, "--json")
	var sts []tableStatus
	if err := json.Unmarshal([]byte(out), &sts); code != 0 || err != nil {
		t.Fatalf("status exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	m := map[string]tableStatus{}
	for _, s := range sts {
		if s.Error != "" || s.Files == nil {
			t.Fatalf("status of %s: %+v", s.Table, s)
		}
		m[s.Table] = s
	}
	return m
}

// TestBinaryMaintain: with the policy off in runs, delete files and small
// files pile up (status shows them); `lakemerge maintain` compacts both
// tables, expires Iceberg snapshots, and leaves rows and bookmark as they
// were; status and the next run go on from there.
func TestBinaryMaintain(t *testing.T) {
	dir := t.TempDir()
	job, raw := maintainJob(t, dir, "{ enabled: false, compact_delete_files: 2, compact_small_files: 2, keep_snapshots: 2, time_travel: 1ns }")
	for r := range 6 {
		sum := runOnce(t, job, raw, r)
		for _, tr := range sum.Tables {
			if tr.Maintenance != nil || tr.TableFiles == nil {
				t.Fatalf("run %d, policy off: table %s maintenance %+v files %v", r, tr.Table, tr.Maintenance, tr.TableFiles)
			}
		}
	}
	before := statusOf(t, job)
	if f := before["ice"].Files; f.DeleteFiles < 4 || f.Versions < 6 {
		t.Fatalf("before maintain, iceberg: %+v", f)
	}
	if f := before["dl"].Files; f.SmallFiles < 2 {
		t.Fatalf("before maintain, delta: %+v", f)
	}

	out, errs, code := runBinary(t, "maintain", "--config", job)
	if code != 0 {
		t.Fatalf("maintain exit %d\n%s\n%s", code, out, errs)
	}
	res := map[string]maintainResult{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r maintainResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("maintain line %q: %v", line, err)
		}
		res[r.Table] = r
	}
	ice, dl := res["ice"], res["dl"]
	if ice.Error != "" || ice.Compactions == 0 || ice.DeleteFilesRemoved == 0 || ice.VersionsExpired == 0 ||
		ice.Files == nil || ice.Files.DeleteFiles != 0 || ice.Files.Versions != 2 {
		t.Fatalf("maintain, iceberg: %+v %+v", ice, ice.Files)
	}
	if dl.Error != "" || dl.Compactions != 1 || dl.Files == nil || dl.Files.DataFiles != 1 {
		t.Fatalf("maintain, delta: %+v %+v", dl, dl.Files)
	}
	after := statusOf(t, job)
	for _, name := range []string{"ice", "dl"} {
		b, a := before[name], after[name]
		if a.Rows != b.Rows || a.FilesAbsorbed != b.FilesAbsorbed || a.Runs != b.Runs || a.PendingFiles != 0 {
			t.Fatalf("%s: maintain changed the table: before %+v, after %+v", name, b, a)
		}
	}
	// The next run goes on from the compacted tables.
	runOnce(t, job, raw, 6)
	if s := statusOf(t, job); s["ice"].Rows != before["ice"].Rows || s["dl"].Rows != s["ice"].Rows || s["ice"].Runs != 7 {
		t.Fatalf("after the next run: %+v", s)
	}
}

// TestBinaryRunMaintains: with the policy on, a run whose table crosses a
// threshold compacts it after the commit and says so in its summary.
func TestBinaryRunMaintains(t *testing.T) {
	dir := t.TempDir()
	job, raw := maintainJob(t, dir, "{ compact_delete_files: 3, compact_small_files: 4 }")
	maintained := map[string]bool{}
	for r := range 6 {
		sum := runOnce(t, job, raw, r)
		for _, tr := range sum.Tables {
			if len(tr.Warnings) > 0 || tr.TableFiles == nil {
				t.Fatalf("run %d: %+v", r, tr)
			}
			if tr.Maintenance != nil && tr.Maintenance.Compactions > 0 {
				maintained[tr.Table] = true
			}
			if tr.TableFiles.DeleteFiles >= 3*2 {
				t.Fatalf("run %d, %s: delete files pile up: %+v", r, tr.Table, tr.TableFiles)
			}
		}
	}
	if !maintained["ice"] || !maintained["dl"] {
		t.Fatalf("runs maintained %v", maintained)
	}
	if s := statusOf(t, job); s["ice"].Rows != 40 || s["dl"].Rows != 40 {
		t.Fatalf("status after maintained runs: %+v", s)
	}
}

// TestBinaryRunMinorPass: with rewrite_deleted_pct, a run whose table
// crosses a threshold runs the minor pass: the delete files of the data
// files it keeps are merged into one each (delete_files_written), the
// small files but the largest bin-packed, so after each pass a bucket has
// at most one delete file. pyiceberg and DuckDB read the table as a plain
// model of the changes has it.
func TestBinaryRunMinorPass(t *testing.T) {
	dir := t.TempDir()
	job, raw := itemsJob(t, dir, "{ compact_delete_files: 2, compact_small_files: 4, rewrite_deleted_pct: 50 }", "")
	model := map[int]string{}
	var merged, rewritten int64
	for r := range 9 {
		sum := runOnce(t, job, raw, r)
		if r == 0 {
			for id := 1; id <= 40; id++ {
				model[id] = fmt.Sprintf("name%d", id)
			}
		} else {
			model[r], model[r+20], model[100+r] = fmt.Sprintf("renamed%d", r), fmt.Sprintf("renamed%d", r), fmt.Sprintf("new%d", r)
			delete(model, r+10)
		}
		tr := sum.Tables[0]
		if len(tr.Warnings) > 0 || tr.TableFiles == nil {
			t.Fatalf("run %d: %+v", r, tr)
		}
		if m := tr.Maintenance; m != nil && m.Compactions > 0 {
			merged += m.DeleteFilesWritten
			rewritten += m.FilesRewritten
			if tr.TableFiles.DeleteFiles > 2 {
				t.Fatalf("run %d: after a minor pass %+v: %+v, want a delete file a bucket at most", r, m, tr.TableFiles)
			}
		}
	}
	if merged == 0 || rewritten == 0 {
		t.Fatalf("the runs' passes merged %d delete files and rewrote %d data files", merged, rewritten)
	}
	var want []string
	for id, name := range model {
		want = append(want, fmt.Sprintf("%d:%s", id, name))
	}
	sort.Strings(want)
	py := pythonForInterop(t)
	if py == nil {
		return
	}
	metas, err := filepath.Glob(filepath.Join(dir, "warehouse", "shop.db", "items", "metadata", "*.metadata.json"))
	if err != nil || len(metas) == 0 {
		t.Fatalf("metadata files: %v %v", metas, err)
	}
	sort.Slice(metas, func(i, j int) bool { return metadataVersion(metas[i]) < metadataVersion(metas[j]) })
	script := filepath.Join("..", "..", "interop", "read_iceberg.py")
	for reader, args := range map[string][]string{
		"pyiceberg": {script, "sqlite", filepath.Join(dir, "catalog.db"), "file://" + filepath.Join(dir, "warehouse"), "shop.items", "id"},
		"duckdb":    {script, "--duckdb", metas[len(metas)-1], "id"},
	} {
		out, err := py.CombinedOutput(args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", reader, err, out)
		}
		var got []string
		for _, row := range jsonRows(t, reader, out) {
			got = append(got, fmt.Sprintf("%v:%v", row["id"], row["name"]))
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s reads\n%v\nthe model\n%v", reader, got, want)
		}
	}
}

// metadataVersion is the version number a metadata file's name starts
// with (00012-uuid.metadata.json: 12).
func metadataVersion(path string) int {
	n, _ := strconv.Atoi(strings.SplitN(filepath.Base(path), "-", 2)[0])
	return n
}

// TestBinaryMaintainBadPolicy: a policy that cannot work is a job-file
// error (exit 2) naming the line, every field at once.
func TestBinaryMaintainBadPolicy(t *testing.T) {
	dir := t.TempDir()
	job, _ := maintainJob(t, dir, "{ orphan_age: 5m, rewrite_deleted_pct: 101 }")
	_, errs, code := runBinary(t, "maintain", "--config", job)
	if code != exitUsage || !strings.Contains(errs, "job.yaml:5: defaults.maintenance.orphan_age: 5m0s is shorter than 1h") ||
		!strings.Contains(errs, "job.yaml:5: defaults.maintenance.rewrite_deleted_pct: 101 is out of range 0..100") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
}
