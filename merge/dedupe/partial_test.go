package dedupe

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// TestPartialImagesCoalesce: a change that leaves a column out takes it
// from the latest earlier change of its key in the run; with none, the bit
// stays set for the writer to fill from the stored row; after a delete the
// column is NULL.
func TestPartialImagesCoalesce(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: change.ColOp, Type: arrow.PrimitiveTypes.Int8},
		{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary},
		{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true},
	}, nil)
	type in struct {
		id     int64
		a, b   string // "" = NULL
		op     change.Op
		seq    byte
		keepsB bool
	}
	build := func(rows []in) arrow.RecordBatch {
		rb := array.NewRecordBuilder(mem, schema)
		defer rb.Release()
		for _, r := range rows {
			rb.Field(0).(*array.Int64Builder).Append(r.id)
			for f, v := range []string{r.a, r.b} {
				if v == "" {
					rb.Field(1 + f).AppendNull()
				} else {
					rb.Field(1 + f).(*array.StringBuilder).Append(v)
				}
			}
			rb.Field(3).(*array.Int8Builder).Append(int8(r.op))
			rb.Field(4).(*array.BinaryBuilder).Append([]byte{r.seq})
			if r.keepsB {
				rb.Field(5).(*array.BinaryBuilder).Append([]byte{1 << 2}) // user column 2 = b
			} else {
				rb.Field(5).AppendNull()
			}
		}
		return rb.NewRecordBatch()
	}
	b1 := build([]in{
		{id: 1, a: "a1", b: "b1", op: change.OpInsert, seq: 1},
		{id: 2, a: "x", op: change.OpUpdate, seq: 3, keepsB: true},
		{id: 4, a: "q", op: change.OpUpdate, seq: 8, keepsB: true},
	})
	b2 := build([]in{
		{id: 1, a: "a2", op: change.OpUpdate, seq: 2, keepsB: true},
		{id: 3, op: change.OpDelete, seq: 4},
		{id: 3, a: "y", op: change.OpUpdate, seq: 5, keepsB: true},
		{id: 4, a: "p", b: "bp", op: change.OpInsert, seq: 7},
	})
	defer b1.Release()
	defer b2.Release()
	out, st, err := Latest(mem, []arrow.RecordBatch{b1, b2}, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	var got strings.Builder
	for r := 0; r < int(out.NumRows()); r++ {
		for c := 0; c < int(out.NumCols()); c++ {
			if c > 0 {
				got.WriteString("|")
			}
			col := out.Column(c)
			switch {
			case col.IsNull(r):
				got.WriteString("NULL")
			case out.Schema().Field(c).Name == change.ColSeq || out.Schema().Field(c).Name == change.ColKeep:
				got.WriteString(string('0' + col.(*array.Binary).Value(r)[0]))
			default:
				got.WriteString(col.ValueStr(r))
			}
		}
		got.WriteString("\n")
	}
	want := "1|a2|b1|2|2|NULL\n" + // b from the earlier insert in the run
		"2|x|NULL|2|3|4\n" + // b from the stored row: bit 2 (value 4) stays set
		"3|y|NULL|2|5|NULL\n" + // after a delete: NULL, nothing to keep
		"4|q|bp|2|8|NULL\n" // earlier change given later in the input
	if got.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", got.String(), want)
	}
	if st.In != 7 || st.Out != 4 {
		t.Fatalf("stats %+v", st)
	}
}
