package table

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/change"
)

// KeyIndex finds the row of a change batch that holds a given key. The
// table writers probe it with the key of every stored row they scan, which
// makes it the hottest lookup of a merge: a 10M-row table is 10M probes, of
// which most miss.
//
// A single integer key column (int32 or int64; the usual surrogate key)
// whose values span at most 64 times as many numbers as there are changes
// is indexed as a bitset over that span with a rank directory: a probe
// reads one word of a structure small enough to stay in cache (a bit per
// number, so 1M changes over 10M ids take 1.25 MB) and a miss costs no
// hashing. Other keys are indexed by their change.KeyEncoder encoding in a
// hash map. Both match exactly the same rows: integer keys compare
// numerically, as their encodings do (an int column widened to long still
// matches).
type KeyIndex struct {
	keys []string
	n    int

	// Integer keys, dense span: bit k-lo of set is set for each change key
	// k; rank[w] counts the set bits before word w, and the changes in key
	// order are rows at[0], at[1], ...
	dense bool
	lo    int64
	set   []uint64
	rank  []uint32
	at    []int32

	// Integer keys, sparse span; sorted holds the keys in order, and
	// filter has the bit filterBit(k) set for each key k: most misses cost
	// one load instead of a map probe.
	ints   map[int64]int32
	sorted []int64
	filter []uint64
	shift  uint

	// Any other key: by encoding.
	enc map[string]int32

	// A key of several columns whose first is an integer column and whose
	// others are integers, dates, strings or binary (ScanMatches reads
	// them from Parquet): lead indexes the distinct values of the first
	// column (only whether a value is there matters), and rest says how
	// each other column's values encode. Nil for other keys.
	lead *KeyIndex
	rest []keyPart
}

// keyPart is how a key column's stored values encode (change.KeyEncoder).
type keyPart int8

const (
	partInt   keyPart = iota // int or long: 64 bits
	partDate                 // date: 32 bits
	partBytes                // string or binary: escaped bytes
)

// denseSpan is how many numbers per change an integer key may span for the
// bitset index (8 bytes of bitset per change at most).
const denseSpan = 64

// NewKeyIndex indexes the rows of changes by the key columns keys. Keys must
// be unique (a deduplicated change set) and not null.
func NewKeyIndex(changes arrow.RecordBatch, keys []string) (*KeyIndex, error) {
	x := &KeyIndex{keys: keys, n: int(changes.NumRows())}
	if vals, ok, err := intKeyValues(changes, keys); err != nil {
		return nil, err
	} else if ok {
		return x, x.indexInts(vals)
	}
	enc, err := change.NewKeyEncoder(changes, keys)
	if err != nil {
		return nil, err
	}
	x.enc = make(map[string]int32, x.n)
	var kb []byte
	for i := 0; i < x.n; i++ {
		if enc.HasNull(i) {
			return nil, fmt.Errorf("key index: change row %d has a null key", i)
		}
		kb = enc.Append(kb[:0], i)
		if _, dup := x.enc[string(kb)]; dup {
			return nil, fmt.Errorf("key index: change rows share the key of row %d", i)
		}
		x.enc[string(kb)] = int32(i)
	}
	return x, x.indexLead(changes)
}

// indexLead builds lead and rest for a key of several columns whose first
// is an integer and whose others ScanMatches can read; it leaves them nil
// for any other key.
func (x *KeyIndex) indexLead(changes arrow.RecordBatch) error {
	if len(x.keys) < 2 {
		return nil
	}
	vals, ok, err := intKeyValues(changes, x.keys[:1])
	if err != nil || !ok {
		return nil // a null or a non-integer first column: no lead
	}
	rest := make([]keyPart, 0, len(x.keys)-1)
	for _, k := range x.keys[1:] {
		switch changes.Column(changes.Schema().FieldIndices(k)[0]).(type) {
		case *array.Int32, *array.Int64:
			rest = append(rest, partInt)
		case *array.Date32:
			rest = append(rest, partDate)
		case *array.String, *array.Binary:
			rest = append(rest, partBytes)
		default:
			return nil
		}
	}
	slices.Sort(vals)
	vals = slices.Compact(vals)
	lead := &KeyIndex{keys: x.keys[:1], n: len(vals)}
	if err := lead.indexInts(vals); err != nil {
		return err
	}
	x.lead, x.rest = lead, rest
	return nil
}

// Lead returns the index ScanMatches prunes and matches the first key
// column with: x itself for a single integer key (Ints), the index of the
// distinct values of the first column for a key of several columns whose
// first is an integer and whose others are integers, dates, strings or
// binary; nil for any other key.
func (x *KeyIndex) Lead() *KeyIndex {
	if x.Ints() {
		return x
	}
	return x.lead
}

// lookupEncoded returns the change row whose encoded key
// (change.KeyEncoder) is kb.
func (x *KeyIndex) lookupEncoded(kb []byte) (int, bool) {
	i, ok := x.enc[string(kb)]
	return int(i), ok
}

// intKeyValues returns the values of a single int32 or int64 key column;
// ok is false for other keys.
func intKeyValues(rec arrow.RecordBatch, keys []string) (vals []int64, ok bool, err error) {
	if len(keys) != 1 {
		return nil, false, nil
	}
	idx := rec.Schema().FieldIndices(keys[0])
	if len(idx) != 1 {
		return nil, false, fmt.Errorf("key index: key column %q not in batch", keys[0])
	}
	col := rec.Column(idx[0])
	switch col.(type) {
	case *array.Int64, *array.Int32:
	default:
		return nil, false, nil
	}
	if col.NullN() > 0 {
		return nil, false, fmt.Errorf("key index: key column %q has nulls", keys[0])
	}
	vals = make([]int64, col.Len())
	switch a := col.(type) {
	case *array.Int64:
		copy(vals, a.Int64Values())
	case *array.Int32:
		for i, v := range a.Int32Values() {
			vals[i] = int64(v)
		}
	}
	return vals, true, nil
}

func (x *KeyIndex) indexInts(vals []int64) error {
	if len(vals) == 0 {
		x.ints, x.filter, x.shift = map[int64]int32{}, make([]uint64, 1), 58
		return nil
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	span := uint64(hi) - uint64(lo) // fits: hi >= lo
	if span/denseSpan >= uint64(len(vals)) {
		x.ints = make(map[int64]int32, len(vals))
		for i, v := range vals {
			if _, dup := x.ints[v]; dup {
				return fmt.Errorf("key index: change rows share the key of row %d", i)
			}
			x.ints[v] = int32(i)
		}
		x.sorted = slices.Sorted(maps.Keys(x.ints))
		// 32 to 64 bits per key, at most 1 MiB: a miss passes the filter
		// about 1 time in 32 while the filter stays in cache.
		logBits := min(23, max(10, bits.Len(uint(len(vals)*32))))
		x.filter, x.shift = make([]uint64, 1<<logBits/64), uint(64-logBits)
		for _, v := range vals {
			b := x.filterBit(v)
			x.filter[b/64] |= 1 << (b % 64)
		}
		return nil
	}
	x.dense, x.lo = true, lo
	x.set = make([]uint64, span/64+1)
	for i, v := range vals {
		d := uint64(v) - uint64(lo)
		if x.set[d/64]&(1<<(d%64)) != 0 {
			return fmt.Errorf("key index: change rows share the key of row %d", i)
		}
		x.set[d/64] |= 1 << (d % 64)
	}
	x.rank = make([]uint32, len(x.set))
	var c uint32
	for w, word := range x.set {
		x.rank[w] = c
		c += uint32(bits.OnesCount64(word))
	}
	x.at = make([]int32, len(vals))
	for i, v := range vals {
		x.at[x.rankOf(uint64(v)-uint64(lo))] = int32(i)
	}
	return nil
}

// rankOf is the number of change keys below offset d (whose bit is set).
func (x *KeyIndex) rankOf(d uint64) uint32 {
	w := d / 64
	return x.rank[w] + uint32(bits.OnesCount64(x.set[w]&(1<<(d%64)-1)))
}

// filterBit is the bit of filter that key v sets (Fibonacci hashing).
func (x *KeyIndex) filterBit(v int64) uint64 { return uint64(v) * 0x9E3779B97F4A7C15 >> x.shift }

func (x *KeyIndex) lookupInt(v int64) (int, bool) {
	if !x.dense {
		if b := x.filterBit(v); x.filter[b/64]&(1<<(b%64)) == 0 {
			return 0, false
		}
		i, ok := x.ints[v]
		return int(i), ok
	}
	d := uint64(v) - uint64(x.lo) // below lo wraps far beyond the set
	if d/64 >= uint64(len(x.set)) || x.set[d/64]&(1<<(d%64)) == 0 {
		return 0, false
	}
	return int(x.at[x.rankOf(d)]), true
}

// Probe returns a function that finds the change row holding the key of
// row r of rec (stored rows: the same key columns, any other columns); ok
// is false when no change has that key. A stored row with a null key
// matches nothing.
func (x *KeyIndex) Probe(rec arrow.RecordBatch) (func(r int) (row int, ok bool), error) {
	if x.enc == nil {
		idx := rec.Schema().FieldIndices(x.keys[0])
		if len(idx) != 1 {
			return nil, fmt.Errorf("key index: key column %q not in batch", x.keys[0])
		}
		switch a := rec.Column(idx[0]).(type) {
		case *array.Int64:
			vals := a.Int64Values()
			return func(r int) (int, bool) {
				if a.IsNull(r) {
					return 0, false
				}
				return x.lookupInt(vals[r])
			}, nil
		case *array.Int32:
			vals := a.Int32Values()
			return func(r int) (int, bool) {
				if a.IsNull(r) {
					return 0, false
				}
				return x.lookupInt(int64(vals[r]))
			}, nil
		default:
			return nil, fmt.Errorf("key index: key column %q is %s, the changes' is an integer", x.keys[0], a.DataType())
		}
	}
	enc, err := change.NewKeyEncoder(rec, x.keys)
	if err != nil {
		return nil, err
	}
	var kb []byte
	return func(r int) (int, bool) {
		kb = enc.Append(kb[:0], r)
		i, ok := x.enc[string(kb)]
		return int(i), ok
	}, nil
}

// Ints reports whether the index holds a single integer key column, which
// LookupInt and EachIntBetween serve.
func (x *KeyIndex) Ints() bool { return x.enc == nil }

// LookupInt returns the change row whose (integer) key is v; ok is false
// when no change has it. Only for an index whose Ints is true.
func (x *KeyIndex) LookupInt(v int64) (row int, ok bool) { return x.lookupInt(v) }

// EachIntBetween calls fn with every changed (integer) key k, lo <= k <=
// hi, in increasing order, until fn returns false. Only for an index whose
// Ints is true.
func (x *KeyIndex) EachIntBetween(lo, hi int64, fn func(k int64) bool) {
	if lo > hi || x.n == 0 {
		return
	}
	if !x.dense {
		i, _ := slices.BinarySearch(x.sorted, lo)
		for ; i < len(x.sorted) && x.sorted[i] <= hi; i++ {
			if !fn(x.sorted[i]) {
				return
			}
		}
		return
	}
	top := x.lo + int64(len(x.set)*64-1) // may wrap for keys near MaxInt64
	if top < x.lo {
		top = 1<<63 - 1
	}
	lo, hi = max(lo, x.lo), min(hi, top)
	if lo > hi {
		return
	}
	first, last := uint64(lo)-uint64(x.lo), uint64(hi)-uint64(x.lo)
	for w := first / 64; w <= last/64; w++ {
		word := x.set[w]
		if w == first/64 {
			word &^= 1<<(first%64) - 1
		}
		if w == last/64 && last%64 != 63 {
			word &= 1<<(last%64+1) - 1
		}
		for word != 0 {
			b := uint64(bits.TrailingZeros64(word))
			word &= word - 1
			if !fn(int64(uint64(x.lo) + w*64 + b)) {
				return
			}
		}
	}
}
