package merge_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/plan"
)

// The protocol tests of this package run merge against small fakes: a raw
// zone in memory, a text format of one change per line, and a table in
// memory that decides with table/plan, as the real writers do. The real
// formats and writers are tested against their own suites
// (formats/*, table/tabletest) and together in cmd/lakemerge/wire.

// ---- raw zone ----------------------------------------------------------

// memRaw is a raw zone in memory: objects with an ETag (MD5 of the body,
// as S3 gives for a simple upload) and a size.
type memRaw struct {
	mu   sync.Mutex
	objs map[string]string
}

func newRaw() *memRaw { return &memRaw{objs: map[string]string{}} }

func (r *memRaw) put(key, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objs[key] = body
}

func (r *memRaw) List(_ context.Context, prefix string) ([]bookmarks.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []bookmarks.Entry
	for k, b := range r.objs {
		if strings.HasPrefix(k, prefix) {
			sum := md5.Sum([]byte(b))
			out = append(out, bookmarks.Entry{Key: k, ETag: `"` + hex.EncodeToString(sum[:]) + `"`, Size: int64(len(b))})
		}
	}
	return out, nil
}

func (r *memRaw) Open(_ context.Context, key string) (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.objs[key]
	if !ok {
		return nil, fmt.Errorf("open %s: no such object", key)
	}
	return io.NopCloser(strings.NewReader(b)), nil
}

// ---- format -------------------------------------------------------------

// lineFormat is a format of text files named load-<n> (full loads: a
// snapshot, applied before everything else) and cdc-<n>, n in digits,
// under any folder. Each line is one change,
//
//	op,id,name,seq
//
// op I, U or D; name "~" when the change left the column out (a partial
// row image); seq the change's position among the changes (a load's are
// all 0). The line "T,,,seq" is a truncate at seq. _seq is generation,
// phase (0 load, 1 cdc) and seq, then the file's key and the line, so
// that a load file's rows are ordered too.
type lineFormat struct {
	// opened, when set, is called as a file starts decoding, from the
	// decoding goroutine.
	opened func(key string)
}

var lineCols = []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String}}

func fileKind(key string) (kind string, n int, err error) {
	base := key[strings.LastIndexByte(key, '/')+1:]
	kind, num, ok := strings.Cut(base, "-")
	if !ok || (kind != "load" && kind != "cdc") {
		return "", 0, fmt.Errorf("%s is not load-<n> or cdc-<n>", base)
	}
	n, err = strconv.Atoi(num)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %q is not a number", base, num)
	}
	return kind, n, nil
}

func (lineFormat) Order(keys []string) (ordered, companions []string, unknown []merge.Unknown) {
	type named struct {
		key  string
		load bool
		n    int
	}
	var files []named
	for _, k := range keys {
		kind, n, err := fileKind(k)
		if err != nil {
			unknown = append(unknown, merge.Unknown{Key: k, Reason: err})
			continue
		}
		files = append(files, named{k, kind == "load", n})
	}
	slices.SortFunc(files, func(a, b named) int {
		switch {
		case a.load != b.load && a.load:
			return -1
		case a.load != b.load:
			return 1
		}
		return a.n - b.n
	})
	for _, f := range files {
		ordered = append(ordered, f.key)
	}
	return ordered, nil, unknown
}

func (lineFormat) IsSnapshot(key string) bool {
	kind, _, err := fileKind(key)
	return err == nil && kind == "load"
}

func (f lineFormat) Open(_ context.Context, r io.Reader, key string, generation uint32, mem memory.Allocator) (merge.BatchReader, error) {
	if f.opened != nil {
		f.opened(key)
	}
	kind, _, err := fileKind(key)
	if err != nil {
		return nil, err
	}
	sch := arrow.NewSchema(append(change.Schema(lineCols).Fields(), arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true},
		arrow.Field{Name: change.ColTS, Type: change.TSType(), Nullable: true}), nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	lr := &lineReader{}
	sc := bufio.NewScanner(r)
	for line := int64(1); sc.Scan(); line++ {
		bad := func(reason string) (merge.BatchReader, error) {
			return nil, &change.MalformedError{File: key, Line: line, Reason: reason}
		}
		p := strings.Split(sc.Text(), ",")
		if len(p) != 4 {
			return bad("want op,id,name,seq")
		}
		seqN, err := strconv.ParseUint(p[3], 10, 64)
		if err != nil {
			return bad(fmt.Sprintf("seq %q is not a number", p[3]))
		}
		var sb change.SeqBuilder
		phase := byte(1)
		if kind == "load" {
			phase = 0
		}
		sb.Uint32(generation).Byte(phase).Uint64(seqN).String(key).Uint64(uint64(line))
		if p[0] == "T" {
			lr.truncs = append(lr.truncs, slices.Clone(sb.Bytes()))
			continue
		}
		op, err := change.ParseOp(p[0])
		if err != nil {
			return bad(err.Error())
		}
		id, err := strconv.ParseInt(p[1], 10, 64)
		if err != nil {
			return bad(fmt.Sprintf("id %q is not a number", p[1]))
		}
		b.Field(0).(*array.Int64Builder).Append(id)
		switch {
		case p[2] == "~":
			b.Field(1).AppendNull()
			b.Field(4).(*array.BinaryBuilder).Append([]byte{2}) // name left out
		case op == change.OpDelete:
			b.Field(1).AppendNull()
			b.Field(4).AppendNull()
		default:
			b.Field(1).(*array.StringBuilder).Append(p[2])
			b.Field(4).AppendNull()
		}
		b.Field(2).(*array.Int8Builder).Append(int8(op))
		b.Field(3).(*array.BinaryBuilder).Append(sb.Bytes())
		// _ts: a CDC change's commit time is its seq in seconds; a load's
		// rows have none.
		if kind == "load" {
			b.Field(5).AppendNull()
		} else {
			b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(seqN) * 1_000_000))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	lr.rec = b.NewRecordBatch()
	return lr, nil
}

// lineReader yields a file's one batch, then its truncates.
type lineReader struct {
	rec    arrow.RecordBatch
	truncs [][]byte
}

func (l *lineReader) Next() (arrow.RecordBatch, error) {
	if l.rec == nil {
		return nil, io.EOF
	}
	rec := l.rec
	l.rec = nil
	return rec, nil
}

func (l *lineReader) Truncates() [][]byte { return l.truncs }

func (l *lineReader) Close() error {
	if l.rec != nil {
		l.rec.Release()
		l.rec = nil
	}
	return nil
}

// ---- table -------------------------------------------------------------

// memRow is a stored row: its values as the test renders them, and _seq.
type memRow struct {
	vals map[string]string
	seq  []byte
}

// memState is one committed state of a memTable.
type memState struct {
	version int
	bm      bookmarks.Bookmark
	cols    []change.Column
	rows    map[int64]memRow
	tombs   *table.Tombstones
}

// memTable is a table in memory with the commit semantics merge relies
// on: a Txn begins from the current state, and its Commit lands only when
// the table is still at that state (compare and swap), else it fails with
// table.ErrConflict. Which changes apply is table/plan's, as in every
// writer. It keeps every state it was at, for the tests.
type memTable struct {
	mu     sync.Mutex
	states []memState
	keys   []string
	mem    memory.Allocator
	// chunked makes Begin return Txns that take change sets in chunks
	// (merge.Chunker); chunks counts the chunks they applied.
	chunked bool
	chunks  int
	// buckets, when set with chunked, makes the Txns merge.Bucketers of
	// that many buckets (bucket = id modulo buckets); spans are the
	// buckets and key bounds of each chunk applied, for the tests.
	buckets int
	spans   []chunkSpan
}

// chunkSpan is what one chunk of a bucketed table held: its buckets and
// its least and greatest key.
type chunkSpan struct {
	buckets  map[int32]bool
	min, max int64
}

func newMemTable(mem memory.Allocator) *memTable {
	return &memTable{states: []memState{{rows: map[int64]memRow{}, tombs: &table.Tombstones{}}}, keys: []string{"id"}, mem: mem}
}

func (t *memTable) current() memState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.states[len(t.states)-1]
}

func (t *memTable) Begin(context.Context) (merge.Txn, error) {
	s := t.current()
	x := &memTxn{t: t, base: s, next: s}
	if t.chunked {
		return &chunkTxn{memTxn: x, claimed: map[int64]bool{}}, nil
	}
	return x, nil
}

// render is the table's rows as "id|name" lines sorted by id.
func (t *memTable) render() string {
	s := t.current()
	ids := slices.Sorted(func(yield func(int64) bool) {
		for id := range s.rows {
			if !yield(id) {
				return
			}
		}
	})
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%d|%s\n", id, s.rows[id].vals["name"])
	}
	return b.String()
}

// memTxn is one commit attempt on a memTable.
type memTxn struct {
	t          *memTable
	base, next memState
	applied    bool
	done       bool
	edits      []table.TombEdit // the tombstone edits of every apply
}

func (x *memTxn) Bookmark() bookmarks.Bookmark { return x.base.bm }

func (x *memTxn) Columns() ([]change.Column, error) { return slices.Clone(x.base.cols), nil }

func (x *memTxn) Evolve(_ context.Context, cols []change.Column) error {
	for _, c := range x.base.cols {
		i := slices.IndexFunc(cols, func(n change.Column) bool { return n.Name == c.Name })
		if i < 0 {
			return fmt.Errorf("evolve: column %s dropped", c.Name)
		}
		if w, err := change.Widen(c.Type, cols[i].Type); err != nil || !arrow.TypeEqual(w, cols[i].Type) {
			return fmt.Errorf("evolve: column %s from %s to %s is not a widening", c.Name, c.Type, cols[i].Type)
		}
	}
	x.next.cols = slices.Clone(cols)
	return nil
}

func (x *memTxn) Apply(_ context.Context, changes arrow.RecordBatch, truncateBefore []byte) (table.ApplyStats, error) {
	if x.applied || x.done {
		return table.ApplyStats{}, errors.New("apply: once, before Commit")
	}
	x.applied = true
	return x.apply(changes, truncateBefore, nil)
}

// apply decides changes against the rows and tombstones staged so far
// (x.next): the table's, or what the Txn's earlier chunks left. The stored
// rows of the keys in claimed are not seen (a truncate after chunks).
func (x *memTxn) apply(changes arrow.RecordBatch, truncateBefore []byte, claimed map[int64]bool) (table.ApplyStats, error) {
	p, err := plan.New(plan.Input{Changes: changes, Keys: x.t.keys, TruncateBefore: truncateBefore,
		Tombstones: x.next.tombs, Now: time.Now(), Horizon: table.DefaultTombstoneHorizon})
	if err != nil {
		return table.ApplyStats{}, err
	}
	// The stored rows, in key order, as one data file "mem".
	ids := slices.Sorted(func(yield func(int64) bool) {
		for id := range x.next.rows {
			if !yield(id) {
				return
			}
		}
	})
	b := array.NewRecordBuilder(x.t.mem, arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: change.ColSeq, Type: arrow.BinaryTypes.Binary}}, nil))
	var dead []int64
	for i, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.BinaryBuilder).Append(x.next.rows[id].seq)
		if claimed[id] {
			dead = append(dead, int64(i))
		}
	}
	stored := b.NewRecordBatch()
	b.Release()
	err = p.Match("mem", stored, 0, dead)
	stored.Release()
	if err != nil {
		return table.ApplyStats{}, err
	}
	d, err := p.Decide()
	if err != nil {
		return table.ApplyStats{}, err
	}
	rows := make(map[int64]memRow, len(x.next.rows))
	for id, r := range x.next.rows {
		rows[id] = r
	}
	for _, rm := range p.Removed() {
		for _, pos := range rm.Positions {
			delete(rows, ids[pos])
		}
	}
	from := x.next.rows
	x.next.rows, x.next.tombs = rows, d.Tombstones
	x.edits = append(x.edits, d.Edits...)
	if changes == nil {
		return d.Stats, nil
	}
	sch := changes.Schema()
	if len(sch.FieldIndices(change.ColTS)) != 0 {
		return table.ApplyStats{}, fmt.Errorf("fake table: the changes carry %s, which a table does not store", change.ColTS)
	}
	idCol := changes.Column(sch.FieldIndices("id")[0]).(*array.Int64)
	seqs := changes.Column(sch.FieldIndices(change.ColSeq)[0]).(*array.Binary)
	var keep *array.Binary
	if k := sch.FieldIndices(change.ColKeep); len(k) == 1 {
		keep = changes.Column(k[0]).(*array.Binary)
	}
	userBit := 0
	for i := range int(changes.NumRows()) {
		if !p.Verdict(i).Writes() {
			continue
		}
		r := memRow{vals: map[string]string{}, seq: slices.Clone(seqs.Value(i))}
		userBit = 0
		for ci, f := range sch.Fields() {
			if change.IsSystemColumn(f.Name) {
				continue
			}
			v := "NULL"
			if col := changes.Column(ci); col.IsValid(i) {
				v = col.ValueStr(i)
			}
			if keep != nil && keep.IsValid(i) && userBit/8 < len(keep.Value(i)) && keep.Value(i)[userBit/8]&(1<<(userBit%8)) != 0 {
				v = "NULL"
				if at, ok := p.StoredAt(i); ok {
					v = from[ids[at.Pos]].vals[f.Name]
				}
			}
			r.vals[f.Name] = v
			userBit++
		}
		rows[idCol.Value(i)] = r
	}
	return d.Stats, nil
}

// chunkTxn is a memTxn that also takes a change set in chunks (merge.Chunker),
// each decided against the rows the earlier ones left; FinishChunks
// truncates the rows of the keys no chunk had. Its chunks are counted in
// memTable.chunks.
type chunkTxn struct {
	*memTxn
	claimed  map[int64]bool // the keys of the chunks
	finished bool
}

func (x *chunkTxn) ApplyChunk(_ context.Context, changes arrow.RecordBatch) (table.ApplyStats, error) {
	if x.finished || x.done || x.applied {
		return table.ApplyStats{}, errors.New("apply chunk: not after Apply, before FinishChunks")
	}
	ids := changes.Column(changes.Schema().FieldIndices("id")[0]).(*array.Int64)
	for i := range ids.Len() {
		if x.claimed[ids.Value(i)] {
			return table.ApplyStats{}, fmt.Errorf("apply chunk: key %d was in an earlier chunk", ids.Value(i))
		}
		x.claimed[ids.Value(i)] = true
	}
	x.t.mu.Lock()
	x.t.chunks++
	if x.t.buckets > 0 && ids.Len() > 0 {
		sp := chunkSpan{buckets: map[int32]bool{}, min: ids.Value(0), max: ids.Value(0)}
		for _, id := range ids.Int64Values() {
			sp.buckets[int32(id%int64(x.t.buckets))] = true
			sp.min, sp.max = min(sp.min, id), max(sp.max, id)
		}
		x.t.spans = append(x.t.spans, sp)
	}
	x.t.mu.Unlock()
	return x.apply(changes, nil, nil)
}

// Buckets makes a chunkTxn a merge.Bucketer of memTable.buckets buckets
// (none: 0).
func (x *chunkTxn) Buckets([]change.Column) int { return x.t.buckets }

// AppendBuckets appends the bucket of each row's id: id modulo Buckets.
func (x *chunkTxn) AppendBuckets(dst []int32, b arrow.RecordBatch) ([]int32, error) {
	ids, ok := b.Column(b.Schema().FieldIndices("id")[0]).(*array.Int64)
	if !ok {
		return dst, fmt.Errorf("bucket: id is %s", b.Column(0).DataType())
	}
	for _, id := range ids.Int64Values() {
		dst = append(dst, int32(id%int64(x.t.buckets)))
	}
	return dst, nil
}

func (x *chunkTxn) FinishChunks(_ context.Context, truncateBefore []byte) (table.ApplyStats, error) {
	if x.finished || x.done {
		return table.ApplyStats{}, errors.New("finish chunks: once, before Commit")
	}
	x.finished = true
	if truncateBefore == nil {
		return table.ApplyStats{}, nil
	}
	// The truncate drops the table's older tombstones, not the chunks'
	// (as Apply keeps its changes' own): decide it on the table's, then
	// put the chunks' edits back on top.
	edits := x.edits
	x.next.tombs = x.base.tombs
	st, err := x.apply(nil, truncateBefore, x.claimed)
	if err != nil {
		return st, err
	}
	slices.SortFunc(edits, func(a, b table.TombEdit) int { return bytes.Compare(a.Key, b.Key) })
	now := time.Now().UnixMicro()
	x.next.tombs, _ = x.next.tombs.Apply(edits, now, now-table.DefaultTombstoneHorizon.Microseconds(), nil)
	return st, nil
}

func (x *chunkTxn) Commit(ctx context.Context, bm bookmarks.Bookmark) error {
	if len(x.claimed) > 0 && !x.finished {
		x.done = true
		return errors.New("commit: chunks not finished")
	}
	return x.memTxn.Commit(ctx, bm)
}

func (x *memTxn) Commit(_ context.Context, bm bookmarks.Bookmark) error {
	if x.done {
		return errors.New("commit: transaction already finished")
	}
	x.done = true
	x.t.mu.Lock()
	defer x.t.mu.Unlock()
	if cur := x.t.states[len(x.t.states)-1]; cur.version != x.base.version {
		return fmt.Errorf("commit from version %d, the table is at %d: %w", x.base.version, cur.version, table.ErrConflict)
	}
	x.next.version, x.next.bm = x.base.version+1, bm
	x.t.states = append(x.t.states, x.next)
	return nil
}
