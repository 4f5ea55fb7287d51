package values

import (
	"errors"
	"math/big"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Errors of the decimal parsers: the text is no decimal number, it has
// non-zero digits below the scale, or its unscaled value has more digits
// than the precision.
var (
	ErrDecimal   = errors.New("not a decimal number")
	ErrScale     = errors.New("more fraction digits than the scale allows")
	ErrPrecision = errors.New("more digits than the precision allows")
)

// The decimal parsers share one reading of the text (decimalText.split) and one
// rule: the unscaled value is the number × 10^scale, exactly. Digits below
// the scale are accepted only when they are zeros (1.50 is 150 at scale 2,
// 1.005 is ErrScale); the unscaled value may have at most precision digits
// (ErrPrecision). No step goes through float64.

// ParseDecimal reads [+-]digits[.digits] (either side of the point may be
// empty, not both) as a 128-bit unscaled integer at scale with at most
// precision digits (1 to 38). It allocates nothing.
func ParseDecimal(b []byte, precision, scale int32) (decimal128.Num, error) {
	var d decimalText
	if !d.split(b, false) {
		return decimal128.Num{}, ErrDecimal
	}
	return d.num(precision, scale)
}

// ParseDecimalExp is ParseDecimal that also accepts an exponent
// ([eE][+-]digits), as in JSON numbers and Java's BigDecimal.toString.
func ParseDecimalExp(b []byte, precision, scale int32) (decimal128.Num, error) {
	var d decimalText
	if !d.split(b, true) {
		return decimal128.Num{}, ErrDecimal
	}
	return d.num(precision, scale)
}

// ParseBigDecimal reads the syntax of ParseDecimalExp as an unscaled
// integer of any size at scale (which may be negative). An exponent that
// moves the point more than a million places is ErrDecimal: the value would
// take megabytes.
func ParseBigDecimal(b []byte, scale int32) (*big.Int, error) {
	var d decimalText
	if !d.split(b, true) {
		return nil, ErrDecimal
	}
	if d.zero() {
		return new(big.Int), nil
	}
	if d.exp > maxBigExp || d.exp < -maxBigExp {
		return nil, ErrDecimal
	}
	hi, lo, shift, err := d.unscaled(scale)
	if err != nil {
		return nil, err
	}
	n := new(big.Int)
	if len(hi)+len(lo) > 0 {
		n.SetString(string(hi)+string(lo), 10)
	}
	if shift > 0 {
		n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(shift), nil))
	}
	if d.neg {
		n.Neg(n)
	}
	return n, nil
}

// maxBigExp bounds ParseBigDecimal's exponent as math/big.Rat.SetString
// bounds its own.
const maxBigExp = 1_000_000

// maxExp saturates exponents: far beyond any text's length, so that a
// saturated exponent still gives ErrScale or ErrPrecision for a non-zero
// value, as the exact one would.
const maxExp = 1 << 40

// decimalText is decimal text read into its parts: ±digits × 10^exp. The
// significant digits are hi followed by lo, the text's integer part and
// fraction without the point between them (kept apart rather than copied,
// so that the parsers allocate nothing): no leading zero, none at all for
// zero.
type decimalText struct {
	neg    bool
	hi, lo []byte
	exp    int64 // saturated at ±maxExp
}

// split reads [+-]int[.frac] with digits on at least one side of the point
// and, when exp is set, an optional [eE][+-]digits exponent, into d, which
// must be zero. (A method on a pointer: returning the struct cost the
// parsers a third of their time.)
func (d *decimalText) split(b []byte, exp bool) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		d.neg = b[0] == '-'
		b = b[1:]
	}
	mant, expText := b, []byte(nil)
	if exp {
		for i, c := range b {
			if c == 'e' || c == 'E' {
				mant, expText = b[:i], b[i+1:]
				break
			}
		}
	}
	intPart, frac := mant, mant[:0]
	for i, c := range mant {
		if c == '.' {
			intPart, frac = mant[:i], mant[i+1:]
			break
		}
	}
	if len(intPart) == 0 && len(frac) == 0 || !OnlyDigits(intPart) || !OnlyDigits(frac) {
		return false
	}
	if expText != nil {
		e, ok := parseExp(expText)
		if !ok {
			return false
		}
		d.exp = e
	}
	d.exp -= int64(len(frac))
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(intPart) == 0 {
		for len(frac) > 0 && frac[0] == '0' {
			frac = frac[1:]
		}
	}
	d.hi, d.lo = intPart, frac
	return true
}

// parseExp reads [+-]digits, saturating at ±maxExp.
func parseExp(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if !Numeral(b) {
		return 0, false
	}
	var e int64
	for _, c := range b {
		e = min(e*10+int64(c-'0'), maxExp)
	}
	if neg {
		e = -e
	}
	return e, true
}

// zero reports whether the value is zero.
func (d *decimalText) zero() bool { return len(d.hi)+len(d.lo) == 0 }

// unscaled returns the significant digits of the unscaled value at scale
// (hi then lo) and the number of zeros that follow them: digits below the
// scale are cut, and must be zeros.
func (d *decimalText) unscaled(scale int32) (hi, lo []byte, zeros int64, err error) {
	shift := d.exp + int64(scale)
	if shift >= 0 {
		return d.hi, d.lo, shift, nil
	}
	cut := -shift
	if cut > int64(len(d.hi)+len(d.lo)) {
		return nil, nil, 0, ErrScale
	}
	hi, lo = d.hi, d.lo
	if c := min(int(cut), len(lo)); c > 0 {
		if !allZeros(lo[len(lo)-c:]) {
			return nil, nil, 0, ErrScale
		}
		lo = lo[:len(lo)-c]
		cut -= int64(c)
	}
	if cut > 0 {
		if !allZeros(hi[len(hi)-int(cut):]) {
			return nil, nil, 0, ErrScale
		}
		hi = hi[:len(hi)-int(cut)]
	}
	return hi, lo, 0, nil
}

func allZeros(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}

// pow10u64[i] = 10^i for i <= 19.
var pow10u64 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// num is the unscaled value at scale as a 128-bit integer of at most
// precision digits (at most 38).
func (d *decimalText) num(precision, scale int32) (decimal128.Num, error) {
	if d.zero() {
		return decimal128.Num{}, nil
	}
	hi, lo, zeros, err := d.unscaled(scale)
	if err != nil {
		return decimal128.Num{}, err
	}
	digits := int64(len(hi)+len(lo)) + zeros
	if digits > int64(min(precision, 38)) {
		return decimal128.Num{}, ErrPrecision
	}
	if digits <= 19 {
		// Fits a uint64 (10^19-1 < 2^64): the common case, no 128-bit
		// arithmetic.
		var u uint64
		for _, c := range hi {
			u = u*10 + uint64(c-'0')
		}
		for _, c := range lo {
			u = u*10 + uint64(c-'0')
		}
		n := decimal128.FromU64(u * pow10u64[zeros])
		if d.neg {
			n = n.Negate()
		}
		return n, nil
	}
	// Accumulate the digits and the zeros, 18 digits at a time.
	var (
		n     decimal128.Num
		acc   uint64
		accN  int
		small = true // n is still zero: acc holds the whole value
	)
	flush := func() {
		if small {
			n = decimal128.FromU64(acc)
			small = false
		} else {
			n = n.Mul(decimal128.FromU64(pow10u64[accN])).Add(decimal128.FromU64(acc))
		}
		acc, accN = 0, 0
	}
	for _, part := range [2][]byte{hi, lo} {
		for _, c := range part {
			if accN == 18 {
				flush()
			}
			acc = acc*10 + uint64(c-'0')
			accN++
		}
	}
	for pad := int(zeros); pad > 0; {
		k := min(pad, 18-accN)
		if k == 0 {
			flush()
			continue
		}
		acc *= pow10u64[k]
		accN += k
		pad -= k
	}
	if small {
		n = decimal128.FromU64(acc)
	} else if accN > 0 {
		flush()
	}
	if d.neg {
		n = n.Negate()
	}
	return n, nil
}
