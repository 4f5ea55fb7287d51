package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/prepared"
	"github.com/lakemerge/lakemerge/prepared/apply"
	"github.com/lakemerge/lakemerge/prepared/transform"
)

// A run keeps the prepared tables of each base table after the base
// table's commit (prepared/apply): the run's change set transformed and
// applied, or a catch-up from the whole base table. `lakemerge rebuild`
// re-derives them from their base tables.

// keeper keeps the prepared tables of one command: it opens the SQL
// engine on first use. Close it when done.
type keeper struct {
	cfgPath string
	prep    []preparedTable // what the load's check found
	mem     memory.Allocator
	engine  *transform.Engine
}

func (k *keeper) Close() error {
	if k.engine != nil {
		return k.engine.Close()
	}
	return nil
}

// tables wires the prepared tables of base table t for prepared/apply.
func (k *keeper) tables(ctx context.Context, w *wire.Job, t wire.Table) ([]*apply.Table, []wireTable, error) {
	var out []*apply.Table
	var writers []wireTable
	for _, p := range t.Config.Prepared {
		name := p.Target.Database + "." + p.Target.Table
		i := slices.IndexFunc(k.prep, func(pt preparedTable) bool { return pt.Table == t.Config.Name && pt.Target == name })
		if i < 0 {
			return nil, nil, fmt.Errorf("prepared table %s was not checked", name)
		}
		if k.engine == nil {
			e, err := transform.Open(ctx, transform.Options{})
			if err != nil {
				return nil, nil, err
			}
			k.engine = e
		}
		def := definition(p)
		key := k.prep[i].Key
		writerKey := key
		switch def.Mode {
		case prepared.Changelog:
			// A changelog row is identified by its order key.
			key = apply.ChangelogKeys()
			writerKey = key
		case prepared.History:
			// A history row is a version of a key: the key and its
			// order key.
			writerKey = apply.HistoryKeys(key)
		}
		tbl, target := w.PreparedWriter(t.Config, p, writerKey)
		engine := k.engine
		sqlDef := transform.Definition{Select: def.Select, Where: def.Where}
		out = append(out, &apply.Table{
			Name:           name,
			BaseTable:      t.Config.Name,
			Def:            def,
			BaseKeys:       t.Config.PrimaryKey,
			Keys:           key,
			OnChange:       p.OnChange,
			RebuildCommand: fmt.Sprintf("lakemerge rebuild --config %s --table %s", k.cfgPath, t.Config.Name),
			Target:         target,
			Stored:         tbl,
			Mem:            k.mem,
			Compile: func(ctx context.Context, base []change.Column) (apply.Program, error) {
				prog, err := engine.Compile(ctx, base, sqlDef)
				if err != nil {
					return nil, err
				}
				return prog, nil
			},
		})
		writers = append(writers, wireTable{name: name, register: tbl.Register})
	}
	return out, writers, nil
}

// wireTable is what a command does with a prepared table's writer beside
// applying: register it in the catalog.
type wireTable struct {
	name     string
	register func(ctx context.Context, metadata string) (bool, error)
}

// keep keeps every prepared table of t after its run (run: what the run
// committed). It returns each prepared table's result and the first
// error; a failed prepared table does not stop the others.
func (k *keeper) keep(ctx context.Context, w *wire.Job, t wire.Table, run apply.Run, rebuild bool) ([]apply.Result, error) {
	tables, writers, err := k.tables(ctx, w, t)
	if err != nil {
		return nil, err
	}
	var out []apply.Result
	var first error
	for i, pt := range tables {
		var res apply.Result
		var err error
		start := time.Now()
		if rebuild {
			res, err = pt.Rebuild(ctx, t.Table)
		} else {
			res, err = pt.Keep(ctx, t.Table, run)
		}
		if err == nil {
			if _, rerr := writers[i].register(ctx, ""); rerr != nil {
				err = fmt.Errorf("prepared table %s: committed, but %w", pt.Name, rerr)
			}
		}
		res.DurationMS = time.Since(start).Milliseconds()
		out = append(out, res)
		if err != nil && first == nil {
			first = err
		}
	}
	return out, first
}

// refusePrepared stops a run of prepared tables that ask for what this
// version does not keep yet, rather than leave it out in silence.
func refusePrepared(job *config.Job, tables []config.Table, file string) error {
	var errs config.Errors
	for _, t := range tables {
		ti := slices.IndexFunc(job.Tables, func(u config.Table) bool { return u.Name == t.Name })
		for pi, p := range t.Prepared {
			path := fmt.Sprintf("tables[%d].prepared[%d]", ti, pi)
			var missing []string
			if len(p.PartitionBy) > 0 {
				missing = append(missing, "partition_by (prepared tables are written unpartitioned but for bucket(N, key))")
			}
			if len(p.SortBy) > 0 {
				missing = append(missing, "sort_by (files are sorted by key)")
			}
			if len(missing) > 0 {
				errs = append(errs, config.FieldError{File: file, Line: p.Line, Path: path,
					Msg: "this version of lakemerge checks but does not keep yet: " + strings.Join(missing, "; ") + ": remove it, or run the other tables with --table"})
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errUsage, errs)
	}
	return nil
}

func (a *app) rebuildCmd() *cobra.Command {
	var cfgPath string
	var names []string
	c := &cobra.Command{
		Use:   "rebuild --config job.yaml --table name...",
		Short: "Rebuild the prepared tables of base tables from the base tables",
		Long: `rebuild re-derives every prepared table of the named base tables from the base
table's current rows, with the definition the job file holds now, in one
commit per prepared table: rows are rewritten, rows whose key is no longer in
the base table or no longer passes where are deleted. A run stops a prepared
table whose definition changed when its on_change is stop, naming this
command. The base tables are not run.

Prints one JSON object per base table: its prepared tables and what each
commit did. Exit codes: 0 done, 1 a table failed, 2 usage or job-file error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(names) == 0 {
				return fmt.Errorf("%w: rebuild needs --table (the base tables whose prepared tables to rebuild)", errUsage)
			}
			job, prep, tables, err := loadJobPrepared(cmd.Context(), cfgPath, names)
			if err != nil {
				return err
			}
			if err := refusePrepared(job, tables, cfgPath); err != nil {
				return err
			}
			mem := memory.NewGoAllocator()
			w, err := wire.Build(cmd.Context(), job, tables, mem, nil)
			if err != nil {
				return err
			}
			defer w.Close()
			k := &keeper{cfgPath: cfgPath, prep: prep, mem: mem}
			defer k.Close()
			enc := json.NewEncoder(a.stdout)
			failed := false
			for _, t := range w.Tables {
				out := struct {
					Table    string         `json:"table"`
					Prepared []apply.Result `json:"prepared"`
					Error    string         `json:"error,omitempty"`
				}{Table: t.Config.Name, Prepared: []apply.Result{}}
				if len(t.Config.Prepared) == 0 {
					out.Error = "the table has no prepared tables"
				} else {
					res, err := k.keep(cmd.Context(), w, t, apply.Run{}, true)
					out.Prepared = append(out.Prepared, res...)
					if err != nil {
						out.Error = err.Error()
					}
				}
				failed = failed || out.Error != ""
				if err := enc.Encode(out); err != nil {
					return err
				}
			}
			if failed {
				return errTablesFailed
			}
			return nil
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "the base tables whose prepared tables to rebuild (repeat or comma-separate)")
	return c
}
