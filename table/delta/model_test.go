package delta

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/table"
)

func checkedMem(t testing.TB) *memory.CheckedAllocator {
	m := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { m.AssertSize(t, 0) })
	return m
}

// fakeClock is a clock that moves one millisecond each time it is read.
type fakeClock struct{ ms atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ms.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli())
	return c
}

func (c *fakeClock) now() time.Time { return time.UnixMilli(c.ms.Add(1)).UTC() }

func (c *fakeClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// stores returns the stores every table test runs on: a folder and memory.
func stores(t *testing.T) map[string]objstore.Store {
	l, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]objstore.Store{"local": l, "mem": mem.New()}
}

var (
	tsType  = &arrow.TimestampType{Unit: arrow.Microsecond}
	decType = &arrow.Decimal128Type{Precision: 10, Scale: 2}
)

// testColumns are the user columns of the model tables: every type
// lakemerge writes, an upper-case name among them.
var testColumns = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "Name", Type: arrow.BinaryTypes.String},
	{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
	{Name: "price", Type: decType},
	{Name: "ts", Type: tsType},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "data", Type: arrow.BinaryTypes.Binary},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "ratio", Type: arrow.PrimitiveTypes.Float32},
}

// chg is one change row: values by column name (nil: null; absent
// columns are null too), kept lists the columns left out (_keep).
type chg struct {
	op   change.Op
	seq  uint64
	vals map[string]any
	kept []string
}

func seqBytes(v uint64) []byte {
	var b change.SeqBuilder
	return bytes.Clone(b.Uint64(v).Bytes())
}

// buildChanges builds a change batch with columns cols, _op, _seq and,
// with keep, _keep. rows must be sorted by key.
func buildChanges(t testing.TB, m memory.Allocator, cols []change.Column, rows []chg, keep bool) arrow.RecordBatch {
	t.Helper()
	sch := change.Schema(cols)
	if keep {
		sch = arrow.NewSchema(append(sch.Fields(), arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true}), nil)
	}
	b := array.NewRecordBuilder(m, sch)
	defer b.Release()
	for _, r := range rows {
		for ci, c := range cols {
			v, ok := r.vals[c.Name]
			fb := b.Field(ci)
			if !ok || v == nil {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				fb.Append(v.(int64))
			case *array.Int32Builder:
				fb.Append(v.(int32))
			case *array.StringBuilder:
				fb.Append(v.(string))
			case *array.Decimal128Builder:
				fb.Append(decimal128.FromI64(v.(int64)))
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(v.(int64)))
			case *array.Date32Builder:
				fb.Append(arrow.Date32(v.(int32)))
			case *array.BooleanBuilder:
				fb.Append(v.(bool))
			case *array.BinaryBuilder:
				fb.Append(v.([]byte))
			case *array.Float64Builder:
				fb.Append(v.(float64))
			case *array.Float32Builder:
				fb.Append(v.(float32))
			default:
				t.Fatalf("column %s: no builder case", c.Name)
			}
		}
		b.Field(len(cols)).(*array.Int8Builder).Append(int8(r.op))
		b.Field(len(cols) + 1).(*array.BinaryBuilder).Append(seqBytes(r.seq))
		if keep {
			kb := b.Field(len(cols) + 2).(*array.BinaryBuilder)
			if len(r.kept) == 0 {
				kb.AppendNull()
				continue
			}
			bits := make([]byte, (len(cols)+7)/8)
			for _, k := range r.kept {
				c := slices.IndexFunc(cols, func(c change.Column) bool { return c.Name == k })
				bits[c/8] |= 1 << (c % 8)
			}
			kb.Append(bits)
		}
	}
	return b.NewRecordBatch()
}

// render is the text form of a value in a model or a table.
func render(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	if b, ok := a.(*array.Binary); ok {
		return hex.EncodeToString(b.Value(i))
	}
	return a.ValueStr(i)
}

// tableRows renders every row of tbl (user columns and _seq) as
// "col=value ..." lines sorted by the first column.
func tableRows(t testing.TB, tbl arrow.Table) []string {
	t.Helper()
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	type row struct {
		key  int64
		text string
	}
	var rows []row
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			var parts []string
			for c := 0; c < int(rec.NumCols()); c++ {
				parts = append(parts, rec.ColumnName(c)+"="+render(rec.Column(c), i))
			}
			rows = append(rows, row{key: rec.Column(0).(*array.Int64).Value(i), text: strings.Join(parts, " ")})
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return int(a.key - b.key) })
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.text
	}
	return out
}

// model is the reference: a map by key that applies changes one by one.
type model struct {
	cols  []change.Column
	rows  map[int64]map[string]string // key → column → rendered value
	seqs  map[int64]uint64
	tombs map[int64]uint64
}

func newModel(cols []change.Column) *model {
	return &model{cols: cols, rows: map[int64]map[string]string{}, seqs: map[int64]uint64{}, tombs: map[int64]uint64{}}
}

// apply applies a change batch (as built by buildChanges from rows) the
// way the table must, and returns the stats the table must report.
func (m *model) apply(rec arrow.RecordBatch, rows []chg, truncateBefore *uint64) table.ApplyStats {
	var st table.ApplyStats
	inBatch := map[int64]bool{}
	edited := map[int64]bool{}
	for i, r := range rows {
		key := r.vals["id"].(int64)
		inBatch[key] = true
		live, has := m.rows[key]
		var stale bool
		if has {
			stale = r.seq <= m.seqs[key]
		} else if ts, ok := m.tombs[key]; ok {
			stale = r.seq <= ts
		}
		if stale {
			st.Stale++
			continue
		}
		if r.op == change.OpDelete {
			if has {
				st.Deleted++
				delete(m.rows, key)
				delete(m.seqs, key)
			} else {
				st.Absent++
			}
			m.tombs[key] = r.seq
			edited[key] = true
			continue
		}
		if _, ok := m.tombs[key]; ok {
			delete(m.tombs, key)
			edited[key] = true
		}
		row := map[string]string{}
		for ci, c := range m.cols {
			row[c.Name] = render(rec.Column(ci), i)
			if slices.Contains(r.kept, c.Name) {
				row[c.Name] = "NULL"
				if has {
					row[c.Name] = live[c.Name]
				}
			}
		}
		if has {
			st.Updated++
		} else {
			st.Inserted++
			if len(r.kept) > 0 {
				st.KeptMissing++
			}
		}
		m.rows[key] = row
		m.seqs[key] = r.seq
	}
	if truncateBefore != nil {
		for key := range m.rows {
			if !inBatch[key] && m.seqs[key] < *truncateBefore {
				delete(m.rows, key)
				delete(m.seqs, key)
				st.Deleted++
			}
		}
		for key, s := range m.tombs {
			if !edited[key] && s < *truncateBefore {
				delete(m.tombs, key)
			}
		}
	}
	return st
}

func (m *model) addColumn(c change.Column) {
	m.cols = append(m.cols, c)
	for _, r := range m.rows {
		r[c.Name] = "NULL"
	}
}

func (m *model) render() []string {
	keys := make([]int64, 0, len(m.rows))
	for k := range m.rows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		var parts []string
		for _, c := range m.cols {
			parts = append(parts, c.Name+"="+m.rows[k][c.Name])
		}
		parts = append(parts, "_seq="+hex.EncodeToString(seqBytes(m.seqs[k])))
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// gen makes random change sets against a model.
type gen struct {
	r    *rand.Rand
	seq  uint64
	keys int64
}

func (g *gen) value(c change.Column, key int64) any {
	if c.Name == "id" {
		return key
	}
	if g.r.IntN(8) == 0 {
		return nil
	}
	switch c.Type.ID() {
	case arrow.STRING:
		s := fmt.Sprintf("v%d-%d", key, g.seq)
		if g.r.IntN(4) == 0 {
			s += strings.Repeat("é", 30+g.r.IntN(10)) // longer than the stats prefix
		}
		return s
	case arrow.INT32:
		return int32(g.r.IntN(2000) - 1000)
	case arrow.INT64:
		return g.r.Int64N(1 << 40)
	case arrow.DECIMAL128:
		return g.r.Int64N(2_000_000) - 1_000_000
	case arrow.TIMESTAMP:
		return int64(1_700_000_000_000_000) + g.r.Int64N(1_000_000_000_000)
	case arrow.DATE32:
		return int32(19000 + g.r.IntN(2000))
	case arrow.BOOL:
		return g.r.IntN(2) == 0
	case arrow.BINARY:
		return []byte{byte(key), byte(g.seq), 0}
	case arrow.FLOAT64:
		return g.r.Float64()*1000 - 500
	case arrow.FLOAT32:
		return float32(g.r.IntN(1000)) / 8
	}
	panic(c.Type)
}

// next returns the rows of one run: distinct sorted keys, each an insert,
// update, delete, re-insert, partial image or late (stale) change.
func (g *gen) next(m *model, n int) []chg {
	picked := map[int64]bool{}
	for len(picked) < n {
		picked[g.r.Int64N(g.keys)] = true
	}
	keys := make([]int64, 0, n)
	for k := range picked {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var rows []chg
	for _, k := range keys {
		g.seq += 1 + uint64(g.r.IntN(3))
		r := chg{op: change.OpUpdate, seq: g.seq, vals: map[string]any{}}
		_, live := m.rows[k]
		switch x := g.r.IntN(10); {
		case x < 2 && (live || m.tombs[k] > 0):
			// late: a change older than (or as old as) what the table has
			old := m.seqs[k]
			if !live {
				old = m.tombs[k]
			}
			r.seq = old - uint64(g.r.IntN(int(min(old, 2))+1))
		case x < 4:
			r.op = change.OpDelete
		case x < 6 && !live:
			r.op = change.OpInsert
		}
		for _, c := range m.cols {
			if r.op != change.OpDelete || c.Name == "id" {
				r.vals[c.Name] = g.value(c, k)
			}
		}
		if r.op != change.OpDelete && g.r.IntN(5) == 0 {
			for _, c := range m.cols[1:] {
				if g.r.IntN(3) == 0 {
					r.kept = append(r.kept, c.Name)
					delete(r.vals, c.Name)
				}
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// run is one merge run against a table: Begin, Evolve, Apply, Commit.
func run(t testing.TB, tb *Table, cols []change.Column, rec arrow.RecordBatch, truncate []byte, bm bookmarks.Bookmark) (table.ApplyStats, *Txn) {
	t.Helper()
	ctx := context.Background()
	x, err := tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, cols); err != nil {
		t.Fatal(err)
	}
	st, err := x.Apply(ctx, rec, truncate)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Commit(ctx, bm); err != nil {
		t.Fatal(err)
	}
	if err := x.MaintenanceErr(); err != nil {
		t.Fatal(err)
	}
	return st, x
}

func readRows(t testing.TB, tb *Table) []string {
	t.Helper()
	tbl, err := tb.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	return tableRows(t, tbl)
}

func diffRows(t testing.TB, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	gs, ws := map[string]bool{}, map[string]bool{}
	for _, g := range got {
		gs[g] = true
	}
	for _, w := range want {
		ws[w] = true
	}
	var msg strings.Builder
	for _, g := range got {
		if !ws[g] {
			fmt.Fprintf(&msg, "  extra:   %s\n", g)
		}
	}
	for _, w := range want {
		if !gs[w] {
			fmt.Fprintf(&msg, "  missing: %s\n", w)
		}
	}
	t.Fatalf("%s: table (%d rows) differs from the model (%d rows):\n%s", what, len(got), len(want), msg.String())
}

// TestMatchesModel runs random multi-run change sets (inserts, updates,
// deletes, re-inserts, late changes, partial images, reloads, a new
// column) against a table with small files and checkpoints every 3
// versions, and compares the table with the reference model after every
// run.
func TestMatchesModel(t *testing.T) {
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
					runModel(t, store, fmt.Sprintf("seed%d/", seed), seed, 24)
				})
			}
		})
	}
}

func runModel(t *testing.T, store objstore.Store, root string, seed uint64, runs int) (*Table, *model) {
	ctx := context.Background()
	m := checkedMem(t)
	clock := newClock()
	tb := New(store, root, Options{Keys: []string{"id"}, TargetFileBytes: 3 << 10, CheckpointInterval: 3}, m)
	tb.now = clock.now
	cols := slices.Clone(testColumns)
	mod := newModel(cols)
	g := &gen{r: rand.New(rand.NewPCG(seed, 7)), keys: 120}
	var bm bookmarks.Bookmark
	for r := 0; r < runs; r++ {
		if r == 9 {
			cols = append(cols, change.Column{Name: "note", Type: arrow.BinaryTypes.String})
			mod.addColumn(cols[len(cols)-1])
		}
		rows := g.next(mod, 1+g.r.IntN(40))
		rec := buildChanges(t, m, cols, rows, true)
		var trunc []byte
		var truncSeq *uint64
		if r%8 == 7 {
			// A reload: every row older than this run's changes goes unless
			// the run has a change for it.
			s := g.seq - 5
			truncSeq, trunc = &s, seqBytes(s)
		}
		want := mod.apply(rec, rows, truncSeq)
		bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%04d.csv", r), ETag: "e", Size: int64(r)}})
		clock.advance(time.Minute)
		st, x := run(t, tb, cols, rec, trunc, bm)
		rec.Release()
		t.Logf("run %d v%d: %+v", r, x.Version(), st)
		got := st
		got.DataFiles, got.BytesWritten, got.FilesScanned, got.RowsScanned, got.FilesRewritten = 0, 0, 0, 0, 0
		if got != want {
			t.Fatalf("run %d: stats %+v, model says %+v", r, got, want)
		}
		diffRows(t, fmt.Sprintf("run %d (version %d)", r, x.Version()), readRows(t, tb), mod.render())
		checkFilesSorted(t, tb)
		info, err := tb.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !info.Bookmark.Equal(bm) || info.Rows != int64(len(mod.rows)) || info.Snapshot != x.Version() {
			t.Fatalf("run %d: describe %+v; want bookmark %s, %d rows", r, info, bm.Summary(), len(mod.rows))
		}
	}
	// The log was checkpointed: a checkpoint and _last_checkpoint exist.
	objs, err := store.List(ctx, root+lastCheckName)
	if err != nil || len(objs) != 1 {
		t.Fatalf("no _last_checkpoint: %v", err)
	}
	return tb, mod
}
