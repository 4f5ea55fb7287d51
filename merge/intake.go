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
	// bucketer is the Txn's when the run's changes go to it in chunks:
	// a run that spills then partitions them by the table's buckets.
	bucketer Bucketer
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
	nparts := spillParts(in.rawBytes, t.MemoryBudget)
	bucket, nbuckets := in.buckets()
	if nbuckets > 0 {
		// Whole buckets per partition (bucket modulo the count): no more
		// partitions than buckets; one too large for a chunk is split by
		// key range when it is read back.
		nparts = min(nparts, nbuckets)
	}
	if in.sp, err = newSpiller(t.Mem, t.Keys, t.SpillDir, nparts, t.MemoryBudget/16); err != nil {
		return err
	}
	in.sp.bucket = bucket
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

// buckets is the bucket function of the run's target and its bucket
// count, when the run applies chunks to a Bucketer whose table has key
// buckets and whose bucket function takes the key columns of the changes
// (tried on the first batch held); else nil and 0: the spill partitions
// by a hash of the key.
func (in *intake) buckets() (bucketFunc, int) {
	if in.bucketer == nil || len(in.batches) == 0 {
		return nil, 0
	}
	n := in.bucketer.Buckets(in.cols)
	if n <= 0 {
		return nil, 0
	}
	if _, err := in.bucketer.AppendBuckets(nil, in.batches[0]); err != nil {
		return nil, 0
	}
	return in.bucketer.AppendBuckets, n
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
	st, err := in.dedupeParts(sp, truncateBefore, func(latest arrow.RecordBatch) error {
		results = append(results, latest)
		return nil
	})
	if err != nil || len(results) == 0 {
		return nil, nil, st, err
	}
	// One row per key across the partitions: dedupe only sorts them by key
	// into one batch, letting go of each input column as it goes.
	all := results
	results = nil
	latest, _, err := dedupe.Consume(t.Mem, all, t.Keys)
	return latest, nil, st, err
}

// chunks deduplicates the spilled changes as latest does and writes each
// result back to the spill folder as a chunk: the chunkSet takes the
// folder over (in.release no longer removes it).
func (in *intake) chunks(truncateBefore []byte) (*chunkSet, dedupe.Stats, error) {
	t, sp := in.t, in.sp
	in.sp = nil
	cs := &chunkSet{sp: sp}
	st, err := in.dedupeParts(sp, truncateBefore, func(latest arrow.RecordBatch) error {
		defer latest.Release()
		return cs.add(t.Mem, latest)
	})
	if err != nil {
		cs.close()
		return nil, st, err
	}
	return cs, st, nil
}

// dedupeParts deduplicates the spilled changes partition by partition
// (every change of a key is in one of them), and a partition that takes
// more than a quarter of the budget range by range (spiller.splitByRange),
// handing each non-empty result (the latest change per key, sorted by
// key; fn releases it) to fn in order: partitions in turn, ranges in
// (bucket, key) order within one.
func (in *intake) dedupeParts(sp *spiller, truncateBefore []byte, fn func(arrow.RecordBatch) error) (dedupe.Stats, error) {
	t := in.t
	var st dedupe.Stats
	one := func(batches []arrow.RecordBatch, err error) error {
		if err != nil || len(batches) == 0 {
			return err
		}
		latest, pst, err := latestOf(t.Mem, batches, in.cols, in.withKeep, in.withTS, t.Keys, truncateBefore)
		if err != nil {
			return err
		}
		st.In += pst.In
		st.Out += pst.Out
		if latest == nil {
			return nil
		}
		return fn(latest)
	}
	limit := max(t.MemoryBudget/4, 1)
	for p := range sp.parts {
		if !sp.tooLarge(p, limit) {
			if err := one(sp.read(p)); err != nil {
				return st, err
			}
			continue
		}
		sub, err := sp.splitByRange(p, limit)
		if err != nil {
			return st, err
		}
		for q := range sub.parts {
			if err = one(sub.read(q)); err != nil {
				break
			}
		}
		// An error here only leaves files in the spill folder, which
		// goes with sp.
		_ = sub.close()
		if err != nil {
			return st, err
		}
	}
	return st, nil
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
