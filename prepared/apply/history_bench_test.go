package apply

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/prepared"
	"github.com/lakemerge/lakemerge/prepared/transform"
)

// BenchmarkHistoryChanges measures a history run's merge of its changes
// into the stored versions of the keys they touch (the rows a key read
// returns: one current version per touched key), the shape of a run of
// 100k changes (70% updates, 20% inserts, 10% deletes) into a history of
// a large table.
func BenchmarkHistoryChanges(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(b, 0)
			in, cols := historyBenchInput(mem, n)
			defer in.stored.Release()
			defer in.curated.Release()
			prefix := []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				out, err := historyChanges(mem, in, cols, []string{"id"}, prefix)
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
		})
	}
}

// historyBenchInput returns n changes (ids spread over 10n keys, the
// updates and deletes of keys the history holds) and the stored current
// version of each key they update or delete.
func historyBenchInput(mem memory.Allocator, n int) (historyInput, []change.Column) {
	long, _ := change.ParseType("long")
	str, _ := change.ParseType("string")
	user := []change.Column{{Name: "id", Type: long}, {Name: "v", Type: long}, {Name: "tag", Type: str}}
	cols := append(append([]change.Column{}, user...), prepared.HistoryColumns()...)
	rng := rand.New(rand.NewPCG(1, 2))
	seq := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

	// Changes: sorted by key, one per key.
	cb := array.NewRecordBuilder(mem, curatedSchema(
		arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "tag", Type: arrow.BinaryTypes.String, Nullable: true}))
	defer cb.Release()
	sb := array.NewRecordBuilder(mem, change.Schema(cols))
	defer sb.Release()
	for i := range n {
		id := int64(i * 10)
		op := change.OpUpdate
		switch r := rng.IntN(10); {
		case r < 2:
			op, id = change.OpInsert, id+1 // a key the history does not hold
		case r < 3:
			op = change.OpDelete
		}
		cb.Field(0).(*array.Int64Builder).Append(id)
		cb.Field(1).(*array.Int64Builder).Append(rng.Int64N(1000))
		cb.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("tag-%d", rng.IntN(100)))
		cb.Field(3).(*array.BooleanBuilder).Append(rng.IntN(10) != 0)
		cb.Field(4).(*array.Int8Builder).Append(int8(op))
		cb.Field(5).(*array.BinaryBuilder).Append(seq(uint64(2_000_000_000 + i)))
		cb.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(2_000_000 + i))
		if op == change.OpInsert {
			continue
		}
		sb.Field(0).(*array.Int64Builder).Append(id)
		sb.Field(1).(*array.Int64Builder).Append(rng.Int64N(1000))
		sb.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("tag-%d", rng.IntN(100)))
		sb.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(1_000_000 + i))
		sb.Field(4).(*array.TimestampBuilder).AppendNull()
		sb.Field(5).(*array.BooleanBuilder).Append(true)
		sb.Field(6).(*array.StringBuilder).Append("I")
		sb.Field(7).(*array.BinaryBuilder).Append(seq(uint64(1_000_000_000 + i)))
		sb.Field(8).(*array.Int8Builder).Append(int8(change.OpUpdate))
		sb.Field(9).(*array.BinaryBuilder).Append(seq(uint64(i)))
	}
	return historyInput{stored: sb.NewRecordBatch(), curated: cb.NewRecordBatch()}, cols
}

// curatedSchema is the schema of a curated batch (transform.Program's
// result) with the curated columns user.
func curatedSchema(user ...arrow.Field) *arrow.Schema {
	return arrow.NewSchema(append(user,
		arrow.Field{Name: transform.ColPass, Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		arrow.Field{Name: change.ColOp, Type: arrow.PrimitiveTypes.Int8},
		arrow.Field{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary},
		arrow.Field{Name: change.ColTS, Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true}), nil)
}
