//go:build duckdb_arrow && cgo

package apply

import (
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/prepared"
	"github.com/lakemerge/lakemerge/table/delta"
)

// newJournalRig is a historyRig whose base commits carry journals, with a
// prepared table of mode (a history, or a changelog of the same select
// and where).
func newJournalRig(t *testing.T, mode prepared.Mode) *historyRig {
	r := newHistoryRig(t)
	r.journal = true
	if mode == prepared.Changelog {
		r.hist = delta.New(mem.New(), "prepared/c/", delta.Options{Name: "prepared.c", Keys: ChangelogKeys()}, r.wmem)
		r.keep.Def.Mode, r.keep.Target, r.keep.Stored = prepared.Changelog, deltaTarget{r.hist}, nil
	}
	return r
}

// lines renders every row of the rig's prepared table, every column but
// _seq, sorted.
func (r *historyRig) lines() []string {
	r.t.Helper()
	tbl, err := r.hist.Read(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	var out []string
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := range int(rec.NumRows()) {
			var b strings.Builder
			for j, f := range rec.Schema().Fields() {
				if f.Name != change.ColSeq {
					b.WriteString(f.Name + "=" + rec.Column(j).ValueStr(i) + " ")
				}
			}
			out = append(out, b.String())
		}
	}
	slices.Sort(out)
	return out
}

// TestCatchUpFromJournal: a history and a changelog that miss two base
// commits carrying journals (runs that stopped between the commits) catch
// up to exactly what the clean runs leave — commit times, a delete, a row
// that fails where, a change without a commit time, and a late change the
// base table found stale: a version of the history, no row of the
// changelog, as in the clean runs. Every Arrow buffer is released.
func TestCatchUpFromJournal(t *testing.T) {
	ins, upd, del := change.OpInsert, change.OpUpdate, change.OpDelete
	runs := [][]hChange{
		{{op: ins, id: 1, seq: 10, ts: 1, v: 1, tag: "a"}, {op: ins, id: 2, seq: 11, ts: 1, v: 2, tag: "b"}, {op: ins, id: 3, seq: 12, ts: 1, v: 4, tag: "c"}},
		// 2 deleted, 3 fails where, without a commit time.
		{{op: upd, id: 1, seq: 20, ts: 2, v: 5, tag: "a2"}, {op: del, id: 2, seq: 21, ts: 2}, {op: upd, id: 3, seq: 22, ts: -1, v: 3, tag: "c"}},
		// 1 late (stale: the base table holds 20), 2 back, 4 new.
		{{op: upd, id: 1, seq: 15, ts: 3, v: 7, tag: "late"}, {op: ins, id: 2, seq: 30, ts: 3, v: 8, tag: "b2"}, {op: ins, id: 4, seq: 31, ts: 3, v: 1, tag: "d"}},
	}
	for _, mode := range []prepared.Mode{prepared.History, prepared.Changelog} {
		t.Run(string(mode), func(t *testing.T) {
			clean, lost := newJournalRig(t, mode), newJournalRig(t, mode)
			for _, changes := range runs {
				clean.commit(slices.Clone(changes), false)
			}
			lost.commit(slices.Clone(runs[0]), false)
			rec, _ := lost.commitBase(slices.Clone(runs[1])) // no Keep: as after a crash
			rec.Release()
			lost.commit(slices.Clone(runs[2]), true)
			if lost.last.How != HowCatchUp || lost.last.CatchUp == nil || lost.last.CatchUp.Steps != 2 {
				t.Fatalf("the run after the crash: %+v, want a catch-up of 2 steps", lost.last)
			}
			want, got := clean.lines(), lost.lines()
			if !slices.Equal(got, want) {
				t.Fatalf("caught up from the journals\n%s\nthe clean runs\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			late := slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "tag=LATE") })
			if late != (mode == prepared.History) {
				t.Fatalf("the late change is in the %s: %v\n%s", mode, late, strings.Join(got, "\n"))
			}
		})
	}
}
