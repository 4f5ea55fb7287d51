package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/table/delta"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// vacuumResult is what vacuum reports for one table.
type vacuumResult struct {
	Table        string `json:"table"`
	FilesDeleted int64  `json:"files_deleted"`
	BytesDeleted int64  `json:"bytes_deleted"`
	Error        string `json:"error,omitempty"`
}

func (a *app) vacuumCmd() *cobra.Command {
	var cfgPath string
	var names []string
	var retention time.Duration
	c := &cobra.Command{
		Use:   "vacuum --config job.yaml [--table name]... [--retention 168h]",
		Short: "Delete files tables no longer reference, once older than the retention",
		Long: `vacuum deletes, for each table, files under the table's location that the
table no longer references and that are older than --retention.

Delta targets: data files the current version does not reference, removed
(or written) longer ago than the retention. Iceberg targets: orphan files,
referenced by no snapshot and no retained metadata file (those of commit
attempts that crashed or lost a conflict, expired metadata files), written
longer ago than the retention; lakemerge's bookmark and tombstone files the
table references are kept. Iceberg snapshots are not expired.

Keep the retention longer than the longest query or time travel you need
and than any run takes: a run's files are unreferenced until it commits.
Prints one JSON object per table.`,
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
			enc := json.NewEncoder(a.stdout)
			failed := false
			for _, t := range w.Tables {
				r := vacuumResult{Table: t.Config.Name}
				var err error
				if t.Delta != nil {
					var st delta.VacuumStats
					st, err = t.Delta.Vacuum(cmd.Context(), retention)
					r.FilesDeleted, r.BytesDeleted = st.FilesDeleted, st.BytesDeleted
				} else {
					var st iceberg.VacuumStats
					st, err = t.Iceberg.Vacuum(cmd.Context(), retention)
					r.FilesDeleted, r.BytesDeleted = st.FilesDeleted, st.BytesDeleted
				}
				if err != nil {
					r.Error, failed = err.Error(), true
				}
				if err := enc.Encode(r); err != nil {
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
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "only these tables")
	c.Flags().DurationVar(&retention, "retention", 7*24*time.Hour, "keep unreferenced files younger than this")
	return c
}
