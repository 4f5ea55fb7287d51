package dmscsv

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// The value parsers take the raw bytes of a field and never allocate on
// success. Their errors are short reasons; the decoder adds file, line and
// column.

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
	errBool      = errors.New("not a boolean (true/false, t/f, 1/0, yes/no)")
	errDate      = errors.New("not a date (yyyy-mm-dd)")
	errTimestamp = errors.New("not a timestamp (yyyy-mm-dd hh:mm:ss[.fffffffff])")
	errUTF8      = errors.New("not valid UTF-8")
	errHex       = errors.New("not hexadecimal binary")
	errDecimal   = errors.New("not a decimal number")
	errScale     = errors.New("more fraction digits than the scale allows")
	errPrecision = errors.New("more digits than the precision allows")
)

// parseInt parses an optionally signed decimal integer that fits in bits.
func parseInt(b []byte, bits uint) (int64, error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
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

func parseFloat(b []byte, bits int) (float64, error) {
	v, err := strconv.ParseFloat(unsafeString(b), bits)
	if err != nil {
		return 0, errFloat
	}
	return v, nil
}

func parseBool(b []byte) (bool, error) {
	switch len(b) {
	case 1:
		switch b[0] {
		case 't', 'T', '1':
			return true, nil
		case 'f', 'F', '0':
			return false, nil
		}
	case 2:
		if lower(b[0]) == 'n' && lower(b[1]) == 'o' {
			return false, nil
		}
	case 3:
		if lower(b[0]) == 'y' && lower(b[1]) == 'e' && lower(b[2]) == 's' {
			return true, nil
		}
	case 4:
		if lower(b[0]) == 't' && lower(b[1]) == 'r' && lower(b[2]) == 'u' && lower(b[3]) == 'e' {
			return true, nil
		}
	case 5:
		if lower(b[0]) == 'f' && lower(b[1]) == 'a' && lower(b[2]) == 'l' && lower(b[3]) == 's' && lower(b[4]) == 'e' {
			return false, nil
		}
	}
	return false, errBool
}

func lower(c byte) byte { return c | 0x20 }

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

// parseDateAt reads yyyy-mm-dd at the start of b and returns days since the
// epoch.
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

func parseDate(b []byte) (int32, error) {
	if len(b) != 10 {
		return 0, errDate
	}
	days, ok := parseDateAt(b)
	if !ok {
		return 0, errDate
	}
	return int32(days), nil
}

// parseTimestamp reads "yyyy-mm-dd hh:mm:ss[.f]" (or 'T' for the space) with
// 0 to 9 fraction digits and no zone, as microseconds since the epoch;
// digits below a microsecond are dropped.
func parseTimestamp(b []byte) (int64, error) {
	if len(b) < 19 || (b[10] != ' ' && b[10] != 'T') || b[13] != ':' || b[16] != ':' {
		return 0, errTimestamp
	}
	days, ok := parseDateAt(b)
	if !ok {
		return 0, errTimestamp
	}
	hh, ok1 := digits(b, 11, 2)
	mm, ok2 := digits(b, 14, 2)
	ss, ok3 := digits(b, 17, 2)
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return 0, errTimestamp
	}
	micros := 0
	if len(b) > 19 {
		frac := b[20:]
		if b[19] != '.' || len(frac) == 0 || len(frac) > 9 {
			return 0, errTimestamp
		}
		for i, c := range frac {
			d := c - '0'
			if d > 9 {
				return 0, errTimestamp
			}
			if i < 6 {
				micros = micros*10 + int(d)
			}
		}
		for i := len(frac); i < 6; i++ {
			micros *= 10
		}
	}
	secs := days*86400 + int64(hh*3600+mm*60+ss)
	return secs*1_000_000 + int64(micros), nil
}

func checkUTF8(b []byte) error {
	// ASCII fast path: most text is ASCII and utf8.Valid already checks
	// 8 bytes at a time, so just call it.
	if !utf8.Valid(b) {
		return errUTF8
	}
	return nil
}

// appendHex decodes hex text (case-insensitive, optional 0x prefix) onto dst.
func appendHex(dst, b []byte) ([]byte, error) {
	if len(b) >= 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		b = b[2:]
	}
	if len(b)%2 != 0 {
		return dst, errHex
	}
	for i := 0; i < len(b); i += 2 {
		hi, ok1 := unhex(b[i])
		lo, ok2 := unhex(b[i+1])
		if !ok1 || !ok2 {
			return dst, errHex
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pow10u64[i] = 10^i for i <= 19.
var pow10u64 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// parseDecimal reads [+-]digits[.digits] exactly into an unscaled 128-bit
// integer at the given scale. Fewer fraction digits than scale are padded;
// more are accepted only when the extra digits are zeros. More significant
// digits than precision is an error.
func parseDecimal(b []byte, precision, scale int32) (decimal128.Num, error) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	intPart, frac := b, b[:0]
	for i, c := range b {
		if c == '.' {
			intPart, frac = b[:i], b[i+1:]
			break
		}
	}
	if len(intPart) == 0 && len(frac) == 0 {
		return decimal128.Num{}, errDecimal
	}
	if !isDigits(intPart) || !isDigits(frac) {
		return decimal128.Num{}, errDecimal
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(frac) > int(scale) {
		for _, c := range frac[scale:] {
			if c != '0' {
				return decimal128.Num{}, errScale
			}
		}
		frac = frac[:scale]
	}
	if len(intPart)+int(scale) > int(precision) {
		return decimal128.Num{}, errPrecision
	}
	// Accumulate intPart, frac and the padding zeros, 18 digits at a time.
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
	for _, part := range [2][]byte{intPart, frac} {
		for _, c := range part {
			d := c - '0'
			if accN == 18 {
				flush()
			}
			acc = acc*10 + uint64(d)
			accN++
		}
	}
	for pad := int(scale) - len(frac); pad > 0; {
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
	if neg {
		n = n.Negate()
	}
	return n, nil
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c-'0' > 9 {
			return false
		}
	}
	return true
}
