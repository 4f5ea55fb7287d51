package tabletest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// Columns are the user columns of the suite's tables: every type
// lakemerge writes, an upper-case name among them. The key is "id".
var Columns = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "Name", Type: arrow.BinaryTypes.String},
	{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
	{Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "data", Type: arrow.BinaryTypes.Binary},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64},
	{Name: "ratio", Type: arrow.PrimitiveTypes.Float32},
}

// Change is one change row: values by column name (nil or absent: null),
// and the columns it left out (a partial row image, change.ColKeep).
type Change struct {
	Op   change.Op
	Seq  uint64
	Vals map[string]any
	Kept []string
}

// Key is the change's "id" (an int64 or int32 value).
func (c Change) Key() int64 {
	if v, ok := c.Vals["id"].(int32); ok {
		return int64(v)
	}
	return c.Vals["id"].(int64)
}

// SeqBytes is the _seq of sequence number v.
func SeqBytes(v uint64) []byte {
	var b change.SeqBuilder
	return bytes.Clone(b.Uint64(v).Bytes())
}

// BuildChanges builds a change batch with columns cols, _op, _seq and,
// with keep, _keep; values are Go values of the columns' types (int64,
// int32, string, int64 unscaled for decimals, int64 microseconds for
// timestamps, int32 days for dates, bool, []byte, float64, float32). rows
// must be sorted by key, one per key. The caller releases the batch.
func BuildChanges(t testing.TB, mem memory.Allocator, cols []change.Column, rows []Change, keep bool) arrow.RecordBatch {
	t.Helper()
	sch := change.Schema(cols)
	if keep {
		sch = arrow.NewSchema(append(sch.Fields(), arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true}), nil)
	}
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for _, r := range rows {
		for ci, c := range cols {
			v, ok := r.Vals[c.Name]
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
		b.Field(len(cols)).(*array.Int8Builder).Append(int8(r.Op))
		b.Field(len(cols) + 1).(*array.BinaryBuilder).Append(SeqBytes(r.Seq))
		if keep {
			kb := b.Field(len(cols) + 2).(*array.BinaryBuilder)
			if len(r.Kept) == 0 {
				kb.AppendNull()
				continue
			}
			bits := make([]byte, (len(cols)+7)/8)
			for _, k := range r.Kept {
				c := slices.IndexFunc(cols, func(c change.Column) bool { return c.Name == k })
				bits[c/8] |= 1 << (c % 8)
			}
			kb.Append(bits)
		}
	}
	return b.NewRecordBatch()
}

// Render is the text form of a value in a model or a table: NULL, binary
// as hex, anything else as Arrow prints it.
func Render(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch b := a.(type) {
	case *array.Binary:
		return hex.EncodeToString(b.Value(i))
	case *array.LargeBinary:
		return hex.EncodeToString(b.Value(i))
	}
	return a.ValueStr(i)
}

// TableRows renders every row of tbl as "col=value …" lines, the columns
// cols in their order and then _seq, sorted by the int64 column key. A
// table that lacks one of them, or has another column, fails the test.
func TableRows(t testing.TB, tbl arrow.Table, cols []change.Column, key string) []string {
	t.Helper()
	return tableRows(t, tbl, cols, key, true)
}

// tableRows is TableRows; with exact false the table may have other
// columns too.
func tableRows(t testing.TB, tbl arrow.Table, cols []change.Column, key string, exact bool) []string {
	t.Helper()
	names := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		names = append(names, c.Name)
	}
	names = append(names, change.ColSeq)
	var have []string
	for _, f := range tbl.Schema().Fields() {
		have = append(have, f.Name)
	}
	if exact {
		if a, b := slices.Sorted(slices.Values(have)), slices.Sorted(slices.Values(names)); !slices.Equal(a, b) {
			t.Fatalf("table columns %v, want %v", have, names)
		}
	} else if missing := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(have, n) }); len(missing) > 0 {
		t.Fatalf("table columns %v lack %v", have, missing)
	}
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	type row struct {
		key  int64
		text string
	}
	var rows []row
	for tr.Next() {
		rec := tr.RecordBatch()
		idx := make([]int, len(names))
		for i, n := range names {
			idx[i] = rec.Schema().FieldIndices(n)[0]
		}
		keys, ok := rec.Column(rec.Schema().FieldIndices(key)[0]).(*array.Int64)
		if !ok {
			t.Fatalf("key column %s is %s, want int64", key, rec.Column(rec.Schema().FieldIndices(key)[0]).DataType())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			parts := make([]string, len(names))
			for j, n := range names {
				parts[j] = n + "=" + Render(rec.Column(idx[j]), i)
			}
			rows = append(rows, row{key: keys.Value(i), text: strings.Join(parts, " ")})
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return int(a.key - b.key) })
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.text
	}
	return out
}

// DiffRows fails the test with the rows got has and want lacks and the
// other way round, unless they are equal.
func DiffRows(t testing.TB, what string, got, want []string) {
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

// Model is the reference a table is compared with: a map by key that
// applies changes one by one, as plainly as the rules say them.
type Model struct {
	Cols  []change.Column
	Rows  map[int64]map[string]string // key → column → rendered value
	Seqs  map[int64]uint64
	Tombs map[int64]uint64 // deleted keys: the _seq of the delete (no horizon)
}

// NewModel is an empty table with columns cols (the key is "id").
func NewModel(cols []change.Column) *Model {
	return &Model{Cols: cols, Rows: map[int64]map[string]string{}, Seqs: map[int64]uint64{}, Tombs: map[int64]uint64{}}
}

// Apply applies a change set (rows, and rec as BuildChanges built it from
// them, whose values it renders) the way a table must, and returns the
// verdict counts the table must report. With truncateBefore set, every
// row older than it whose key has no change goes (a reload).
func (m *Model) Apply(rec arrow.RecordBatch, rows []Change, truncateBefore *uint64) table.ApplyStats {
	var st table.ApplyStats
	inBatch := map[int64]bool{}
	edited := map[int64]bool{}
	for i, r := range rows {
		key := r.Key()
		inBatch[key] = true
		live, has := m.Rows[key]
		var stale bool
		if has {
			stale = r.Seq <= m.Seqs[key]
		} else if ts, ok := m.Tombs[key]; ok {
			stale = r.Seq <= ts
		}
		if stale {
			st.Stale++
			continue
		}
		if r.Op == change.OpDelete {
			if has {
				st.Deleted++
				delete(m.Rows, key)
				delete(m.Seqs, key)
			} else {
				st.Absent++
			}
			m.Tombs[key] = r.Seq
			edited[key] = true
			continue
		}
		if _, ok := m.Tombs[key]; ok {
			delete(m.Tombs, key)
			edited[key] = true
		}
		row := map[string]string{}
		for ci, c := range m.Cols {
			row[c.Name] = Render(rec.Column(ci), i)
			if slices.Contains(r.Kept, c.Name) {
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
			if len(r.Kept) > 0 {
				st.KeptMissing++
			}
		}
		m.Rows[key] = row
		m.Seqs[key] = r.Seq
	}
	if truncateBefore != nil {
		for key := range m.Rows {
			if !inBatch[key] && m.Seqs[key] < *truncateBefore {
				delete(m.Rows, key)
				delete(m.Seqs, key)
				st.Deleted++
			}
		}
		for key, s := range m.Tombs {
			if !edited[key] && s < *truncateBefore {
				delete(m.Tombs, key)
			}
		}
	}
	return st
}

// AddColumn adds a column, NULL in every row.
func (m *Model) AddColumn(c change.Column) {
	m.Cols = append(m.Cols, c)
	for _, r := range m.Rows {
		r[c.Name] = "NULL"
	}
}

// Render is the model's rows as TableRows renders a table.
func (m *Model) Render() []string {
	keys := slices.Sorted(func(yield func(int64) bool) {
		for k := range m.Rows {
			if !yield(k) {
				return
			}
		}
	})
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		var parts []string
		for _, c := range m.Cols {
			parts = append(parts, c.Name+"="+m.Rows[k][c.Name])
		}
		parts = append(parts, change.ColSeq+"="+hex.EncodeToString(SeqBytes(m.Seqs[k])))
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// Gen makes random change sets against a model.
type Gen struct {
	R    *rand.Rand
	Seq  uint64 // the newest _seq handed out
	Keys int64  // keys are 0 … Keys-1
	// Late and Partial allow late (stale) changes and partial row images.
	Late, Partial bool
}

// NewGen is a generator over keys keys with late changes and partial
// images.
func NewGen(seed uint64, keys int64) *Gen {
	return &Gen{R: rand.New(rand.NewPCG(seed, 7)), Keys: keys, Late: true, Partial: true}
}

// Value is a random value of column c for key (the key itself for "id").
func (g *Gen) Value(c change.Column, key int64) any {
	if c.Name == "id" {
		return key
	}
	if g.R.IntN(8) == 0 {
		return nil
	}
	switch c.Type.ID() {
	case arrow.STRING:
		s := fmt.Sprintf("v%d-%d", key, g.Seq)
		if g.R.IntN(4) == 0 {
			s += strings.Repeat("é", 30+g.R.IntN(10)) // longer than Delta's stats prefix
		}
		return s
	case arrow.INT32:
		return int32(g.R.IntN(2000) - 1000)
	case arrow.INT64:
		return g.R.Int64N(1 << 40)
	case arrow.DECIMAL128:
		return g.R.Int64N(2_000_000) - 1_000_000
	case arrow.TIMESTAMP:
		return int64(1_700_000_000_000_000) + g.R.Int64N(1_000_000_000_000)
	case arrow.DATE32:
		return int32(19000 + g.R.IntN(2000))
	case arrow.BOOL:
		return g.R.IntN(2) == 0
	case arrow.BINARY:
		return []byte{byte(key), byte(g.Seq), 0}
	case arrow.FLOAT64:
		return g.R.Float64()*1000 - 500
	case arrow.FLOAT32:
		return float32(g.R.IntN(1000)) / 8
	}
	panic(c.Type)
}

// Next returns the change set of one run against m: n distinct keys in
// order, each an insert, update, delete or re-insert, and, as g allows, a
// partial image or a late change (as old as or older than what m holds).
func (g *Gen) Next(m *Model, n int) []Change {
	n = min(n, int(g.Keys))
	picked := map[int64]bool{}
	for len(picked) < n {
		picked[g.R.Int64N(g.Keys)] = true
	}
	keys := slices.Sorted(func(yield func(int64) bool) {
		for k := range picked {
			if !yield(k) {
				return
			}
		}
	})
	var rows []Change
	for _, k := range keys {
		g.Seq += 1 + uint64(g.R.IntN(3))
		r := Change{Op: change.OpUpdate, Seq: g.Seq, Vals: map[string]any{}}
		_, live := m.Rows[k]
		switch x := g.R.IntN(10); {
		case g.Late && x < 2 && (live || m.Tombs[k] > 0):
			old := m.Seqs[k]
			if !live {
				old = m.Tombs[k]
			}
			r.Seq = old - uint64(g.R.IntN(int(min(old, 2))+1))
		case x < 4:
			r.Op = change.OpDelete
		case x < 6 && !live:
			r.Op = change.OpInsert
		}
		for _, c := range m.Cols {
			if r.Op != change.OpDelete || c.Name == "id" {
				r.Vals[c.Name] = g.Value(c, k)
			}
		}
		if g.Partial && r.Op != change.OpDelete && g.R.IntN(5) == 0 {
			for _, c := range m.Cols[1:] {
				if g.R.IntN(3) == 0 {
					r.Kept = append(r.Kept, c.Name)
					delete(r.Vals, c.Name)
				}
			}
		}
		rows = append(rows, r)
	}
	return rows
}
