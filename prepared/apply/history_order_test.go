package apply

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/prepared"
)

// TestHistoryChangesStoredOrder: a key's stored versions come in whatever
// order the table's files give them; historyChanges settles them by order
// key all the same: a change it holds already writes nothing, a new one
// closes the current version and nothing else.
func TestHistoryChangesStoredOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	long, _ := change.ParseType("long")
	cols := append([]change.Column{{Name: "id", Type: long}}, prepared.HistoryColumns()...)
	seq := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	// Key 1's versions 10 (closed at 20), 20 (closed at 30) and 30
	// (current), stored in the order 30, 10, 20.
	sb := array.NewRecordBuilder(mem, change.Schema(cols))
	defer sb.Release()
	for _, v := range []struct {
		seq, to uint64
		cur     bool
	}{{30, 0, true}, {10, 20, false}, {20, 30, false}} {
		sb.Field(0).(*array.Int64Builder).Append(1)
		sb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(v.seq))
		if v.cur {
			sb.Field(2).(*array.TimestampBuilder).AppendNull()
		} else {
			sb.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(v.to))
		}
		sb.Field(3).(*array.BooleanBuilder).Append(v.cur)
		sb.Field(4).(*array.StringBuilder).Append("U")
		sb.Field(5).(*array.BinaryBuilder).Append(seq(v.seq))
		sb.Field(6).(*array.Int8Builder).Append(int8(change.OpUpdate))
		sb.Field(7).(*array.BinaryBuilder).Append(seq(v.seq))
	}
	stored := sb.NewRecordBatch()
	defer stored.Release()
	for _, c := range []struct {
		seq  uint64
		want string
	}{
		{20, ""},
		{40, "1 30→40 false | 1 40→NULL true"},
	} {
		cb := array.NewRecordBuilder(mem, curatedSchema(arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}))
		cb.Field(0).(*array.Int64Builder).Append(1)
		cb.Field(1).(*array.BooleanBuilder).Append(true)
		cb.Field(2).(*array.Int8Builder).Append(int8(change.OpUpdate))
		cb.Field(3).(*array.BinaryBuilder).Append(seq(c.seq))
		cb.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(c.seq))
		curated := cb.NewRecordBatch()
		cb.Release()
		out, err := historyChanges(mem, historyInput{stored: stored, curated: curated}, cols, []string{"id"}, []byte{9})
		curated.Release()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		from, to := out.Column(1).(*array.Timestamp), out.Column(2).(*array.Timestamp)
		for i := range int(out.NumRows()) {
			end := "NULL"
			if to.IsValid(i) {
				end = fmt.Sprint(int64(to.Value(i)))
			}
			got = append(got, fmt.Sprintf("%d %d→%s %t", out.Column(0).(*array.Int64).Value(i), int64(from.Value(i)), end,
				out.Column(3).(*array.Boolean).Value(i)))
		}
		out.Release()
		if g := strings.Join(got, " | "); g != c.want {
			t.Errorf("change %d: wrote %q, want %q", c.seq, g, c.want)
		}
	}
}
