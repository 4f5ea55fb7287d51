package merge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
)

// prepared is the decoded, deduplicated change set planned from one
// bookmark state (base); next is the bookmark that commits it.
type prepared struct {
	base, next     bookmarks.Bookmark
	files          []bookmarks.Entry
	ignored        int
	nchanges       int64
	skipped        int64 // non-change events in the files
	keys           int64
	bytes          int64
	cols           []change.Column // user columns of the change set
	warnings       []string        // for Result.Warnings
	truncateBefore []byte
	spilledRows    int64             // change rows spilled to disk; 0 when none
	spilledBytes   int64             // bytes they took there
	changes        arrow.RecordBatch // latest change per key; nil when no rows or chunked
	// chunks holds the latest change per key instead of changes when the
	// run spilled and its Txn is a Chunker: on disk, applied chunk by
	// chunk.
	chunks *chunkSet
}

func (p *prepared) release() {
	if p == nil {
		return
	}
	if p.changes != nil {
		p.changes.Release()
		p.changes = nil
	}
	p.chunks.close()
	p.chunks = nil
}

// prepare lists the pending files of the table, decodes them in apply order
// and deduplicates their changes.
func (t *Table) prepare(ctx context.Context, txn Txn) (*prepared, error) {
	p := &prepared{base: txn.Bookmark()}
	pend, err := t.Pending(ctx, p.base)
	if err != nil {
		return nil, err
	}
	if err := pend.Check(t, p.base); err != nil {
		return nil, err
	}
	if w := pend.RawEmptied(t, p.base); w != "" {
		p.warnings = append(p.warnings, w)
		t.emit(Event{Kind: EventRawEmptied, File: t.rawLocation(), Files: len(p.base.Entries)})
	}
	for _, e := range pend.Ignored {
		t.emit(Event{Kind: EventIgnored, File: e.Key})
	}
	p.ignored = len(pend.Ignored)
	p.files = pend.Files
	t.emit(Event{Kind: EventListed, Files: len(p.files)})

	gen := p.base.Generation
	if t.reload(p.base, pend.fresh, pend.changed) {
		gen++
		var sb change.SeqBuilder
		p.truncateBefore = slices.Clone(sb.Uint32(gen).Bytes())
		t.emit(Event{Kind: EventGeneration, Generation: gen})
	}
	// Ignored objects go into the bookmark too: they were seen and reported,
	// and are not reported again on every run.
	absorbed := slices.Concat(p.files, pend.Companions, pend.Ignored)
	stamped := p.base
	stamped.Generation = gen
	p.next = stamped.Advance(absorbed).Refresh(pend.Stale)
	if len(p.files) == 0 {
		return p, nil
	}

	_, chunked := txn.(Chunker)
	in := &intake{t: t, cols: slices.Clone(t.Columns)}
	if bk, ok := txn.(Bucketer); ok && chunked {
		in.bucketer = bk
	}
	for _, f := range p.files {
		in.rawBytes += f.Size
	}
	defer in.release()
	// Files are decoded concurrently (decoding is CPU-bound) and absorbed
	// in apply order; the first error in that order is the one reported,
	// whichever worker met it first.
	queue, decoded := t.decodeAll(ctx, p.files, gen)
	var firstErr error
	for i, f := range p.files {
		d := decoded[i]
		for b, ok := queue.next(i); ok; b, ok = queue.next(i) {
			if firstErr == nil && ctx.Err() != nil {
				// Interrupted: stop taking changes (the decoders stop
				// too); the spill folder goes with in.release.
				firstErr = ctx.Err()
			}
			if firstErr != nil {
				b.Release()
				continue
			}
			if err := in.add(b); err != nil {
				firstErr = err
			}
		}
		if firstErr != nil {
			continue
		}
		if d.err != nil {
			firstErr = d.err
			continue
		}
		for _, tr := range d.truncs {
			if p.truncateBefore == nil || change.CompareSeq(tr, p.truncateBefore) > 0 {
				p.truncateBefore = slices.Clone(tr)
			}
		}
		p.bytes += f.Size
		p.skipped += d.skipped
		t.emit(Event{Kind: EventFileDecoded, File: f.Key, Rows: d.rows, Bytes: f.Size, Skipped: d.skipped, SourceTime: d.srcTime})
	}
	if firstErr != nil {
		return nil, firstErr
	}
	p.cols = in.cols
	sp := in.sp // in.latest hands it to the chunks when it makes them
	latest, chunks, st, err := in.latest(p.truncateBefore, chunked)
	if err != nil {
		return nil, err
	}
	if sp != nil {
		p.spilledRows, p.spilledBytes = sp.rows, sp.bytes
	}
	p.changes, p.chunks, p.nchanges, p.keys = latest, chunks, st.In, 0
	switch {
	case latest != nil:
		p.keys = latest.NumRows()
	case chunks != nil:
		p.keys = chunks.rows
	}
	t.emit(Event{Kind: EventDeduped, Rows: st.In, Keys: st.Out})
	return p, nil
}

// spillParts is the number of partitions a spilling run splits its
// changes into: enough that each holds about a quarter of the budget,
// taking the decoded changes to be twice the size of the raw files, but
// no more than one per MiB of raw files (smaller partitions cost more in
// files than they save), within minSpillParts..maxSpillParts. (A
// sixteenth of the budget, for smaller chunks, was measured: a 10M-row
// full load under memory_mb 1024 peaked at 1477 MiB RSS against 1470
// with a quarter, its peak is in decoding and spilling, and used more
// CPU.)
func spillParts(rawBytes, budget int64) int {
	per := max(budget/4, 1)
	n := min((2*rawBytes+per-1)/per, rawBytes>>20)
	return int(min(max(n, minSpillParts), maxSpillParts))
}

// reload reports whether the pending files start a new load generation.
// A full-load (snapshot) file among them starts one when the current
// generation has already absorbed CDC files (a reload after streaming), or
// when it overwrites a full-load object absorbed in the current generation
// (the load was restarted). Otherwise it belongs to the current
// generation's load, which may arrive over several runs: DMS writes a
// reload's LOAD files one by one, overwriting the previous load's objects,
// and a run that sees only some of them must not make the next run start
// yet another generation (that would delete the rows the first run loaded).
func (t *Table) reload(base bookmarks.Bookmark, fresh, changed []bookmarks.Entry) bool {
	isSnap := func(e bookmarks.Entry) bool { return t.Format.IsSnapshot(e.Key) }
	if !slices.ContainsFunc(fresh, isSnap) && !slices.ContainsFunc(changed, isSnap) {
		return false
	}
	streamed := slices.ContainsFunc(base.Entries, func(e bookmarks.Entry) bool {
		return e.Gen == base.Generation && !isSnap(e)
	})
	if streamed {
		return true
	}
	return slices.ContainsFunc(changed, func(e bookmarks.Entry) bool {
		old, ok := base.Absorbed(e.Key)
		return isSnap(e) && ok && old.Gen == base.Generation
	})
}

// decodedFile is what decoding one file gave, besides its batches; set
// before decodeQueue.finish.
type decodedFile struct {
	rows    int64
	truncs  [][]byte
	skipped int64
	srcTime time.Time // SourceTimer's, when the format tells
	err     error
}

// decodeQueue holds the batches of a run's files between their decoders
// and the run, which takes them file by file in apply order (next). The
// decoder of a later file waits (push) while the batches queued and not
// taken yet reach limit (0: no limit); the decoder of the file being taken
// waits only while its own batches not taken yet reach limit, which the
// run is taking, so the run always progresses and the queue holds at most
// about twice limit. (Without a bound of its own, the decoder of the file
// being taken ran a whole file ahead while the run was spilling: a 10M-row
// full load under memory_mb 1024 held 990 MB of decoded batches.)
type decodeQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	batches [][]arrow.RecordBatch // per file, not taken yet
	bytes   []int64               // per file, of batches
	done    []bool
	queued  int64 // bytes in batches
	limit   int64
	current int // the file being taken
}

func newDecodeQueue(files int, limit int64) *decodeQueue {
	q := &decodeQueue{batches: make([][]arrow.RecordBatch, files), bytes: make([]int64, files), done: make([]bool, files), limit: limit}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues b of file i.
func (q *decodeQueue) push(i int, b arrow.RecordBatch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.full(i) {
		q.cond.Wait()
	}
	n := change.RecordBytes(b)
	q.batches[i] = append(q.batches[i], b)
	q.bytes[i] += n
	q.queued += n
	q.cond.Broadcast()
}

// full reports whether the decoder of file i must wait (q.mu held).
func (q *decodeQueue) full(i int) bool {
	switch {
	case q.limit <= 0:
		return false
	case i == q.current:
		return q.bytes[i] >= q.limit
	default:
		return q.queued >= q.limit
	}
}

// finish says that no batch of file i follows.
func (q *decodeQueue) finish(i int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done[i] = true
	q.cond.Broadcast()
}

// next returns the next batch of file i, waiting for it; false after its
// last. Files are taken in order: taking from i lets i's decoder past the
// limit.
func (q *decodeQueue) next(i int) (arrow.RecordBatch, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.current != i {
		q.current = i
		q.cond.Broadcast()
	}
	for len(q.batches[i]) == 0 && !q.done[i] {
		q.cond.Wait()
	}
	if len(q.batches[i]) == 0 {
		return nil, false
	}
	b := q.batches[i][0]
	q.batches[i][0] = nil
	q.batches[i] = q.batches[i][1:]
	n := change.RecordBytes(b)
	q.bytes[i] -= n
	q.queued -= n
	q.cond.Broadcast()
	return b, true
}

// decodeAll decodes files on up to GOMAXPROCS workers, starting them in
// order: their batches go to the queue, the rest of what each file gave to
// its decodedFile (complete once the queue's next says the file has no
// more batches). With a memory budget, the batches decoded ahead of the
// file being taken hold at most about an eighth of it (a sixteenth for the
// file being taken, a sixteenth for the later ones: a run then holds at
// most half its budget in changes, an eighth in batches decoded ahead,
// and, once it spills, a sixteenth staged and a sixteenth being split:
// three quarters, leaving the rest to the Go heap's slack). The
// caller must take every file's batches in order, also after an error:
// later files are still decoded, so the error reported does not depend on
// timing.
func (t *Table) decodeAll(ctx context.Context, files []bookmarks.Entry, gen uint32) (*decodeQueue, []*decodedFile) {
	workers := min(runtime.GOMAXPROCS(0), len(files))
	var ahead int64
	if t.MemoryBudget > 0 {
		ahead = max(t.MemoryBudget/16, 1)
	}
	q := newDecodeQueue(len(files), ahead)
	out := make([]*decodedFile, len(files))
	for i := range out {
		out[i] = &decodedFile{}
	}
	next := make(chan int)
	go func() {
		for i := range files {
			next <- i
		}
		close(next)
	}()
	for range workers {
		go func() {
			for i := range next {
				t.decode(ctx, files[i], gen, out[i], func(b arrow.RecordBatch) { q.push(i, b) })
				q.finish(i)
			}
		}()
	}
	return q, out
}

// decode reads one file, handing each batch to emit after checking that
// no key is null, and fills d: rows, the _seq of the truncate events it
// holds, skipped events, source time, or the error.
func (t *Table) decode(ctx context.Context, f bookmarks.Entry, gen uint32, d *decodedFile, emit func(arrow.RecordBatch)) {
	rc, err := t.Raw.Open(ctx, f.Key)
	if err != nil {
		d.err = err // names the object (Raw's contract)
		return
	}
	defer rc.Close()
	br, err := t.Format.Open(ctx, rc, f.Key, gen, t.Mem)
	if err != nil {
		d.err = fmt.Errorf("decode %s: %w", f.Key, err)
		return
	}
	defer br.Close()
	for {
		if err := ctx.Err(); err != nil {
			d.err = fmt.Errorf("decode %s: %w", f.Key, err)
			return
		}
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			if tr, ok := br.(Truncator); ok {
				d.truncs = tr.Truncates()
			}
			if sk, ok := br.(Skipper); ok {
				d.skipped = sk.Skipped()
			}
			if st, ok := br.(SourceTimer); ok {
				d.srcTime = st.SourceTime()
			}
			return
		}
		if err != nil {
			d.err = fmt.Errorf("decode %s: %w", f.Key, err)
			return
		}
		enc, err := change.NewKeyEncoder(b, t.Keys)
		if err != nil {
			b.Release()
			d.err = &change.MalformedError{File: f.Key, Reason: err.Error()}
			return
		}
		for r := 0; r < int(b.NumRows()); r++ {
			if enc.HasNull(r) {
				b.Release()
				d.err = &change.MalformedError{File: f.Key,
					Reason: fmt.Sprintf("record %d: primary key (%v) has a null value", d.rows+int64(r)+1, t.Keys)}
				return
			}
		}
		d.rows += b.NumRows()
		emit(b)
	}
}

// unionColumns extends the table's columns with the change set's: existing
// columns keep their position (widened if the changes need it), new ones are
// appended.
func unionColumns(txn Txn, changeCols []change.Column) ([]change.Column, error) {
	cur, err := txn.Columns()
	if err != nil {
		return nil, err
	}
	return change.ExtendColumns(slices.Clone(cur), changeCols)
}

// conform returns b with exactly cols (in order, cast to their types, null
// where b lacks them) followed by _op and _seq, by _keep when withKeep:
// its bits renumbered from b's user columns to cols (a row of b without
// _keep keeps nothing), and by _ts when withTS (null where b lacks it).
// The caller releases the result; b is borrowed.
func conform(mem memory.Allocator, b arrow.RecordBatch, cols []change.Column, withKeep, withTS bool) (arrow.RecordBatch, error) {
	schema := change.Schema(cols)
	if withKeep {
		schema = arrow.NewSchema(append(schema.Fields(), arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true}), nil)
	}
	if withTS {
		schema = arrow.NewSchema(append(schema.Fields(), arrow.Field{Name: change.ColTS, Type: change.TSType(), Nullable: true}), nil)
	}
	n := int(b.NumRows())
	out := make([]arrow.Array, 0, schema.NumFields())
	release := func() {
		for _, a := range out {
			a.Release()
		}
	}
	ctx := compute.WithAllocator(context.Background(), mem)
	for _, f := range schema.Fields() {
		if f.Name == change.ColKeep {
			out = append(out, remapKeep(mem, b, cols))
			continue
		}
		idx := b.Schema().FieldIndices(f.Name)
		if len(idx) == 0 {
			if change.IsSystemColumn(f.Name) && f.Name != change.ColTS {
				release()
				return nil, fmt.Errorf("conform: batch lacks %s", f.Name)
			}
			out = append(out, array.MakeArrayOfNull(mem, f.Type, n))
			continue
		}
		col := b.Column(idx[0])
		if arrow.TypeEqual(col.DataType(), f.Type) {
			col.Retain()
			out = append(out, col)
			continue
		}
		cast, err := compute.CastToType(ctx, col, f.Type)
		if err != nil {
			release()
			return nil, fmt.Errorf("conform column %s from %s to %s: %w", f.Name, col.DataType(), f.Type, err)
		}
		out = append(out, cast)
	}
	rec := array.NewRecordBatch(schema, out, int64(n))
	release()
	return rec, nil
}

// hasTS reports whether a batch has the _ts column.
func hasTS(b arrow.RecordBatch) bool { return len(b.Schema().FieldIndices(change.ColTS)) > 0 }

// hasKeep reports whether a batch has the _keep column.
func hasKeep(b arrow.RecordBatch) bool { return len(b.Schema().FieldIndices(change.ColKeep)) > 0 }

// remapKeep renumbers the _keep bits of b (over b's user columns) to cols.
func remapKeep(mem memory.Allocator, b arrow.RecordBatch, cols []change.Column) arrow.Array {
	kb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
	defer kb.Release()
	idx := b.Schema().FieldIndices(change.ColKeep)
	if len(idx) == 0 {
		kb.AppendNulls(int(b.NumRows()))
		return kb.NewArray()
	}
	keep := b.Column(idx[0]).(*array.Binary)
	// to[i] is the position in cols of b's i-th user column.
	var to []int
	for _, f := range b.Schema().Fields() {
		if !change.IsSystemColumn(f.Name) {
			to = append(to, slices.IndexFunc(cols, func(c change.Column) bool { return c.Name == f.Name }))
		}
	}
	for r := 0; r < keep.Len(); r++ {
		if keep.IsNull(r) {
			kb.AppendNull()
			continue
		}
		var bits []byte
		for i, j := range to {
			src := keep.Value(r)
			if j < 0 || i/8 >= len(src) || src[i/8]&(1<<(i%8)) == 0 {
				continue
			}
			if bits == nil {
				bits = make([]byte, (len(cols)+7)/8)
			}
			bits[j/8] |= 1 << (j % 8)
		}
		if bits == nil {
			kb.AppendNull()
		} else {
			kb.Append(bits)
		}
	}
	return kb.NewArray()
}

// dropOlder returns the rows of rec whose _seq is not less than before; the
// caller releases the result and still owns rec. When every row is that
// new (a reload's own rows, the usual case) the result is rec itself,
// retained: copying a full load would double the run's peak memory.
func dropOlder(mem memory.Allocator, rec arrow.RecordBatch, before []byte) (arrow.RecordBatch, error) {
	seqs := rec.Column(rec.Schema().FieldIndices(change.ColSeq)[0]).(*array.Binary)
	older := false
	for r := 0; r < seqs.Len() && !older; r++ {
		older = change.CompareSeq(seqs.Value(r), before) < 0
	}
	if !older {
		rec.Retain()
		return rec, nil
	}
	mb := array.NewBooleanBuilder(mem)
	defer mb.Release()
	for r := 0; r < seqs.Len(); r++ {
		mb.Append(change.CompareSeq(seqs.Value(r), before) >= 0)
	}
	mask := mb.NewBooleanArray()
	defer mask.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	out, err := compute.FilterRecordBatch(ctx, rec, mask, compute.DefaultFilterOptions())
	if err != nil {
		return nil, fmt.Errorf("drop changes older than a truncate: %w", err)
	}
	return out, nil
}
