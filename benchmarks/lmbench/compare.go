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
	PeakRSS int64 // bytes
}

// toolResult is what compare reports for one tool.
type toolResult struct {
	Tool         string  `json:"tool"`
	LoadSeconds  float64 `json:"load_seconds"`
	LoadRSSMiB   float64 `json:"load_peak_rss_mib"`
	MergeSeconds float64 `json:"merge_seconds"`
	MergeRSSMiB  float64 `json:"merge_peak_rss_mib"`
	FilesWritten int     `json:"merge_files_written"`
	BytesWritten int64   `json:"merge_bytes_written"`
	WritePerByte float64 `json:"merge_bytes_written_per_change_byte"`
	Rows         int64   `json:"rows"`
	Digest       string  `json:"digest"`
	Error        string  `json:"error,omitempty"`
}

// run starts a process and measures its wall time and peak RSS.
func run(dir string, env []string, name string, args ...string) (step, []byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return step{}, nil, err
	}
	// A peer may run in more than one process (Spark's JVM under its
	// Python driver): sample the RSS of the whole process tree.
	done := make(chan struct{})
	treePeak := make(chan int64, 1)
	go func() {
		var peak int64
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			if r := treeRSS(cmd.Process.Pid); r > peak {
				peak = r
			}
			select {
			case <-done:
				treePeak <- peak
				return
			case <-tk.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	st := step{Wall: time.Since(start), PeakRSS: <-treePeak}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss*1024 > st.PeakRSS {
		st.PeakRSS = ru.Maxrss * 1024
	}
	if err != nil {
		return st, out.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, lastLines(errb.String(), 15))
	}
	return st, out.Bytes(), nil
}

// treeRSS sums the resident memory of pid and its descendants (Linux
// /proc); 0 where /proc cannot be read.
func treeRSS(pid int) int64 {
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
	lm := fl.String("lakemerge", "", "lakemerge binary (required)")
	py := fl.String("python", "python3", "Python with benchmarks/requirements.txt installed")
	peers := fl.String("peers", "benchmarks/peers", "folder of the peer scripts")
	tools := fl.String("tools", "lakemerge,delta,pyiceberg,spark", "tools to run, in order")
	fl.Parse(args)
	if *dir == "" || *lm == "" {
		return fmt.Errorf("--dir and --lakemerge are required")
	}
	abs, _ := filepath.Abs(*dir)
	peerDir, _ := filepath.Abs(*peers)
	var wl struct{ Result struct{ CDCBytes int64 } }
	raw, err := os.ReadFile(filepath.Join(abs, "workload.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &wl); err != nil {
		return err
	}
	var results []toolResult
	for _, tool := range strings.Split(*tools, ",") {
		r := toolResult{Tool: tool}
		var load, merge step
		var before map[string]int64
		var tableDir string
		switch tool {
		case "lakemerge":
			tableDir = filepath.Join(abs, "warehouse")
			cfg := filepath.Join(abs, "job.yaml")
			if load, _, err = run(abs, nil, *lm, "run", "--config", cfg); err == nil {
				before = snapshot(tableDir)
				if err = moveCDC(abs); err == nil {
					merge, _, err = run(abs, nil, *lm, "run", "--config", cfg)
				}
			}
		default:
			script := filepath.Join(peerDir, tool+"_merge.py")
			tableDir = filepath.Join(abs, "peers", tool)
			if load, _, err = run(peerDir, nil, *py, script, abs, "load"); err == nil {
				before = snapshot(tableDir)
				merge, _, err = run(peerDir, nil, *py, script, abs, "merge")
			}
		}
		if err != nil {
			r.Error = err.Error()
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "%s failed: %v\n", tool, err)
			continue
		}
		r.LoadSeconds, r.LoadRSSMiB = load.Wall.Seconds(), mib(load.PeakRSS)
		r.MergeSeconds, r.MergeRSSMiB = merge.Wall.Seconds(), mib(merge.PeakRSS)
		r.FilesWritten, r.BytesWritten = written(before, snapshot(tableDir))
		r.WritePerByte = float64(r.BytesWritten) / float64(max(wl.Result.CDCBytes, 1))
		_, out, err := run(peerDir, nil, *py, filepath.Join(peerDir, "digest.py"), abs, tool)
		if err != nil {
			r.Error = err.Error()
		} else {
			var d struct {
				Rows   int64
				Digest string
			}
			if err := json.Unmarshal(out, &d); err != nil {
				r.Error = err.Error()
			}
			r.Rows, r.Digest = d.Rows, d.Digest
		}
		fmt.Fprintf(os.Stderr, "%-10s load %6.1fs %7.0f MiB   merge %6.1fs %7.0f MiB   rows %d\n",
			tool, r.LoadSeconds, r.LoadRSSMiB, r.MergeSeconds, r.MergeRSSMiB, r.Rows)
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
	var md strings.Builder
	md.WriteString("| tool | merge wall (s) | merge peak RSS (MiB) | files written | bytes written per change byte | load wall (s) | load peak RSS (MiB) | rows | same table |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range results {
		if r.Error != "" {
			fmt.Fprintf(&md, "| %s | failed: %s |||||||\n", r.Tool, strings.ReplaceAll(strings.SplitN(r.Error, "\n", 2)[0], "|", "/"))
			continue
		}
		fmt.Fprintf(&md, "| %s | %.2f | %.0f | %d | %.2f | %.2f | %.0f | %d | %v |\n", r.Tool, r.MergeSeconds, r.MergeRSSMiB,
			r.FilesWritten, r.WritePerByte, r.LoadSeconds, r.LoadRSSMiB, r.Rows, r.Digest == results[0].Digest)
	}
	if err := os.WriteFile(filepath.Join(abs, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(md.String())
	if !same {
		return fmt.Errorf("the tools did not all produce the same table (see results.json)")
	}
	return nil
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
