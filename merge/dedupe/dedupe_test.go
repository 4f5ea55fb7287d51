package dedupe

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

type row struct {
	id  int64
	val string
	op  change.Op
	seq uint64
}

var testSchema = change.Schema([]change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "val", Type: arrow.BinaryTypes.String},
})

func build(t testing.TB, mem memory.Allocator, rows []row) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, testSchema)
	defer b.Release()
	var sb change.SeqBuilder
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		b.Field(1).(*array.StringBuilder).Append(r.val)
		b.Field(2).(*array.Int8Builder).Append(int8(r.op))
		sb.Reset()
		b.Field(3).(*array.BinaryBuilder).Append(sb.Uint64(r.seq).Bytes())
	}
	return b.NewRecordBatch()
}

func render(rec arrow.RecordBatch) string {
	var s strings.Builder
	for i := 0; i < int(rec.NumRows()); i++ {
		fmt.Fprintf(&s, "%d %s %s %x\n",
			rec.Column(0).(*array.Int64).Value(i),
			rec.Column(1).(*array.String).Value(i),
			change.Op(rec.Column(2).(*array.Int8).Value(i)),
			rec.Column(3).(*array.Binary).Value(i))
	}
	return s.String()
}

func TestLatestScenario(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b1 := build(t, mem, []row{
		{3, "a", change.OpInsert, 1},
		{-1, "b", change.OpInsert, 2},
		{3, "c", change.OpUpdate, 5},
	})
	defer b1.Release()
	b2 := build(t, mem, []row{
		{3, "old", change.OpUpdate, 4}, // late: seq 4 < 5, must not win
		{-1, "", change.OpDelete, 9},
		{7, "x", change.OpInsert, 3},
	})
	defer b2.Release()
	out, st, err := Latest(mem, []arrow.RecordBatch{b1, b2}, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	want := "-1  D 0000000000000009\n3 c U 0000000000000005\n7 x I 0000000000000003\n"
	if got := render(out); got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
	if st.In != 6 || st.Out != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestLatestSplitInvariant checks invariant 5: any split of the same changes
// into batches, in any batch order, gives the same result.
func TestLatestSplitInvariant(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n := 1 + rng.IntN(300)
		rows := make([]row, n)
		perm := rng.Perm(n) // distinct seqs
		for i := range rows {
			rows[i] = row{id: int64(rng.IntN(40)), val: fmt.Sprint("v", i), op: change.Op(1 + rng.IntN(3)), seq: uint64(perm[i])}
		}
		whole := build(t, mem, rows)
		ref, _, err := Latest(mem, []arrow.RecordBatch{whole}, []string{"id"})
		whole.Release()
		if err != nil {
			t.Fatal(err)
		}
		want := render(ref)
		ref.Release()

		// reference model: plain map
		model := map[int64]row{}
		for _, r := range rows {
			if m, ok := model[r.id]; !ok || r.seq > m.seq {
				model[r.id] = r
			}
		}
		if strings.Count(want, "\n") != len(model) {
			t.Fatalf("trial %d: %d rows, model has %d keys", trial, strings.Count(want, "\n"), len(model))
		}

		// Rows in _seq order take the in-order path; same result.
		ordered := append([]row(nil), rows...)
		slices.SortFunc(ordered, func(a, b row) int { return cmp.Compare(a.seq, b.seq) })
		ob := build(t, mem, ordered)
		og, _, err := Latest(mem, []arrow.RecordBatch{ob}, []string{"id"})
		ob.Release()
		if err != nil {
			t.Fatal(err)
		}
		if g := render(og); g != want {
			t.Fatalf("trial %d: in-order result differs\n%s\nvs\n%s", trial, g, want)
		}
		og.Release()

		shuffled := append([]row(nil), rows...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		var batches []arrow.RecordBatch
		for len(shuffled) > 0 {
			k := 1 + rng.IntN(len(shuffled))
			batches = append(batches, build(t, mem, shuffled[:k]))
			shuffled = shuffled[k:]
		}
		got, _, err := Latest(mem, batches, []string{"id"})
		for _, b := range batches {
			b.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
		if g := render(got); g != want {
			t.Fatalf("trial %d: split result differs\n%s\nvs\n%s", trial, g, want)
		}
		got.Release()
	}
}

// TestEncodedKeyPathMatchesIntPath: the general path (encoded keys, used
// for string and composite keys) picks the same rows in the same order as
// the integer fast path.
func TestEncodedKeyPathMatchesIntPath(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(5, 6))
	rows := make([]row, 500)
	perm := rng.Perm(len(rows))
	for i := range rows {
		rows[i] = row{id: int64(rng.IntN(120)) - 60, val: "v", op: change.OpUpdate, seq: uint64(perm[i])}
	}
	rec := build(t, mem, rows)
	defer rec.Release()
	seqCol := rec.Schema().FieldIndices(change.ColSeq)[0]
	var st Stats
	ints, err := pick(rec2(rec), seqCol, func(b arrow.RecordBatch) (keyFunc[int64], error) {
		a := b.Column(0).(*array.Int64)
		return func(r int) int64 { return a.Value(r) }, nil
	}, &st)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	strs, err := pick(rec2(rec), seqCol, func(b arrow.RecordBatch) (keyFunc[string], error) {
		enc, err := change.NewKeyEncoder(b, []string{"id"})
		if err != nil {
			return nil, err
		}
		return func(r int) string { buf = enc.Append(buf[:0], r); return string(buf) }, nil
	}, &st)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(locations(ints, []int64{0}), locations(strs, []int64{0})) {
		t.Fatal("encoded-key path picks other rows or another order than the integer path")
	}
}

func rec2(r arrow.RecordBatch) []arrow.RecordBatch { return []arrow.RecordBatch{r} }

func TestLatestErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := build(t, mem, []row{{1, "a", change.OpInsert, 1}})
	defer b.Release()
	if _, _, err := Latest(mem, []arrow.RecordBatch{b}, []string{"nope"}); err == nil {
		t.Fatal("missing key column accepted")
	}
	out, _, err := Latest(mem, nil, []string{"id"})
	if err != nil || out != nil {
		t.Fatalf("empty input: %v %v", out, err)
	}
}

func BenchmarkLatest(b *testing.B) {
	for _, keys := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("rows=1000000/keys=%d", keys), func(b *testing.B) {
			mem := memory.NewGoAllocator()
			rng := rand.New(rand.NewPCG(3, 4))
			rows := make([]row, 1_000_000)
			for i := range rows {
				rows[i] = row{id: int64(rng.IntN(keys)), val: "payload", op: change.OpUpdate, seq: uint64(i)}
			}
			rec := build(b, mem, rows)
			defer rec.Release()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, _, err := Latest(mem, []arrow.RecordBatch{rec}, []string{"id"})
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "changes/s")
		})
	}
}
