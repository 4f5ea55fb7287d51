package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestCgroupLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := write("memory.max", "4294967296\n")
	unlimited := write("max", "max\n")
	v1huge := write("v1", "9223372036854771712\n")
	for _, tc := range []struct {
		files []string
		want  int64
	}{
		{[]string{v2}, 4294967296},
		{[]string{unlimited}, 0},
		{[]string{v1huge}, 0},
		{[]string{filepath.Join(dir, "missing"), v2}, 4294967296},
		{nil, 0},
	} {
		if got := cgroupLimit(tc.files); got != tc.want {
			t.Errorf("cgroupLimit(%v) = %d, want %d", tc.files, got, tc.want)
		}
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	if got := setMemoryLimit([]string{v2}); got != 4294967296/10*8 || debug.SetMemoryLimit(-1) != got {
		t.Fatalf("limit %d", got)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := setMemoryLimit([]string{v2}); got != 0 {
		t.Fatalf("GOMEMLIMIT set, but limit %d", got)
	}
}

func TestGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	if got := setGCPercent(); got != gcPercent || debug.SetGCPercent(100) != gcPercent {
		t.Fatalf("GOGC not set: set %d", got)
	}
	t.Setenv("GOGC", "200")
	if got := setGCPercent(); got != 0 || debug.SetGCPercent(100) != 100 {
		t.Fatalf("GOGC set, but set %d", got)
	}
}

// TestMemoryBudget: memory_mb wins; else 60% of the cgroup limit; else
// 60% of the machine's MemTotal; else none.
func TestMemoryBudget(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	limit := write("memory.max", "4294967296\n")
	unlimited := write("max", "max\n")
	meminfo := write("meminfo", "MemTotal:       24576000 kB\nMemFree:        1000 kB\n")
	badinfo := write("badinfo", "MemFree:        1000 kB\n")
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		jobMB   int
		cgroup  []string
		meminfo string
		want    int64
		from    string
	}{
		{256, []string{limit}, meminfo, 256 << 20, budgetFromJob},
		{0, []string{limit}, meminfo, 4294967296 / 100 * 60, budgetFromContainer},
		{0, []string{unlimited}, meminfo, 24576000 << 10 / 100 * 60, budgetFromMachine},
		{0, []string{missing}, meminfo, 24576000 << 10 / 100 * 60, budgetFromMachine},
		{0, []string{unlimited}, badinfo, 0, budgetFromNone},
		{0, nil, missing, 0, budgetFromNone},
	} {
		got, from := memoryBudget(tc.jobMB, tc.cgroup, tc.meminfo)
		if got != tc.want || from != tc.from {
			t.Errorf("memoryBudget(%d, %v, %s) = %d, %q; want %d, %q", tc.jobMB, tc.cgroup, tc.meminfo, got, from, tc.want, tc.from)
		}
	}
}

// TestGCFloor: GOGC is the larger of the base and what lets the live heap
// grow by the floor; after a collection the tuner sets it.
func TestGCFloor(t *testing.T) {
	g := &gcFloor{base: 25, floor: 64 << 20}
	for _, c := range []struct {
		live uint64
		want int
	}{{0, 25}, {16 << 20, 400}, {256 << 20, 25}, {1 << 30, 25}, {100 << 20, 64}} {
		if got := g.percent(c.live); got != c.want {
			t.Errorf("percent(%d) = %d, want %d", c.live, got, c.want)
		}
	}

	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	gogc := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	// A floor of 1 TiB: whatever the test's live heap, GOGC goes far above 25.
	g = startGCFloor(25, 1<<40)
	defer g.stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		metrics.Read(gogc)
		if gogc[0].Value.Uint64() > 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d after collections, want the floor's", gogc[0].Value.Uint64())
		}
		<-time.After(10 * time.Millisecond) // the finalizer runs after the collection, on its own goroutine
	}
}

// TestBudgetLimit: the soft memory limit follows the budget (less a
// sixteenth, at least minBudgetLimit), never rises, and leaves GOMEMLIMIT
// alone.
func TestBudgetLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	debug.SetMemoryLimit(math.MaxInt64)
	for _, tc := range []struct{ budget, want int64 }{
		{0, math.MaxInt64},
		{1024 << 20, 960 << 20},
		{2048 << 20, 960 << 20}, // never raised
		{1 << 20, minBudgetLimit},
	} {
		if got := budgetLimit(tc.budget); got != tc.want || debug.SetMemoryLimit(-1) != tc.want {
			t.Fatalf("budgetLimit(%d) = %d (runtime %d), want %d", tc.budget, got, debug.SetMemoryLimit(-1), tc.want)
		}
	}
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if got := budgetLimit(1024 << 20); got != math.MaxInt64 {
		t.Fatalf("GOMEMLIMIT set, but limit %d", got)
	}
}
