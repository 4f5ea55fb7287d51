package dedupe

import (
	"fmt"
	"math/bits"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/change"
)

// pickByRadix picks the winners of integer keys by sorting every row by
// (key, row) with a radix sort: each row becomes one uint64, its key's
// distance from the smallest key in the high bits and its global row index
// in the low bits, so that one unsigned order is key order and, within a
// key, row order. A least-significant-digit radix sort over the bytes that
// are not the same in every value costs a few sequential passes, where a
// comparison sort (or a hash map past the cache) pays a random access per
// row. ok is false when keys and rows do not fit in 64 bits together
// (keys spread over more than 2^(64-row bits), such as random 64-bit ids);
// the caller then sorts by comparison.
func pickByRadix(batches []arrow.RecordBatch, offsets []int64, seqs []*array.Binary, inOrder bool, keys func(arrow.RecordBatch) (keyFunc[int64], error)) (rows []int64, ok bool, err error) {
	total := offsets[len(offsets)-1] + batches[len(batches)-1].NumRows()
	if total == 0 {
		return nil, true, nil
	}
	fns := make([]keyFunc[int64], len(batches))
	lo, hi := int64(0), int64(0)
	first := true
	for bi, b := range batches {
		if fns[bi], err = keys(b); err != nil {
			return nil, false, fmt.Errorf("dedupe: %w", err)
		}
		for r := 0; r < int(b.NumRows()); r++ {
			k := fns[bi](r)
			if first || k < lo {
				lo = k
			}
			if first || k > hi {
				hi = k
			}
			first = false
		}
	}
	rowBits := bits.Len64(uint64(total - 1))
	keyBits := bits.Len64(uint64(hi) - uint64(lo))
	if rowBits+keyBits > 64 {
		return nil, false, nil
	}
	vals := make([]uint64, 0, total)
	for bi, b := range batches {
		key := fns[bi]
		for r := 0; r < int(b.NumRows()); r++ {
			vals = append(vals, (uint64(key(r))-uint64(lo))<<rowBits|uint64(offsets[bi]+int64(r)))
		}
	}
	vals = radixSort(vals)

	rowMask := uint64(1)<<rowBits - 1
	seqAt := func(g uint64) []byte {
		bi := sort.Search(len(offsets), func(i int) bool { return offsets[i] > int64(g) }) - 1
		return seqs[bi].Value(int(int64(g) - offsets[bi]))
	}
	for i := 0; i < len(vals); {
		key := vals[i] >> rowBits
		w := vals[i] & rowMask
		j := i + 1
		for ; j < len(vals) && vals[j]>>rowBits == key; j++ {
			if g := vals[j] & rowMask; inOrder || change.CompareSeq(seqAt(g), seqAt(w)) >= 0 {
				w = g
			}
		}
		rows = append(rows, int64(w))
		i = j
	}
	return rows, true, nil
}

// radixSort sorts vals in ascending order, one pass per byte position in
// which the values differ; it returns the sorted slice, which is vals or a
// scratch slice of the same length.
func radixSort(vals []uint64) []uint64 {
	var counts [8][256]int
	for _, v := range vals {
		for d := 0; d < 8; d++ {
			counts[d][byte(v>>(8*d))]++
		}
	}
	var tmp []uint64
	n := len(vals)
	for d := 0; d < 8; d++ {
		c := &counts[d]
		if c[byte(vals[0]>>(8*d))] == n {
			continue // every value has the same byte here
		}
		if tmp == nil {
			tmp = make([]uint64, n)
		}
		var pos [256]int
		sum := 0
		for b := 0; b < 256; b++ {
			pos[b] = sum
			sum += c[b]
		}
		shift := uint(8 * d)
		for _, v := range vals {
			b := byte(v >> shift)
			tmp[pos[b]] = v
			pos[b]++
		}
		vals, tmp = tmp, vals
	}
	return vals
}
