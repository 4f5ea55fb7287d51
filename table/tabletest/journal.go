package tabletest

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// journaler is the writer's Txn as merge.Journaler sees it.
type journaler interface {
	Journal(changes arrow.RecordBatch)
}

// withTS returns rec with change.ColTS appended: ts[i] microseconds, or
// NULL where ts[i] is negative. The caller releases the result.
func withTS(mem memory.Allocator, rec arrow.RecordBatch, ts []int64) arrow.RecordBatch {
	b := array.NewTimestampBuilder(mem, change.TSType().(*arrow.TimestampType))
	defer b.Release()
	for _, v := range ts {
		if v < 0 {
			b.AppendNull()
		} else {
			b.Append(arrow.Timestamp(v))
		}
	}
	a := b.NewArray()
	defer a.Release()
	fields := append(rec.Schema().Fields(), arrow.Field{Name: change.ColTS, Type: change.TSType(), Nullable: true})
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), append(slices.Clone(rec.Columns()), a), rec.NumRows())
}

// renderBatch renders every row of rec, every column, in order.
func renderBatch(rec arrow.RecordBatch) []string {
	out := make([]string, rec.NumRows())
	for i := range out {
		for j, f := range rec.Schema().Fields() {
			out[i] += f.Name + "=" + Render(rec.Column(j), i) + " "
		}
	}
	return out
}

// journal: a commit that carries a journal (merge.Journaler) is, to
// ChangesSince with each, exactly the change set it applied — commit
// times, deletes and the changes it found stale (marked in Step.Stale)
// included, a commit whose every change was stale too; a commit without one is derived from its files as before;
// without each the journals are not read. A vacuum keeps the journal of
// a commit the table's history holds.
func journal(t *testing.T, f *fixture) {
	ctx := context.Background()
	var bm bookmarks.Bookmark
	var journals [][]string // rendered, of each journaled commit
	commit := func(what string, rows []Change, ts []int64) int64 {
		t.Helper()
		rec := BuildChanges(t, f.mem, small, rows, false)
		defer rec.Release()
		x, err := f.open().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Evolve(ctx, small); err != nil {
			t.Fatal(err)
		}
		if ts != nil {
			j, ok := x.(journaler)
			if !ok {
				t.Fatalf("the writer's Txn is not a merge.Journaler")
			}
			jrec := withTS(f.mem, rec, ts)
			defer jrec.Release()
			j.Journal(jrec)
			journals = append(journals, renderBatch(jrec))
		}
		if _, err := x.Apply(ctx, rec, nil); err != nil {
			t.Fatalf("%s: apply: %v", what, err)
		}
		bm = bm.Advance([]bookmarks.Entry{{Key: what, ETag: "e", Size: 1}})
		if err := x.Commit(ctx, bm); err != nil {
			t.Fatalf("%s: commit: %v", what, err)
		}
		return f.describe().Snapshot
	}
	s0 := commit("insert", []Change{upsert(change.OpInsert, 20, 1, "a"), upsert(change.OpInsert, 21, 2, "b"), upsert(change.OpInsert, 22, 3, "c")}, []int64{100, 101, -1})
	// A late update of key 1 (stale), an update, a delete.
	s1 := commit("late, update, delete", []Change{upsert(change.OpUpdate, 10, 1, "late"), upsert(change.OpUpdate, 30, 2, "b2"), del(31, 3)}, []int64{50, 200, 201})
	// Every change stale: no row changes, the journal is the commit's
	// all the same (an Iceberg commit of no file makes a snapshot for it).
	if s := commit("all stale", []Change{upsert(change.OpUpdate, 15, 1, "late2"), upsert(change.OpUpdate, 29, 2, "late3")}, []int64{60, 199}); s == s1 {
		t.Fatalf("a commit whose every change is stale made no snapshot or version to carry its journal (still %d)", s)
	}
	s2 := commit("without a journal", []Change{upsert(change.OpUpdate, 40, 1, "a2")}, nil)
	commit("journaled again", []Change{upsert(change.OpUpdate, 50, 2, "b3"), upsert(change.OpInsert, 51, 4, "d")}, []int64{300, -1})
	s4 := f.describe().Snapshot

	check := func(what string) {
		t.Helper()
		ch, err := f.open().ChangesSince(ctx, s0, s4, true)
		if err != nil {
			t.Fatalf("%s: changes since the first commit: %v", what, err)
		}
		defer ch.Release()
		if len(ch.Steps) != 4 {
			t.Fatalf("%s: %d steps, want 4", what, len(ch.Steps))
		}
		want := [][]int64{{0}, {0, 1}, nil, nil}
		for i, j := range []int{1, 2, -1, 3} {
			s := ch.Steps[i]
			if j < 0 {
				if s.Journal || s.Snapshot != s2 {
					t.Fatalf("%s: step %d (snapshot %d, journal %v) of the commit without a journal (%d)", what, i, s.Snapshot, s.Journal, s2)
				}
				DiffRows(t, what+": the step of the commit without a journal", renderBatch(s.Changes),
					[]string{fmt.Sprintf("id=1 Name=a2 _op=%d _seq=%s ", change.OpUpdate, hex.EncodeToString(SeqBytes(40)))})
				continue
			}
			if !s.Journal || !slices.Equal(s.Stale, want[i]) {
				t.Fatalf("%s: step %d: journal %v, stale %v; want a journal, stale %v", what, i, s.Journal, s.Stale, want[i])
			}
			if !s.Changes.Schema().Equal(table.JournalSchema(small)) {
				t.Fatalf("%s: step %d has columns %s", what, i, s.Changes.Schema())
			}
			DiffRows(t, what+": a journaled step", renderBatch(s.Changes), journals[j])
		}
		// Without each: one step, derived from the files.
		one, err := f.open().ChangesSince(ctx, s0, s4, false)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer one.Release()
		if len(one.Steps) != 1 || one.Steps[0].Journal {
			t.Fatalf("%s: without each: %d steps (journal %v), want one of the files", what, len(one.Steps), len(one.Steps) > 0 && one.Steps[0].Journal)
		}
	}
	check("after the commits")
	// A vacuum may delete the files of the commit without a journal (a
	// Delta vacuum of removed files): the last commit's journal stays.
	if _, err := f.open().Vacuum(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ch, err := f.open().ChangesSince(ctx, s2, s4, true)
	if err != nil {
		t.Fatalf("after a vacuum: %v", err)
	}
	defer ch.Release()
	if len(ch.Steps) != 1 || !ch.Steps[0].Journal {
		t.Fatalf("after a vacuum: %d steps, want the last commit's journal", len(ch.Steps))
	}
	DiffRows(t, "after a vacuum: the last commit's journal", renderBatch(ch.Steps[0].Changes), journals[3])
}
