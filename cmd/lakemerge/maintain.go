package main

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/table"
)

// maintainResult is what maintain reports for one table: what the pass
// did, and the table's files after it.
type maintainResult struct {
	Table string `json:"table"`
	// Prepared is set on the result of a prepared table of Table: its
	// database.table.
	Prepared string `json:"prepared,omitempty"`
	table.MaintenanceStats
	Files *table.FileStats `json:"files,omitempty"`
	Error string           `json:"error,omitempty"`
}

func (a *app) maintainCmd() *cobra.Command {
	var cfgPath string
	var names []string
	c := &cobra.Command{
		Use:   "maintain --config job.yaml [--table name]...",
		Short: "Compact, expire old versions and delete unreferenced files, by each table's maintenance policy",
		Long: `maintain runs one maintenance pass over each table of the job file (or those
named by --table), by the table's maintenance: policy (its enabled: field
only decides whether run does the same after a commit):

Iceberg: when a bucket has compact_delete_files delete files (with
rewrite_deleted_pct above 0: beyond one a data file) or compact_small_files
data files smaller than small_file_mb, it and every bucket halfway to one
of them are compacted: its small data files but the largest and the files
with at least rewrite_deleted_pct percent of their rows deleted are
rewritten sorted by key, with the deletes applied, and the delete files of
each file kept are merged into one (rewrite_deleted_pct 0: every file with
deletes or small is rewritten), all in one rewrite snapshot that carries
the bookmark forward, followed by a snapshot without the manifests of the
removed files. rewrite_deleted_pct never makes a bucket due by itself.
Tombstones past the tombstone_horizon are dropped;
snapshots older than time_travel beyond the newest keep_snapshots are
expired; files no kept snapshot or retained metadata file references are
deleted once older than orphan_age.

Delta: a table with compact_small_files small files has them rewritten
into files of the target size in key order (an optimize commit; under a
memory budget the files are merged a batch of each at a time, into files
of at most a quarter of the budget; the files whose Parquet readers would
not fit a quarter of the budget together are first copied to spill_dir,
and each file written goes to a local file there before it is stored),
then a checkpoint, log cleanup, and vacuum of files older than orphan_age.

The prepared tables of each table are maintained after it, by its policy.

A compaction that loses to a concurrent run is planned again from the new
state; a run that began before a compaction commits after it by applying
its changes again. Prints one JSON object per table (a prepared table's has
"prepared": its database.table): what the pass did and the table's files
after it. Exit code 1 when a table failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			job, prep, tables, err := loadJobPrepared(ctx, cfgPath, names)
			if err != nil {
				return err
			}
			mem := memory.NewGoAllocator()
			w, err := wire.Build(ctx, job, tables, mem, nil)
			if err != nil {
				return err
			}
			defer w.Close()
			// A pass holds what a run's budget allows (the compaction's
			// rows; Go's soft memory limit), as after a run.
			budget, _ := memoryBudget(job.MemoryMB, cgroupFiles(), "/proc/meminfo")
			budgetLimit(budget)
			k := &keeper{cfgPath: cfgPath, prep: prep, mem: mem, budget: budget, spillDir: job.SpillDir}
			defer k.Close()
			rep := newTableReport(a.stdout)
			report := func(r maintainResult, tbl table.Table, format string, p config.Maintenance) error {
				st, files, err := maintain(ctx, tbl, format, p, budget, job.SpillDir)
				r.MaintenanceStats, r.Files = st, files
				if err != nil {
					r.Error = err.Error()
				}
				return rep.add(r, err != nil)
			}
			for _, t := range w.Tables {
				name := t.Config.Name
				if err := report(maintainResult{Table: name}, t.Table, t.Config.Target.Format, t.Config.Maintenance); err != nil {
					return err
				}
				_, writers, err := k.tables(ctx, w, t)
				if err != nil {
					if err := rep.add(maintainResult{Table: name, Error: err.Error()}, true); err != nil {
						return err
					}
					continue
				}
				for _, pw := range writers {
					if err := report(maintainResult{Table: name, Prepared: pw.name}, pw.table, pw.format, t.Config.Maintenance); err != nil {
						return err
					}
				}
			}
			return rep.err()
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "only these tables")
	return c
}

// policyOf is the table.Policy of a table's maintenance section, with a
// compaction bounded by the memory budget of a run (bytes; 0: none) and
// spilling to spillDir (the job's spill_dir).
func policyOf(m config.Maintenance, budget int64, spillDir string) table.Policy {
	return table.Policy{
		CompactDeleteFiles: m.CompactDeleteFiles,
		CompactSmallFiles:  m.CompactSmallFiles,
		SmallFileBytes:     int64(m.SmallFileMB) << 20,
		RewriteDeletedPct:  m.RewriteDeletedPct,
		KeepVersions:       m.KeepSnapshots,
		KeepFor:            m.TimeTravel,
		OrphanAge:          m.OrphanAge,
		MemoryBudget:       budget,
		SpillDir:           spillDir,
	}
}

// maintainer is the table's maintenance, or an error for a writer without.
func maintainer(t table.Table, format string) (table.Maintainer, error) {
	m, ok := t.(table.Maintainer)
	if !ok {
		return nil, fmt.Errorf("%s tables have no maintenance", format)
	}
	return m, nil
}

// maintain runs one pass of policy c on table t under a memory budget
// (bytes, as a run's, spilling to spillDir) and describes its files after
// it (nil when that failed or the table does not exist).
func maintain(ctx context.Context, t table.Table, format string, c config.Maintenance, budget int64, spillDir string) (table.MaintenanceStats, *table.FileStats, error) {
	m, err := maintainer(t, format)
	if err != nil {
		return table.MaintenanceStats{}, nil, err
	}
	p := policyOf(c, budget, spillDir)
	st, err := m.Maintain(ctx, p)
	if err != nil {
		return st, nil, fmt.Errorf("maintain: %w", err)
	}
	fs, err := m.Files(ctx, p.SmallFileBytes)
	if err != nil {
		return st, nil, fmt.Errorf("maintain: %w", err)
	}
	return st, &fs, nil
}

// maintainAfterRun is the maintenance a run does after table t's commit
// (name: its database.table or job name, for messages): a pass of policy
// c under the run's memory budget (bytes; spilling to spillDir) when it is
// enabled and Due, then the table's files. Its error does not fail the run (the commit stands):
// it becomes a warning.
func maintainAfterRun(ctx context.Context, name, format string, t table.Table, c config.Maintenance, budget int64, spillDir string) (*table.MaintenanceStats, *table.FileStats, error) {
	m, err := maintainer(t, format)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	p := policyOf(c, budget, spillDir)
	var st *table.MaintenanceStats
	if c.Enabled {
		due, err := m.Due(ctx, p)
		if err != nil {
			return nil, nil, fmt.Errorf("maintenance of %s after the commit: %w", name, err)
		}
		if due {
			s, err := m.Maintain(ctx, p)
			st = &s
			if err != nil {
				return st, nil, fmt.Errorf("maintenance of %s after the commit: %w", name, err)
			}
		}
	}
	fs, err := m.Files(ctx, p.SmallFileBytes)
	if err != nil {
		return st, nil, fmt.Errorf("list the files of %s after the commit: %w", name, err)
	}
	return st, &fs, nil
}
