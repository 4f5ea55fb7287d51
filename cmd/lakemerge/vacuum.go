package main

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/table"
)

// vacuumResult is what vacuum reports for one table.
type vacuumResult struct {
	Table        string `json:"table"`
	FilesDeleted int64  `json:"files_deleted"`
	BytesDeleted int64  `json:"bytes_deleted"`
	Error        string `json:"error,omitempty"`
}

// vacuumPlanResult is what vacuum --dry-run reports for one table: the
// files vacuum would delete now. It deletes nothing.
type vacuumPlanResult struct {
	Table         string       `json:"table"`
	DryRun        bool         `json:"dry_run"`
	FilesToDelete int64        `json:"files_to_delete"`
	BytesToDelete int64        `json:"bytes_to_delete"`
	Files         []vacuumFile `json:"files"`
	Error         string       `json:"error,omitempty"`
}

type vacuumFile struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

func (a *app) vacuumCmd() *cobra.Command {
	var cfgPath string
	var names []string
	var retention time.Duration
	var dryRun bool
	c := &cobra.Command{
		Use:   "vacuum --config job.yaml [--table name]... [--retention 168h] [--dry-run]",
		Short: "Delete files tables no longer reference, once older than the retention",
		Long: `vacuum deletes, for each table, files under the table's location that the
table no longer references and that are older than --retention.

Delta targets: data files the current version does not reference, removed
(or written) longer ago than the retention, and lakemerge's state and
tombstone files no log entry left references. Iceberg targets: orphan files,
referenced by no snapshot and no retained metadata file (those of commit
attempts that crashed or lost a conflict, expired metadata files), written
longer ago than the retention; lakemerge's bookmark and tombstone files are
kept while the current or a retained metadata file references them, and the
change journals of the snapshots those metadata files list. Iceberg
snapshots are not expired here: "lakemerge maintain" (and a run's
maintenance policy) expires them.

Keep the retention longer than the longest query or time travel you need
and than any run takes: a run's files are unreferenced until it commits.
Prints one JSON object per table: files_deleted and bytes_deleted, or with
--dry-run the files it would delete (path and bytes) and their totals,
deleting nothing. Exit codes as for run: 0 every table done, 1 a table
failed (its object has "error"), 2 usage or job-file error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if retention < time.Hour {
				return fmt.Errorf("%w: --retention %s is shorter than 1h: a running commit's files could be deleted", errUsage, retention)
			}
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
				var out any
				var err error
				if dryRun {
					r := vacuumPlanResult{Table: t.Config.Name, DryRun: true, Files: []vacuumFile{}}
					r.Files, err = vacuumPlan(cmd.Context(), t.Table, retention)
					for _, f := range r.Files {
						r.FilesToDelete++
						r.BytesToDelete += f.Bytes
					}
					if err != nil {
						r.Error = err.Error()
					}
					out = r
				} else {
					r := vacuumResult{Table: t.Config.Name}
					var st table.VacuumStats
					st, err = t.Table.Vacuum(cmd.Context(), retention)
					r.FilesDeleted, r.BytesDeleted = st.FilesDeleted, st.BytesDeleted
					if err != nil {
						r.Error = err.Error()
					}
					out = r
				}
				if err := rep.add(out, err != nil); err != nil {
					return err
				}
			}
			return rep.err()
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "only these tables")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "list the files vacuum would delete and their bytes; delete nothing")
	c.Flags().DurationVar(&retention, "retention", 7*24*time.Hour, "keep unreferenced files younger than this")
	return c
}

// vacuumPlan lists the files vacuum would delete from a table now.
func vacuumPlan(ctx context.Context, t table.Table, retention time.Duration) ([]vacuumFile, error) {
	files := []vacuumFile{}
	plan, err := t.VacuumPlan(ctx, retention)
	for _, f := range plan {
		files = append(files, vacuumFile{Path: f.Path, Bytes: f.Size})
	}
	return files, err
}
