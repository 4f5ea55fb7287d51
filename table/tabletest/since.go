package tabletest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// sinceState is the model's rows at one state of the table: key → column
// → rendered value, with "_seq".
type sinceState map[int64]map[string]string

func stateOf(m *Model) sinceState {
	s := sinceState{}
	for k, row := range m.Rows {
		r := maps.Clone(row)
		r[change.ColSeq] = hex.EncodeToString(SeqBytes(m.Seqs[k]))
		s[k] = r
	}
	return s
}

// render renders s with cols (NULL for a column added after it).
func (s sinceState) render(cols []change.Column) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(s)) {
		parts := make([]string, 0, len(cols)+1)
		for _, c := range cols {
			v, ok := s[k][c.Name]
			if !ok {
				v = "NULL"
			}
			parts = append(parts, c.Name+"="+v)
		}
		out = append(out, strings.Join(append(parts, change.ColSeq+"="+s[k][change.ColSeq]), " "))
	}
	return out
}

// applyStep applies a step's changes to s (a copy), checking that each
// is a change of s: an upsert (I for a key s lacks, U for one it has)
// whose _seq differs from the key's in s, a delete (the key alone, _seq
// the deleted row's and a 0 byte) of a key s has.
func applyStep(t *testing.T, s sinceState, rec arrow.RecordBatch, cols []change.Column) sinceState {
	t.Helper()
	next := sinceState{}
	for k, r := range s {
		next[k] = r
	}
	col := func(name string) arrow.Array {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("step changes have no column %s: %s", name, rec.Schema())
		}
		return rec.Column(idx[0])
	}
	ids, ok := col("id").(*array.Int64)
	if !ok {
		t.Fatalf("step key column is %s", col("id").DataType())
	}
	ops := col(change.ColOp).(*array.Int8)
	seqs := col(change.ColSeq)
	prev := int64(-1)
	for i := 0; i < int(rec.NumRows()); i++ {
		k := ids.Value(i)
		if k <= prev {
			t.Fatalf("step changes not sorted by key, one per key: %d after %d", k, prev)
		}
		prev = k
		was, had := s[k]
		seq := Render(seqs, i)
		switch op := change.Op(ops.Value(i)); {
		case op == change.OpDelete:
			if !had || seq != was[change.ColSeq]+"00" {
				t.Fatalf("key %d: delete with _seq %s; the key was live %v (%v)", k, seq, had, was)
			}
			for _, c := range cols[1:] {
				if len(rec.Schema().FieldIndices(c.Name)) == 0 {
					continue
				}
				if v := Render(col(c.Name), i); v != "NULL" {
					t.Fatalf("key %d: delete carries %s=%s", k, c.Name, v)
				}
			}
			delete(next, k)
		case op == change.OpInsert && had, op == change.OpUpdate && !had, op != change.OpInsert && op != change.OpUpdate:
			t.Fatalf("key %d: op %s, the key was live %v", k, op, had)
		default:
			if had && was[change.ColSeq] == seq {
				t.Fatalf("key %d: an upsert of the row the key had (_seq %s): not a change", k, seq)
			}
			row := map[string]string{change.ColSeq: seq}
			for _, c := range cols {
				// A state before a column was added has no such column.
				if len(rec.Schema().FieldIndices(c.Name)) > 0 {
					row[c.Name] = Render(col(c.Name), i)
				}
			}
			next[k] = row
		}
	}
	return next
}

// changesSince: the changes a table reports between two of its states
// (table.Table's ChangesSince), over random runs with inserts, updates,
// deletes, re-inserts, late changes, partial images, a reload and a
// column added, with a compaction (Iceberg) or optimize (Delta) every few
// runs: applied to the reference model's rows at the earlier state,
// they give its rows at the later one, for every pair of states; walked
// commit by commit (each), every step gives the model's rows at the
// state it names. An earlier state the table does not have is
// table.ErrNoHistory.
func changesSince(t *testing.T, f *fixture) {
	ctx := context.Background()
	f.opts.TargetFileBytes = 3 << 10
	cols := slices.Clone(Columns)
	mod := NewModel(cols)
	g := NewGen(11, 60)
	runs := 14
	if f.slow {
		runs = 8
	}
	var bm bookmarks.Bookmark
	var snaps []int64
	states := map[int64]sinceState{}
	record := func() {
		id := f.describe().Snapshot
		if _, ok := states[id]; !ok {
			snaps = append(snaps, id)
		}
		states[id] = stateOf(mod)
	}
	for r := 0; r < runs; r++ {
		if r == 5 {
			cols = append(cols, change.Column{Name: "note", Type: arrow.BinaryTypes.String})
			mod.AddColumn(cols[len(cols)-1])
		}
		rows := g.Next(mod, 1+g.R.IntN(20))
		rec := BuildChanges(t, f.mem, cols, rows, true)
		var trunc []byte
		var truncSeq *uint64
		if r == 7 {
			s := g.Seq - 5 // a reload
			truncSeq, trunc = &s, SeqBytes(s)
		}
		mod.Apply(rec, rows, truncSeq)
		bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%04d.csv", r), ETag: "e", Size: int64(r)}})
		f.mustCommit(cols, rec, trunc, bm)
		rec.Release()
		record()
		if r%4 == 2 {
			m, ok := f.open().(table.Maintainer)
			if !ok {
				t.Fatalf("the writer is not a table.Maintainer")
			}
			st, err := m.Maintain(ctx, table.Policy{CompactDeleteFiles: 1, CompactSmallFiles: 2, SmallFileBytes: 1 << 30, OrphanAge: 24 * time.Hour})
			if err != nil {
				t.Fatalf("run %d: maintain: %v", r, err)
			}
			if st.Compactions == 0 {
				t.Fatalf("run %d: maintain compacted nothing: %+v", r, st)
			}
			record()
		}
	}
	DiffRows(t, "the table", f.rows(cols), states[snaps[len(snaps)-1]].render(cols))
	w := f.open()
	for i := range snaps {
		// Each state to itself, to the next few and to the last.
		for _, j := range slices.Compact([]int{i, min(i+1, len(snaps)-1), min(i+3, len(snaps)-1), len(snaps) - 1}) {
			from, to := snaps[i], snaps[j]
			for _, each := range []bool{false, true} {
				ch, err := w.ChangesSince(ctx, from, to, each)
				if err != nil {
					t.Fatalf("changes from %d to %d (each %v): %v", from, to, each, err)
				}
				s := states[from]
				for k, step := range ch.Steps {
					s = applyStep(t, s, step.Changes, cols)
					if each {
						DiffRows(t, fmt.Sprintf("from %d to %d, step %d (to %d)", from, to, k, step.Snapshot), s.render(cols), states[step.Snapshot].render(cols))
					}
				}
				steps := len(ch.Steps)
				ch.Release()
				if !each && steps > 1 {
					t.Fatalf("from %d to %d: %d steps, want at most one", from, to, steps)
				}
				DiffRows(t, fmt.Sprintf("from %d to %d (each %v)", from, to, each), s.render(cols), states[to].render(cols))
			}
		}
	}
	last := snaps[len(snaps)-1]
	if _, err := w.ChangesSince(ctx, last+1000, last, false); !errors.Is(err, table.ErrNoHistory) {
		t.Fatalf("changes since a state the table does not have: %v, want table.ErrNoHistory", err)
	}
}
