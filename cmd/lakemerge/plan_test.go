package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// rawFiles is the reference for what a table that has absorbed nothing
// has pending: every file under its folder, the Kafka sink's .keys.json
// companions counted in the bytes but not as change files.
type rawFiles struct {
	files  int
	bytes  int64
	oldest time.Time
}

func scanRaw(t *testing.T, dir string) rawFiles {
	t.Helper()
	var r rawFiles
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		r.bytes += info.Size()
		if strings.HasSuffix(p, ".keys.json") {
			return nil
		}
		r.files++
		if r.oldest.IsZero() || info.ModTime().Before(r.oldest) {
			r.oldest = info.ModTime()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// demoRaw writes the demo's raw zone into dir/raw and a job file for it
// whose catalog and warehouse do not exist yet; it returns the job file.
func demoRaw(t *testing.T, dir string) string {
	t.Helper()
	demo := filepath.Join(t.TempDir(), "demo")
	if r := clitest.Run(t, "demo", "--dir", demo); r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	if err := os.CopyFS(filepath.Join(dir, "raw"), os.DirFS(filepath.Join(demo, "raw"))); err != nil {
		t.Fatal(err)
	}
	job, err := os.ReadFile(filepath.Join(demo, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(job), demo, dir)
	if strings.Contains(text, demo) || !strings.Contains(text, "file://"+dir+"/raw") {
		t.Fatalf("job rewrite failed:\n%s", text)
	}
	p := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runPlan(t *testing.T, args ...string) plan {
	t.Helper()
	r := clitest.Run(t, append([]string{"plan"}, args...)...)
	var p plan
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil || r.Code != 0 {
		t.Fatalf("plan %v: %v\n%s", args, err, r)
	}
	return p
}

func planTableOf(t *testing.T, p plan, name string) planTable {
	t.Helper()
	for _, pt := range p.Tables {
		if pt.Table == name {
			return pt
		}
	}
	t.Fatalf("plan has no table %s: %+v", name, p.Tables)
	return planTable{}
}

// TestPlanLocal runs plan as a scheduler does, on the demo's raw zone:
// what each table has pending (against a walk of its folder), the age of
// its oldest file, items that leave out what is up to date, grouping,
// --out, a table that cannot be planned, and that plan writes nothing.
func TestPlanLocal(t *testing.T) {
	dir := t.TempDir()
	job := demoRaw(t, dir)
	prefixes := map[string]string{
		"customers": filepath.Join(dir, "raw", "public", "customers"),
		"orders":    filepath.Join(dir, "raw", "public", "orders"),
		"shipments": filepath.Join(dir, "raw", "topics", "my.shop.shipments"),
	}
	// One file of each table is two hours old.
	for _, prefix := range prefixes {
		var first string
		_ = filepath.WalkDir(prefix, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && first == "" && !strings.HasSuffix(p, ".keys.json") {
				first = p
			}
			return err
		})
		old := time.Now().Add(-2 * time.Hour)
		if err := os.Chtimes(first, old, old); err != nil {
			t.Fatal(err)
		}
	}

	out := filepath.Join(dir, "plans", "plan.json")
	r := clitest.Run(t, "plan", "--config", job, "--out", out)
	var p plan
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil || r.Code != 0 {
		t.Fatalf("plan: %v\n%s", err, r)
	}
	written, err := os.ReadFile(out)
	if err != nil || string(written) != r.Stdout {
		t.Fatalf("--out %s holds\n%s\nstdout\n%s (%v)", out, written, r.Stdout, err)
	}
	for _, absent := range []string{"catalog.db", "warehouse"} {
		if _, err := os.Stat(filepath.Join(dir, absent)); !os.IsNotExist(err) {
			t.Errorf("plan created %s (%v)", absent, err)
		}
	}
	if p.TablesTotal != 3 || p.TablesPending != 3 || p.TablesUpToDate != 0 || p.TablesFailed != 0 || len(p.Items) != 3 || p.Config != job {
		t.Fatalf("plan %+v", p)
	}
	var files int
	var bytes int64
	for name, prefix := range prefixes {
		want := scanRaw(t, prefix)
		pt := planTableOf(t, p, name)
		if pt.PendingFiles != want.files || pt.PendingBytes != want.bytes || pt.Error != "" {
			t.Errorf("%s: %d files, %d bytes pending; the folder holds %d change files, %d bytes", name, pt.PendingFiles, pt.PendingBytes, want.files, want.bytes)
		}
		if pt.OldestPending == nil || !pt.OldestPending.Equal(want.oldest) || pt.OldestPendingAgeS < 7190 || pt.OldestPendingAgeS > 7300 {
			t.Errorf("%s: oldest pending %v, %d s old; want %v, about 7200 s", name, pt.OldestPending, pt.OldestPendingAgeS, want.oldest)
		}
		files += want.files
		bytes += want.bytes
	}
	if p.PendingFiles != files || p.PendingBytes != bytes || p.OldestPendingAgeS < 7190 {
		t.Errorf("totals: %d files, %d bytes, oldest %d s; want %d, %d, about 7200", p.PendingFiles, p.PendingBytes, p.OldestPendingAgeS, files, bytes)
	}
	for i, it := range p.Items {
		if len(it.Tables) != 1 || it.TableArg != it.Tables[0] || it.PendingBytes != planTableOf(t, p, it.Tables[0]).PendingBytes {
			t.Errorf("item %d: %+v", i, it)
		}
		if i > 0 && it.PendingBytes > p.Items[i-1].PendingBytes {
			t.Errorf("items not biggest first: %+v", p.Items)
		}
	}

	// Run the first item as the state machine would; that table is then up
	// to date and leaves the items, the others stay.
	first := p.Items[0]
	r = clitest.Run(t, "run", "--config", job, "--table", first.TableArg)
	if r.Code != 0 {
		t.Fatalf("run the first item: %s", r)
	}
	p = runPlan(t, "--config", job)
	if p.TablesUpToDate != 1 || p.TablesPending != 2 || len(p.Items) != 2 || slices.ContainsFunc(p.Items, func(it planItem) bool { return it.TableArg == first.TableArg }) {
		t.Fatalf("after running %s: %+v", first.TableArg, p)
	}
	if pt := planTableOf(t, p, first.Tables[0]); pt.PendingFiles != 0 || pt.PendingBytes != 0 || pt.OldestPending != nil || pt.OldestPendingAgeS != 0 {
		t.Errorf("up-to-date table: %+v", pt)
	}

	// All tables in one item when the group is big enough; the item's
	// table_arg runs them all.
	p = runPlan(t, "--config", job, "--group-bytes", "1MiB")
	if len(p.Items) != 1 || len(p.Items[0].Tables) != 2 || p.GroupBytes != 1<<20 {
		t.Fatalf("--group-bytes 1MiB: %+v", p.Items)
	}
	r = clitest.Run(t, "run", "--config", job, "--table", p.Items[0].TableArg)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 || len(sum.Tables) != 2 {
		t.Fatalf("run --table %s: %v\n%s", p.Items[0].TableArg, err, r)
	}
	p = runPlan(t, "--config", job)
	if p.TablesUpToDate != 3 || len(p.Items) != 0 || p.PendingFiles != 0 || p.OldestPendingAgeS != 0 {
		t.Fatalf("all absorbed: %+v", p)
	}

	// A new CDC file is pending, with its size.
	cdc := filepath.Join(prefixes["orders"], "20240601-000000000.csv")
	line := "D,1001,1,,,\n"
	if err := os.WriteFile(cdc, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	p = runPlan(t, "--config", job)
	if pt := planTableOf(t, p, "orders"); pt.PendingFiles != 1 || pt.PendingBytes != int64(len(line)) || len(p.Items) != 1 || p.Items[0].TableArg != "orders" {
		t.Fatalf("new file: %+v", p)
	}

	// An object that is not a change file: the table cannot be planned;
	// it is an item of its own so that its run reports why, and plan
	// still exits 0.
	if err := os.WriteFile(filepath.Join(prefixes["customers"], "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = runPlan(t, "--config", job, "--group-bytes", "1GiB")
	pt := planTableOf(t, p, "customers")
	if p.TablesFailed != 1 || !strings.Contains(pt.Error, "notes.txt") || len(p.Items) != 2 {
		t.Fatalf("unknown object: %+v", p)
	}
	r = clitest.Run(t, "run", "--config", job, "--table", "customers")
	if r.Code != exitTableFailed || !strings.Contains(r.Stdout, "notes.txt") {
		t.Fatalf("the failed item's run: %s", r)
	}

	for _, bad := range [][]string{{"--group-bytes", "lots"}, {"--out", "s3://bucket-only/"}} {
		r = clitest.Run(t, append([]string{"plan", "--config", job}, bad...)...)
		if r.Code != exitUsage || !strings.Contains(r.Stderr, bad[0]) {
			t.Errorf("plan %v: want exit 2 naming the flag: %s", bad, r)
		}
	}
}

// TestGroupItems checks groupItems against its contract on random tables:
// every table with pending files or an error is in exactly one item, no
// up-to-date table is; a table that failed, or has at least the group
// size pending, is alone; shared items stay within the group size; items
// are biggest first; and first-fit leaves no two shared items that would
// fit in one.
func TestGroupItems(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 500 {
		var tables []planTable
		for i := range rng.IntN(30) {
			pt := planTable{Table: fmt.Sprintf("t%02d", i)}
			switch rng.IntN(6) {
			case 0: // up to date
			case 1:
				pt.Error = "broken"
			default:
				pt.PendingFiles = 1 + rng.IntN(5)
				pt.PendingBytes = rng.Int64N(2000)
			}
			tables = append(tables, pt)
		}
		group := []int64{0, 100, 1000, 5000}[rng.IntN(4)]
		items := groupItems(tables, group)
		byName := map[string]planTable{}
		for _, pt := range tables {
			byName[pt.Table] = pt
		}
		seen := map[string]int{}
		var shared []int64
		for i, it := range items {
			if it.TableArg != strings.Join(it.Tables, ",") || len(it.Tables) == 0 {
				t.Fatalf("round %d item %d: %+v", round, i, it)
			}
			if i > 0 && it.PendingBytes > items[i-1].PendingBytes {
				t.Fatalf("round %d: items not biggest first", round)
			}
			var sum int64
			for _, n := range it.Tables {
				seen[n]++
				pt := byName[n]
				sum += pt.PendingBytes
				if (pt.Error != "" || group == 0 || pt.PendingBytes >= group) && len(it.Tables) != 1 {
					t.Fatalf("round %d: %s (%+v) shares item %+v (group %d)", round, n, pt, it, group)
				}
			}
			if sum != it.PendingBytes {
				t.Fatalf("round %d: item bytes %d, tables' %d", round, it.PendingBytes, sum)
			}
			if len(it.Tables) > 1 || (group > 0 && byName[it.Tables[0]].Error == "" && it.PendingBytes < group) {
				if it.PendingBytes > group {
					t.Fatalf("round %d: shared item of %d bytes, group %d", round, it.PendingBytes, group)
				}
				shared = append(shared, it.PendingBytes)
			}
		}
		for _, pt := range tables {
			want := 0
			if pt.Error != "" || pt.PendingFiles > 0 {
				want = 1
			}
			if seen[pt.Table] != want {
				t.Fatalf("round %d: %s (%+v) in %d items", round, pt.Table, pt, seen[pt.Table])
			}
		}
		for i := range shared {
			for j := i + 1; j < len(shared); j++ {
				if shared[i]+shared[j] <= group {
					t.Fatalf("round %d: shared items of %d and %d bytes fit in one group of %d", round, shared[i], shared[j], group)
				}
			}
		}
	}
}

// TestPrintPlan: the plan as people read it on a terminal.
func TestPrintPlan(t *testing.T) {
	old := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	p := plan{
		Config: "ssm:/lakemerge/job", TablesTotal: 4, TablesPending: 2, TablesUpToDate: 1, TablesFailed: 1,
		MemoryBudgetMB: 2457, MemoryBudgetFrom: budgetFromContainer, SpillDir: "/tmp",
		Tables: []planTable{
			{Table: "orders", Target: "base.orders", PendingFiles: 12, PendingBytes: 3 << 20, OldestPending: &old, OldestPendingAgeS: 5400},
			{Table: "customers", Target: "base.customers", PendingFiles: 1, PendingBytes: 2048, OldestPending: &old, OldestPendingAgeS: 60},
			{Table: "payments", Target: "base.payments"},
			{Table: "refunds", Target: "base.refunds", Error: "nothing to read: no objects under s3://raw/dms/public/refunds/"},
		},
	}
	p.Items = groupItems(p.Tables, 4<<20)
	var sb strings.Builder
	if err := printPlan(&sb, p); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.golden", sb.String())
}
