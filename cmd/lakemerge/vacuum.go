package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
)

// vacuumResult is what vacuum reports for one table.
type vacuumResult struct {
	Table        string `json:"table"`
	FilesDeleted int64  `json:"files_deleted"`
	BytesDeleted int64  `json:"bytes_deleted"`
	Skipped      string `json:"skipped,omitempty"`
	Error        string `json:"error,omitempty"`
}

func (a *app) vacuumCmd() *cobra.Command {
	var cfgPath string
	var names []string
	var retention time.Duration
	c := &cobra.Command{
		Use:   "vacuum --config job.yaml [--table name]... [--retention 168h]",
		Short: "Delete data files Delta tables no longer reference, once older than the retention",
		Long: `vacuum deletes, for each Delta target (target.format: delta), the data files
that the current table version does not reference and that were removed (or
written) longer ago than --retention. Keep the retention longer than the
longest query or time travel you need and than any run takes. Iceberg
targets are skipped. Prints one JSON object per table.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if retention < time.Hour {
				return fmt.Errorf("%w: --retention %s is shorter than 1h: a running commit's files could be deleted", errUsage, retention)
			}
			job, tables, err := loadJob(cfgPath, names)
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
				if t.Delta == nil {
					r.Skipped = "not a Delta table"
				} else if st, err := t.Delta.Vacuum(cmd.Context(), retention); err != nil {
					r.Error, failed = err.Error(), true
				} else {
					r.FilesDeleted, r.BytesDeleted = st.FilesDeleted, st.BytesDeleted
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
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML)")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "only these tables")
	c.Flags().DurationVar(&retention, "retention", 7*24*time.Hour, "keep unreferenced files younger than this")
	return c
}
