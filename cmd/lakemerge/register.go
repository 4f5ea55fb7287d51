package main

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/table"
)

// registerResult is what register reports for one table.
type registerResult struct {
	Table  string `json:"table"`
	Target string `json:"target"`
	Format string `json:"format"`
	// Registered is true when this command recorded the table in the
	// catalog; false when the catalog knew it already (Iceberg) — Delta
	// tables are always (re)registered from their log (table.Table's
	// Register).
	Registered    bool   `json:"registered"`
	SnapshotID    int64  `json:"snapshot_id"`
	SnapshotIDStr string `json:"snapshot_id_str"`
	Rows          int64  `json:"rows"`
	Bookmark      string `json:"bookmark"`
	// Prepared is set on the result of a prepared table of Table.
	Prepared bool   `json:"prepared,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (a *app) registerCmd() *cobra.Command {
	var cfgPath, metadata string
	var names []string
	c := &cobra.Command{
		Use:   "register --config job.yaml [--table name]... [--metadata file]",
		Short: "Record tables that exist in the warehouse in the catalog (after a lost catalog)",
		Long: `register records in the job's catalog the tables whose files exist in the
warehouse but that the catalog does not know: after the SQLite catalog file
was lost or emptied, or a Glue table was dropped. A run refuses to create a
table where table metadata already exists (that would hide the old table and
re-read the whole raw zone); register brings the existing one back, with its
bookmark, so the next run goes on from where it was.

Iceberg: the newest metadata file under <warehouse>/<db>.db/<table>/metadata
(the highest version number) is registered; when two files share the highest
version (a commit and a failed attempt), register names them and --metadata
chooses (with one --table). A table the catalog knows is left alone. Delta:
the table is (re)registered from its log, as every run does. The prepared
tables of each table are registered the same way after it (their newest
metadata file; one that no run has made yet is reported as not registered).

Prints one JSON object per table. Exit codes as for run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if metadata != "" && len(names) != 1 {
				return fmt.Errorf("%w: --metadata needs exactly one --table", errUsage)
			}
			ctx := cmd.Context()
			job, prep, tables, err := loadJobPrepared(ctx, cfgPath, names)
			if err != nil {
				return err
			}
			w, err := wire.Build(ctx, job, tables, memory.NewGoAllocator(), nil)
			if err != nil {
				return err
			}
			defer w.Close()
			rep := newTableReport(a.stdout)
			for _, t := range w.Tables {
				r := registerResult{Table: t.Config.Name, Target: t.Config.Target.Database + "." + t.Config.Target.Table,
					Format: t.Config.Target.Format}
				var info table.Info
				r.Registered, err = t.Table.Register(ctx, metadata)
				if err == nil {
					info, err = t.Table.Describe(ctx)
				}
				if err == nil && !info.Exists {
					err = fmt.Errorf("register %s: no table in the warehouse to register", r.Target)
				}
				r.SnapshotID, r.Rows, r.Bookmark = info.Snapshot, info.Rows, info.Bookmark.Summary()
				r.SnapshotIDStr = strconv.FormatInt(info.Snapshot, 10)
				if err != nil {
					r.Error = err.Error()
				}
				if err := rep.add(r, err != nil); err != nil {
					return err
				}
				for _, p := range t.Config.Prepared {
					r := registerResult{Table: t.Config.Name, Target: p.Target.Database + "." + p.Target.Table,
						Format: p.Target.Format, Prepared: true}
					i := slices.IndexFunc(prep, func(pt preparedTable) bool { return pt.Table == t.Config.Name && pt.Target == r.Target })
					if i < 0 {
						return fmt.Errorf("prepared table %s was not checked", r.Target)
					}
					tbl, _ := w.PreparedWriter(t.Config, p, prep[i].Key)
					var info table.Info
					r.Registered, err = tbl.Register(ctx, "")
					if err == nil {
						info, err = tbl.Describe(ctx)
					}
					r.SnapshotID, r.Rows, r.Bookmark = info.Snapshot, info.Rows, info.Bookmark.Summary()
					r.SnapshotIDStr = strconv.FormatInt(info.Snapshot, 10)
					if err != nil {
						r.Error = err.Error()
					}
					if err := rep.add(r, err != nil); err != nil {
						return err
					}
				}
			}
			return rep.err()
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "only these tables")
	c.Flags().StringVar(&metadata, "metadata", "", "Iceberg: the metadata file to register (a name under the table's metadata folder, or its location)")
	return c
}
