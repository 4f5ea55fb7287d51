//go:build duckdb_arrow && cgo

package transform

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	e, err := Open(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	t.Log(e.Version())
	cols := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "email", Type: arrow.BinaryTypes.String}, {Name: "bal", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}}}
	for _, def := range []Definition{
		{Select: []string{"id", "sha256(email) AS h", "bal * 2 AS b2", "CAST(bal AS double) d", "id/2 AS half", "random() r", "sum(id) s", "(select 1) x", "emial", "sha256(id) y", "now() n", "id::smallint sm", "hash(id) hh", "NULL nn", "current_date cd", "to_utf8(email) u", "a -- hi"}, Where: "bal > 0"},
		{Select: []string{"id, email", "*", "id FROM t", "1 AS _op", "x.y", "row_number() over () rn", "$1 p", "id AS ID2", "email AS id2"}, Where: "id"},
	} {
		p, err := e.Compile(ctx, cols, def)
		if err != nil {
			t.Log(err)
			continue
		}
		t.Log(p.Query())
		p.Close()
	}
	p, err := e.Compile(ctx, cols, Definition{Select: []string{"id AS key", "sha256(email) AS h", "bal * 2 AS b2", "id/2 AS half", "upper(email) up"}, Where: "bal > 0"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Log(p.Query(), p.Columns(), p.Sources())
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewRecordBuilder(mem, change.Schema(cols))
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"a@x", "é", ""}, []bool{true, true, false})
	b.Field(2).(*array.Decimal128Builder).AppendNull()
	b.Field(2).(*array.Decimal128Builder).AppendNull()
	b.Field(2).(*array.Decimal128Builder).AppendNull()
	b.Field(3).(*array.Int8Builder).AppendValues([]int8{1, 2, 3}, nil)
	b.Field(4).(*array.BinaryBuilder).AppendValues([][]byte{{1}, {2}, {3}}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	out, err := p.Transform(ctx, mem, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
	out.Release()
}
