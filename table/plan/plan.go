// Package plan decides what a deduplicated change set does to a table:
// for each change, whether it inserts, updates or deletes its key, or is
// stale or absent; which stored rows go; how the table's tombstones
// change; and the counts of all that (table.ApplyStats). Both table
// writers (table/iceberg, table/delta) find the stored rows of the changed
// keys, hand them to a Plan, and write exactly what it decided; neither
// decides a verdict of its own.
//
// The rule (invariant 4 of package merge: for each key the change with the
// greatest _seq wins, deletes included, across batches and runs) lives here
// once:
//
//   - a change applies to its key only when its _seq is greater than the
//     _seq of the key's live stored row, or, when the key has no live row,
//     than the _seq of the key's tombstone; otherwise it is Stale and the
//     stored row (or the deletion) stays;
//   - an applicable delete of a live row is Delete (the row goes), of a key
//     without one Absent; either leaves a tombstone with its _seq;
//   - an applicable insert or update of a live row is Update (the row is
//     replaced), of a key without one Insert; either clears the key's
//     tombstone;
//   - with truncateBefore set (a new load generation, a truncate), every
//     live row whose _seq is less than it and whose key has no change goes
//     too (counted as deleted), and tombstones older than it are dropped;
//   - tombstones written longer ago than the horizon are dropped from the
//     set the change set leaves (a change set is decided against the
//     tombstones the table holds; the next one no longer sees them).
//
// A key with two live stored rows is an error: the table violates one row
// per key (invariant 3), and nothing is decided for it.
//
// The package does no I/O: stored rows come in as Arrow batches of their
// key columns and _seq (Match), as the rows a writer found through the
// plan's KeyIndex (MatchFound), or as rows its caller read and located
// already (MatchLocated), and it keeps no reference to them.
package plan

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// Verdict is what one change does to its key.
type Verdict int8

const (
	Undecided Verdict = iota // Decide has not run
	Insert                   // the key had no live row and gets one
	Update                   // the key's live row is replaced
	Delete                   // the key's live row goes
	Stale                    // not applied: the stored row or tombstone has an equal or newer _seq
	Absent                   // a delete of a key without a live row: nothing to remove
)

func (v Verdict) String() string {
	switch v {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Stale:
		return "stale"
	case Absent:
		return "absent"
	}
	return "undecided"
}

// Writes reports whether the change's row is written (Insert, Update).
func (v Verdict) Writes() bool { return v == Insert || v == Update }

// Row locates a stored row: its data file and position in it.
type Row struct {
	File string
	Pos  int64
}

// Removal is the stored rows of one data file that go: sorted positions.
type Removal struct {
	File      string
	Positions []int64
}

// Input is what a plan decides from, besides the stored rows.
type Input struct {
	// Changes are the change set: at most one row per key, with the key
	// columns, change.ColOp (int8), change.ColSeq (binary) and optionally
	// change.ColKeep. Borrowed until Decide returns, not released; nil is
	// an empty change set.
	Changes arrow.RecordBatch
	Keys    []string // the key columns
	// TruncateBefore, when set, is a reload's or a truncate's _seq: stored
	// rows older than it go unless a change has their key.
	TruncateBefore []byte
	// Tombstones are the table's; Now is the commit's time (new tombstones
	// are stamped with it) and Horizon how long a tombstone lives.
	Tombstones *table.Tombstones
	Now        time.Time
	Horizon    time.Duration
	// NoTombstones decides for a table that keeps none (a prepared
	// table, whose change sets are never older than what it deleted): a
	// delete leaves no tombstone, Tombstones is not consulted, and
	// Decide returns no edits and an empty set.
	NoTombstones bool
}

// Plan is the decision for one change set. Use it from one goroutine:
// New, then Match for every batch of stored rows that may hold a changed
// key, then Decide once; then read the verdicts.
type Plan struct {
	in   Input // in.Changes borrowed until Decide
	n    int
	ops  *array.Int8
	seqs *array.Binary
	keep *array.Binary      // nil without change.ColKeep
	enc  *change.KeyEncoder // the changes' keys, encoded when needed

	index    *table.KeyIndex // built by the first Match
	found    []bool
	stale    []bool
	at       []Row
	removed  map[string][]int64
	verdicts []Verdict
	stats    table.ApplyStats
	decided  bool
}

// New starts the plan of in.Changes. Two changes of one key are an error.
func New(in Input) (*Plan, error) {
	if in.Tombstones == nil {
		in.Tombstones = &table.Tombstones{}
	}
	p := &Plan{in: in, removed: map[string][]int64{}}
	changes := in.Changes
	if changes == nil {
		return p, nil
	}
	p.n = int(changes.NumRows())
	col := func(name string) arrow.Array {
		if idx := changes.Schema().FieldIndices(name); len(idx) == 1 {
			return changes.Column(idx[0])
		}
		return nil
	}
	var ok bool
	if p.ops, ok = col(change.ColOp).(*array.Int8); !ok {
		return nil, fmt.Errorf("plan: change batch has no int8 column %s", change.ColOp)
	}
	if p.seqs, ok = col(change.ColSeq).(*array.Binary); !ok {
		return nil, fmt.Errorf("plan: change batch has no binary column %s", change.ColSeq)
	}
	if k := col(change.ColKeep); k != nil {
		if p.keep, ok = k.(*array.Binary); !ok {
			return nil, fmt.Errorf("plan: change batch column %s is not binary", change.ColKeep)
		}
	}
	var err error
	if p.enc, err = change.NewKeyEncoder(changes, in.Keys); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	// One change per key (invariant 3): adjacent keys of a sorted change
	// set (merge's are sorted) must differ; others are checked by building
	// the index now instead of at the first Match. Keys are encoded into
	// two buffers only: a full load's million keys are not kept.
	var prev, cur []byte
	sorted := true
	for i := 0; i < p.n && sorted; i++ {
		cur = p.enc.Append(cur[:0], i)
		switch c := bytes.Compare(prev, cur); {
		case i > 0 && c == 0:
			return nil, fmt.Errorf("plan: change rows %d and %d have the same key", i-1, i)
		case i > 0 && c > 0:
			sorted = false
		}
		prev, cur = cur, prev
	}
	if !sorted {
		if p.index, err = table.NewKeyIndex(changes, in.Keys); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	p.found = make([]bool, p.n)
	p.stale = make([]bool, p.n)
	p.at = make([]Row, p.n)
	return p, nil
}

// Len is the number of changes.
func (p *Plan) Len() int { return p.n }

// Match matches one batch of stored rows with the changes: rows holds the
// key columns (any integer width for an integer key) and change.ColSeq of
// the rows of data file file at positions base, base+1, …; dead are the
// sorted positions of the file that an earlier delete already removed
// (they are not live and match nothing). The batch is borrowed.
//
// A stored row whose key has a change is the row that change replaces or
// deletes, unless the change is stale; a stored row without a change goes
// only when it is older than truncateBefore. Every row is counted in
// RowsScanned.
func (p *Plan) Match(file string, rows arrow.RecordBatch, base int64, dead []int64) error {
	if p.decided {
		return fmt.Errorf("plan: Match after Decide")
	}
	// Built on the first stored batch: a table's first load has none.
	if _, err := p.KeyIndex(); err != nil {
		return err
	}
	probe := func(int) (int, bool) { return 0, false }
	if p.index != nil {
		var err error
		if probe, err = p.index.Probe(rows); err != nil {
			return fmt.Errorf("plan: stored rows of %s: %w", file, err)
		}
	}
	si := rows.Schema().FieldIndices(change.ColSeq)
	if len(si) != 1 {
		return fmt.Errorf("plan: stored rows of %s have no column %s", file, change.ColSeq)
	}
	rseq, ok := rows.Column(si[0]).(*array.Binary)
	if !ok {
		return fmt.Errorf("plan: stored column %s of %s is %s, not binary", change.ColSeq, file, rows.Column(si[0]).DataType())
	}
	gone := p.removed[file]
	defer func() {
		if len(gone) > 0 {
			p.removed[file] = gone
		}
	}()
	nr := int(rows.NumRows())
	p.stats.RowsScanned += int64(nr)
	for r := 0; r < nr; r++ {
		pos := base + int64(r)
		if len(dead) > 0 {
			if _, isDead := slices.BinarySearch(dead, pos); isDead {
				continue
			}
		}
		i, ok := probe(r)
		if !ok {
			if p.in.TruncateBefore != nil && change.CompareSeq(rseq.Value(r), p.in.TruncateBefore) < 0 {
				gone = append(gone, pos)
				p.stats.Deleted++
			}
			continue
		}
		if err := p.matchRow(file, i, pos, rseq.Value(r), false, &gone); err != nil {
			return err
		}
	}
	return nil
}

// matchRow records that stored row pos of file, whose _seq is seq, holds
// the key of change i; gone collects the positions that go. With older set
// the row is known to be older than every change, and seq is not read.
func (p *Plan) matchRow(file string, i int, pos int64, seq []byte, older bool, gone *[]int64) error {
	if p.found[i] {
		return fmt.Errorf("key of change row %d has two live rows (the second in %s at %d): table violates one row per key", i, file, pos)
	}
	p.found[i] = true
	p.at[i] = Row{File: file, Pos: pos}
	if !older && change.CompareSeq(p.seqs.Value(i), seq) <= 0 {
		p.stale[i] = true
		return nil
	}
	*gone = append(*gone, pos)
	return nil
}

// MinSeq is the least _seq of the changes (nil without changes): a stored
// row whose _seq is below it is older than every change (table.Match's
// Older).
func (p *Plan) MinSeq() []byte {
	var least []byte
	for i := range p.n {
		if s := p.seqs.Value(i); least == nil || change.CompareSeq(s, least) < 0 {
			least = s
		}
	}
	return slices.Clone(least)
}

// KeyIndex returns the index of the changes' keys that Match probes, for
// a caller that finds the matching stored rows itself (MatchFound).
func (p *Plan) KeyIndex() (*table.KeyIndex, error) {
	if p.index == nil && p.n > 0 {
		var err error
		if p.index, err = table.NewKeyIndex(p.in.Changes, p.in.Keys); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	return p.index, nil
}

// MatchFound is Match for a caller that found the stored rows holding a
// changed key itself (through KeyIndex): found are the live rows of data
// file file that hold one (their Seq borrowed for the call; an Older row
// is not stale whatever its _seq), in increasing position, and cnt is what
// the caller read to find them (its Rows counted in RowsScanned, its
// PagesSkipped in PagesSkipped). Every other live row of the file must
// hold no changed key. Without TruncateBefore only: a reload must see
// every row's _seq.
func (p *Plan) MatchFound(file string, found []table.Match, cnt table.ScanCounts) error {
	if p.decided {
		return fmt.Errorf("plan: Match after Decide")
	}
	if p.in.TruncateBefore != nil {
		return fmt.Errorf("plan: MatchFound with truncateBefore set")
	}
	p.stats.RowsScanned += cnt.Rows
	p.stats.PagesSkipped += int64(cnt.PagesSkipped)
	gone := p.removed[file]
	for _, f := range found {
		if f.Change < 0 || f.Change >= p.n {
			return fmt.Errorf("plan: stored row %d of %s matched change row %d of %d", f.Pos, file, f.Change, p.n)
		}
		if err := p.matchRow(file, f.Change, f.Pos, f.Seq, f.Older, &gone); err != nil {
			return err
		}
	}
	if len(gone) > 0 {
		p.removed[file] = gone
	}
	return nil
}

// MatchLocated is Match for a caller that read the stored rows that may
// hold a changed key already, with where they are (table.Located): rows
// (borrowed; the key columns and _seq, any other columns) are the rows of
// at's files in at's order, and every live row of the state at was read
// from that holds a changed key must be among them (a row holding none
// may be too; it is skipped). Nothing is counted as scanned. Without
// TruncateBefore only: a reload must see every row's _seq.
func (p *Plan) MatchLocated(rows arrow.RecordBatch, at table.Located) error {
	if p.decided {
		return fmt.Errorf("plan: Match after Decide")
	}
	if p.in.TruncateBefore != nil {
		return fmt.Errorf("plan: MatchLocated with truncateBefore set")
	}
	var n int64
	for _, f := range at.Files {
		n += int64(len(f.Pos))
	}
	if n != rows.NumRows() {
		return fmt.Errorf("plan: %d located stored rows, %d positions", rows.NumRows(), n)
	}
	if _, err := p.KeyIndex(); err != nil || p.index == nil || n == 0 {
		return err
	}
	probe, err := p.index.Probe(rows)
	if err != nil {
		return fmt.Errorf("plan: located stored rows: %w", err)
	}
	si := rows.Schema().FieldIndices(change.ColSeq)
	if len(si) != 1 {
		return fmt.Errorf("plan: located stored rows have no column %s", change.ColSeq)
	}
	rseq, ok := rows.Column(si[0]).(*array.Binary)
	if !ok {
		return fmt.Errorf("plan: located stored column %s is %s, not binary", change.ColSeq, rows.Column(si[0]).DataType())
	}
	r := 0
	for _, f := range at.Files {
		gone := p.removed[f.Path]
		for _, pos := range f.Pos {
			if i, ok := probe(r); ok {
				if err := p.matchRow(f.Path, i, pos, rseq.Value(r), false, &gone); err != nil {
					return err
				}
			}
			r++
		}
		if len(gone) > 0 {
			p.removed[f.Path] = gone
		}
	}
	return nil
}

// Decision is what Decide returns: the counts, and the table's tombstones
// after the change set.
type Decision struct {
	// Stats has the verdict counts (Inserted, Updated, Deleted, Stale,
	// Absent, KeptMissing), RowsScanned and PagesSkipped; the writer
	// adds what it wrote and read.
	Stats table.ApplyStats
	// Edits are the tombstone edits of the changes, sorted by key: a
	// tombstone for every applicable delete, a clear for every applicable
	// insert or update of a key that had one.
	Edits []table.TombEdit
	// Tombstones are the table's tombstones after Edits, the horizon and
	// truncateBefore; TombstonesChanged is false when they equal the ones
	// Decide was given (nothing to write).
	Tombstones        *table.Tombstones
	TombstonesChanged bool
}

// Decide decides every change, once every stored row that may hold a
// changed key went through Match. The change batch is no longer borrowed
// after it.
func (p *Plan) Decide() (Decision, error) {
	if p.decided {
		return Decision{}, fmt.Errorf("plan: Decide called twice")
	}
	tombs, now, horizon := p.in.Tombstones, p.in.Now, p.in.Horizon
	if p.in.NoTombstones {
		tombs = &table.Tombstones{}
	}
	p.decided = true
	p.verdicts = make([]Verdict, p.n)
	st := p.stats
	var edits []table.TombEdit
	var key []byte // change i's encoded key, when needed
	for i := range p.n {
		op := change.Op(p.ops.Value(i))
		seq := p.seqs.Value(i)
		var dead []byte
		var hasTomb bool
		if tombs.Len() > 0 || (op == change.OpDelete && !p.in.NoTombstones) {
			key = p.enc.Append(key[:0], i)
			dead, hasTomb = tombs.SeqOf(key)
		}
		if !p.found[i] && hasTomb && change.CompareSeq(seq, dead) <= 0 {
			p.stale[i] = true
		}
		var v Verdict
		switch {
		case p.stale[i]:
			v = Stale
		case op == change.OpDelete && p.found[i]:
			v = Delete
		case op == change.OpDelete:
			v = Absent
		case p.found[i]:
			v = Update
		default:
			v = Insert
		}
		p.verdicts[i] = v
		switch v {
		case Stale:
			st.Stale++
			continue
		case Delete:
			st.Deleted++
		case Absent:
			st.Absent++
		case Update:
			st.Updated++
		case Insert:
			st.Inserted++
			if p.partial(i) {
				st.KeptMissing++ // its left-out columns have no stored value
			}
		}
		switch {
		case p.in.NoTombstones:
		case op == change.OpDelete:
			edits = append(edits, table.TombEdit{Key: bytes.Clone(key), Seq: bytes.Clone(seq)})
		case hasTomb:
			edits = append(edits, table.TombEdit{Key: bytes.Clone(key)}) // live again
		}
	}
	if !slices.IsSortedFunc(edits, compareEdits) {
		slices.SortFunc(edits, compareEdits)
	}
	at := now.UnixMicro()
	out, changed := tombs.Apply(edits, at, at-horizon.Microseconds(), p.in.TruncateBefore)
	p.in.Changes, p.ops, p.seqs, p.keep, p.enc, p.index = nil, nil, nil, nil, nil, nil
	return Decision{Stats: st, Edits: edits, Tombstones: out, TombstonesChanged: changed}, nil
}

func compareEdits(a, b table.TombEdit) int { return bytes.Compare(a.Key, b.Key) }

// partial reports whether change i left columns out (change.ColKeep).
func (p *Plan) partial(i int) bool {
	return p.keep != nil && p.keep.IsValid(i) && len(p.keep.Value(i)) > 0
}

// StaleRows returns the change rows whose verdict is Stale, in order
// (none before Decide): the rows a journal marks (table.EncodeJournal).
func (p *Plan) StaleRows() []int {
	var out []int
	for i, v := range p.verdicts {
		if v == Stale {
			out = append(out, i)
		}
	}
	return out
}

// Verdict is what change row i does; Undecided before Decide.
func (p *Plan) Verdict(i int) Verdict {
	if p.verdicts == nil {
		return Undecided
	}
	return p.verdicts[i]
}

// StoredAt is where the live stored row of change i's key is; ok is false
// when the key has none.
func (p *Plan) StoredAt(i int) (Row, bool) { return p.at[i], p.found[i] }

// Removed lists the stored rows that go, file by file in file order, with
// sorted positions: those the applicable changes replace or delete and
// those truncateBefore removes.
func (p *Plan) Removed() []Removal {
	out := make([]Removal, 0, len(p.removed))
	for f, pos := range p.removed {
		slices.Sort(pos)
		out = append(out, Removal{File: f, Positions: pos})
	}
	slices.SortFunc(out, func(a, b Removal) int { return strings.Compare(a.File, b.File) })
	return out
}
