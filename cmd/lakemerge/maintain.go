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

Iceberg: every bucket with compact_delete_files delete files or
compact_small_files data files smaller than small_file_mb is compacted (its
data files that have deletes or are small are rewritten sorted by key, with
the deletes applied, in one rewrite snapshot per bucket that carries the
bookmark forward); tombstones past the tombstone_horizon are dropped;
snapshots older than time_travel beyond the newest keep_snapshots are
expired; files no kept snapshot or retained metadata file references are
deleted once older than orphan_age.

Delta: a table with compact_small_files small files has them rewritten
into files of the target size in key order (an optimize commit), then a
checkpoint, log cleanup, and vacuum of files older than orphan_age.

A compaction that loses to a concurrent run is planned again from the new
state; a run that began before a compaction commits after it by applying
its changes again. Prints one JSON object per table: what the pass did and
the table's files after it. Exit code 1 when a table failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			job, tables, err := loadJob(cmd.Context(), cfgPath, names)
			if err != nil {
				return err
			}
			w, err := wire.Build(cmd.Context(), job, tables, memory.NewGoAllocator(), nil)
			if err != nil {
				return err
			}
			defer w.Close()
			rep := newTableReport(a.stdout)
			for _, t := range w.Tables {
				r := maintainResult{Table: t.Config.Name}
				st, files, err := maintain(cmd.Context(), t)
				r.MaintenanceStats, r.Files = st, files
				if err != nil {
					r.Error = err.Error()
				}
				if err := rep.add(r, err != nil); err != nil {
					return err
				}
			}
			return rep.err()
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "only these tables")
	return c
}

// policyOf is the table.Policy of a table's maintenance section.
func policyOf(m config.Maintenance) table.Policy {
	return table.Policy{
		CompactDeleteFiles: m.CompactDeleteFiles,
		CompactSmallFiles:  m.CompactSmallFiles,
		SmallFileBytes:     int64(m.SmallFileMB) << 20,
		KeepVersions:       m.KeepSnapshots,
		KeepFor:            m.TimeTravel,
		OrphanAge:          m.OrphanAge,
	}
}

// maintainer is the table's maintenance, or an error for a writer without.
func maintainer(t wire.Table) (table.Maintainer, error) {
	m, ok := t.Table.(table.Maintainer)
	if !ok {
		return nil, fmt.Errorf("table %s: %s tables have no maintenance", t.Config.Name, t.Config.Target.Format)
	}
	return m, nil
}

// maintain runs one pass of the table's policy and describes its files
// after it (nil when that failed or the table does not exist).
func maintain(ctx context.Context, t wire.Table) (table.MaintenanceStats, *table.FileStats, error) {
	m, err := maintainer(t)
	if err != nil {
		return table.MaintenanceStats{}, nil, err
	}
	p := policyOf(t.Config.Maintenance)
	st, err := m.Maintain(ctx, p)
	if err != nil {
		return st, nil, fmt.Errorf("maintain %s: %w", t.Config.Name, err)
	}
	fs, err := m.Files(ctx, p.SmallFileBytes)
	if err != nil {
		return st, nil, fmt.Errorf("maintain %s: %w", t.Config.Name, err)
	}
	return st, &fs, nil
}

// maintainAfterRun is the maintenance a run does after a table's commit:
// a pass when the policy is enabled and Due, then the table's files. Its
// error does not fail the run (the commit stands): it becomes a warning.
func maintainAfterRun(ctx context.Context, t wire.Table) (*table.MaintenanceStats, *table.FileStats, error) {
	m, err := maintainer(t)
	if err != nil {
		return nil, nil, err
	}
	p := policyOf(t.Config.Maintenance)
	var st *table.MaintenanceStats
	if t.Config.Maintenance.Enabled {
		due, err := m.Due(ctx, p)
		if err != nil {
			return nil, nil, fmt.Errorf("maintenance after the commit: %w", err)
		}
		if due {
			s, err := m.Maintain(ctx, p)
			st = &s
			if err != nil {
				return st, nil, fmt.Errorf("maintenance after the commit: %w", err)
			}
		}
	}
	fs, err := m.Files(ctx, p.SmallFileBytes)
	if err != nil {
		return st, nil, fmt.Errorf("list files after the commit: %w", err)
	}
	return st, &fs, nil
}
