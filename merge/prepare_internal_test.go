package merge

import (
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// TestDropOlder: rows older than a truncate go; when none is older the
// record comes back as it is (no copy of a full load), and the caller's
// reference stays valid either way.
func TestDropOlder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	seq := func(gen uint32, line uint64) []byte {
		var sb change.SeqBuilder
		return slices.Clone(sb.Uint32(gen).Uint64(line).Bytes())
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary},
	}, nil)
	rec := func(seqs ...[]byte) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for i, s := range seqs {
			b.Field(0).(*array.Int64Builder).Append(int64(i))
			b.Field(1).(*array.BinaryBuilder).Append(s)
		}
		return b.NewRecordBatch()
	}
	var sb change.SeqBuilder
	before := slices.Clone(sb.Uint32(2).Bytes())

	all := rec(seq(2, 0), seq(2, 1), seq(3, 0))
	defer all.Release()
	kept, err := dropOlder(mem, all, before)
	if err != nil {
		t.Fatal(err)
	}
	if kept != all {
		t.Error("no row is older, yet the record was copied")
	}
	kept.Release()

	mixed := rec(seq(1, 9), seq(2, 0), seq(1, 0), seq(3, 1))
	defer mixed.Release()
	kept, err = dropOlder(mem, mixed, before)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Release()
	got := kept.Column(0).(*array.Int64).Int64Values()
	if !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("kept rows %v, want [1 3]", got)
	}
}
