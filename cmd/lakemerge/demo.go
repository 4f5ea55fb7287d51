package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
)

func (a *app) demoCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "demo [--dir folder]",
		Short: "Write sample DMS files, merge them into Iceberg tables, print the tables",
		Long: `demo writes realistic AWS DMS output (full loads and CDC files with inserts,
updates, deletes, quoted values, a gzip file) for two tables into a folder,
runs the job on them with the embedded SQLite catalog, and prints the
resulting tables. The folder keeps the job file, so you can add files and
run "lakemerge run --config <folder>/job.yaml" again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			jobPath, err := writeDemo(abs)
			if err != nil {
				return err
			}
			job, tables, err := loadJob(jobPath, nil)
			if err != nil {
				return fmt.Errorf("demo job file: %w", err)
			}
			sum, err := a.run(cmd.Context(), log, job, tables)
			if err != nil {
				return err
			}
			for _, t := range sum.Tables {
				if t.Error != "" {
					fmt.Fprintf(a.stdout, "table %s failed: %s\n", t.Table, t.Error)
				}
			}
			if !sum.OK {
				return errTablesFailed
			}
			if err := printTables(cmd.Context(), a.stdout, job, tables); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "\nThe demo lives in %s. Add DMS files under raw/ and run:\n  lakemerge run --config %s\n  lakemerge status --config %s\n", abs, jobPath, jobPath)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "lakemerge-demo", "folder for the demo's raw files, tables and job file")
	return c
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

// printTables prints every live row of each table, user columns only.
func printTables(ctx context.Context, out io.Writer, job *config.Job, tables []config.Table) error {
	w, err := wire.Build(ctx, job, tables, memory.NewGoAllocator(), nil)
	if err != nil {
		return err
	}
	defer w.Close()
	for _, t := range w.Tables {
		tbl, err := t.Iceberg.Read(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n%s.%s (%d rows)\n", t.Config.Target.Database, t.Config.Target.Table, tbl.NumRows())
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		sc := tbl.Schema()
		var cols []int
		for i, f := range sc.Fields() {
			if !change.IsSystemColumn(f.Name) {
				cols = append(cols, i)
				fmt.Fprintf(tw, "%s\t", f.Name)
			}
		}
		fmt.Fprintln(tw)
		tr := array.NewTableReader(tbl, 1024)
		for tr.Next() {
			rec := tr.RecordBatch()
			for r := 0; r < int(rec.NumRows()); r++ {
				for _, c := range cols {
					v := "NULL"
					if col := rec.Column(c); col.IsValid(r) {
						v = fmt.Sprintf("%q", col.ValueStr(r))
						if _, isStr := col.(*array.String); !isStr {
							v = col.ValueStr(r)
						}
					}
					fmt.Fprintf(tw, "%s\t", v)
				}
				fmt.Fprintln(tw)
			}
		}
		tr.Release()
		tbl.Release()
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
