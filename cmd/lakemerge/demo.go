package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/prepared"
	"github.com/lakemerge/lakemerge/prepared/apply"
	"github.com/lakemerge/lakemerge/table"
)

func (a *app) demoCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "demo [--dir folder]",
		Short: "Write sample DMS and Debezium files, merge them into tables (Iceberg, and a Delta prepared table), print the tables",
		Long: `demo writes realistic AWS DMS output (full loads and CDC files with inserts,
updates, deletes, quoted values, a gzip file) for two tables and Debezium
events (MySQL connector, two Kafka partitions) for a third into a folder,
runs the job on them with the embedded SQLite catalog — three times: the full
loads, the first day's changes, the second day's — and prints the
resulting tables with their prepared tables (the VIP customers, every version
of each customer, the weighed shipments). The folder keeps the job file, so
you can add files and run "lakemerge run --config <folder>/job.yaml" again.

It logs warnings and errors only (--log-level info shows every step) and
prints what each table absorbed in each run, then the tables.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flag("log-level"); f != nil && !f.Changed {
				a.logLevel = "warn"
			}
			log, err := a.logger()
			if err != nil {
				return err
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if err := resetDemoDir(abs); err != nil {
				return err
			}
			jobPath, err := writeDemoJob(abs)
			if err != nil {
				return err
			}
			job, prep, tables, err := loadJobPrepared(cmd.Context(), jobPath, nil)
			if err != nil {
				return fmt.Errorf("demo job file: %w", err)
			}
			// A run per day's files, so that the history table has
			// versions to show.
			for i, what := range demoRuns {
				if err := writeDemoFiles(abs, i); err != nil {
					return err
				}
				sum, err := a.run(cmd.Context(), log, job, tables, &keeper{cfgPath: jobPath, prep: prep})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "run %d (%s):\n", i+1, what)
				for _, t := range sum.Tables {
					if t.Error != "" {
						fmt.Fprintf(a.stdout, "  table %s failed: %s\n", t.Table, t.Error)
						continue
					}
					if t.UpToDate {
						fmt.Fprintf(a.stdout, "  %s: no new files\n", t.Table)
						continue
					}
					fmt.Fprintf(a.stdout, "  %s: %s, %s to %s: %s\n", t.Table, count(t.Files, "file"), count(t.Changes, "change"),
						count(t.Keys, "key"), outcome(t.Stats))
				}
				if !sum.OK {
					return errTablesFailed
				}
			}
			if err := printTables(cmd.Context(), a.stdout, job, tables, prep); err != nil {
				return err
			}
			self := invocation()
			fmt.Fprintf(a.stdout, "\nThe demo lives in %s. Add change files under raw/ and run:\n  %s run --config %s\n  %s status --config %s\n",
				abs, self, jobPath, self, jobPath)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "lakemerge-demo", "folder for the demo's raw files, tables and job file")
	return c
}

// outcome says in words what a table's changes did.
func outcome(s table.ApplyStats) string {
	out := fmt.Sprintf("%d inserted, %d updated, %d deleted", s.Inserted, s.Updated, s.Deleted)
	switch {
	case s.Absent == 1:
		out += ", 1 delete of a key not in the table"
	case s.Absent > 1:
		out += fmt.Sprintf(", %d deletes of keys not in the table", s.Absent)
	}
	if s.Stale > 0 {
		out += fmt.Sprintf(", %d stale (older than the stored row)", s.Stale)
	}
	return out
}

// invocation is how the user can run this same program again from the
// current folder: "go run ./cmd/lakemerge" when it was started by go run,
// "lakemerge" when that name on the PATH is this binary, else the binary's
// path (relative when it is below the current folder).
func invocation() string {
	exe, err := os.Executable()
	if err != nil {
		return "lakemerge"
	}
	// go run builds into $GOTMPDIR or the temp folder, under go-build*/.
	if strings.Contains(filepath.ToSlash(exe), "/go-build") {
		if st, err := os.Stat(filepath.Join("cmd", "lakemerge")); err == nil && st.IsDir() {
			return "go run ./cmd/lakemerge"
		}
		return "go run github.com/lakemerge/lakemerge/cmd/lakemerge"
	}
	if onPath, err := exec.LookPath(filepath.Base(exe)); err == nil {
		a, errA := os.Stat(onPath)
		b, errB := os.Stat(exe)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return filepath.Base(exe)
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && filepath.IsLocal(rel) {
			return "." + string(filepath.Separator) + rel
		}
	}
	return exe
}

// resetDemoDir empties a previous demo folder, and refuses to touch a
// non-empty folder that is not one.
func resetDemoDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(ents) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "job.yaml")); err != nil {
		return fmt.Errorf("%w: %s is not empty and holds no demo job.yaml; choose another --dir", errUsage, dir)
	}
	for _, name := range []string{"raw", "warehouse", "catalog.db", "job.yaml"} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("reset demo folder: %w", err)
		}
	}
	return nil
}

// printTables prints every live row of each table, then of its prepared
// tables (prep: what the load's check found), user columns only, sorted
// by key.
func printTables(ctx context.Context, out io.Writer, job *config.Job, tables []config.Table, prep []preparedTable) error {
	w, err := wire.Build(ctx, job, tables, memory.NewGoAllocator(), nil)
	if err != nil {
		return err
	}
	defer w.Close()
	type shown struct {
		name  string
		table interface {
			Read(context.Context) (arrow.Table, error)
		}
		keys []string
		hide []string // columns not printed
	}
	var all []shown
	for _, t := range w.Tables {
		all = append(all, shown{t.Config.Target.Database + "." + t.Config.Target.Table, t.Table, t.Config.PrimaryKey, nil})
		for _, p := range t.Config.Prepared {
			name := p.Target.Database + "." + p.Target.Table
			i := slices.IndexFunc(prep, func(pt preparedTable) bool { return pt.Table == t.Config.Name && pt.Target == name })
			if i < 0 {
				return fmt.Errorf("prepared table %s was not checked", name)
			}
			tbl, _ := w.PreparedWriter(t.Config, p, prep[i].Key)
			s := shown{name + " (prepared, " + p.Mode + ")", tbl, prep[i].Key, nil}
			if p.Mode == string(prepared.History) {
				// Each key's versions in order; the order key is bytes.
				s.keys, s.hide = apply.HistoryKeys(prep[i].Key), []string{"order_key"}
			}
			all = append(all, s)
		}
	}
	for _, t := range all {
		tbl, err := t.table.Read(ctx)
		if err != nil {
			return err
		}
		rows, header, err := renderRows(tbl, t.keys, t.hide)
		tbl.Release()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n%s (%d rows)\n", t.name, len(rows))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r.cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

type renderedRow struct {
	key   []byte
	cells []string
}

// renderRows formats the user columns of tbl as text (strings quoted,
// decimals at their scale, NULL for nulls) but those in hide, sorted by
// the key columns.
func renderRows(tbl arrow.Table, keys, hide []string) ([]renderedRow, []string, error) {
	var header []string
	var cols []int
	for i, f := range tbl.Schema().Fields() {
		if !change.IsSystemColumn(f.Name) && !slices.Contains(hide, f.Name) {
			cols = append(cols, i)
			header = append(header, f.Name)
		}
	}
	var rows []renderedRow
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		enc, err := change.NewKeyEncoder(rec, keys)
		if err != nil {
			return nil, nil, err
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			row := renderedRow{key: enc.Append(nil, r)}
			for _, c := range cols {
				row.cells = append(row.cells, cell(rec.Column(c), r))
			}
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b renderedRow) int { return bytes.Compare(a.key, b.key) })
	return rows, header, nil
}

func cell(col arrow.Array, r int) string {
	if col.IsNull(r) {
		return "NULL"
	}
	switch a := col.(type) {
	case *array.String:
		return strconv.Quote(a.Value(r))
	case *array.Decimal128:
		return a.Value(r).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	}
	return col.ValueStr(r)
}
