package arrowtext

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// batch builds a change batch of every column type, two rows: values, then
// nulls with a _keep of the second column.
func batch(t *testing.T, mem memory.Allocator) arrow.RecordBatch {
	var cols []change.Column
	for _, c := range [][2]string{{"i", "int"}, {"l", "long"}, {"f", "float"}, {"d", "double"}, {"dec", "decimal(5,2)"}, {"b", "boolean"}, {"dt", "date"}, {"ts", "timestamp"}, {"s", "string"}, {"bin", "binary"}} {
		typ, err := change.ParseType(c[1])
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, change.Column{Name: c[0], Type: typ})
	}
	s := change.Schema(cols)
	s = arrow.NewSchema(append(s.Fields(), arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true}), nil)
	b := array.NewRecordBuilder(mem, s)
	defer b.Release()
	b.Field(0).(*array.Int32Builder).Append(-7)
	b.Field(1).(*array.Int64Builder).Append(1 << 40)
	b.Field(2).(*array.Float32Builder).Append(1.5)
	b.Field(3).(*array.Float64Builder).Append(0.1)
	b.Field(4).(*array.Decimal128Builder).Append(decimal128.FromI64(-105))
	b.Field(5).(*array.BooleanBuilder).Append(true)
	b.Field(6).(*array.Date32Builder).Append(19000)
	b.Field(7).(*array.TimestampBuilder).Append(1716925901388146)
	b.Field(8).(*array.StringBuilder).Append("a \"q\"")
	b.Field(9).(*array.BinaryBuilder).Append([]byte{0, 0xff})
	for i := range 10 {
		b.Field(i).AppendNull()
	}
	b.Field(10).(*array.Int8Builder).AppendValues([]int8{int8(change.OpInsert), int8(change.OpUpdate)}, nil)
	b.Field(11).(*array.BinaryBuilder).AppendValues([][]byte{{1}, {2, 3}}, nil)
	b.Field(12).(*array.BinaryBuilder).AppendNull()
	b.Field(12).(*array.BinaryBuilder).Append([]byte{2})
	return b.NewRecordBatch()
}

func TestRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := batch(t, mem)
	defer rec.Release()
	if got, want := Schema(rec.Schema()), "i int, l long, f float, d double, dec decimal(5,2), b boolean, dt date, ts timestamp, s string, bin binary"; got != want {
		t.Errorf("Schema = %s", got)
	}
	var bits, names strings.Builder
	Rows{}.Write(&bits, rec)
	Rows{Seq: func(s []byte) string { return "len " + string(rune('0'+len(s))) }, KeepNames: true}.Write(&names, rec)
	const values = " i=-7 l=1099511627776 f=1.5 d=0.1 dec=-1.05 b=true dt=2022-01-08 ts=2024-05-28 19:51:41.388146 s=\"a \\\"q\\\"\" bin=0x00ff"
	const nulls = " i=NULL l=NULL f=NULL d=NULL dec=NULL b=NULL dt=NULL ts=NULL s=NULL bin=NULL"
	if want := "I seq=01" + values + "\nU seq=0203 keep=[00000010]" + nulls + "\n"; bits.String() != want {
		t.Errorf("bits layout:\n%s\nwant:\n%s", bits.String(), want)
	}
	if want := "I seq=01 (len 1)" + values + "\nU seq=0203 (len 2)" + nulls + " _keep=[l]\n"; names.String() != want {
		t.Errorf("names layout:\n%s\nwant:\n%s", names.String(), want)
	}
}

func TestTableByKey(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "amt", Type: &arrow.Decimal128Type{Precision: 5, Scale: 2}, Nullable: true}}, nil)
	b := array.NewRecordBuilder(mem, s)
	defer b.Release()
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{10, -2, 3}, nil)
	b.Field(1).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(100), {}, decimal128.FromI64(5)}, []bool{true, false, true})
	rec := b.NewRecordBatch()
	defer rec.Release()
	tbl := array.NewTableFromRecords(s, []arrow.RecordBatch{rec})
	defer tbl.Release()
	if got := TableByKey(t, tbl, "id", "amt"); got != "-2|NULL\n3|0.05\n10|1.00\n" {
		t.Errorf("TableByKey:\n%s", got)
	}
}
