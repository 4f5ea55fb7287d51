package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/objstore"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
)

// plan is what `lakemerge plan` prints: what each table has pending, and
// the work items a scheduler fans out over (one `lakemerge run --table …`
// per item). The README documents every field.
type plan struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Config is the --config the plan was made from; an item runs as
	// lakemerge run --config <config> --table <item.table_arg>.
	Config     string `json:"config"`
	GroupBytes int64  `json:"group_bytes"`
	// MemoryBudgetMB is each table run's memory budget and
	// MemoryBudgetFrom where it comes from, as run would take them; a
	// table whose changes do not fit spills them to SpillDir.
	MemoryBudgetMB   int64  `json:"memory_budget_mb"`
	MemoryBudgetFrom string `json:"memory_budget_from"`
	SpillDir         string `json:"spill_dir"`
	// Counts over the tables of the job file (or --table).
	TablesTotal    int   `json:"tables_total"`
	TablesPending  int   `json:"tables_pending"`    // with pending change files
	TablesUpToDate int   `json:"tables_up_to_date"` // nothing pending: left out of items
	TablesFailed   int   `json:"tables_failed"`     // could not be planned: an item each, so the run reports why
	PendingFiles   int   `json:"pending_files"`
	PendingBytes   int64 `json:"pending_bytes"`
	// OldestPendingAgeS is the age of the oldest pending file of any
	// table, in seconds (0 when nothing is pending).
	OldestPendingAgeS int64       `json:"oldest_pending_age_s"`
	Items             []planItem  `json:"items"`
	Tables            []planTable `json:"tables"`
}

// planItem is one unit of work: the tables one `lakemerge run` absorbs.
type planItem struct {
	Tables []string `json:"tables"`
	// TableArg is Tables joined by commas, the value of run's --table.
	TableArg     string `json:"table_arg"`
	PendingFiles int    `json:"pending_files"`
	PendingBytes int64  `json:"pending_bytes"`
}

// planTable is what one table has not absorbed yet.
type planTable struct {
	Table          string `json:"table"`
	Target         string `json:"target"`
	PendingFiles   int    `json:"pending_files"`
	PendingBytes   int64  `json:"pending_bytes"`
	PendingIgnored int    `json:"pending_ignored"` // objects matched by ignore: globs, absorbed unread
	// OldestPending is the modification time of the oldest pending file,
	// and OldestPendingAgeS its age in seconds when the plan was made.
	OldestPending     *time.Time `json:"oldest_pending,omitempty"`
	OldestPendingAgeS int64      `json:"oldest_pending_age_s"`
	// Error says why the table cannot be planned (its run fails the same
	// way); the table is then an item of its own.
	Error string `json:"error,omitempty"`
}

func (a *app) planCmd() *cobra.Command {
	var cfgPath, out, groupBytes string
	var names []string
	var asJSON bool
	c := &cobra.Command{
		Use:   "plan --config job.yaml [--table name]... [--group-bytes size] [--out location] [--json]",
		Short: "List each table's pending files, bytes and age, and the run items to fan out over",
		Long: `plan lists, without writing anything to the tables or the catalog, what each
table of the job file (or those named by --table) has not absorbed yet: its
pending change files, their bytes and the age of the oldest. It also groups
the tables into items, the work of one "lakemerge run --table <item>" each:
a Step Functions Map state fans out over them. Tables with nothing pending
are left out of the items (and counted). Without --group-bytes every table
is an item of its own; with it, tables with less pending than the size share
items of up to that size (e.g. 512MiB), so that small tables do not each pay
for a task, and bigger ones get a task each.

The plan is JSON on stdout (a table on a terminal, unless --json), and with
--out also written to a file or an s3://bucket/key object (the state machine
reads it from there). Exit codes: 0 the plan was made (tables that could not
be planned are listed with their error, and are items of their own so that
their run reports it), 1 the raw zone or catalog could not be read, 2 usage
or job-file error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			gb, err := humanize.ParseBytes(groupBytes)
			if err != nil {
				return fmt.Errorf("%w: --group-bytes %q: want a size such as 0, 268435456 or 512MiB", errUsage, groupBytes)
			}
			job, tables, err := loadJob(cmd.Context(), cfgPath, names)
			if err != nil {
				return err
			}
			p, err := makePlan(cmd.Context(), job, tables, int64(gb), time.Now())
			if err != nil {
				return err
			}
			p.Config = cfgPath
			budget, from := memoryBudget(job.MemoryMB, cgroupFiles(), "/proc/meminfo")
			p.MemoryBudgetMB, p.MemoryBudgetFrom, p.SpillDir = budget>>20, from, spillDirOf(job)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			if err := enc.Encode(p); err != nil {
				return err
			}
			if out != "" {
				if err := writeLocation(cmd.Context(), job, out, buf.Bytes()); err != nil {
					return fmt.Errorf("write the plan: %w", err) // err names out
				}
			}
			if asJSON || !isTTY(a.stdout) {
				_, err := a.stdout.Write(buf.Bytes())
				return err
			}
			return printPlan(a.stdout, p)
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "plan only these tables (repeat or comma-separate)")
	c.Flags().StringVar(&groupBytes, "group-bytes", "0", "group tables with less pending than this size into shared items (0: an item per table)")
	c.Flags().StringVar(&out, "out", "", "also write the JSON plan to this file or s3://bucket/key")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON also on a terminal")
	return c
}

// makePlan looks at what each table has pending, as a run would list it,
// and groups the tables into items. It creates and writes nothing.
func makePlan(ctx context.Context, job *config.Job, tables []config.Table, groupBytes int64, now time.Time) (plan, error) {
	w, err := wire.BuildReadOnly(ctx, job, tables, memory.NewGoAllocator())
	if err != nil {
		return plan{}, err
	}
	defer w.Close()
	p := plan{GeneratedAt: now.UTC(), GroupBytes: groupBytes, Items: []planItem{}, Tables: []planTable{}}
	for _, t := range w.Tables {
		pt := planTable{Table: t.Config.Name, Target: t.Config.Target.Database + "." + t.Config.Target.Table}
		if err := pendingOf(ctx, w.Raw, t, &pt, now); err != nil {
			pt.Error = err.Error()
		}
		p.Tables = append(p.Tables, pt)
	}
	p.TablesTotal = len(p.Tables)
	for _, pt := range p.Tables {
		switch {
		case pt.Error != "":
			p.TablesFailed++
		case pt.PendingFiles > 0:
			p.TablesPending++
		default:
			p.TablesUpToDate++
		}
		p.PendingFiles += pt.PendingFiles
		p.PendingBytes += pt.PendingBytes
		p.OldestPendingAgeS = max(p.OldestPendingAgeS, pt.OldestPendingAgeS)
	}
	p.Items = groupItems(p.Tables, groupBytes)
	return p, nil
}

// pendingOf fills in what table t has pending: the files a run would
// absorb (merge.Table.Pending from the table's committed bookmark), their
// bytes and the modification time of the oldest.
func pendingOf(ctx context.Context, raw objstore.Store, t wire.Table, pt *planTable, now time.Time) error {
	info, err := t.Table.Describe(ctx)
	if err != nil {
		return err
	}
	// List through a recorder that keeps the objects' modification times,
	// which merge's listing does not need.
	rec := &timedRaw{Store: raw, times: map[string]time.Time{}}
	mt := *t.Merge
	mt.Raw = wire.RawStore{Store: rec}
	pend, err := mt.Pending(ctx, info.Bookmark)
	if err != nil {
		return err
	}
	if err := pend.Check(&mt, info.Bookmark); err != nil {
		return err
	}
	pt.PendingFiles, pt.PendingIgnored = len(pend.Files), len(pend.Ignored)
	var oldest time.Time
	for _, f := range slices.Concat(pend.Files, pend.Companions) {
		pt.PendingBytes += f.Size
		if m := rec.modified(f.Key); !m.IsZero() && (oldest.IsZero() || m.Before(oldest)) {
			oldest = m
		}
	}
	if len(pend.Files) > 0 && !oldest.IsZero() {
		o := oldest.UTC()
		pt.OldestPending = &o
		pt.OldestPendingAgeS = max(0, int64(now.Sub(oldest)/time.Second))
	}
	return nil
}

// timedRaw is the raw zone's store, remembering each listed object's
// modification time.
type timedRaw struct {
	objstore.Store
	mu    sync.Mutex
	times map[string]time.Time
}

func (r *timedRaw) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	objs, err := r.Store.List(ctx, prefix)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range objs {
		r.times[o.Key] = o.LastModified
	}
	return objs, err
}

func (r *timedRaw) modified(key string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.times[key]
}

// groupItems makes the run items: a table that could not be planned is an
// item of its own; with groupBytes 0 so is every table with pending files;
// otherwise tables with at least groupBytes pending get an item each and
// the smaller ones are packed, biggest first, into the first item they fit
// in (first-fit decreasing), so that items are about groupBytes and no task
// runs for a few bytes. Items are ordered biggest first, so that under a
// concurrency limit the longest runs start first. Tables with nothing
// pending are left out.
func groupItems(tables []planTable, groupBytes int64) []planItem {
	var todo []planTable
	var items []planItem
	for _, t := range tables {
		switch {
		case t.Error != "":
			items = append(items, planItem{Tables: []string{t.Table}})
		case t.PendingFiles > 0:
			todo = append(todo, t)
		}
	}
	slices.SortStableFunc(todo, func(a, b planTable) int {
		if a.PendingBytes != b.PendingBytes {
			return compareInt64(b.PendingBytes, a.PendingBytes)
		}
		return strings.Compare(a.Table, b.Table)
	})
	var open []int // indexes in items of the items still taking tables
	for _, t := range todo {
		if groupBytes > 0 && t.PendingBytes < groupBytes {
			placed := false
			for _, i := range open {
				if items[i].PendingBytes+t.PendingBytes <= groupBytes {
					items[i].add(t)
					placed = true
					break
				}
			}
			if placed {
				continue
			}
			open = append(open, len(items))
		}
		var it planItem
		it.add(t)
		items = append(items, it)
	}
	slices.SortStableFunc(items, func(a, b planItem) int { return compareInt64(b.PendingBytes, a.PendingBytes) })
	for i := range items {
		items[i].TableArg = strings.Join(items[i].Tables, ",")
	}
	if items == nil {
		items = []planItem{}
	}
	return items
}

func (it *planItem) add(t planTable) {
	it.Tables = append(it.Tables, t.Table)
	it.PendingFiles += t.PendingFiles
	it.PendingBytes += t.PendingBytes
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// printPlan writes the plan for people.
func printPlan(w io.Writer, p plan) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tTARGET\tPENDING FILES\tPENDING BYTES\tOLDEST PENDING")
	for _, t := range p.Tables {
		age := "-"
		if t.OldestPending != nil {
			age = (time.Duration(t.OldestPendingAgeS) * time.Second).String() + " ago"
		}
		if t.Error != "" {
			age = "error: " + t.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", t.Table, t.Target, t.PendingFiles, humanize.IBytes(uint64(t.PendingBytes)), age)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d tables: %d with pending files, %d up to date, %d could not be planned.\n",
		p.TablesTotal, p.TablesPending, p.TablesUpToDate, p.TablesFailed)
	fmt.Fprintf(w, "memory budget per table run: %d MiB (%s); changes that do not fit spill to %s\n",
		p.MemoryBudgetMB, p.MemoryBudgetFrom, p.SpillDir)
	for i, it := range p.Items {
		fmt.Fprintf(w, "item %d: lakemerge run --config %s --table %s   (%d files, %s)\n",
			i+1, p.Config, it.TableArg, it.PendingFiles, humanize.IBytes(uint64(it.PendingBytes)))
	}
	return nil
}

// isTTY reports whether w is a terminal.
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writeLocation writes data to a local file or to s3://bucket/key, using
// the job file's s3: settings (endpoint, path style, KMS key).
// Its errors name loc (the os package's and the S3 store's do).
func writeLocation(ctx context.Context, job *config.Job, loc string, data []byte) error {
	if !strings.HasPrefix(loc, "s3://") {
		if err := os.MkdirAll(filepath.Dir(loc), 0o755); err != nil {
			return err
		}
		return os.WriteFile(loc, data, 0o644)
	}
	bucket, key, err := objs3.ParseURL(loc)
	if err != nil || key == "" || strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w: --out %q: want s3://bucket/key", errUsage, loc)
	}
	cfg, err := objs3.LoadConfig(ctx, objs3.Options{Region: job.S3.Region})
	if err != nil {
		return err
	}
	st := objs3.New(cfg, bucket, "", objs3.Options{Endpoint: job.S3.Endpoint, PathStyle: job.S3.PathStyle, KMSKeyID: job.S3.KMSKeyID})
	return st.Put(ctx, key, bytes.NewReader(data))
}
