package merge

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// TestJournalOf: a change set's journal is the set without _keep when no
// insert or update of it is partial (a Debezium batch always has _keep,
// null in complete rows; a delete's bits do not count), and none when one
// is.
func TestJournalOf(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: change.ColOp, Type: arrow.PrimitiveTypes.Int8}, {Name: change.ColSeq, Type: arrow.BinaryTypes.Binary},
		{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: change.ColTS, Type: change.TSType(), Nullable: true}}, nil)
	build := func(ops []change.Op, keeps [][]byte) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for i, op := range ops {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.Int8Builder).Append(int8(op))
			b.Field(2).(*array.BinaryBuilder).Append([]byte{byte(i)})
			if keeps[i] == nil {
				b.Field(3).AppendNull()
			} else {
				b.Field(3).(*array.BinaryBuilder).Append(keeps[i])
			}
			b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(i))
		}
		return b.NewRecordBatch()
	}
	for _, tc := range []struct {
		what    string
		ops     []change.Op
		keeps   [][]byte
		journal bool
	}{
		{"complete rows", []change.Op{change.OpInsert, change.OpUpdate}, [][]byte{nil, nil}, true},
		{"empty and zero bits, a delete's bits", []change.Op{change.OpInsert, change.OpUpdate, change.OpDelete}, [][]byte{{}, {0}, {1}}, true},
		{"a partial update", []change.Op{change.OpInsert, change.OpUpdate}, [][]byte{nil, {2}}, false},
	} {
		rec := build(tc.ops, tc.keeps)
		j, err := journalOf(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		if (j != nil) != tc.journal {
			t.Fatalf("%s: journal %v, want %v", tc.what, j != nil, tc.journal)
		}
		if j == nil {
			continue
		}
		if j.NumRows() != int64(len(tc.ops)) || len(j.Schema().FieldIndices(change.ColKeep)) != 0 || len(j.Schema().FieldIndices(change.ColTS)) != 1 {
			t.Fatalf("%s: journal %s, %d rows", tc.what, j.Schema(), j.NumRows())
		}
		j.Release()
	}
}
