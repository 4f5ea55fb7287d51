package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupFiles are where a container's memory limit is: cgroup v2, then v1.
func cgroupFiles() []string {
	return []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}
}

// budgetPercent is the share of the container's (else the machine's)
// memory a table's run may hold when the job file sets no memory_mb.
const budgetPercent = 60

// Where a memory budget comes from (the summary's memory_budget_from).
const (
	budgetFromJob       = "job file"
	budgetFromContainer = "container limit"
	budgetFromMachine   = "machine memory"
	budgetFromNone      = "none"
)

// memoryBudget is one table run's memory budget in bytes (merge spills
// past half of it) and where it comes from: memory_mb of the job file
// when set (jobMB > 0); else budgetPercent of the cgroup memory limit
// (cgroup files, see cgroupLimit); else of MemTotal in meminfo
// (/proc/meminfo); else 0, no bound.
func memoryBudget(jobMB int, cgroup []string, meminfo string) (int64, string) {
	if jobMB > 0 {
		return int64(jobMB) << 20, budgetFromJob
	}
	if limit := cgroupLimit(cgroup); limit > 0 {
		return limit / 100 * budgetPercent, budgetFromContainer
	}
	if total := memTotal(meminfo); total > 0 {
		return total / 100 * budgetPercent, budgetFromMachine
	}
	return 0, budgetFromNone
}

// memTotal reads MemTotal of a /proc/meminfo file in bytes; 0 when it
// cannot.
func memTotal(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 || unit != "kB" {
			return 0
		}
		return v << 10
	}
	return 0
}

// setMemoryLimit (with files: cgroup v2 "/sys/fs/cgroup/memory.max", then
// v1 "/sys/fs/cgroup/memory/memory.limit_in_bytes") gives the Go runtime a soft memory limit of 80% of the
// container's memory limit (an ECS task's), unless GOMEMLIMIT is set or
// there is no limit. Without it the garbage collector lets the heap grow to
// twice the live data before collecting, which can exceed a container's
// memory on large runs; with it, it collects harder as the heap nears the
// limit. It returns the limit set, 0 for none.
func setMemoryLimit(files []string) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit := cgroupLimit(files)
	if limit <= 0 {
		return 0
	}
	soft := limit / 10 * 8
	debug.SetMemoryLimit(soft)
	return soft
}

// minBudgetLimit is the lowest soft memory limit budgetLimit sets: below
// it the collector would run without pause on the heap any run has
// (catalog, table metadata, the decoders' state), whatever its budget.
const minBudgetLimit = 128 << 20

// budgetLimit lowers the Go runtime's soft memory limit to budget less a
// sixteenth (left to what the runtime does not manage: the binary's
// code, cgo), at least minBudgetLimit, unless GOMEMLIMIT is set, budget is
// 0, or the limit is already lower (setMemoryLimit's, in a container). The run's own parts
// take at most three quarters of the budget (see merge); without the
// limit, the collector's slack on top of them took a 10M-row full load
// under memory_mb 1024 to 1.5 GiB of RSS. It returns the limit in force.
func budgetLimit(budget int64) int64 {
	cur := debug.SetMemoryLimit(-1)
	if os.Getenv("GOMEMLIMIT") != "" || budget <= 0 {
		return cur
	}
	if soft := max(budget-budget/16, minBudgetLimit); soft < cur {
		debug.SetMemoryLimit(soft)
		return soft
	}
	return cur
}

// cgroupLimit reads the first cgroup memory limit found; 0 for none
// ("max", or v1's huge "unlimited" value).
func cgroupLimit(files []string) int64 {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 || v >= 1<<60 {
			return 0
		}
		return v
	}
	return 0
}

// gcPercent is lakemerge's default GOGC. Almost all of a run's heap is
// Arrow buffers, which hold no pointers, so a collection costs little
// marking; collecting at 25% growth instead of Go's 100% keeps the heap
// near the live data. Figures (10M-row DMS full load, 2 cores): GOGC=100
// 18.9 s, 5.7 GB peak RSS; GOGC=25 12.2 s, 3.8 GB (less memory to fault in
// makes it faster too); GOGC=10 15.2 s, 3.4 GB.
const gcPercent = 25

// setGCPercent sets the collector's target heap growth to gcPercent unless
// GOGC is set; it returns the value set, 0 for none.
func setGCPercent() int {
	if os.Getenv("GOGC") != "" {
		return 0
	}
	debug.SetGCPercent(gcPercent)
	return gcPercent
}
