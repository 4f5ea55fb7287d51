package table

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestSortRows: rows in sort order, several columns, ascending with nulls
// first, descending with nulls last, ties in the order they came; no
// Arrow memory left behind.
func TestSortRows(t *testing.T) {
	m := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer m.AssertSize(t, 0)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "row", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(m, sch)
	defer b.Release()
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{3, 0, -2, 3, 0, -2}, []bool{true, false, true, true, true, true})
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"x", "y", "", "x", "w", "z"}, []bool{true, true, false, true, true, true})
	b.Field(2).(*array.Int64Builder).AppendValues([]int64{0, 1, 2, 3, 4, 5}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	for _, c := range []struct {
		order []SortField
		want  string
	}{
		{nil, "[0 1 2 3 4 5]"},
		{[]SortField{{Column: "a"}}, "[1 2 5 4 0 3]"},
		{[]SortField{{Column: "a", Descending: true}}, "[0 3 4 2 5 1]"},
		{[]SortField{{Column: "a", Descending: true}, {Column: "b"}}, "[0 3 4 2 5 1]"},
		{[]SortField{{Column: "b", Descending: true}, {Column: "a"}}, "[5 1 0 3 4 2]"},
	} {
		out, err := SortRows(context.Background(), m, rec, c.order)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(out.Column(2).(*array.Int64).Int64Values()); got != c.want {
			t.Errorf("sort by %v: rows %s, want %s", c.order, got, c.want)
		}
		out.Release()
	}
	if _, err := SortRows(context.Background(), m, rec, []SortField{{Column: "nope"}}); err == nil {
		t.Error("sorting by a missing column did not fail")
	}
}
