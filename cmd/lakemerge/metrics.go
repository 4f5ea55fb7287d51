package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/lakemerge/lakemerge/merge"
)

// phases is how long each phase of one table's run took, in milliseconds:
// list (load the table's state and bookmark, list the raw prefix), read
// (decode the pending files), dedupe (one schema, latest change per key),
// write (find the stored rows the changes touch, write data and delete
// files), commit (commit with the bookmark, retries, maintenance after it)
// and catalog (register a Delta table in the catalog; an Iceberg table's
// catalog update is its commit). A retry after a conflict counts towards
// the phases it repeats.
type phases struct {
	List    int64 `json:"list"`
	Read    int64 `json:"read"`
	Dedupe  int64 `json:"dedupe"`
	Write   int64 `json:"write"`
	Commit  int64 `json:"commit"`
	Catalog int64 `json:"catalog"`
	// Maintain is the maintenance pass after the commit, and listing the
	// table's files for the summary.
	Maintain int64 `json:"maintain"`
}

// phase indexes the durations a recorder adds up.
type phase int

const (
	phaseList phase = iota
	phaseRead
	phaseDedupe
	phaseWrite
	phaseCommit
	nPhases
)

// recorder times the phases of each table's run from merge's events (they
// arrive synchronously, as they happen) and keeps the newest source commit
// time of the files a table decoded. Safe for concurrent use.
type recorder struct {
	now func() time.Time

	mu     sync.Mutex
	tables map[string]*tableClock
}

// tableClock follows one table's run: each event closes the interval since
// the previous one, which belongs to the phase the event ends.
type tableClock struct {
	last   time.Time
	next   phase // the phase the time after the last event belongs to
	spent  [nPhases]time.Duration
	newest time.Time
}

func newRecorder(now func() time.Time) *recorder {
	return &recorder{now: now, tables: map[string]*tableClock{}}
}

// begin starts the clock of a table's run.
func (r *recorder) begin(table string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tables[table] = &tableClock{last: r.now(), next: phaseList}
}

// event is a merge.Observer.
func (r *recorder) event(e merge.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.tables[e.Table]
	if c == nil {
		return
	}
	var ended, next phase
	switch e.Kind {
	case merge.EventIgnored, merge.EventGeneration, merge.EventRawEmptied:
		ended, next = phaseList, phaseList
	case merge.EventListed:
		ended, next = phaseList, phaseRead
	case merge.EventFileDecoded:
		ended, next = phaseRead, phaseRead
		if e.SourceTime.After(c.newest) {
			c.newest = e.SourceTime
		}
	case merge.EventSpilled:
		// Writing the last spill files is part of reading.
		ended, next = phaseRead, phaseDedupe
	case merge.EventDeduped:
		ended, next = phaseDedupe, phaseWrite
	case merge.EventCommitAttempt:
		// After a retry the attempt starts by reloading the table: part of
		// committing.
		ended, next = c.next, phaseWrite
		if c.next != phaseWrite {
			ended = phaseCommit
		}
	case merge.EventApplied:
		ended, next = phaseWrite, phaseCommit
	case merge.EventCommitted, merge.EventCommitRetry, merge.EventMaintenanceFailed:
		ended, next = phaseCommit, phaseCommit
	default:
		return
	}
	now := r.now()
	c.spent[ended] += now.Sub(c.last)
	c.last, c.next = now, next
}

// end stops a table's clock: the time since the last event goes to the
// phase that was running. It returns the phases, with catalog (timed by
// the caller), and the newest source commit time seen (zero if none).
func (r *recorder) end(table string, catalog time.Duration) (phases, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.tables[table]
	if c == nil {
		return phases{}, time.Time{}
	}
	delete(r.tables, table)
	c.spent[c.next] += r.now().Sub(c.last)
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	return phases{
		List: ms(c.spent[phaseList]), Read: ms(c.spent[phaseRead]), Dedupe: ms(c.spent[phaseDedupe]),
		Write: ms(c.spent[phaseWrite]), Commit: ms(c.spent[phaseCommit]), Catalog: ms(catalog),
	}, c.newest
}

// teeObserver passes each event to every observer, in order.
func teeObserver(obs ...merge.Observer) merge.Observer {
	return func(e merge.Event) {
		for _, o := range obs {
			o(e)
		}
	}
}

// Metrics: `run --metrics emf` writes one CloudWatch Embedded Metric Format
// line per table on stderr, next to the log lines. On ECS the awslogs
// driver sends every line to CloudWatch Logs, which extracts the metrics
// from the lines that are EMF documents: no call to CloudWatch at run
// time, the log is the transport.

// emf writes the EMF lines.
type emf struct {
	w         io.Writer
	namespace string
	mu        sync.Mutex
}

// metric is one metric of a table's line: its name, unit and value.
type metric struct {
	name, unit string
	value      float64
}

// emfMaxError bounds the error text in a line: Docker splits log lines
// longer than 16 KiB, which would break the JSON document.
const emfMaxError = 4 << 10

// tableMetrics are the metrics of one table's run. Lag (seconds from the
// commit of the newest absorbed change in the source to the end of the
// run) is left out when the run absorbed no change with a known commit
// time, or failed.
func tableMetrics(tr tableResult, end time.Time) []metric {
	st := tr.Stats
	ms := []metric{
		{"Files", "Count", float64(tr.Files)},
		{"Changes", "Count", float64(tr.Changes)},
		{"Keys", "Count", float64(tr.Keys)},
		{"RowsInserted", "Count", float64(st.Inserted)},
		{"RowsUpdated", "Count", float64(st.Updated)},
		{"RowsDeleted", "Count", float64(st.Deleted)},
		{"RowsStale", "Count", float64(st.Stale)},
		{"BytesRead", "Bytes", float64(tr.Bytes)},
		{"BytesWritten", "Bytes", float64(st.BytesWritten)},
		{"CommitAttempts", "Count", float64(tr.Attempts)},
		{"ListTime", "Milliseconds", float64(tr.PhasesMS.List)},
		{"ReadTime", "Milliseconds", float64(tr.PhasesMS.Read)},
		{"DedupeTime", "Milliseconds", float64(tr.PhasesMS.Dedupe)},
		{"WriteTime", "Milliseconds", float64(tr.PhasesMS.Write)},
		{"CommitTime", "Milliseconds", float64(tr.PhasesMS.Commit)},
		{"CatalogTime", "Milliseconds", float64(tr.PhasesMS.Catalog)},
		{"Duration", "Milliseconds", float64(tr.durationMS)},
		{"Failed", "Count", boolMetric(tr.Error != "")},
	}
	if tr.Bytes > 0 {
		// Bytes of table files written per byte of change files read.
		ms = append(ms, metric{"WriteAmplification", "None", float64(st.BytesWritten) / float64(tr.Bytes)})
	}
	if tr.NewestChange != nil && tr.Error == "" {
		ms = append(ms, metric{"Lag", "Seconds", end.Sub(*tr.NewestChange).Seconds()})
	}
	return ms
}

func boolMetric(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// The metrics also published without the Table dimension, aggregated over
// a job's tables, for alarms that do not know the tables.
var emfAggregated = map[string]bool{"Lag": true, "Failed": true, "Duration": true}

// table writes the EMF line of one table's run.
func (m *emf) table(tr tableResult, end time.Time) error {
	ms := tableMetrics(tr, end)
	type def struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	type directive struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []def      `json:"Metrics"`
	}
	perTable := directive{Namespace: m.namespace, Dimensions: [][]string{{"Table"}}}
	overall := directive{Namespace: m.namespace, Dimensions: [][]string{{}}}
	doc := map[string]any{"Table": tr.Table}
	for _, x := range ms {
		perTable.Metrics = append(perTable.Metrics, def{x.name, x.unit})
		if emfAggregated[x.name] {
			overall.Metrics = append(overall.Metrics, def{x.name, x.unit})
		}
		doc[x.name] = x.value
	}
	doc["_aws"] = map[string]any{
		"Timestamp":         end.UnixMilli(),
		"CloudWatchMetrics": []directive{perTable, overall},
	}
	// Properties: searchable in CloudWatch Logs Insights, not metrics.
	doc["UpToDate"] = tr.UpToDate
	if tr.NewestChange != nil {
		doc["NewestChange"] = tr.NewestChange.Format(time.RFC3339Nano)
	}
	if tr.Error != "" {
		e := tr.Error
		if len(e) > emfMaxError {
			e = e[:emfMaxError] + "…"
		}
		doc["Error"] = e
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = m.w.Write(append(line, '\n'))
	return err
}

// newEMF checks the --metrics flags: nil when metrics are off.
func newEMF(kind, namespace string, w io.Writer) (*emf, error) {
	switch kind {
	case "none":
		return nil, nil
	case "emf":
	default:
		return nil, fmt.Errorf("%w: --metrics %q: want none or emf", errUsage, kind)
	}
	if namespace == "" || len(namespace) > 255 {
		return nil, fmt.Errorf("%w: --metrics-namespace %q: want 1 to 255 characters", errUsage, namespace)
	}
	return &emf{w: w, namespace: namespace}, nil
}
