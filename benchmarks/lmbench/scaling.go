package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cell is one measured merge of the scaling matrix: one tool, one change
// set, merged into a fresh copy of the table that tool loaded.
type cell struct {
	Rows         int     `json:"rows"`
	Changes      int     `json:"changes"`
	Tool         string  `json:"tool"`
	LoadAvg      string  `json:"loadavg"` // /proc/loadavg at the start of the merge
	WallSeconds  float64 `json:"wall_seconds"`
	CPUSeconds   float64 `json:"cpu_seconds"` // user + system
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	FilesWritten int     `json:"files_written"`
	BytesWritten int64   `json:"bytes_written"`
	TableRows    int64   `json:"table_rows,omitempty"`
	Digest       string  `json:"digest,omitempty"` // empty: not verified (--verify-max-rows)
	Error        string  `json:"error,omitempty"`
}

// loadRun is one tool's full load of one table size, the table every cell
// of that size starts from.
type loadRun struct {
	Rows        int     `json:"rows"`
	Tool        string  `json:"tool"`
	LoadAvg     string  `json:"loadavg"`
	WallSeconds float64 `json:"wall_seconds"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	Error       string  `json:"error,omitempty"`
}

// scalingResults is results.json of a scaling run. It is rewritten after
// every load and cell, so a run cut short keeps what it measured, and a
// re-run skips what it holds.
type scalingResults struct {
	Loads []loadRun `json:"loads"`
	Cells []cell    `json:"cells"`
}

// scaling measures the microbatch-scaling matrix: for each table size it
// generates one load and one change set per count (workload.WriteSets),
// loads each tool's table once, and merges each change set into a fresh
// copy of that table.
func scaling(args []string) error {
	fl := flag.NewFlagSet("scaling", flag.ExitOnError)
	root := fl.String("dir", "", "folder of the run: one workload folder per table size, results.json and results.md (required)")
	rowsList := fl.String("rows", "1000000,10000000", "table sizes, comma-separated")
	changesList := fl.String("changes", "1000,10000,100000,1000000", "change counts, comma-separated")
	tf := addToolFlags(fl, "lakemerge,delta")
	memoryMB := fl.Int("memory-mb", 1024, "memory_mb of lakemerge's job file (0: lakemerge's default)")
	maxRSS := fl.Int("max-rss-mib", 8192, "kill a tool's process tree whose resident memory passes this (0: no cap)")
	verifyMax := fl.Int("verify-max-rows", 0, "digest the tables of sizes up to this many rows only (0: all)")
	report := fl.Bool("report", false, "only write results.md anew from results.json, for these rows, changes and tools")
	fl.Parse(args)
	if *root == "" || *tf.lakemerge == "" {
		return fmt.Errorf("--dir and --lakemerge are required")
	}
	sizes, err := counts(*rowsList)
	if err != nil {
		return fmt.Errorf("--rows: %w", err)
	}
	sets, err := counts(*changesList)
	if err != nil {
		return fmt.Errorf("--changes: %w", err)
	}
	abs, _ := filepath.Abs(*root)
	res := scalingResults{}
	if b, err := os.ReadFile(filepath.Join(abs, "results.json")); err == nil {
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("read results.json: %w", err)
		}
	}
	save := func() error {
		js, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(filepath.Join(abs, "results.json"), js, 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(abs, "results.md"), []byte(matrix(res, sizes, sets, strings.Split(*tf.tools, ","))), 0o644)
	}
	capBytes := int64(*maxRSS) << 20
	for _, rows := range sizes {
		if *report {
			break
		}
		dir := filepath.Join(abs, fmt.Sprintf("rows-%d", rows))
		if err := generate(dir, rows, *changesList, *memoryMB); err != nil {
			return err
		}
		var ts []*tool
		for _, name := range strings.Split(*tf.tools, ",") {
			t := tf.tool(name, dir)
			if !slices.ContainsFunc(res.Loads, func(l loadRun) bool { return l.Rows == rows && l.Tool == name && l.Error == "" }) {
				l, err := loadPristine(t, rows, capBytes)
				res.Loads = slices.DeleteFunc(res.Loads, func(o loadRun) bool { return o.Rows == rows && o.Tool == name })
				res.Loads = append(res.Loads, l)
				if err := save(); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%d rows, %s load: %.1f s, %.1f s CPU, %.0f MiB, loadavg %s %s\n", rows, name, l.WallSeconds, l.CPUSeconds, l.PeakRSSMiB, l.LoadAvg, l.Error)
				if err != nil {
					continue
				}
			}
			ts = append(ts, t)
		}
		for _, n := range sets {
			for _, t := range ts {
				if slices.ContainsFunc(res.Cells, func(c cell) bool { return c.Rows == rows && c.Changes == n && c.Tool == t.name && c.Error == "" }) {
					continue
				}
				c := mergeCell(t, rows, n, capBytes, *verifyMax == 0 || rows <= *verifyMax)
				res.Cells = slices.DeleteFunc(res.Cells, func(o cell) bool { return o.Rows == rows && o.Changes == n && o.Tool == t.name })
				res.Cells = append(res.Cells, c)
				if err := save(); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%d rows, %d changes, %s: %.2f s, %.2f s CPU, %.0f MiB, %d files, loadavg %s %s\n",
					rows, n, t.name, c.WallSeconds, c.CPUSeconds, c.PeakRSSMiB, c.FilesWritten, c.LoadAvg, c.Error)
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	b, _ := os.ReadFile(filepath.Join(abs, "results.md"))
	fmt.Print(string(b))
	for _, c := range res.Cells {
		if c.Error != "" {
			return fmt.Errorf("some cells failed (see results.json)")
		}
	}
	return nil
}

func counts(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// generate writes the workload of one table size into dir with lmbench gen
// --sets, unless dir holds it already (its workload.json says the same
// rows and change sets).
func generate(dir string, rows int, sets string, memoryMB int) error {
	var wl struct {
		Spec struct{ BaseRows int }
		Sets []struct{ Inserts, Updates, Dels int }
	}
	if b, err := os.ReadFile(filepath.Join(dir, "workload.json")); err == nil && json.Unmarshal(b, &wl) == nil && wl.Spec.BaseRows == rows {
		var have []string
		for _, s := range wl.Sets {
			have = append(have, strconv.Itoa(s.Inserts+s.Updates+s.Dels))
		}
		if strings.Join(have, ",") == sets {
			return nil
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	cmd := exec.Command(self, "gen", "--dir", dir, "--rows", strconv.Itoa(rows), "--sets", sets,
		"--inserts", "0.2", "--deletes", "0.1", "--memory-mb", strconv.Itoa(memoryMB), "--maintenance=false")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("generate %d rows: %w", rows, err)
	}
	return nil
}

// pristine is where a tool's loaded table is kept, to be copied back
// before each cell.
func pristine(t *tool) string { return filepath.Join(t.dir, "pristine", t.name) }

// loadPristine runs the tool's full load and moves the table it wrote
// into pristine(t).
func loadPristine(t *tool, rows int, maxRSS int64) (loadRun, error) {
	l := loadRun{Rows: rows, Tool: t.name, LoadAvg: loadAvg()}
	for _, p := range append(t.state, pristine(t)) {
		if err := os.RemoveAll(p); err != nil {
			return l, err
		}
	}
	st, err := t.load(maxRSS)
	l.WallSeconds, l.CPUSeconds, l.PeakRSSMiB = st.Wall.Seconds(), st.CPU.Seconds(), mib(st.PeakRSS)
	if err == nil {
		err = os.MkdirAll(pristine(t), 0o755)
	}
	for _, p := range t.state {
		if err != nil {
			break
		}
		err = os.Rename(p, filepath.Join(pristine(t), filepath.Base(p)))
	}
	if err != nil {
		l.Error = err.Error()
	}
	return l, err
}

// mergeCell copies the tool's loaded table back into place (cp -r: every
// cell starts from the same table at the same paths), points D/cdc at the
// change set, and measures the merge.
func mergeCell(t *tool, rows, changes int, maxRSS int64, verify bool) cell {
	c := cell{Rows: rows, Changes: changes, Tool: t.name}
	fail := func(err error) cell {
		c.Error = err.Error()
		return c
	}
	for _, p := range t.state {
		if err := os.RemoveAll(p); err != nil {
			return fail(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fail(err)
		}
		if out, err := exec.Command("cp", "-r", filepath.Join(pristine(t), filepath.Base(p)), p).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("restore %s: %w: %s", p, err, out))
		}
	}
	if err := useSet(t.dir, changes); err != nil {
		return fail(err)
	}
	before := snapshot(t.tableDir)
	c.LoadAvg = loadAvg()
	st, err := t.merge(maxRSS)
	c.WallSeconds, c.CPUSeconds, c.PeakRSSMiB = st.Wall.Seconds(), st.CPU.Seconds(), mib(st.PeakRSS)
	if err != nil {
		return fail(err)
	}
	c.FilesWritten, c.BytesWritten = written(before, snapshot(t.tableDir))
	if verify {
		if c.TableRows, c.Digest, err = t.digest(); err != nil {
			return fail(err)
		}
	}
	return c
}

// useSet makes D/cdc the change set of n changes and removes from the raw
// zone every file but the full load (the CDC files an earlier cell moved
// there).
func useSet(dir string, n int) error {
	rawDir := filepath.Join(dir, "raw", "public", "orders")
	ents, err := os.ReadDir(rawDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "LOAD") {
			if err := os.Remove(filepath.Join(rawDir, e.Name())); err != nil {
				return err
			}
		}
	}
	cdc := filepath.Join(dir, "cdc")
	if err := os.Remove(cdc); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Symlink(filepath.Join("sets", strconv.Itoa(n)), cdc)
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// matrix renders the results as markdown: per table size and change count,
// each tool's wall / CPU / peak RSS / files written, whether the tools'
// tables agree, and the load average at the start of each merge.
func matrix(res scalingResults, sizes, sets []int, tools []string) string {
	var b strings.Builder
	b.WriteString("| rows | changes |")
	for _, t := range tools {
		fmt.Fprintf(&b, " %s: wall / CPU (s), peak RSS (MiB), files |", t)
	}
	b.WriteString(" same table | loadavg at start |\n|---:|---:|")
	for range tools {
		b.WriteString("---|")
	}
	b.WriteString("---|---|\n")
	for _, rows := range sizes {
		for _, n := range sets {
			fmt.Fprintf(&b, "| %s | %s |", human(rows), human(n))
			var digests, loads []string
			for _, t := range tools {
				i := slices.IndexFunc(res.Cells, func(c cell) bool { return c.Rows == rows && c.Changes == n && c.Tool == t })
				if i < 0 {
					b.WriteString(" – |")
					continue
				}
				c := res.Cells[i]
				loads = append(loads, c.LoadAvg)
				if c.Error != "" {
					fmt.Fprintf(&b, " failed: %s |", strings.ReplaceAll(strings.SplitN(c.Error, "\n", 2)[0], "|", "/"))
					continue
				}
				fmt.Fprintf(&b, " %.2f / %.2f, %.0f, %d |", c.WallSeconds, c.CPUSeconds, c.PeakRSSMiB, c.FilesWritten)
				digests = append(digests, c.Digest)
			}
			same := "–"
			switch {
			case slices.Contains(digests, ""):
				same = "not checked"
			case len(digests) > 1 && len(slices.Compact(slices.Clone(digests))) == 1:
				same = "yes"
			case len(digests) > 1:
				same = "**no**"
			}
			fmt.Fprintf(&b, " %s | %s |\n", same, strings.Join(loads, "; "))
		}
	}
	b.WriteString("\nLoads (each tool's table loaded once per size):\n\n| rows | tool | wall (s) | CPU (s) | peak RSS (MiB) | loadavg at start |\n|---:|---|---:|---:|---:|---|\n")
	for _, l := range res.Loads {
		if l.Error != "" {
			fmt.Fprintf(&b, "| %s | %s | failed: %s |||\n", human(l.Rows), l.Tool, strings.ReplaceAll(strings.SplitN(l.Error, "\n", 2)[0], "|", "/"))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %.0f | %s |\n", human(l.Rows), l.Tool, l.WallSeconds, l.CPUSeconds, l.PeakRSSMiB, l.LoadAvg)
	}
	return b.String()
}

// human writes 1000 as 1k and 10000000 as 10M.
func human(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
