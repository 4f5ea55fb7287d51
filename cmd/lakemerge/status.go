package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
)

// tableStatus is what `status` reports for one table.
type tableStatus struct {
	Table          string `json:"table"`
	Target         string `json:"target"`
	Exists         bool   `json:"exists"`
	Location       string `json:"location,omitempty"`
	Format         string `json:"format"`      // iceberg or delta
	SnapshotID     int64  `json:"snapshot_id"` // Iceberg snapshot id, or Delta table version
	Rows           int64  `json:"rows"`
	FilesAbsorbed  int    `json:"files_absorbed"`
	LastFile       string `json:"last_file,omitempty"`
	Generation     uint32 `json:"generation"`
	Runs           int64  `json:"runs"`
	PendingFiles   int    `json:"pending_files"`
	PendingIgnored int    `json:"pending_ignored"` // objects matched by the table's ignore globs
	PendingUnknown int    `json:"pending_unknown"` // objects that are not change files and not ignored: run fails on them
	Error          string `json:"error,omitempty"`
}

func (a *app) statusCmd() *cobra.Command {
	var cfgPath string
	var names []string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status --config job.yaml [--table name]... [--json]",
		Short: "Show each table's bookmark, snapshot, row count and pending files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			job, tables, err := loadJob(cmd.Context(), cfgPath, names)
			if err != nil {
				return err
			}
			sts, err := status(cmd.Context(), job, tables)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(sts)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLE\tTARGET\tFORMAT\tSNAPSHOT\tROWS\tABSORBED\tPENDING\tLAST FILE")
			for _, s := range sts {
				snap := "-"
				switch {
				case s.Exists && s.Format == config.TargetDelta:
					snap = fmt.Sprintf("v%d", s.SnapshotID)
				case s.Exists && s.SnapshotID != 0:
					snap = fmt.Sprint(s.SnapshotID)
				}
				if s.Error != "" {
					snap = "error: " + s.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.Table, s.Target, s.Format, snap, s.Rows, s.FilesAbsorbed, s.PendingFiles, s.LastFile)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "only these tables")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func status(ctx context.Context, job *config.Job, tables []config.Table) ([]tableStatus, error) {
	w, err := wire.BuildReadOnly(ctx, job, tables, memory.NewGoAllocator())
	if err != nil {
		return nil, err
	}
	defer w.Close()
	var out []tableStatus
	for _, t := range w.Tables {
		s := tableStatus{Table: t.Config.Name, Target: t.Config.Target.Database + "." + t.Config.Target.Table, Format: t.Config.Target.Format}
		info, err := t.Describe(ctx)
		if err != nil {
			s.Error = err.Error()
			out = append(out, s)
			continue
		}
		s.Exists, s.Location, s.SnapshotID, s.Rows = info.Exists, info.Location, info.Snapshot, info.Rows
		bm := info.Bookmark
		s.FilesAbsorbed, s.LastFile, s.Generation, s.Runs = len(bm.Entries), bm.Last, bm.Generation, bm.Runs
		pend, err := t.Merge.Pending(ctx, bm)
		if err != nil {
			s.Error = err.Error()
			out = append(out, s)
			continue
		}
		s.PendingFiles, s.PendingIgnored, s.PendingUnknown = len(pend.Files), len(pend.Ignored), len(pend.Unknown)
		if err := pend.Check(t.Merge, bm); err != nil {
			s.Error = err.Error()
		}
		out = append(out, s)
	}
	return out, nil
}
