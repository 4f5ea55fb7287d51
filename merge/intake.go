package merge

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/merge/dedupe"
)

// intake collects a run's decoded batches in apply order and turns them
// into the latest change per key: in memory while they take at most half
// of the table's memory budget, in a spiller once they take more (see the
// package doc). release frees whatever it still holds, spill folder
// included, on every path.
type intake struct {
	t        *Table
	rawBytes int64 // of the run's files, to size the spill partitions
	// cols is the union of the batches' user columns so far (configured
	// columns first); withKeep and withTS say whether a batch had _keep,
	// and _ts when the run keeps its changes.
	cols             []change.Column
	withKeep, withTS bool

	batches []arrow.RecordBatch // held in memory
	held    int64               // their bytes
	sp      *spiller            // nil until the run spills
}

// add takes b (the intake releases it, also on error).
func (in *intake) add(b arrow.RecordBatch) error {
	t := in.t
	var err error
	if in.cols, err = change.ExtendColumns(in.cols, change.UserColumns(b.Schema())); err != nil {
		b.Release()
		return err
	}
	in.withKeep = in.withKeep || hasKeep(b)
	in.withTS = in.withTS || (t.KeepChanges && hasTS(b))
	if in.sp != nil {
		return in.sp.add(b)
	}
	in.batches = append(in.batches, b)
	in.held += change.RecordBytes(b)
	if t.MemoryBudget <= 0 || in.held <= t.MemoryBudget/2 {
		return nil
	}
	// The run does not fit its budget: from here on its changes go to
	// disk, partitioned by key, staged a sixteenth of the budget at a time
	// (and copied once more as they are split by partition).
	if in.sp, err = newSpiller(t.Mem, t.Keys, t.SpillDir, spillParts(in.rawBytes, t.MemoryBudget), t.MemoryBudget/16); err != nil {
		return err
	}
	t.emit(Event{Kind: EventSpilling, Bytes: in.held})
	moved := in.batches
	in.batches, in.held = nil, 0
	for i, b := range moved {
		if err := in.sp.add(b); err != nil {
			for _, b := range moved[i+1:] {
				b.Release()
			}
			return err
		}
	}
	return nil
}

// latest returns the latest change per key of everything added, sorted by
// key, without the changes older than truncateBefore (when set), and the
// dedupe counts; nil when nothing was added. The caller releases it.
//
// With chunked set, a run that spilled returns them as a chunkSet instead
// (the caller closes it), never whole in memory; a run that did not spill
// returns them in one batch either way.
func (in *intake) latest(truncateBefore []byte, chunked bool) (arrow.RecordBatch, *chunkSet, dedupe.Stats, error) {
	t := in.t
	if in.sp == nil {
		batches := in.batches
		in.batches = nil
		latest, st, err := latestOf(t.Mem, batches, in.cols, in.withKeep, in.withTS, t.Keys, truncateBefore)
		return latest, nil, st, err
	}
	sp := in.sp
	if err := sp.finish(); err != nil {
		return nil, nil, dedupe.Stats{}, err
	}
	t.emit(Event{Kind: EventSpilled, Rows: sp.rows, Bytes: sp.bytes, Files: len(sp.parts)})
	if chunked {
		cs, st, err := in.chunks(truncateBefore)
		return nil, cs, st, err
	}
	// Partition by partition: every change of a key is in one of them.
	var results []arrow.RecordBatch
	defer func() {
		for _, r := range results {
			r.Release()
		}
	}()
	var st dedupe.Stats
	for p := range sp.parts {
		batches, err := sp.read(p)
		if err != nil {
			return nil, nil, st, err
		}
		latest, pst, err := latestOf(t.Mem, batches, in.cols, in.withKeep, in.withTS, t.Keys, truncateBefore)
		if err != nil {
			return nil, nil, st, err
		}
		st.In += pst.In
		st.Out += pst.Out
		if latest != nil {
			results = append(results, latest)
		}
	}
	if len(results) == 0 {
		return nil, nil, st, nil
	}
	// One row per key across the partitions: dedupe only sorts them by key
	// into one batch, letting go of each input column as it goes.
	all := results
	results = nil
	latest, _, err := dedupe.Consume(t.Mem, all, t.Keys)
	return latest, nil, st, err
}

// chunks deduplicates the spilled changes partition by partition, as
// latest does, and writes each partition's result back to the spill
// folder: the chunkSet takes the folder over (in.release no longer removes
// it).
func (in *intake) chunks(truncateBefore []byte) (*chunkSet, dedupe.Stats, error) {
	t, sp := in.t, in.sp
	in.sp = nil
	cs := &chunkSet{sp: sp}
	var st dedupe.Stats
	for p := range sp.parts {
		batches, err := sp.read(p)
		if err == nil && len(batches) == 0 {
			continue
		}
		var latest arrow.RecordBatch
		var pst dedupe.Stats
		if err == nil {
			latest, pst, err = latestOf(t.Mem, batches, in.cols, in.withKeep, in.withTS, t.Keys, truncateBefore)
		}
		if err == nil && latest != nil {
			err = cs.add(t.Mem, latest)
			latest.Release()
		}
		if err != nil {
			cs.close()
			return nil, st, err
		}
		st.In += pst.In
		st.Out += pst.Out
	}
	return cs, st, nil
}

// release frees the batches held and removes the spill folder.
func (in *intake) release() {
	for _, b := range in.batches {
		b.Release()
	}
	in.batches = nil
	if in.sp != nil {
		// An error here only leaves files in a temporary folder.
		_ = in.sp.close()
		in.sp = nil
	}
}

// latestOf takes batches (it releases them): it brings each to cols
// (conform), keeps the latest change per key (dedupe.Consume) and drops
// the changes older than truncateBefore (when set). nil when batches is
// empty.
func latestOf(mem memory.Allocator, batches []arrow.RecordBatch, cols []change.Column, withKeep, withTS bool, keys []string, truncateBefore []byte) (arrow.RecordBatch, dedupe.Stats, error) {
	conformed := make([]arrow.RecordBatch, 0, len(batches))
	defer func() {
		for _, b := range batches {
			if b != nil {
				b.Release()
			}
		}
		for _, c := range conformed {
			c.Release()
		}
	}()
	for i, b := range batches {
		c, err := conform(mem, b, cols, withKeep, withTS)
		if err != nil {
			return nil, dedupe.Stats{}, err
		}
		conformed = append(conformed, c)
		// The conformed batch holds what it needs of b.
		b.Release()
		batches[i] = nil
	}
	// Consume releases the conformed batches column by column as it
	// builds the result.
	in := conformed
	conformed = nil
	latest, st, err := dedupe.Consume(mem, in, keys)
	if err != nil || latest == nil || truncateBefore == nil {
		return latest, st, err
	}
	// Changes older than a truncate are gone with it.
	kept, err := dropOlder(mem, latest, truncateBefore)
	latest.Release()
	if err != nil {
		return nil, st, err
	}
	return kept, st, nil
}
