package debezium

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/lakemerge/lakemerge/formats/internal/values"
)

// The value parsers take JSON text and never go through float64 for
// anything but float columns. Their errors are short reasons; the decoder
// adds file, line and column.

var (
	errBase64    = errors.New("not standard padded base64")
	errTimeRange = errors.New("timestamp out of range")
)

// subMicroError reports digits below a microsecond, which a timestamp[µs]
// column cannot hold.
type subMicroError struct{ text string }

func (e *subMicroError) Error() string {
	return fmt.Sprintf("%s has digits below a microsecond, which a timestamp column cannot hold (set debezium.truncate_sub_micros: true to drop them)", e.text)
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
		return 0, values.ErrFloat
	}
	if v.kind != jNumber {
		return 0, values.ErrFloat
	}
	if f, ok := exactFloat(v.raw); ok && bits == 64 {
		return f, nil
	}
	return values.ParseFloat(v.raw, bits)
}

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// exactFloat reads a JSON number of at most 15 digits without an exponent
// as strconv.ParseFloat does at 64 bits: its digits are an integer below
// 2^53 and its power of ten is at most 1e15, both exact in a float64, so
// one division rounds correctly (Clinger's fast path, which strconv takes
// too after its general reading of the text). ok is false for any other
// number.
func exactFloat(b []byte) (f float64, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var mant uint64
	digits, frac := 0, -1 // frac counts the digits after the point
	for _, c := range b {
		if c == '.' && frac < 0 {
			frac = 0
			continue
		}
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		mant = mant*10 + uint64(d)
		digits++
		if frac >= 0 {
			frac++
		}
	}
	if digits == 0 || digits > 15 || frac == 0 {
		return 0, false
	}
	f = float64(mant)
	if frac > 0 {
		f /= exactPow10[frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

// strictBase64 is standard padded base64 that refuses non-zero padding
// bits. Strict returns a copy of the encoding's tables, so it is made once.
var strictBase64 = base64.StdEncoding.Strict()

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
	m, err := strictBase64.Decode(dst, src)
	if err != nil {
		return dst[:0], errBase64
	}
	return dst[:m], nil
}

// twosComplement reads a big-endian two's-complement integer of any length
// into a 128-bit number.
func twosComplement(b []byte) (decimal128.Num, error) {
	if len(b) == 0 {
		return decimal128.Num{}, values.ErrDecimal
	}
	neg := b[0]&0x80 != 0
	ext := byte(0)
	if neg {
		ext = 0xFF
	}
	// Bytes beyond 16 must be sign extension.
	for len(b) > 16 {
		if b[0] != ext || (b[1]&0x80 != 0) != neg {
			return decimal128.Num{}, values.ErrPrecision
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
			return decimal128.Num{}, values.ErrScale
		}
	}
	if len(new(big.Int).Abs(m).String()) > int(precision) {
		return decimal128.Num{}, values.ErrPrecision
	}
	return decimal128.FromBigInt(m), nil
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

// parseISODate reads yyyy-mm-dd with an optional trailing Z (IsoDate).
func parseISODate(b []byte) (int32, error) {
	if len(b) == 11 && b[10] == 'Z' {
		b = b[:10]
	}
	return values.ParseDate(b)
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
