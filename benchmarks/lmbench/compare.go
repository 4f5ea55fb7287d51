package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// step is one timed process run.
type step struct {
	Wall    time.Duration
	CPU     time.Duration // user + system of the process tree (see run)
	PeakRSS int64         // bytes
}

// toolResult is what compare reports for one tool.
type toolResult struct {
	Tool         string  `json:"tool"`
	LoadSeconds  float64 `json:"load_seconds"`
	LoadCPU      float64 `json:"load_cpu_seconds"` // user + system
	LoadRSSMiB   float64 `json:"load_peak_rss_mib"`
	LoadLoadAvg  string  `json:"load_loadavg"` // /proc/loadavg (1, 5, 15 min) at the start of the load
	MergeSeconds float64 `json:"merge_seconds"`
	MergeCPU     float64 `json:"merge_cpu_seconds"`
	MergeRSSMiB  float64 `json:"merge_peak_rss_mib"`
	MergeLoadAvg string  `json:"merge_loadavg"` // /proc/loadavg at the start of the merge
	FilesWritten int     `json:"merge_files_written"`
	BytesWritten int64   `json:"merge_bytes_written"`
	WritePerByte float64 `json:"merge_bytes_written_per_change_byte"`
	Rows         int64   `json:"rows"`
	Digest       string  `json:"digest"`
	Error        string  `json:"error,omitempty"`
}

// run starts a process and measures its wall time, CPU time and peak RSS.
// CPU time is the larger of the process's rusage (itself and the children
// it waited for) and the sum of the last sampled user + system time of
// every process seen in its tree: Spark's JVM is not waited for by its
// Python driver, so only the samples count it (missing at most its last
// sampling interval).
// With maxRSS > 0 a process tree whose resident memory passes maxRSS bytes
// is killed (the machine has no swap to fall back on) and run says so.
func run(dir string, env []string, maxRSS int64, name string, args ...string) (step, []byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return step{}, nil, err
	}
	// A peer may run in more than one process (Spark's JVM under its
	// Python driver): sample the RSS of the whole process tree, every 50 ms
	// for the first 10 s, then every 500 ms (a long load is not slowed by
	// its own sampling; the rusage peak below is exact for one process).
	done := make(chan struct{})
	treePeak := make(chan int64, 1)
	treeCPU := make(chan time.Duration, 1)
	go func() {
		var peak int64
		cpu := map[int]time.Duration{}
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			if i == 200 {
				tk.Reset(500 * time.Millisecond)
			}
			if r := treeRSS(cmd.Process.Pid, cpu); r > peak {
				peak = r
				if maxRSS > 0 && peak > maxRSS {
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
			}
			select {
			case <-done:
				var sum time.Duration
				for _, c := range cpu {
					sum += c
				}
				treePeak <- peak
				treeCPU <- sum
				return
			case <-tk.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	st := step{Wall: time.Since(start), PeakRSS: <-treePeak,
		CPU: max(cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime(), <-treeCPU)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss*1024 > st.PeakRSS {
		st.PeakRSS = ru.Maxrss * 1024
	}
	if maxRSS > 0 && st.PeakRSS > maxRSS {
		return st, out.Bytes(), fmt.Errorf("%s %s: killed at %.0f MiB resident, over the cap of %.0f MiB", name, strings.Join(args, " "), mib(st.PeakRSS), mib(maxRSS))
	}
	if err != nil {
		return st, out.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, lastLines(errb.String(), 15))
	}
	return st, out.Bytes(), nil
}

// treeRSS sums the resident memory of pid and its descendants (Linux
// /proc); 0 where /proc cannot be read. It sets cpu[p] to the user +
// system time of each process p of the tree (its own, not its children's).
func treeRSS(pid int, cpu map[int]time.Duration) int64 {
	var total int64
	stack := []int{pid}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", p)); err == nil {
			var size, resident int64
			if _, err := fmt.Sscan(string(b), &size, &resident); err == nil {
				total += resident * int64(os.Getpagesize())
			}
		}
		if c, ok := procCPU(p); ok {
			cpu[p] = c
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				var c int
				if _, err := fmt.Sscan(f, &c); err == nil {
					stack = append(stack, c)
				}
			}
		}
	}
	return total
}

// clockTick is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// Linux, which Go cannot ask sysconf for without cgo).
const clockTick = 10 * time.Millisecond

// procCPU returns the user + system time of process pid itself from
// /proc/PID/stat (utime and stime, fields 14 and 15).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces: fields count from after its ')'.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, false
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11]+" "+f[12], &utime, &stime); err != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * clockTick, true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// snapshot lists the files under root with their sizes.
func snapshot(root string) map[string]int64 {
	out := map[string]int64{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				out[p] = fi.Size()
			}
		}
		return nil
	})
	return out
}

// written counts the files in after that are not in before.
func written(before, after map[string]int64) (n int, size int64) {
	for p, s := range after {
		if _, ok := before[p]; !ok {
			n++
			size += s
		}
	}
	return n, size
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// compare runs lakemerge and the peers on a workload made by gen and writes
// results.json and results.md into the workload folder.
func compare(args []string) error {
	fl := flag.NewFlagSet("compare", flag.ExitOnError)
	dir := fl.String("dir", "", "workload folder written by lmbench gen (required)")
	tf := addToolFlags(fl, "lakemerge,delta,pyiceberg,spark")
	fl.Parse(args)
	if *dir == "" || *tf.lakemerge == "" {
		return fmt.Errorf("--dir and --lakemerge are required")
	}
	abs, _ := filepath.Abs(*dir)
	var wl struct{ Result struct{ CDCBytes int64 } }
	raw, err := os.ReadFile(filepath.Join(abs, "workload.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &wl); err != nil {
		return err
	}
	var results []toolResult
	for _, name := range strings.Split(*tf.tools, ",") {
		r := toolResult{Tool: name}
		var load, merge step
		var before map[string]int64
		t := tf.tool(name, abs)
		r.LoadLoadAvg = loadAvg()
		if load, err = t.load(0); err == nil {
			before = snapshot(t.tableDir)
			r.MergeLoadAvg = loadAvg()
			merge, err = t.merge(0)
		}
		if err != nil {
			r.Error = err.Error()
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "%s failed: %v\n", name, err)
			continue
		}
		r.LoadSeconds, r.LoadCPU, r.LoadRSSMiB = load.Wall.Seconds(), load.CPU.Seconds(), mib(load.PeakRSS)
		r.MergeSeconds, r.MergeCPU, r.MergeRSSMiB = merge.Wall.Seconds(), merge.CPU.Seconds(), mib(merge.PeakRSS)
		r.FilesWritten, r.BytesWritten = written(before, snapshot(t.tableDir))
		r.WritePerByte = float64(r.BytesWritten) / float64(max(wl.Result.CDCBytes, 1))
		if r.Rows, r.Digest, err = t.digest(); err != nil {
			r.Error = err.Error()
		}
		fmt.Fprintf(os.Stderr, "%-10s load %6.1fs %6.1fs CPU %7.0f MiB (loadavg %s)   merge %6.1fs %6.1fs CPU %7.0f MiB (loadavg %s)   rows %d\n",
			name, r.LoadSeconds, r.LoadCPU, r.LoadRSSMiB, r.LoadLoadAvg, r.MergeSeconds, r.MergeCPU, r.MergeRSSMiB, r.MergeLoadAvg, r.Rows)
		results = append(results, r)
	}
	same := true
	for _, r := range results {
		if r.Error != "" || r.Digest != results[0].Digest {
			same = false
		}
	}
	js, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(abs, "results.json"), js, 0o644); err != nil {
		return err
	}
	md := resultsTable(results)
	if err := os.WriteFile(filepath.Join(abs, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	if !same {
		return fmt.Errorf("the tools did not all produce the same table (see results.json)")
	}
	return nil
}

// resultsTable renders compare's results as a markdown table: per tool the
// merge's and the load's wall time, CPU time (user + system) and peak RSS,
// what the merge wrote, the table's rows, whether its digest is the first
// tool's, and /proc/loadavg at the start of the load and of the merge. A
// tool that failed gets a row with its first error line and the load
// averages it was started at.
func resultsTable(results []toolResult) string {
	var md strings.Builder
	md.WriteString("| tool | merge wall (s) | merge CPU (s) | merge peak RSS (MiB) | files written | bytes written per change byte | load wall (s) | load CPU (s) | load peak RSS (MiB) | rows | same table | loadavg at start (load; merge) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range results {
		loads := strings.TrimSuffix(r.LoadLoadAvg+"; "+r.MergeLoadAvg, "; ")
		if r.Error != "" {
			fmt.Fprintf(&md, "| %s | failed: %s |||||||||| %s |\n", r.Tool, strings.ReplaceAll(strings.SplitN(r.Error, "\n", 2)[0], "|", "/"), loads)
			continue
		}
		fmt.Fprintf(&md, "| %s | %.2f | %.2f | %.0f | %d | %.2f | %.2f | %.2f | %.0f | %d | %v | %s |\n", r.Tool, r.MergeSeconds, r.MergeCPU, r.MergeRSSMiB,
			r.FilesWritten, r.WritePerByte, r.LoadSeconds, r.LoadCPU, r.LoadRSSMiB, r.Rows, r.Digest == results[0].Digest, loads)
	}
	return md.String()
}

// tool runs one tool on a workload folder written by lmbench gen: the
// full load into a new table, the merge of D/cdc into it, and the digest
// of the table (benchmarks/peers/digest.py).
type tool struct {
	name, dir, lakemerge, python, peers string
	tableDir                            string   // where the tool writes its table's files
	state                               []string // what holds the table: tableDir, and a catalog beside it
}

// toolFlags are the flags that say where the tools are, shared by compare
// and scaling.
type toolFlags struct{ lakemerge, python, peers, tools *string }

func addToolFlags(fl *flag.FlagSet, tools string) toolFlags {
	return toolFlags{
		lakemerge: fl.String("lakemerge", "", "lakemerge binary (required)"),
		python:    fl.String("python", "python3", "Python with benchmarks/requirements.txt installed"),
		peers:     fl.String("peers", "benchmarks/peers", "folder of the peer scripts"),
		tools:     fl.String("tools", tools, "tools to run, in order"),
	}
}

// tool returns the named tool on the workload folder dir.
func (f toolFlags) tool(name, dir string) *tool {
	peers, _ := filepath.Abs(*f.peers)
	t := &tool{name: name, dir: dir, lakemerge: *f.lakemerge, python: *f.python, peers: peers}
	if name == "lakemerge" {
		t.tableDir = filepath.Join(dir, "warehouse")
		t.state = []string{t.tableDir, filepath.Join(dir, "catalog.db")}
	} else {
		t.tableDir = filepath.Join(dir, "peers", name)
		t.state = []string{t.tableDir}
	}
	return t
}

func (t *tool) phase(phase string, maxRSS int64) (step, error) {
	if t.name == "lakemerge" {
		if phase == "merge" {
			if err := moveCDC(t.dir); err != nil {
				return step{}, err
			}
		}
		st, _, err := run(t.dir, nil, maxRSS, t.lakemerge, "run", "--config", filepath.Join(t.dir, "job.yaml"))
		return st, err
	}
	st, _, err := run(t.peers, nil, maxRSS, t.python, filepath.Join(t.peers, t.name+"_merge.py"), t.dir, phase)
	return st, err
}

// load writes the full load into a new table.
func (t *tool) load(maxRSS int64) (step, error) { return t.phase("load", maxRSS) }

// merge merges the changes under D/cdc into the loaded table.
func (t *tool) merge(maxRSS int64) (step, error) { return t.phase("merge", maxRSS) }

// digest returns the rows of the tool's table and their digest.
func (t *tool) digest() (rows int64, digest string, err error) {
	_, out, err := run(t.peers, nil, 0, t.python, filepath.Join(t.peers, "digest.py"), t.dir, t.name)
	if err != nil {
		return 0, "", err
	}
	var d struct {
		Rows   int64
		Digest string
	}
	if err := json.Unmarshal(out, &d); err != nil {
		return 0, "", fmt.Errorf("digest of %s: %w", t.name, err)
	}
	return d.Rows, d.Digest, nil
}

// moveCDC moves the workload's CDC files into the raw zone.
func moveCDC(dir string) error {
	src := filepath.Join(dir, "cdc", "public", "orders")
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Link(filepath.Join(src, e.Name()), filepath.Join(dir, "raw", "public", "orders", e.Name())); err != nil {
			return err
		}
	}
	return nil
}
