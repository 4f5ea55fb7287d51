package main

import (
	"cmp"
	"context"
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
	"github.com/lakemerge/lakemerge/table"
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
	// budget is a table run's memory budget in bytes (memoryBudget), which
	// bounds what a compaction holds; 0: no bound. spillDir is the job's
	// spill_dir, where a Delta optimize under the budget spills.
	budget   int64
	spillDir string
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
		// Both writers read by key (a history's run reads the versions of
		// the keys it touches).
		stored, _ := tbl.(apply.StoredTable)
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
			Stored:         stored,
			Mem:            k.mem,
			Compile: func(ctx context.Context, base []change.Column) (apply.Program, error) {
				engine, err := k.open(ctx)
				if err != nil {
					return nil, err
				}
				prog, err := engine.Compile(ctx, base, sqlDef)
				if err != nil {
					return nil, err
				}
				return prog, nil
			},
		})
		writers = append(writers, wireTable{name: name, format: p.Target.Format, table: tbl})
	}
	return out, writers, nil
}

// open opens the SQL engine on first use: only a prepared table that has
// changes to transform needs it (maintain and an up-to-date table do not).
func (k *keeper) open(ctx context.Context) (*transform.Engine, error) {
	if k.engine == nil {
		e, err := transform.Open(ctx, transform.Options{})
		if err != nil {
			return nil, err
		}
		k.engine = e
	}
	return k.engine, nil
}

// wireTable is a prepared table's writer, for what a command does with it
// beside applying: register it in the catalog, maintain it.
type wireTable struct {
	name   string // database.table
	format string // config.TargetIceberg or config.TargetDelta
	table  table.Table
}

// keptTable is what keeping one prepared table did: how apply went, and,
// as for its base table, the maintenance pass after its commit (by the
// base table's maintenance policy; absent when the policy is off or no
// threshold was crossed) and the table's files after it. Warnings are
// maintenance failures: the commit stands.
type keptTable struct {
	apply.Result
	Maintenance *table.MaintenanceStats `json:"maintenance,omitempty"`
	TableFiles  *table.FileStats        `json:"table_files,omitempty"`
	Warnings    []string                `json:"warnings,omitempty"`
}

// keep keeps every prepared table of t after its run (run: what the run
// committed; keep owns and releases run.Changes, handing it over to the
// last prepared table, which lets it go once it has transformed it), then
// maintains each one that committed, by t's maintenance policy. It
// returns each prepared table's result and the first error; a failed
// prepared table does not stop the others.
func (k *keeper) keep(ctx context.Context, w *wire.Job, t wire.Table, run apply.Run, rebuild bool) ([]keptTable, error) {
	handed := false
	defer func() {
		if !handed && run.Changes != nil {
			run.Changes.Release()
		}
	}()
	tables, writers, err := k.tables(ctx, w, t)
	if err != nil {
		return nil, err
	}
	var out []keptTable
	var first error
	for i, pt := range tables {
		var res apply.Result
		var err error
		start := time.Now()
		switch {
		case rebuild:
			res, err = pt.Rebuild(ctx, t.Table)
		case i == len(tables)-1:
			run.Owned, handed = true, true
			res, err = pt.Keep(ctx, t.Table, run)
		default:
			res, err = pt.Keep(ctx, t.Table, run)
		}
		if err == nil {
			if _, rerr := writers[i].table.Register(ctx, ""); rerr != nil {
				err = fmt.Errorf("prepared table %s: committed, but %w", pt.Name, rerr)
			}
		}
		kt := keptTable{Result: res}
		if err == nil && res.How != apply.HowUpToDate {
			var merr error
			kt.Maintenance, kt.TableFiles, merr = maintainAfterRun(ctx, writers[i].name, writers[i].format, writers[i].table, t.Config.Maintenance, k.budget, k.spillDir)
			if merr != nil {
				kt.Warnings = append(kt.Warnings, merr.Error())
			}
		}
		kt.DurationMS = time.Since(start).Milliseconds()
		out = append(out, kt)
		if err != nil && first == nil {
			first = err
		}
	}
	return out, first
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
commit did. Exit codes: 0 done, 1 a table failed, 2 usage or job-file error
(also a named table without prepared tables: nothing is rebuilt).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(names) == 0 {
				return fmt.Errorf("%w: rebuild needs --table (the base tables whose prepared tables to rebuild)", errUsage)
			}
			job, prep, tables, err := loadJobPrepared(cmd.Context(), cfgPath, names)
			if err != nil {
				return err
			}
			if err := havePrepared(job, tables); err != nil {
				return err
			}
			mem := memory.NewGoAllocator()
			w, err := wire.Build(cmd.Context(), job, tables, mem, nil)
			if err != nil {
				return err
			}
			defer w.Close()
			budget, _ := memoryBudget(job.MemoryMB, cgroupFiles(), "/proc/meminfo")
			k := &keeper{cfgPath: cfgPath, prep: prep, mem: mem, budget: budget, spillDir: job.SpillDir}
			defer k.Close()
			rep := newTableReport(a.stdout)
			for _, t := range w.Tables {
				out := struct {
					Table    string      `json:"table"`
					Prepared []keptTable `json:"prepared"`
					Error    string      `json:"error,omitempty"`
				}{Table: t.Config.Name, Prepared: []keptTable{}}
				res, err := k.keep(cmd.Context(), w, t, apply.Run{}, true)
				out.Prepared = append(out.Prepared, res...)
				if err != nil {
					out.Error = err.Error()
				}
				if err := rep.add(out, out.Error != ""); err != nil {
					return err
				}
			}
			return rep.err()
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "the base tables whose prepared tables to rebuild (repeat or comma-separate)")
	return c
}

// havePrepared is a usage error naming the tables among tables that have no
// prepared tables, and those of the job that have: rebuilding them can
// never succeed, so a scheduler must not try again (exit 2, not 1).
func havePrepared(job *config.Job, tables []config.Table) error {
	var without, with []string
	for _, t := range tables {
		if len(t.Prepared) == 0 {
			without = append(without, t.Name)
		}
	}
	if len(without) == 0 {
		return nil
	}
	for _, t := range job.Tables {
		if len(t.Prepared) > 0 {
			with = append(with, t.Name)
		}
	}
	return fmt.Errorf("%w: rebuild: table %s has no prepared tables (tables with prepared tables: %s)",
		errUsage, strings.Join(without, ", "), cmp.Or(strings.Join(with, ", "), "none"))
}
