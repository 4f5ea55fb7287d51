package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/table"
)

// tableStatus is what `status` reports for one table.
type tableStatus struct {
	Table    string `json:"table"`
	Target   string `json:"target"`
	Exists   bool   `json:"exists"`
	Location string `json:"location,omitempty"`
	Format   string `json:"format"` // iceberg or delta
	// SnapshotID is the Iceberg snapshot id, or the Delta table version.
	// Iceberg ids use all 64 bits, and JSON readers that hold numbers as
	// doubles (JavaScript, jq 1.6) round those above 2^53: SnapshotIDStr
	// is the same id as a decimal string.
	SnapshotID     int64  `json:"snapshot_id"`
	SnapshotIDStr  string `json:"snapshot_id_str"`
	Rows           int64  `json:"rows"`
	FilesAbsorbed  int    `json:"files_absorbed"`
	LastFile       string `json:"last_file,omitempty"`
	Generation     uint32 `json:"generation"`
	Runs           int64  `json:"runs"`
	PendingFiles   int    `json:"pending_files"`
	PendingIgnored int    `json:"pending_ignored"` // objects matched by the table's ignore globs
	PendingUnknown int    `json:"pending_unknown"` // objects that are not change files and not ignored: run fails on them
	// RawObjects is how many objects the table's raw prefix holds,
	// absorbed or not: 0 with files absorbed is an emptied prefix (S3
	// objects expired by a lifecycle rule, or a mistyped raw: on S3,
	// which has no folders to miss).
	RawObjects int `json:"raw_objects"`
	// Files describes the files of the current version (what a reader
	// opens); small means under the table's maintenance.small_file_mb.
	Files *table.FileStats `json:"files,omitempty"`
	Error string           `json:"error,omitempty"`
}

func (a *app) statusCmd() *cobra.Command {
	var cfgPath string
	var names []string
	var asJSON bool
	c := &cobra.Command{
		Use:   "status --config job.yaml [--table name]... [--json]",
		Short: "Show each table's bookmark, snapshot, row count and pending files",
		Long: `status shows, for each table of the job file (or those named by --table),
its target and location, the current Iceberg snapshot or Delta version, the
live rows, its files (data files, small ones, delete files, bytes, and the
versions kept: Iceberg snapshots, Delta log entries since the checkpoint),
what its bookmark holds (files absorbed, load generation, runs,
last file) and the raw files not absorbed yet: change files, and objects
that are not change files of the table's format (recorded, never read).

--json prints a JSON array instead, one object per table; snapshot_id_str
repeats snapshot_id as a string for readers that round large numbers.

Exit codes: 0 when every table was read, 1 when a table could not be
(its entry has an error: the raw zone, the table or its catalog entry
cannot be read, or its prefix holds objects a run stops on), after
printing every table; 2 for a usage or job-file error.`,
		Args: cobra.NoArgs,
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
				err = enc.Encode(sts)
			} else {
				err = printStatus(a.stdout, sts)
			}
			if err != nil {
				return err
			}
			return unreadable(sts)
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
		s := tableStatus{Table: t.Config.Name, Target: t.Config.Target.Database + "." + t.Config.Target.Table, Format: t.Config.Target.Format,
			SnapshotIDStr: "0"}
		info, err := t.Table.Describe(ctx)
		if err != nil {
			s.Error = err.Error()
			out = append(out, s)
			continue
		}
		s.Exists, s.Location, s.SnapshotID, s.Rows = info.Exists, info.Location, info.Snapshot, info.Rows
		s.SnapshotIDStr = strconv.FormatInt(info.Snapshot, 10)
		if m, ok := t.Table.(table.Maintainer); ok && info.Exists {
			fs, err := m.Files(ctx, policyOf(t.Config.Maintenance, 0, "").SmallFileBytes)
			if err != nil {
				s.Error = err.Error()
				out = append(out, s)
				continue
			}
			s.Files = &fs
		}
		bm := info.Bookmark
		s.FilesAbsorbed, s.LastFile, s.Generation, s.Runs = len(bm.Entries), bm.Last, bm.Generation, bm.Runs
		pend, err := t.Merge.Pending(ctx, bm)
		if err != nil {
			s.Error = err.Error()
			out = append(out, s)
			continue
		}
		s.PendingFiles, s.PendingIgnored, s.PendingUnknown = len(pend.Files), len(pend.Ignored), len(pend.Unknown)
		s.RawObjects = pend.Listed
		if err := pend.Check(t.Merge, bm); err != nil {
			s.Error = err.Error()
		}
		out = append(out, s)
	}
	return out, nil
}

// unreadable is errTablesFailed when a table's status has an error (exit
// 1: a monitor reads the exit code first), else nil.
func unreadable(sts []tableStatus) error {
	n := 0
	for _, s := range sts {
		if s.Error != "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d tables could not be read", errTablesFailed, n, len(sts))
}

// printStatus writes the status of each table as a block of labelled
// lines, for people.
func printStatus(w io.Writer, sts []tableStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, s := range sts {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s → %s (%s)\n", s.Table, s.Target, s.Format)
		if s.Error != "" {
			fmt.Fprintf(tw, "  error:\t%s\n", s.Error)
		}
		switch {
		case !s.Exists:
			fmt.Fprintf(tw, "  table:\tnot created yet (the first run creates it)\n")
		case s.Format == config.TargetDelta:
			fmt.Fprintf(tw, "  location:\t%s\n  version:\t%d\n", s.Location, s.SnapshotID)
		case s.SnapshotID == 0:
			fmt.Fprintf(tw, "  location:\t%s\n  snapshot:\tnone yet\n", s.Location)
		default:
			fmt.Fprintf(tw, "  location:\t%s\n  snapshot:\t%d\n", s.Location, s.SnapshotID)
		}
		if s.Exists {
			fmt.Fprintf(tw, "  rows:\t%d\n", s.Rows)
		}
		if f := s.Files; f != nil {
			fmt.Fprintf(tw, "  files:\t%s (%d small), %s, %s, %s\n", count(f.DataFiles, "data file"), f.SmallFiles,
				count(f.DeleteFiles, "delete file"), count(f.Bytes, "byte"), count(f.Versions, "version"))
		}
		fmt.Fprintf(tw, "  absorbed:\t%s, load generation %d, %s\n", count(s.FilesAbsorbed, "file"), s.Generation, count(s.Runs, "run"))
		last := s.LastFile
		if last == "" {
			last = "-"
		}
		fmt.Fprintf(tw, "  last file:\t%s\n", last)
		fmt.Fprintf(tw, "  pending:\t%s, %s, %s (a run stops on these)\n", count(s.PendingFiles, "change file"),
			count(s.PendingIgnored, "ignored object"), count(s.PendingUnknown, "unknown object"))
		fmt.Fprintf(tw, "  raw objects:\t%d, absorbed or not\n", s.RawObjects)
	}
	return tw.Flush()
}

// count writes n and noun, in the plural unless n is 1.
func count[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
