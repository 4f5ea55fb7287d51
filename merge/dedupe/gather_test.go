package dedupe

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestGatherVarBinaryMatchesTake: the string/binary gather returns what
// Arrow's take returns, for short and long values, empty values, nulls,
// repeated and permuted indices, and sliced input.
func TestGatherVarBinaryMatchesTake(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(5, 6))
	ctx := compute.WithAllocator(context.Background(), mem)
	for trial := 0; trial < 60; trial++ {
		n := 1 + rng.IntN(300)
		sb := array.NewStringBuilder(mem)
		bb := array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary)
		withNulls := trial%3 == 0
		for i := 0; i < n; i++ {
			if withNulls && rng.IntN(4) == 0 {
				sb.AppendNull()
				bb.AppendNull()
				continue
			}
			var v strings.Builder // 0..39 random letters
			for range rng.IntN(40) {
				v.WriteByte(byte('a' + rng.IntN(26)))
			}
			sb.Append(v.String())
			bb.Append([]byte(v.String()))
		}
		for _, whole := range []arrow.Array{sb.NewArray(), bb.NewArray()} {
			col := whole
			if trial%2 == 1 && n > 2 {
				col = array.NewSlice(whole, 1, int64(n-1))
				whole.Release()
			}
			idx := make([]int64, rng.IntN(2*col.Len()+1))
			for i := range idx {
				idx[i] = int64(rng.IntN(col.Len()))
			}
			got, ok := gatherVarBinary(mem, col, idx)
			if !ok {
				t.Fatalf("trial %d: %s not gathered", trial, col.DataType())
			}
			ib := array.NewInt64Builder(mem)
			ib.AppendValues(idx, nil)
			ia := ib.NewArray()
			want, err := compute.TakeArray(ctx, col, ia)
			if err != nil {
				t.Fatal(err)
			}
			if !array.Equal(got, want) || got.NullN() != want.NullN() {
				t.Fatalf("trial %d (%s): got %v, want %v", trial, col.DataType(), got, want)
			}
			for _, a := range []arrow.Array{got, want, ia, col} {
				a.Release()
			}
			ib.Release()
		}
		sb.Release()
		bb.Release()
	}
	ints := array.NewInt64Builder(mem)
	defer ints.Release()
	ints.Append(1)
	a := ints.NewArray()
	defer a.Release()
	if _, ok := gatherVarBinary(mem, a, []int64{0}); ok {
		t.Fatal("int64 column gathered as strings")
	}
}

// BenchmarkGather: the winners of a merge (1M rows in random order) from a
// string column of 7–11-byte values, by Arrow's take and by
// gatherVarBinary.
func BenchmarkGather(b *testing.B) {
	mem := memory.NewGoAllocator()
	const n = 1 << 20
	sb := array.NewStringBuilder(mem)
	for i := 0; i < n; i++ {
		sb.Append(strings.Repeat("x", 7+i%5))
	}
	col := sb.NewArray()
	sb.Release()
	defer col.Release()
	idx := make([]int64, n)
	for i, p := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		idx[i] = int64(p)
	}
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(idx, nil)
	ia := ib.NewArray()
	ib.Release()
	defer ia.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	b.Run("kernel=take", func(b *testing.B) {
		for b.Loop() {
			out, err := compute.TakeArray(ctx, col, ia)
			if err != nil {
				b.Fatal(err)
			}
			out.Release()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("kernel=gather", func(b *testing.B) {
		for b.Loop() {
			out, _ := gatherVarBinary(mem, col, idx)
			out.Release()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
