package dedupe

import (
	"cmp"
	"fmt"
	"maps"
	"math"
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

// TestConsumeReleasesInput: Consume gives what Latest gives and releases
// its input itself, when it succeeds (every row winning or not) and when
// it fails.
func TestConsumeReleasesInput(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, rows := range [][]row{
		{{1, "a", change.OpInsert, 1}, {2, "b", change.OpInsert, 2}, {3, "c", change.OpInsert, 3}}, // all win
		{{3, "a", change.OpInsert, 1}, {1, "b", change.OpInsert, 2}, {3, "c", change.OpUpdate, 3}},
	} {
		b1, b2 := build(t, mem, rows[:1]), build(t, mem, rows[1:])
		want, _, err := Latest(mem, []arrow.RecordBatch{b1, b2}, []string{"id"})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := Consume(mem, []arrow.RecordBatch{b1, b2}, []string{"id"})
		if err != nil {
			t.Fatal(err)
		}
		if render(got) != render(want) {
			t.Fatalf("Consume gave\n%sLatest gave\n%s", render(got), render(want))
		}
		got.Release()
		want.Release()
	}
	b := build(t, mem, []row{{1, "a", change.OpInsert, 1}})
	if _, _, err := Consume(mem, []arrow.RecordBatch{b}, []string{"nope"}); err == nil {
		t.Fatal("unknown key column accepted")
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

// TestLatestSortedInput: rows in _seq order whose keys never decrease (a
// full load read in key order) take the index-free path, with and without
// repeated keys and split into batches anywhere; a single key out of order,
// even in the last row, sends them down the general path. Every variant
// equals the plain model, for integer and string keys.
func TestLatestSortedInput(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 60; trial++ {
		n := 1 + rng.IntN(200)
		rows := make([]row, n)
		id := int64(rng.IntN(5)) - 2
		for i := range rows {
			if i > 0 && rng.IntN(3) > 0 {
				id += int64(rng.IntN(3)) // repeats when 0
			}
			rows[i] = row{id: id, val: fmt.Sprint("v", i), op: change.Op(1 + rng.IntN(3)), seq: uint64(i + 1)}
		}
		if trial%3 == 2 {
			// Last key out of order.
			rows[n-1].id = rows[0].id - 1
		}
		model := map[int64]row{}
		for _, r := range rows {
			model[r.id] = r // seq grows with i: the last row of a key wins
		}
		var want strings.Builder
		ids := slices.Sorted(maps.Keys(model))
		for _, k := range ids {
			r := model[k]
			var sb change.SeqBuilder
			fmt.Fprintf(&want, "%d %s %s %x\n", k, r.val, r.op, sb.Uint64(r.seq).Bytes())
		}
		var batches []arrow.RecordBatch
		for rest := rows; len(rest) > 0; {
			k := 1 + rng.IntN(len(rest))
			batches = append(batches, build(t, mem, rest[:k]))
			rest = rest[k:]
		}
		got, st, err := Latest(mem, batches, []string{"id"})
		if err != nil {
			t.Fatal(err)
		}
		if g := render(got); g != want.String() {
			t.Fatalf("trial %d: got\n%swant\n%s", trial, g, want.String())
		}
		if st.In != int64(n) || st.Out != int64(len(model)) {
			t.Fatalf("trial %d: stats %+v", trial, st)
		}
		got.Release()
		// The encoded-key path (string and composite keys) agrees.
		var buf []byte
		offsets := make([]int64, len(batches))
		var total int64
		for i, b := range batches {
			offsets[i], total = total, total+b.NumRows()
		}
		st = Stats{}
		strs, err := pick(batches, offsets, 3, func(b arrow.RecordBatch) (keyFunc[string], error) {
			enc, err := change.NewKeyEncoder(b, []string{"id"})
			if err != nil {
				return nil, err
			}
			return func(r int) string { buf = enc.Append(buf[:0], r); return string(buf) }, nil
		}, pickEncoded, &st)
		if err != nil {
			t.Fatal(err)
		}
		if len(strs) != len(model) {
			t.Fatalf("trial %d: string path kept %d rows, want %d", trial, len(strs), len(model))
		}
		for _, b := range batches {
			b.Release()
		}
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
	ints, err := pick(rec2(rec), []int64{0}, seqCol, func(b arrow.RecordBatch) (keyFunc[int64], error) {
		a := b.Column(0).(*array.Int64)
		return func(r int) int64 { return a.Value(r) }, nil
	}, pickInts, &st)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	strs, err := pick(rec2(rec), []int64{0}, seqCol, func(b arrow.RecordBatch) (keyFunc[string], error) {
		enc, err := change.NewKeyEncoder(b, []string{"id"})
		if err != nil {
			return nil, err
		}
		return func(r int) string { buf = enc.Append(buf[:0], r); return string(buf) }, nil
	}, pickEncoded, &st)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ints, strs) {
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
	// keys=N: 1M changes to N random keys (a merge); load=sorted|shuffled:
	// a full load of 1M distinct keys in key order (InnoDB, most heap
	// tables) or in random order.
	cases := []struct {
		name string
		id   func(rng *rand.Rand, i int) int64
	}{
		{"keys=1000", func(rng *rand.Rand, _ int) int64 { return int64(rng.IntN(1000)) }},
		{"keys=100000", func(rng *rand.Rand, _ int) int64 { return int64(rng.IntN(100000)) }},
		{"load=sorted", func(_ *rand.Rand, i int) int64 { return int64(i) }},
		{"load=shuffled", func(_ *rand.Rand, i int) int64 { return int64(uint32(i) * 2654435761) }},
	}
	for _, c := range cases {
		b.Run("rows=1000000/"+c.name, func(b *testing.B) {
			mem := memory.NewGoAllocator()
			rng := rand.New(rand.NewPCG(3, 4))
			rows := make([]row, 1_000_000)
			for i := range rows {
				rows[i] = row{id: c.id(rng, i), val: "payload", op: change.OpUpdate, seq: uint64(i)}
			}
			// Batches of 8192 rows, as the decoders produce them.
			var recs []arrow.RecordBatch
			for off := 0; off < len(rows); off += 8192 {
				recs = append(recs, build(b, mem, rows[off:min(off+8192, len(rows))]))
			}
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, _, err := Latest(mem, recs, []string{"id"})
				if err != nil {
					b.Fatal(err)
				}
				out.Release()
			}
			b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "changes/s")
		})
	}
}

// TestPickPathsAgree: the hash map (few distinct keys), the comparison
// sort (many, or keys too spread for the radix sort) and the radix sort
// (integer keys) pick the same rows, in and out of _seq order, for integer
// and encoded keys, negative and widely spread keys included.
func TestPickPathsAgree(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(9, 10))
	// Key spreads: small, negative, wide (fits the radix sort with the row
	// bits), too wide for it (the comparison sort takes over).
	spreads := []struct {
		scale, shift int64
		radix        bool
	}{{1, 0, true}, {1, -1 << 40, true}, {1 << 40, -5, true}, {1, 0, false}}
	for trial := 0; trial < 80; trial++ {
		n := 2 + rng.IntN(400)
		sp := spreads[trial%len(spreads)]
		inOrder := trial/len(spreads)%2 == 0
		perm := rng.Perm(n)
		rows := make([]row, n)
		for i := range rows {
			seq := uint64(perm[i] / 2) // ties too
			if inOrder {
				seq = uint64(i / 2)
			}
			rows[i] = row{id: int64(rng.IntN(1+n/3))*sp.scale + sp.shift, val: "v", op: change.OpUpdate, seq: seq}
		}
		if !sp.radix {
			rows[0].id, rows[n-1].id = math.MinInt64, math.MaxInt64
		}
		var batches []arrow.RecordBatch
		var offsets []int64
		var total int64
		for rest := rows; len(rest) > 0; {
			k := 1 + rng.IntN(len(rest))
			b := build(t, mem, rest[:k])
			batches, offsets, total = append(batches, b), append(offsets, total), total+b.NumRows()
			rest = rest[k:]
		}
		seqs := make([]*array.Binary, len(batches))
		for i, b := range batches {
			seqs[i] = b.Column(3).(*array.Binary)
		}
		if seqsIncrease(seqs) != inOrder && inOrder {
			t.Fatal("in-order rows not detected")
		}
		ints := func(b arrow.RecordBatch) (keyFunc[int64], error) {
			a := b.Column(0).(*array.Int64)
			return func(r int) int64 { return a.Value(r) }, nil
		}
		var buf []byte
		strs := func(b arrow.RecordBatch) (keyFunc[string], error) {
			enc, err := change.NewKeyEncoder(b, []string{"id"})
			if err != nil {
				return nil, err
			}
			return func(r int) string { buf = enc.Append(buf[:0], r); return string(buf) }, nil
		}
		byMap, ok, err := pickByMap(batches, offsets, seqs, inOrder, ints)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		bySort, err := pickBySort(batches, offsets, seqs, inOrder, ints)
		if err != nil {
			t.Fatal(err)
		}
		bySortStr, err := pickBySort(batches, offsets, seqs, inOrder, strs)
		if err != nil {
			t.Fatal(err)
		}
		byRadix, ok, err := pickByRadix(batches, offsets, seqs, inOrder, ints)
		if err != nil || ok != sp.radix {
			t.Fatalf("trial %d: radix sort ok %v (want %v), %v", trial, ok, sp.radix, err)
		}
		if !ok {
			byRadix = byMap
		}
		if !slices.Equal(byMap, bySort) || !slices.Equal(byMap, bySortStr) || !slices.Equal(byMap, byRadix) {
			t.Fatalf("trial %d (in order %v): map %v\nsort %v\nsort (encoded) %v\nradix %v", trial, inOrder, byMap, bySort, bySortStr, byRadix)
		}
		for _, b := range batches {
			b.Release()
		}
	}
}
