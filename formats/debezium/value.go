package debezium

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// The value parsers take JSON text and never go through float64 for
// anything but float columns. Their errors are short reasons; the decoder
// adds file, line and column.

// unsafeString views b as a string for calls that do not keep it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

var (
	errInt       = errors.New("not an integer")
	errRange     = errors.New("integer out of range")
	errFloat     = errors.New("not a floating-point number")
	errBase64    = errors.New("not standard padded base64")
	errDecimal   = errors.New("not a decimal number")
	errScale     = errors.New("more fraction digits than the scale allows")
	errPrecision = errors.New("more digits than the precision allows")
	errDate      = errors.New("not a date (yyyy-mm-dd)")
	errTimestamp = errors.New("not an ISO-8601 timestamp (yyyy-mm-ddThh:mm:ss[.f][Z|±hh:mm])")
	errTime      = errors.New("not an ISO-8601 time (hh:mm:ss[.f][Z])")
	errTimeRange = errors.New("timestamp out of range")
)

// subMicroError reports digits below a microsecond, which a timestamp[µs]
// column cannot hold.
type subMicroError struct{ text string }

func (e *subMicroError) Error() string {
	return fmt.Sprintf("%s has digits below a microsecond, which a timestamp column cannot hold (set debezium.truncate_sub_micros: true to drop them)", e.text)
}

// parseInt parses JSON integer text (no fraction, no exponent) into an
// int64 that fits in bits.
func parseInt(b []byte, bits uint) (int64, error) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, errInt
	}
	var u uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, errInt
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, errRange
		}
		u = u*10 + uint64(d)
	}
	limit := uint64(1) << (bits - 1)
	if neg {
		if u > limit {
			return 0, errRange
		}
		return -int64(u-1) - 1, nil
	}
	if u >= limit {
		return 0, errRange
	}
	return int64(u), nil
}

// parseUint parses unsigned decimal digits into a uint64.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errInt
	}
	var u uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, errInt
		}
		if u > math.MaxUint64/10 || u*10 > math.MaxUint64-uint64(d) {
			return 0, errRange
		}
		u = u*10 + uint64(d)
	}
	return u, nil
}

// parseFloat reads a JSON number, or the strings Jackson writes for
// non-finite values.
func parseFloat(v jval, bits int) (float64, error) {
	if v.kind == jString {
		switch string(v.raw) {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		return 0, errFloat
	}
	if v.kind != jNumber {
		return 0, errFloat
	}
	f, err := strconv.ParseFloat(unsafeString(v.raw), bits)
	if err != nil {
		// ParseFloat returns ±Inf with ErrRange for overflow; reject it
		// rather than store an infinity the source never had.
		return 0, errFloat
	}
	return f, nil
}

// decodeBase64 decodes standard padded base64 onto dst[:0].
func decodeBase64(dst, src []byte) ([]byte, error) {
	n := base64.StdEncoding.DecodedLen(len(src))
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	for _, c := range src {
		if c == '\n' || c == '\r' {
			// The decoder skips line breaks; Jackson never writes them.
			return dst[:0], errBase64
		}
	}
	m, err := base64.StdEncoding.Strict().Decode(dst, src)
	if err != nil {
		return dst[:0], errBase64
	}
	return dst[:m], nil
}

// twosComplement reads a big-endian two's-complement integer of any length
// into a 128-bit number.
func twosComplement(b []byte) (decimal128.Num, error) {
	if len(b) == 0 {
		return decimal128.Num{}, errDecimal
	}
	neg := b[0]&0x80 != 0
	ext := byte(0)
	if neg {
		ext = 0xFF
	}
	// Bytes beyond 16 must be sign extension.
	for len(b) > 16 {
		if b[0] != ext || (b[1]&0x80 != 0) != neg {
			return decimal128.Num{}, errPrecision
		}
		b = b[1:]
	}
	var buf [16]byte
	for i := range 16 - len(b) {
		buf[i] = ext
	}
	copy(buf[16-len(b):], b)
	hi := int64(uint64(buf[0])<<56 | uint64(buf[1])<<48 | uint64(buf[2])<<40 | uint64(buf[3])<<32 | uint64(buf[4])<<24 | uint64(buf[5])<<16 | uint64(buf[6])<<8 | uint64(buf[7]))
	lo := uint64(buf[8])<<56 | uint64(buf[9])<<48 | uint64(buf[10])<<40 | uint64(buf[11])<<32 | uint64(buf[12])<<24 | uint64(buf[13])<<16 | uint64(buf[14])<<8 | uint64(buf[15])
	return decimal128.New(hi, lo), nil
}

// bigTwosComplement reads a big-endian two's-complement integer of any
// length.
func bigTwosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

var pow10u64 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// parseDecimalText reads decimal text (JSON number grammar, or the plain
// text of decimal.handling.mode=string: an optional sign, digits, an
// optional fraction and exponent) as an unscaled integer at scale, exactly:
// digits below the scale must be zeros.
func parseDecimalText(b []byte, scale int32) (decimal128.Num, error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	mant, exp := b, []byte(nil)
	for i, c := range b {
		if c == 'e' || c == 'E' {
			mant, exp = b[:i], b[i+1:]
			break
		}
	}
	intPart, frac := mant, []byte(nil)
	for i, c := range mant {
		if c == '.' {
			intPart, frac = mant[:i], mant[i+1:]
			break
		}
	}
	if len(intPart) == 0 && len(frac) == 0 || !isDigits(intPart) || !isDigits(frac) {
		return decimal128.Num{}, errDecimal
	}
	// Fast path: no exponent, at most 18 digits after padding.
	if exp == nil && len(frac) <= int(scale) && len(intPart)+int(scale) <= 18 {
		var u uint64
		for _, c := range intPart {
			u = u*10 + uint64(c-'0')
		}
		for _, c := range frac {
			u = u*10 + uint64(c-'0')
		}
		u *= pow10u64[int(scale)-len(frac)]
		n := decimal128.FromU64(u)
		if neg {
			n = n.Negate()
		}
		return n, nil
	}
	e := int64(0)
	if exp != nil {
		eneg := false
		if len(exp) > 0 && (exp[0] == '+' || exp[0] == '-') {
			eneg = exp[0] == '-'
			exp = exp[1:]
		}
		if len(exp) == 0 || !isDigits(exp) {
			return decimal128.Num{}, errDecimal
		}
		for _, c := range exp {
			e = e*10 + int64(c-'0')
			if e > 1000 {
				// Far beyond 38 digits either way; still exact if the
				// mantissa is zero.
				e = 1000
			}
		}
		if eneg {
			e = -e
		}
	}
	digits := make([]byte, 0, len(intPart)+len(frac))
	digits = append(digits, intPart...)
	digits = append(digits, frac...)
	// value = digits × 10^(e - len(frac)); unscaled = value × 10^scale.
	shift := e - int64(len(frac)) + int64(scale)
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return decimal128.Num{}, nil
	}
	if shift < 0 {
		cut := -shift
		if cut > int64(len(digits)) {
			return decimal128.Num{}, errScale
		}
		for _, c := range digits[len(digits)-int(cut):] {
			if c != '0' {
				return decimal128.Num{}, errScale
			}
		}
		digits = digits[:len(digits)-int(cut)]
		shift = 0
	}
	if int64(len(digits))+shift > 38 {
		return decimal128.Num{}, errPrecision
	}
	n := new(big.Int)
	n.SetString(string(digits), 10)
	if shift > 0 {
		n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(shift), nil))
	}
	if neg {
		n.Neg(n)
	}
	return decimal128.FromBigInt(n), nil
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c-'0' > 9 {
			return false
		}
	}
	return true
}

// rescaleBig returns n (at scale from) at scale to, exactly, as a 128-bit
// number of at most precision digits.
func rescaleBig(n *big.Int, from, to, precision int32) (decimal128.Num, error) {
	m := new(big.Int).Set(n)
	switch {
	case to > from:
		m.Mul(m, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to-from)), nil))
	case to < from:
		var rem big.Int
		m.QuoRem(m, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(from-to)), nil), &rem)
		if rem.Sign() != 0 {
			return decimal128.Num{}, errScale
		}
	}
	if len(new(big.Int).Abs(m).String()) > int(precision) {
		return decimal128.Num{}, errPrecision
	}
	return decimal128.FromBigInt(m), nil
}

// bigDecimalNumber reads JSON number text exactly as an unscaled integer at
// scale, of any size: digits below the scale must be zeros.
func bigDecimalNumber(b []byte, scale int32) (*big.Int, error) {
	r, ok := new(big.Rat).SetString(string(b))
	if !ok {
		return nil, errDecimal
	}
	r.Mul(r, new(big.Rat).SetFrac(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(scale, 0))), nil),
		new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(-scale, 0))), nil)))
	if !r.IsInt() {
		return nil, errScale
	}
	return new(big.Int).Set(r.Num()), nil
}

// bigDecimalText renders n at scale as plain decimal text.
func bigDecimalText(n *big.Int, scale int32) string {
	if scale <= 0 {
		s := n.String()
		if n.Sign() != 0 {
			for range -scale {
				s += "0"
			}
		}
		return s
	}
	neg := n.Sign() < 0
	s := new(big.Int).Abs(n).String()
	for len(s) <= int(scale) {
		s = "0" + s
	}
	s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	if neg {
		s = "-" + s
	}
	return s
}

// digits reads exactly n decimal digits from b at i.
func digits(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + int(d)
	}
	return v, true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseDateAt reads yyyy-mm-dd at the start of b as days since the epoch.
func parseDateAt(b []byte) (int64, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(b, 0, 4)
	m, ok2 := digits(b, 5, 2)
	d, ok3 := digits(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// parseISODate reads yyyy-mm-dd with an optional trailing Z (IsoDate).
func parseISODate(b []byte) (int32, error) {
	if len(b) == 11 && b[10] == 'Z' {
		b = b[:10]
	}
	if len(b) != 10 {
		return 0, errDate
	}
	days, ok := parseDateAt(b)
	if !ok {
		return 0, errDate
	}
	return int32(days), nil
}

// parseClock reads hh:mm:ss[.fffffffff] at b[i:] and returns the time of
// day in nanoseconds and the index after it.
func parseClock(b []byte, i int) (int64, int, bool) {
	if len(b)-i < 8 || b[i+2] != ':' || b[i+5] != ':' {
		return 0, i, false
	}
	hh, ok1 := digits(b, i, 2)
	mm, ok2 := digits(b, i+3, 2)
	ss, ok3 := digits(b, i+6, 2)
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return 0, i, false
	}
	i += 8
	nanos := int64(0)
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if n == 9 {
				return 0, i, false
			}
			nanos = nanos*10 + int64(b[i]-'0')
			n++
			i++
		}
		if n == 0 {
			return 0, i, false
		}
		for ; n < 9; n++ {
			nanos *= 10
		}
	}
	return int64(hh*3600+mm*60+ss)*1e9 + nanos, i, true
}

// parseZone reads Z, ±hh, ±hhmm or ±hh:mm at b[i:] to the end of b and
// returns the offset east of UTC in seconds.
func parseZone(b []byte, i int) (int64, bool) {
	rest := b[i:]
	switch {
	case len(rest) == 0:
		return 0, true // no zone: wall clock read as UTC
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		return 0, true
	case rest[0] != '+' && rest[0] != '-':
		return 0, false
	}
	sign := int64(1)
	if rest[0] == '-' {
		sign = -1
	}
	rest = rest[1:]
	var hh, mm int
	var ok bool
	switch len(rest) {
	case 2:
		hh, ok = digits(rest, 0, 2)
	case 4:
		var ok2 bool
		hh, ok = digits(rest, 0, 2)
		mm, ok2 = digits(rest, 2, 2)
		ok = ok && ok2
	case 5:
		var ok2 bool
		hh, ok = digits(rest, 0, 2)
		mm, ok2 = digits(rest, 3, 2)
		ok = ok && ok2 && rest[2] == ':'
	}
	if !ok || hh > 18 || mm > 59 {
		return 0, false
	}
	return sign * int64(hh*3600+mm*60), true
}

// parseISOTimestamp reads yyyy-mm-dd(T| )hh:mm:ss[.f{1,9}][zone] as
// microseconds since the epoch in UTC; a missing zone means UTC. subMicro
// reports non-zero digits below a microsecond (dropped from the result).
func parseISOTimestamp(b []byte) (micros int64, subMicro bool, err error) {
	if len(b) < 19 || (b[10] != 'T' && b[10] != ' ') {
		return 0, false, errTimestamp
	}
	days, ok := parseDateAt(b)
	if !ok {
		return 0, false, errTimestamp
	}
	nanos, i, ok := parseClock(b, 11)
	if !ok {
		return 0, false, errTimestamp
	}
	off, ok := parseZone(b, i)
	if !ok {
		return 0, false, errTimestamp
	}
	secs := days*86400 - off
	return secs*1_000_000 + nanos/1000, nanos%1000 != 0, nil
}

// parseISOTime reads hh:mm:ss[.f][Z] (IsoTime) as microseconds of the day.
func parseISOTime(b []byte) (micros int64, subMicro bool, err error) {
	nanos, i, ok := parseClock(b, 0)
	if !ok {
		return 0, false, errTime
	}
	if i < len(b) && !(i == len(b)-1 && (b[i] == 'Z' || b[i] == 'z')) {
		return 0, false, errTime
	}
	return nanos / 1000, nanos%1000 != 0, nil
}

// scaleToMicros converts a count of 1/unitsPerSecond seconds to
// microseconds: multiplying for milliseconds (with an overflow check),
// dividing (floor) for nanoseconds. subMicro reports a non-zero remainder.
func scaleToMicros(v int64, unitsPerSecond int64) (int64, bool, error) {
	switch unitsPerSecond {
	case 1000:
		if v > math.MaxInt64/1000 || v < math.MinInt64/1000 {
			return 0, false, errTimeRange
		}
		return v * 1000, false, nil
	case 1_000_000:
		return v, false, nil
	}
	q, r := v/1000, v%1000
	if r < 0 {
		q--
		r += 1000
	}
	return q, r != 0, nil
}
