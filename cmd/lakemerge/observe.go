package main

import (
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"

	"github.com/lakemerge/lakemerge/merge"
)

// observer turns merge events into slog JSON lines and, when stderr is a
// terminal, a progress bar per table over the files it decodes.
type observer struct {
	log      *slog.Logger
	progress bool
	out      io.Writer

	mu   sync.Mutex
	bars map[string]*progressbar.ProgressBar
}

func newObserver(log *slog.Logger, stderr io.Writer) *observer {
	o := &observer{log: log, out: stderr, bars: map[string]*progressbar.ProgressBar{}}
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			o.progress = true
		}
	}
	return o
}

func (o *observer) event(e merge.Event) {
	switch e.Kind {
	case merge.EventListed:
		o.log.Info("pending files listed", "table", e.Table, "files", e.Files)
		if o.progress && e.Files > 0 {
			o.mu.Lock()
			o.bars[e.Table] = progressbar.NewOptions(e.Files,
				progressbar.OptionSetWriter(o.out),
				progressbar.OptionSetDescription(e.Table),
				progressbar.OptionShowCount(),
				progressbar.OptionClearOnFinish())
			o.mu.Unlock()
		}
	case merge.EventIgnored:
		o.log.Info("object matches the table's ignore: globs; recorded in the bookmark, not read",
			"table", e.Table, "file", e.File)
	case merge.EventFileDecoded:
		o.log.Debug("file decoded", "table", e.Table, "file", e.File, "rows", e.Rows, "bytes", e.Bytes)
		if e.Skipped > 0 {
			o.log.Info("events that are not row changes skipped (schema changes, heartbeats, transaction markers, tombstones)",
				"table", e.Table, "file", e.File, "skipped", e.Skipped)
		}
		o.mu.Lock()
		if b := o.bars[e.Table]; b != nil {
			_ = b.Add(1)
		}
		o.mu.Unlock()
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
		o.mu.Lock()
		if b := o.bars[e.Table]; b != nil {
			_ = b.Finish()
			delete(o.bars, e.Table)
		}
		o.mu.Unlock()
		o.log.Info("committed", "table", e.Table, "files", e.Files,
			"inserted", e.Stats.Inserted, "updated", e.Stats.Updated, "deleted", e.Stats.Deleted,
			"stale", e.Stats.Stale, "data_files", e.Stats.DataFiles, "delete_files", e.Stats.DeleteFiles,
			"files_scanned", e.Stats.FilesScanned)
	case merge.EventMaintenanceFailed:
		o.log.Warn("maintenance after the commit failed; the commit stands",
			"table", e.Table, "error", e.Err)
	}
}
