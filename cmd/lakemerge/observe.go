package main

import (
	"io"
	"log/slog"
	"sync"

	"github.com/schollz/progressbar/v3"

	"github.com/lakemerge/lakemerge/merge"
)

// errOut is stderr shared by log lines and progress bars. A log line
// written while a bar is drawn clears the bar's line first and draws the
// bar again below it, so neither tears the other.
type errOut struct {
	w  io.Writer
	mu sync.Mutex
	// bars are the progress bars drawn now, by table (tables run one at a
	// time, so there is at most one).
	bars map[string]*progressbar.ProgressBar
}

func (e *errOut) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.bars {
		_ = b.Clear()
	}
	n, err := e.w.Write(p)
	for _, b := range e.bars {
		_ = b.RenderBlank()
	}
	return n, err
}

// observer turns merge events into log records and, when stderr is a
// terminal, a progress bar per table over the files it decodes.
type observer struct {
	log      *slog.Logger
	progress bool
	out      *errOut
}

func newObserver(log *slog.Logger, out *errOut, progress bool) *observer {
	return &observer{log: log, out: out, progress: progress}
}

// bar runs f on the table's progress bar, if it has one.
func (o *observer) bar(table string, f func(b *progressbar.ProgressBar)) {
	o.out.mu.Lock()
	defer o.out.mu.Unlock()
	if b := o.out.bars[table]; b != nil {
		f(b)
	}
}

func (o *observer) event(e merge.Event) {
	switch e.Kind {
	case merge.EventListed:
		o.log.Info("pending files listed", "table", e.Table, "files", e.Files)
		if o.progress && e.Files > 0 {
			o.out.mu.Lock()
			if o.out.bars == nil {
				o.out.bars = map[string]*progressbar.ProgressBar{}
			}
			o.out.bars[e.Table] = progressbar.NewOptions(e.Files,
				progressbar.OptionSetWriter(o.out.w),
				progressbar.OptionSetDescription(e.Table),
				progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish())
			o.out.mu.Unlock()
		}
	case merge.EventRawEmptied:
		o.log.Warn("raw location lists no objects, but the table absorbed files from it: expired by a lifecycle rule, or a mistyped raw: or source",
			"table", e.Table, "location", e.File, "files_absorbed", e.Files)
	case merge.EventIgnored:
		o.log.Info("object matches the table's ignore: globs; recorded in the bookmark, not read",
			"table", e.Table, "file", e.File)
	case merge.EventFileDecoded:
		o.log.Debug("file decoded", "table", e.Table, "file", e.File, "rows", e.Rows, "bytes", e.Bytes)
		if e.Skipped > 0 {
			o.log.Info("events that are not row changes skipped (schema changes, heartbeats, transaction markers, tombstones)",
				"table", e.Table, "file", e.File, "skipped", e.Skipped)
		}
		o.bar(e.Table, func(b *progressbar.ProgressBar) { _ = b.Add(1) })
	case merge.EventSpilling:
		o.log.Info("decoded changes pass half the memory budget: spilling them to local disk",
			"table", e.Table, "held_bytes", e.Bytes)
	case merge.EventSpilled:
		o.log.Info("changes spilled; deduplicating partition by partition",
			"table", e.Table, "rows", e.Rows, "bytes", e.Bytes, "partitions", e.Files)
	case merge.EventDeduped:
		o.log.Info("changes deduplicated", "table", e.Table, "changes", e.Rows, "keys", e.Keys)
	case merge.EventGeneration:
		o.log.Warn("table reload detected: new load generation; rows absent from the new full load will be deleted",
			"table", e.Table, "generation", e.Generation)
	case merge.EventCommitAttempt:
		o.log.Debug("commit attempt", "table", e.Table, "attempt", e.Attempt)
	case merge.EventCommitRetry:
		o.log.Warn("commit not confirmed, retrying", "table", e.Table, "attempt", e.Attempt, "error", e.Err)
	case merge.EventCommitted:
		o.out.mu.Lock()
		if b := o.out.bars[e.Table]; b != nil {
			_ = b.Finish()
			delete(o.out.bars, e.Table)
		}
		o.out.mu.Unlock()
		o.log.Info("committed", "table", e.Table, "files", e.Files,
			"inserted", e.Stats.Inserted, "updated", e.Stats.Updated, "deleted", e.Stats.Deleted,
			"stale", e.Stats.Stale, "data_files", e.Stats.DataFiles, "delete_files", e.Stats.DeleteFiles,
			"files_scanned", e.Stats.FilesScanned)
	case merge.EventMaintenanceFailed:
		o.log.Warn("maintenance after the commit failed; the commit stands",
			"table", e.Table, "error", e.Err)
	}
}

// done removes a table's bar that no commit finished (the table failed
// or was interrupted), clearing its line.
func (o *observer) done(table string) {
	o.out.mu.Lock()
	defer o.out.mu.Unlock()
	if b := o.out.bars[table]; b != nil {
		_ = b.Clear()
		delete(o.out.bars, table)
	}
}
