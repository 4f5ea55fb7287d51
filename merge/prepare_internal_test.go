package merge

import (
	"slices"
	"testing"
	"time"

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

// TestDecodeQueueBound: with a limit, the decoder of the file being taken
// stops once its own batches not taken reach the limit, and goes on when
// the run takes one (it ran a whole file ahead before); a later file's
// decoder stops once the queue holds the limit.
func TestDecodeQueueBound(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	batch := func() arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		b.Field(0).(*array.Int64Builder).AppendValues(make([]int64, 1000), nil)
		return b.NewRecordBatch()
	}
	probe := batch()
	q := newDecodeQueue(2, 2*change.RecordBytes(probe)) // room for two batches
	probe.Release()
	pushed := make(chan struct{}, 8)
	decode := func(file, n int) {
		for range n {
			q.push(file, batch())
			pushed <- struct{}{}
		}
		q.finish(file)
	}
	// waits returns whether no further batch was pushed for a while.
	waits := func() bool {
		select {
		case <-pushed:
			return false
		case <-time.After(50 * time.Millisecond):
			return true
		}
	}
	take := func(file, n int) {
		for range n {
			b, ok := q.next(file)
			if !ok {
				t.Fatalf("file %d has fewer batches than pushed", file)
			}
			b.Release()
		}
		if _, ok := q.next(file); ok {
			t.Fatalf("file %d has more batches than pushed", file)
		}
	}
	// File 1's decoder starts while the run is still on file 0.
	for file, role := range []string{"the file being taken", "a later file"} {
		go decode(file, 4)
		<-pushed
		<-pushed
		if !waits() {
			t.Fatalf("the decoder of %s ran past the limit", role)
		}
		b, _ := q.next(file)
		b.Release()
		<-pushed // room for one more
		if !waits() {
			t.Fatalf("the decoder of %s ran past the limit after one batch was taken", role)
		}
		take(file, 3)
		<-pushed // the fourth
	}
}
