package table

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// TestKeyIndexMatchesEncodedKeys: every way KeyIndex indexes keys (dense
// bitset, sparse map, encoded map) finds exactly the change row whose
// encoded key equals the probed row's, for int64 and int32 stored columns
// (an int key widened to long), keys at the ends of int64, composite keys
// and null stored keys.
func TestKeyIndexMatchesEncodedKeys(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(7, 8))
	i64 := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	i32 := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32, Nullable: true}, {Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	build := func(schema *arrow.Schema, ids []int64, nulls []bool) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		for i, v := range ids {
			switch f := b.Field(0).(type) {
			case *array.Int64Builder:
				if nulls != nil && nulls[i] {
					f.AppendNull()
				} else {
					f.Append(v)
				}
			case *array.Int32Builder:
				if nulls != nil && nulls[i] {
					f.AppendNull()
				} else {
					f.Append(int32(v))
				}
			}
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("s", v%3))
		}
		return b.NewRecordBatch()
	}
	cases := []struct {
		name   string
		keys   []string
		spread int64 // changes' keys are drawn from [base, base+spread)
		base   int64
		int32  bool
		mode   string
	}{
		{"dense", []string{"id"}, 1000, -500, false, "dense"},
		{"dense-int32-stored", []string{"id"}, 1000, 0, true, "dense"},
		{"sparse", []string{"id"}, 1 << 40, 0, false, "sparse"},
		{"composite", []string{"id", "s"}, 1000, 0, false, "encoded"},
	}
	for _, c := range cases {
		for trial := 0; trial < 20; trial++ {
			n := 20 + rng.IntN(300) // enough to be dense over a span of 1000
			seen := map[int64]bool{}
			var ids []int64
			for len(ids) < n {
				v := c.base + rng.Int64N(c.spread)
				if !seen[v] {
					seen[v] = true
					ids = append(ids, v)
				}
			}
			changes := build(i64, ids, nil)
			x, err := NewKeyIndex(changes, c.keys)
			if err != nil {
				t.Fatal(err)
			}
			mode := map[bool]string{true: "dense", false: "sparse"}[x.dense]
			if x.enc != nil {
				mode = "encoded"
			}
			if mode != c.mode {
				t.Fatalf("%s: indexed as %s, want %s", c.name, mode, c.mode)
			}
			// Stored rows: the change keys, their neighbours, far values,
			// the ends of int64 and nulls.
			var stored []int64
			var nulls []bool
			for _, v := range ids {
				stored = append(stored, v, v+1, v-1, v+64, v-64)
			}
			if !c.int32 {
				stored = append(stored, math.MinInt64, math.MaxInt64)
			}
			for range stored {
				nulls = append(nulls, rng.IntN(20) == 0)
			}
			schema := i64
			if c.int32 {
				schema = i32
			}
			rec := build(schema, stored, nulls)
			probe, err := x.Probe(rec)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]int{}
			cenc, _ := change.NewKeyEncoder(changes, c.keys)
			for i := 0; i < n; i++ {
				want[string(cenc.Append(nil, i))] = i
			}
			senc, _ := change.NewKeyEncoder(rec, c.keys)
			for r := range stored {
				wi, wok := want[string(senc.Append(nil, r))]
				if nulls[r] {
					wok = false
				}
				gi, gok := probe(r)
				if gok != wok || (gok && gi != wi) {
					t.Fatalf("%s trial %d: probe of stored row %d (%d, null %v) = %d %v, want %d %v", c.name, trial, r, stored[r], nulls[r], gi, gok, wi, wok)
				}
			}
			rec.Release()
			changes.Release()
		}
	}
	// Duplicate keys are refused in every mode.
	for _, keys := range [][]string{{"id"}, {"id", "s"}} {
		for _, ids := range [][]int64{{1, 2, 1}, {0, 1 << 50, 1 << 50}} {
			rec := build(i64, ids, nil)
			if _, err := NewKeyIndex(rec, keys); err == nil {
				t.Errorf("keys %v of %v: duplicate accepted", keys, ids)
			}
			rec.Release()
		}
	}
}
