//go:build duckdb_arrow && cgo

package transform

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

func compile(t testing.TB, e *Engine, cols []change.Column, def Definition) *Program {
	t.Helper()
	p, err := e.Compile(context.Background(), cols, def)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestTransformBatchContract: what Transform demands of a batch and what
// it returns besides the curated columns.
func TestTransformBatchContract(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t, Options{})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cols := baseColumns(t)
	p := compile(t, e, cols, Definition{Select: []string{"id", "upper(name) AS up"}, Where: "vip"})

	t.Run("columns in another order, extra columns", func(t *testing.T) {
		in := buildFixture(t, mem, fixture)
		defer in.Release()
		// Reverse the columns and add one the program does not know.
		sch := in.Schema()
		var fields []arrow.Field
		var arrs []arrow.Array
		for i := int(in.NumCols()) - 1; i >= 0; i-- {
			fields = append(fields, sch.Field(i))
			arrs = append(arrs, in.Column(i))
		}
		extra := array.MakeArrayOfNull(mem, arrow.BinaryTypes.String, len(fixture))
		defer extra.Release()
		fields = append(fields, arrow.Field{Name: "added_later", Type: arrow.BinaryTypes.String, Nullable: true})
		arrs = append(arrs, extra)
		rev := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, in.NumRows())
		defer rev.Release()
		out, err := p.Transform(ctx, mem, rev)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Release()
		var names []string
		for _, f := range out.Schema().Fields() {
			names = append(names, f.Name)
		}
		// System columns come in the batch's order.
		if got := strings.Join(names, ","); got != "id,up,_seq,_op,_pass" {
			t.Errorf("columns %s", got)
		}
		if got := render(out.Column(1), 0) + "|" + render(out.Column(4), 0) + "|" + render(out.Column(4), 1); got != "ZOË|true|false" {
			t.Errorf("values %s", got)
		}
	})

	t.Run("empty batch", func(t *testing.T) {
		in := buildFixture(t, mem, nil)
		defer in.Release()
		out, err := p.Transform(ctx, mem, in)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Release()
		if out.NumRows() != 0 || out.NumCols() != 5 || !arrow.TypeEqual(out.Column(1).DataType(), arrow.BinaryTypes.String) {
			t.Errorf("empty result %v", out)
		}
	})

	t.Run("bad batches", func(t *testing.T) {
		in := buildFixture(t, mem, fixture)
		defer in.Release()
		without := func(name string) arrow.RecordBatch {
			var fields []arrow.Field
			var arrs []arrow.Array
			for i, f := range in.Schema().Fields() {
				if f.Name != name {
					fields = append(fields, f)
					arrs = append(arrs, in.Column(i))
				}
			}
			return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, in.NumRows())
		}
		noName, noOp := without("name"), without(change.ColOp)
		defer noName.Release()
		defer noOp.Release()
		// A column whose type changed since the program was compiled;
		// one the program does not read may change.
		retyped := func(name string, typ arrow.DataType) arrow.RecordBatch {
			idx := in.Schema().FieldIndices(name)[0]
			fields := in.Schema().Fields()
			fields[idx].Type = typ
			arrs := slices.Clone(in.Columns())
			arrs[idx] = array.MakeArrayOfNull(mem, typ, int(in.NumRows()))
			defer arrs[idx].Release()
			return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, in.NumRows())
		}
		widened, unread := retyped("id", arrow.PrimitiveTypes.Int32), retyped("n", arrow.PrimitiveTypes.Int64)
		defer widened.Release()
		defer unread.Release()
		out, err := p.Transform(ctx, mem, unread)
		if err != nil {
			t.Errorf("a column the program does not read: %v", err)
		} else {
			out.Release()
		}
		for _, c := range []struct {
			b    arrow.RecordBatch
			want string
		}{
			{noName, "transform: the batch has no column name"},
			{noOp, "transform: the batch has no int8 _op column"},
			{widened, "transform: column id is int32, compiled as int64: compile again"},
		} {
			out, err := p.Transform(ctx, mem, c.b)
			if err == nil {
				out.Release()
			}
			if err == nil || err.Error() != c.want {
				t.Errorf("error %v, want %s", err, c.want)
			}
		}
	})

	t.Run("partial row images", func(t *testing.T) {
		in := buildFixture(t, mem, fixture)
		defer in.Release()
		withKeep := func(bits [][]byte) arrow.RecordBatch {
			kb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
			defer kb.Release()
			for _, b := range bits {
				if b == nil {
					kb.AppendNull()
				} else {
					kb.Append(b)
				}
			}
			keep := kb.NewArray()
			defer keep.Release()
			fields := append(in.Schema().Fields(), arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true})
			return array.NewRecordBatch(arrow.NewSchema(fields, nil), append(in.Columns(), keep), in.NumRows())
		}
		// Complete rows (null or zero bits) and a delete with bits pass;
		// _keep is not in the result.
		ok := withKeep([][]byte{nil, {}, {0, 0}, {0xff}, nil})
		defer ok.Release()
		out, err := p.Transform(ctx, mem, ok)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Schema().FieldIndices(change.ColKeep)) != 0 {
			t.Error("_keep in the result")
		}
		out.Release()
		partial := withKeep([][]byte{nil, {0, 4}, nil, nil, nil})
		defer partial.Release()
		if out, err := p.Transform(ctx, mem, partial); err == nil || !strings.Contains(err.Error(), "row 1 is a partial row image") {
			if err == nil {
				out.Release()
			}
			t.Errorf("partial row: %v", err)
		}
	})

	t.Run("a row the expression fails on", func(t *testing.T) {
		q := compile(t, e, cols, Definition{Select: []string{"id", "CAST(name AS INTEGER) AS n"}})
		in := buildFixture(t, mem, fixture)
		defer in.Release()
		out, err := q.Transform(ctx, mem, in)
		if err == nil {
			out.Release()
		}
		if err == nil || !strings.Contains(err.Error(), `Could not convert string 'Zoë' to INT32`) {
			t.Errorf("error %v", err)
		}
		// The program still works afterwards.
		r := compile(t, e, cols, Definition{Select: []string{"id", "TRY_CAST(name AS INTEGER) AS n"}})
		out, err = r.Transform(ctx, mem, in)
		if err != nil {
			t.Fatal(err)
		}
		out.Release()
		part := in.NewSlice(2, 4) // NULL and ''
		defer part.Release()
		out, err = q.Transform(ctx, mem, part)
		if err == nil || !strings.Contains(err.Error(), `Could not convert string '' to INT32`) {
			t.Errorf("error %v", err)
		}
		if err == nil {
			out.Release()
		}
	})

	t.Run("canceled", func(t *testing.T) {
		in := buildFixture(t, mem, fixture)
		defer in.Release()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		out, err := p.Transform(cctx, mem, in)
		if err == nil {
			out.Release()
			t.Fatal("a canceled transform succeeded")
		}
	})
}

// randomBatch is a change batch of n rows with columns a (long, some
// NULL), s (string, some NULL) and id, and random ops.
func randomBatch(mem memory.Allocator, r *rand.Rand, n int) (arrow.RecordBatch, []change.Column) {
	cols := []change.Column{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}
	b := array.NewRecordBuilder(mem, change.Schema(cols))
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if r.IntN(10) == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int64Builder).Append(r.Int64N(2000) - 1000)
		}
		if r.IntN(10) == 0 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(string(rune('a' + r.IntN(26))))
		}
		b.Field(3).(*array.Int8Builder).Append(int8(1 + r.IntN(3)))
		b.Field(4).(*array.BinaryBuilder).Append([]byte(fmt.Sprint(i)))
	}
	return b.NewRecordBatch(), cols
}

// FuzzPassesFilter compares, on random batches of random sizes (across
// the engine's slices of 16384 rows and its threads), which rows pass
// "a > k AND (s IS NULL OR s < 'm')" with the same predicate in Go, and
// the curated a * 2 and id with the input: same rows, same order.
func FuzzPassesFilter(f *testing.F) {
	f.Add(uint64(1), uint16(0), int16(0))
	f.Add(uint64(2), uint16(1), int16(-1000))
	f.Add(uint64(3), uint16(16384), int16(10))
	f.Add(uint64(4), uint16(16385), int16(999))
	f.Add(uint64(5), uint16(50000), int16(-3))
	e := openEngine(f, Options{Threads: 2})
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, k int16) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		r := rand.New(rand.NewPCG(seed, uint64(n)))
		in, cols := randomBatch(mem, r, int(n))
		defer in.Release()
		p, err := e.Compile(context.Background(), cols, Definition{
			Select: []string{"id", "a * 2 AS a2"},
			Where:  fmt.Sprintf("a > %d AND (s IS NULL OR s < 'm')", k),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		out, err := p.Transform(context.Background(), mem, in)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Release()
		if out.NumRows() != int64(n) {
			t.Fatalf("%d rows of %d", out.NumRows(), n)
		}
		a, s, ops := in.Column(1).(*array.Int64), in.Column(2).(*array.String), in.Column(3).(*array.Int8)
		id, a2, pass := out.Column(0).(*array.Int64), out.Column(1).(*array.Int64), out.Column(4).(*array.Boolean)
		for i := range int(n) {
			want := change.Op(ops.Value(i)) != change.OpDelete && a.IsValid(i) && a.Value(i) > int64(k) &&
				(s.IsNull(i) || s.Value(i) < "m")
			if pass.Value(i) != want {
				t.Fatalf("row %d (a=%s s=%s op=%d): passes %v, want %v", i, render(a, i), render(s, i), ops.Value(i), pass.Value(i), want)
			}
			if id.Value(i) != int64(i) || a2.IsValid(i) != a.IsValid(i) || (a.IsValid(i) && a2.Value(i) != 2*a.Value(i)) {
				t.Fatalf("row %d: id %d a2 %s, a %s", i, id.Value(i), render(a2, i), render(a, i))
			}
		}
	})
}

// TestConcurrentTransforms: programs of one engine transform at the same
// time, and one program from several goroutines (run with -race).
func TestConcurrentTransforms(t *testing.T) {
	e := openEngine(t, Options{Threads: 2})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in, cols := randomBatch(mem, rand.New(rand.NewPCG(7, 7)), 40000)
	defer in.Release()
	shared := compile(t, e, cols, Definition{Select: []string{"id", "upper(s) AS u"}, Where: "a > 0"})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := shared
			if g%2 == 0 {
				own, err := e.Compile(context.Background(), cols, Definition{Select: []string{"id", "upper(s) AS u"}, Where: "a > 0"})
				if err != nil {
					errs <- err
					return
				}
				defer own.Close()
				p = own
			}
			for range 3 {
				out, err := p.Transform(context.Background(), mem, in)
				if err != nil {
					errs <- err
					return
				}
				if out.NumRows() != in.NumRows() || out.Column(0).(*array.Int64).Value(39999) != 39999 {
					errs <- fmt.Errorf("result %d rows", out.NumRows())
				}
				out.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestScanReadsTheRightColumns holds the cases that gave wrong values or
// crashed before scanAll: expressions naming some of the base columns, in
// another order than the batch's, and a column that constant folding
// removes from the plan.
func TestScanReadsTheRightColumns(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t, Options{})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := buildFixture(t, mem, fixture)
	defer in.Release()
	for _, c := range []struct {
		sel   []string
		where string
		want  string // rows joined by |, columns by ,
	}{
		{[]string{"id"}, "", "1|2|3|4|5"},
		{[]string{"n", "id"}, "", "7,1|-7,2|NULL,3|0,4|2147483647,5"},
		{[]string{"CASE WHEN false THEN name ELSE email END AS e", "id"}, "", "Zoe@Example.COM,1| jp@Example.jp ,2|NULL,3|a@b,4|X@Y.Z,5"},
		{[]string{"coalesce(1, big) AS one", "vip"}, "", "1.0000000000,true|1.0000000000,false|1.0000000000,NULL|1.0000000000,NULL|1.0000000000,true"},
		{[]string{"iso"}, "(name = name OR true) AND n IS NOT NULL", "2024-05-01T10:00:00+02:00|2024-01-01|NULL|2024-02-29T12:00:00Z|1969-12-31T23:59:59.999999Z"},
		{[]string{"'constant' AS k"}, "", "constant|constant|constant|constant|constant"},
	} {
		p := compile(t, e, baseColumns(t), Definition{Select: c.sel, Where: c.where})
		out, err := p.Transform(ctx, mem, in)
		if err != nil {
			t.Fatalf("%v: %v", c.sel, err)
		}
		var rows []string
		for i := range int(out.NumRows()) {
			var vals []string
			for j := range len(c.sel) {
				vals = append(vals, render(out.Column(j), i))
			}
			rows = append(rows, strings.Join(vals, ","))
		}
		out.Release()
		if got := strings.Join(rows, "|"); got != c.want {
			t.Errorf("%v where %q:\n got %s\nwant %s", c.sel, c.where, got, c.want)
		}
	}
}
