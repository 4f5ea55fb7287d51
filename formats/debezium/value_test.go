package debezium

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestExactFloat checks the fast path of parseFloat against
// strconv.ParseFloat: the same bits for every number it takes, and it
// leaves the rest (exponents, more than 15 digits) to strconv.
func TestExactFloat(t *testing.T) {
	cases := []string{"0", "-0", "0.0", "1", "-1", "0.1", "0.3", "123.25", "999999999999999", "-99999999.9999999",
		"0.000000000000001", "9007199254740993", "1234567890123456", "1e5", "1.5E-3", "1.", ".5", "-", ""}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		n := r.IntN(15) + 1
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		point := r.IntN(n + 1)
		for i := range n {
			if i == point && i > 0 {
				b.WriteByte('.')
			}
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		cases = append(cases, b.String())
	}
	taken := 0
	for _, c := range cases {
		got, ok := exactFloat([]byte(c))
		if !ok {
			continue
		}
		taken++
		want, err := strconv.ParseFloat(c, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("exactFloat(%q) = %v, strconv gives %v (%v)", c, got, want, err)
		}
	}
	if taken < 90_000 {
		t.Fatalf("the fast path took %d of %d numbers", taken, len(cases))
	}
}
