package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/lmittmann/tint"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/prepared/apply"
	"github.com/lakemerge/lakemerge/table"
)

// app carries what every command shares: its output streams and flags.
type app struct {
	stdout, stderr io.Writer
	// errOut is stderr for log lines and progress bars.
	errOut *errOut
	// terminal says whether stderr is a terminal: it chooses the log
	// format under --log-format auto. progress (set by logger) says
	// whether run draws progress bars: on a terminal with text logs only,
	// so that JSON log lines are never torn by a bar (docker run -t).
	terminal   bool
	progress   bool
	logLevel   string
	logFormat  string
	cpuProfile string
	memProfile string
	// started is set once a command's own code runs: an error before that
	// is cobra's (unknown command, bad flag, wrong arguments) or one of
	// the log flags' values, a usage error of the command line.
	started bool
	// profiles are the command's --cpuprofile and --memprofile; nil:
	// none, or not started.
	profiles *profiles
	// hint ends the last line of a failed command (lastLine) when the
	// command line was wrong: where its usage is.
	hint string
	// emf writes a CloudWatch EMF line per table (run --metrics emf);
	// nil: none.
	emf *emf
	// jsonLog is the command's logger when it writes JSON lines (set by
	// logger), for the last line (lastLine); nil: text, or no logger yet.
	jsonLog *slog.Logger
	// wireOpts are handed to wire.Build by run: in-process tests inject
	// faults into the stores through them (wire.WithStoreWrapper). The
	// binary sets none.
	wireOpts []wire.Option
}

// execute runs the command line args (without the program name), writes
// its profiles (a profile that cannot be written fails the command),
// writes the command's error as the last line on stderr (lastLine) and
// returns the exit code (exitCode). Errors found before a command started
// are usage errors of the command line (errCommandLine): their last line
// ends with where the usage of the command is, and is a log line of the
// format the command line asks for, whatever flag was wrong. ctx is
// canceled by SIGINT or SIGTERM.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root, a := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	switch perr := a.profiles.stop(); {
	case perr != nil && err == nil:
		err = perr // errProfile: the command's work is done
	case perr != nil:
		err = fmt.Errorf("%w; %v", err, perr) // the command's error decides
	}
	if err != nil && !a.started {
		if !errors.Is(err, errUsage) {
			err = fmt.Errorf("%w: %w", errCommandLine, err)
		}
		a.logFlags(root, args)
	}
	if errors.Is(err, errCommandLine) {
		a.hint = fmt.Sprintf("Run '%s --help' for usage.", cmd.CommandPath())
	}
	return exitCode(ctx.Err() != nil, err, a.lastLine)
}

// logFlags sets the log flags from args alone, ignoring every other flag
// (cobra stops at the first flag it cannot parse, which may come before
// them), and makes the logger they ask for, when they are valid: the
// logger of a command line that cobra refused.
func (a *app) logFlags(root *cobra.Command, args []string) {
	fs := pflag.NewFlagSet("log", pflag.ContinueOnError)
	fs.ParseErrorsWhitelist.UnknownFlags = true
	fs.SetOutput(io.Discard)
	fs.AddFlag(root.PersistentFlags().Lookup("log-format"))
	fs.AddFlag(root.PersistentFlags().Lookup("log-level"))
	_ = fs.Parse(args) // a bad value: the flags keep what cobra parsed
	_, _ = a.logger()  // a bad value: no logger, a text last line
}

// lastLine writes the line that ends the output of a failed command: under
// JSON logs a log line (level ERROR, msg "lakemerge: " and what happened,
// error, hint when there is one, exit_code), so that a log shipper
// reading JSON lines keeps it; otherwise, and when no logger can be made
// (a bad --log-format or --log-level), "lakemerge: " and the error, as
// text, and the hint on a line of its own. note says what happened, when
// the error alone does not.
func (a *app) lastLine(code int, note string, err error) {
	if a.jsonLog != nil {
		msg := "lakemerge: failed"
		if note != "" {
			msg = "lakemerge: " + note
		}
		attrs := []any{"error", err.Error()}
		if a.hint != "" {
			attrs = append(attrs, "hint", a.hint)
		}
		a.jsonLog.Error(msg, append(attrs, "exit_code", code)...)
		return
	}
	if a.hint != "" {
		defer fmt.Fprintln(a.stderr, a.hint)
	}
	switch {
	case code == exitInterrupted:
		fmt.Fprintln(a.stderr, "lakemerge: interrupted:", err)
	case code == exitUsage: // the error says so ("usage: ...")
		fmt.Fprintln(a.stderr, "lakemerge:", err)
	case note != "":
		fmt.Fprintf(a.stderr, "lakemerge: %v (%s)\n", err, note)
	default:
		fmt.Fprintln(a.stderr, "lakemerge:", err)
	}
}

func newRootCmd(stdout, stderr io.Writer) (*cobra.Command, *app) {
	a := &app{stdout: stdout, stderr: stderr, errOut: &errOut{w: stderr}, terminal: isTerminal(stderr)}
	root := &cobra.Command{
		Use:   "lakemerge",
		Short: "Keep Iceberg and Delta Lake tables in sync with AWS DMS and Debezium change files",
		Long: `lakemerge absorbs the change files (AWS DMS CSV, Debezium JSON from the Kafka
Connect S3 sink) that each table has not absorbed yet, keeps the latest change
per primary key in commit order, and upserts the result into Apache Iceberg or
Delta Lake tables (local files with an embedded SQLite catalog, or S3 with the
AWS Glue Data Catalog), committing the bookmark of absorbed files in the same
snapshot or log entry as the data.

Start with "lakemerge demo"; the job file is documented in the README and by
"lakemerge example".`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error (demo: warn)")
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "auto", "log lines on stderr: text (for people), json (one JSON object a line), auto (text on a terminal, else json)")
	root.PersistentFlags().StringVar(&a.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the command to this file (created before the command's work: exit 2 when it cannot be; exit 1 when it cannot be written at the end)")
	root.PersistentFlags().StringVar(&a.memProfile, "memprofile", "", "write the Go heap profile taken at the command's peak heap to this file (created and written as --cpuprofile)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if _, err := a.logger(); err != nil {
			return err
		}
		a.started = true
		p, err := startProfiles(a.cpuProfile, a.memProfile)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		a.profiles = p
		return nil
	}
	root.AddCommand(a.runCmd(), a.statusCmd(), a.planCmd(), a.checkCmd(), a.demoCmd(), a.exampleCmd(), a.vacuumCmd(), a.maintainCmd(), a.registerCmd(), a.rebuildCmd(), a.versionCmd())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", errCommandLine, err) })
	return root, a
}

// logger builds the command's logger from --log-level and --log-format:
// JSON lines (log/slog's JSON handler) for machines, or one short human
// line per record (time, level, message, key=value pairs; colored unless
// NO_COLOR is set) for people. Both go through errOut, which keeps them
// from tearing a progress bar.
func (a *app) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errCommandLine, a.logLevel)
	}
	text := a.terminal
	switch a.logFormat {
	case "auto":
	case "text":
		text = true
	case "json":
		text = false
	default:
		return nil, fmt.Errorf("%w: --log-format %q: want text, json or auto", errCommandLine, a.logFormat)
	}
	a.progress = text && a.terminal
	if !text {
		a.jsonLog = slog.New(slog.NewJSONHandler(a.errOut, &slog.HandlerOptions{Level: lvl}))
		return a.jsonLog, nil
	}
	return slog.New(tint.NewTextHandler(a.errOut, &tint.Options{
		Level:      lvl,
		TimeFormat: time.TimeOnly,
		// no-color.org: a non-empty NO_COLOR turns colors off.
		NoColor: os.Getenv("NO_COLOR") != "" || !a.terminal,
	})), nil
}

// isTerminal reports whether w is a terminal (not a file, pipe or
// /dev/null).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// loadJob reads the job file (a path, s3:// or ssm:, see readJob), checks
// its prepared tables (checkPrepared) and picks the tables named by
// --table.
func loadJob(ctx context.Context, path string, names []string) (*config.Job, []config.Table, error) {
	job, _, tables, err := loadJobPrepared(ctx, path, names)
	return job, tables, err
}

// loadJobPrepared is loadJob that also returns what checkPrepared found.
func loadJobPrepared(ctx context.Context, path string, names []string) (*config.Job, []preparedTable, []config.Table, error) {
	if path == "" {
		return nil, nil, nil, fmt.Errorf("%w: --config is required", errCommandLine)
	}
	job, err := readJob(ctx, path)
	if err != nil {
		return nil, nil, nil, err
	}
	prep, err := checkPrepared(ctx, job, path)
	var errs config.Errors
	switch {
	case errors.As(err, &errs):
		return nil, nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	case err != nil:
		return nil, nil, nil, err
	}
	tables, err := job.Select(names)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return job, prep, tables, nil
}

// summary is the machine-readable result of a run, printed on stdout.
type summary struct {
	OK bool `json:"ok"`
	// Interrupted is set when SIGINT or SIGTERM stopped the run: the table
	// that was running and those not started yet have an error saying so,
	// and commit nothing (a commit that had already landed stays).
	Interrupted bool  `json:"interrupted,omitempty"`
	DurationMS  int64 `json:"duration_ms"`
	// MemoryBudgetMB is each table run's memory budget (memory_mb, see
	// memoryBudget; 0 for none) and MemoryBudgetFrom where it comes from;
	// a table's spilled_rows and spilled_bytes say whether its run
	// spilled.
	MemoryBudgetMB   int64         `json:"memory_budget_mb"`
	MemoryBudgetFrom string        `json:"memory_budget_from"`
	Tables           []tableResult `json:"tables"`
}

type tableResult struct {
	merge.Result
	Bookmark string `json:"bookmark"`
	Error    string `json:"error,omitempty"`
	// PhasesMS is how long each phase of the table's run took (see
	// phases); NewestChange is when the newest change the run absorbed
	// was committed in the source, when its files tell.
	PhasesMS     phases     `json:"phases_ms"`
	NewestChange *time.Time `json:"newest_change,omitempty"`
	// Prepared is what keeping each of the table's prepared tables did,
	// after its commit.
	Prepared []keptTable `json:"prepared,omitempty"`
	// Maintenance is what the maintenance pass after the commit did
	// (absent when the policy is off or no threshold was crossed); Files
	// describes the table's files after the run.
	Maintenance *table.MaintenanceStats `json:"maintenance,omitempty"`
	TableFiles  *table.FileStats        `json:"table_files,omitempty"`
	durationMS  int64
}

// spillDirOf is where spilling runs put their temporary folders.
func spillDirOf(job *config.Job) string {
	if job.SpillDir != "" {
		return job.SpillDir
	}
	return os.TempDir()
}

// errInterrupted is the error of a run that a signal stopped.
var errInterrupted = errors.New("run interrupted; tables not committed are listed in the summary")

func (a *app) runCmd() *cobra.Command {
	var cfgPath, metricsKind, metricsNS string
	var names []string
	c := &cobra.Command{
		Use:   "run --config job.yaml [--table name]... [--metrics emf]",
		Short: "Absorb every pending change file into each table",
		Long: `run absorbs, for each table of the job file (or those named by --table), every
raw file that is not in the table's bookmark, in one commit per table.

Logs go to stderr: lines for people with a progress bar per table on a
terminal, JSON lines otherwise (--log-format; --log-format json draws no
progress bar on a terminal either). The summary is one JSON object
on stdout, also when a table failed, the run was interrupted or it could not
start (the catalog or raw zone would not open: every table "not started").
Exit codes: 0 all tables done (also when nothing was pending), 1 a table
failed (or --cpuprofile or --memprofile could not be written at the end:
the summary is printed), 2 usage or job-file error (a wrong command line
ends with where its usage is), 130 interrupted (SIGINT or SIGTERM). A Go
panic (a bug) also exits 2, with "panic:" and stacks on stderr and no summary.
Under JSON logs the last stderr line of a failed run is a JSON log line too.

With --metrics emf, each table's run also writes one CloudWatch Embedded
Metric Format line on stderr (files, changes, rows, bytes, phase times,
commit attempts, lag; see the README): on ECS with the awslogs driver,
CloudWatch Logs turns them into metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			if a.emf, err = newEMF(metricsKind, metricsNS, a.errOut); err != nil {
				return err
			}
			job, prep, tables, err := loadJobPrepared(cmd.Context(), cfgPath, names)
			if err != nil {
				return err
			}
			sum, err := a.run(cmd.Context(), log, job, tables, &keeper{cfgPath: cfgPath, prep: prep})
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			if perr := enc.Encode(sum); perr != nil || err != nil {
				return errors.Join(err, perr)
			}
			switch {
			case sum.Interrupted:
				return errInterrupted
			case !sum.OK:
				return errTablesFailed
			}
			return nil
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "job file (YAML): a path, s3://bucket/key or ssm:/parameter/name")
	c.Flags().StringSliceVarP(&names, "table", "t", nil, "run only these tables (repeat or comma-separate)")
	c.Flags().StringVar(&metricsKind, "metrics", "none", "per-table metrics: none, or emf (CloudWatch Embedded Metric Format lines on stderr)")
	c.Flags().StringVar(&metricsNS, "metrics-namespace", "lakemerge", "CloudWatch namespace of the EMF metrics")
	return c
}

// run runs each table in turn; a failed table does not stop the others. A
// canceled ctx (SIGINT, SIGTERM) stops the run: the summary then lists the
// table that was running and those not started as interrupted. The error
// is for failures before any table ran (opening the raw zone or catalog);
// the summary then lists every table as not started, with that error, so
// that a scheduler reading stdout learns why too.
// After a table's commit, k keeps its prepared tables (k.prep: what the
// load's check found).
func (a *app) run(ctx context.Context, log *slog.Logger, job *config.Job, tables []config.Table, k *keeper) (summary, error) {
	start := time.Now()
	mem := memory.NewGoAllocator()
	k.mem = mem
	defer k.Close()
	obs := newObserver(log, a.errOut, a.progress)
	rec := newRecorder(time.Now)
	sum := summary{OK: true}
	budget, from := memoryBudget(job.MemoryMB, cgroupFiles(), "/proc/meminfo")
	sum.MemoryBudgetMB, sum.MemoryBudgetFrom = budget>>20, from
	w, err := wire.Build(ctx, job, tables, mem, teeObserver(obs.event, rec.event), a.wireOpts...)
	if err != nil {
		sum.OK, sum.Interrupted = false, ctx.Err() != nil
		for _, t := range tables {
			tr := tableResult{Result: merge.Result{Table: t.Name}, Error: "not started: " + err.Error()}
			if a.emf != nil && !sum.Interrupted {
				// Failed 1 for each table, so that the alarms on it see
				// a catalog or raw zone that will not open.
				if merr := a.emf.table(tr, time.Now()); merr != nil {
					log.Error("write the table's metrics", "table", t.Name, "error", merr.Error())
				}
			}
			sum.Tables = append(sum.Tables, tr)
		}
		sum.DurationMS = time.Since(start).Milliseconds()
		return sum, err
	}
	defer w.Close()
	budgetLimit(budget)
	k.budget, k.spillDir = budget, job.SpillDir
	for _, t := range w.Tables {
		t.Merge.MemoryBudget, t.Merge.SpillDir = budget, job.SpillDir
	}
	log.Info("memory budget", "budget_mb", budget>>20, "from", from, "spill_dir", spillDirOf(job))
	for _, t := range w.Tables {
		if ctx.Err() != nil {
			sum.OK, sum.Interrupted = false, true
			sum.Tables = append(sum.Tables, tableResult{Result: merge.Result{Table: t.Config.Name},
				Error: "not started: run interrupted"})
			continue
		}
		log.Info("table started", "table", t.Config.Name, "prefix", t.Config.Source.Prefix,
			"target", t.Config.Target.Database+"."+t.Config.Target.Table)
		tstart := time.Now()
		rec.begin(t.Config.Name)
		t.Merge.KeepChanges = len(t.Config.Prepared) > 0
		res, err := t.Merge.Run(ctx)
		obs.done(t.Config.Name)
		var catalog time.Duration
		if err == nil {
			// Delta tables are (re)registered in the catalog after each run,
			// so a schema change reaches Glue.
			cstart := time.Now()
			if _, rerr := t.Table.Register(ctx, ""); rerr != nil {
				err = fmt.Errorf("table %s: committed, but %w", t.Config.Name, rerr)
			}
			catalog = time.Since(cstart)
		}
		var kept []keptTable
		if err == nil && len(t.Config.Prepared) > 0 {
			run := apply.Run{Changes: res.Applied, Parent: res.Parent, Next: res.Bookmark, TruncateBefore: res.TruncateBefore, Stale: res.Stats.Stale}
			res.Applied = nil // keep releases it
			var kerr error
			if kept, kerr = k.keep(ctx, w, t, run, false); kerr != nil {
				err = fmt.Errorf("table %s: committed, but %w", t.Config.Name, kerr)
			}
		}
		if res.Applied != nil {
			res.Applied.Release()
			res.Applied = nil
		}
		var maint *table.MaintenanceStats
		var files *table.FileStats
		var mtime time.Duration
		if err == nil && !res.UpToDate {
			// The commit stands whatever maintenance does: its failure
			// is a warning, as a Delta checkpoint's is.
			mstart := time.Now()
			var merr error
			if maint, files, merr = maintainAfterRun(ctx, t.Config.Name, t.Config.Target.Format, t.Table, t.Config.Maintenance, budget, job.SpillDir); merr != nil {
				res.Warnings = append(res.Warnings, merr.Error())
				log.Warn("maintenance after the commit failed", "table", t.Config.Name, "error", merr.Error())
			}
			mtime = time.Since(mstart)
		}
		tr := tableResult{Result: res, Bookmark: res.Bookmark.Summary(), Prepared: kept, durationMS: time.Since(tstart).Milliseconds(),
			Maintenance: maint, TableFiles: files}
		var newest time.Time
		if tr.PhasesMS, newest = rec.end(t.Config.Name, catalog); !newest.IsZero() && err == nil && !res.UpToDate {
			tr.NewestChange = &newest
		}
		tr.PhasesMS.Maintain = mtime.Milliseconds()
		switch {
		case err != nil && ctx.Err() != nil:
			sum.OK, sum.Interrupted = false, true
			tr.Error = "interrupted: " + err.Error()
			log.Error("table interrupted", "table", t.Config.Name, "error", err.Error())
		case err != nil:
			sum.OK = false
			tr.Error = err.Error()
			log.Error("table failed", "table", t.Config.Name, "error", err.Error())
		case res.UpToDate:
			log.Info("table up to date: no new files", "table", t.Config.Name)
		default:
			log.Info("table done", "table", t.Config.Name, "files", res.Files, "changes", res.Changes,
				"keys", res.Keys, "attempts", res.Attempts)
		}
		if a.emf != nil {
			if merr := a.emf.table(tr, time.Now()); merr != nil {
				log.Error("write the table's metrics", "table", t.Config.Name, "error", merr.Error())
			}
		}
		sum.Tables = append(sum.Tables, tr)
	}
	sum.DurationMS = time.Since(start).Milliseconds()
	return sum, nil
}

func (a *app) exampleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "example",
		Short: "Print a complete, commented example job file",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := io.WriteString(a.stdout, strings.TrimLeft(config.Example, "\n"))
			return err
		},
	}
}
