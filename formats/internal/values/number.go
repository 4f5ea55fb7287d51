package values

import (
	"errors"
	"math"
	"strconv"
	"unsafe"
)

// Errors of the number parsers.
var (
	ErrInt   = errors.New("not an integer")
	ErrRange = errors.New("integer out of range")
	ErrFloat = errors.New("not a floating-point number")
)

// View views b as a string without copying, for calls that do not keep the
// string (strconv, map lookups, comparisons).
func View(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// OnlyDigits reports whether no byte of s is outside '0'..'9'; it is true
// for an empty s.
func OnlyDigits[T ~string | ~[]byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return true
}

// Numeral reports whether s is one or more digits '0'..'9' and nothing
// else.
func Numeral[T ~string | ~[]byte](s T) bool {
	return len(s) > 0 && OnlyDigits(s)
}

// ParseInt reads an optionally signed (+ or -) decimal integer that fits in
// a signed integer of bits bits (8 to 64): ErrInt for anything else than
// digits, ErrRange for digits out of range.
func ParseInt(b []byte, bits uint) (int64, error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, ErrInt
	}
	var u uint64
	over := false // more digits than a uint64 holds: read on, for ErrInt
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, ErrInt
		}
		if u > (math.MaxUint64-9)/10 {
			over = true
		}
		u = u*10 + uint64(d)
	}
	limit := uint64(1) << (bits - 1)
	switch {
	case over:
		return 0, ErrRange
	case neg:
		if u > limit {
			return 0, ErrRange
		}
		return -int64(u-1) - 1, nil
	case u >= limit:
		return 0, ErrRange
	}
	return int64(u), nil
}

// ParseUint reads unsigned decimal digits (no sign) into a uint64.
func ParseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrInt
	}
	var u uint64
	over := false
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, ErrInt
		}
		if u > math.MaxUint64/10 || u*10 > math.MaxUint64-uint64(d) {
			over = true
		}
		u = u*10 + uint64(d)
	}
	if over {
		return 0, ErrRange
	}
	return u, nil
}

// ParseFloat reads a floating-point number as strconv.ParseFloat does, at
// bits 32 or 64. Out-of-range values are an error rather than an infinity
// the source never had.
func ParseFloat(b []byte, bits int) (float64, error) {
	v, err := strconv.ParseFloat(View(b), bits)
	if err != nil {
		return 0, ErrFloat
	}
	return v, nil
}
