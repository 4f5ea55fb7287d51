package values

import (
	"errors"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParse holds every parser to a plain reference built on the standard
// library: decimals to math/big.Rat, integers to strconv, dates, times and
// timestamps to the time package, each behind a regular expression of the
// syntax the parser documents. The seeds are the values the decoders'
// golden files hold, and the edges of each syntax.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"0", "-0", "32.38", ".5", "5.", "+1.50000", "1.005", "00012.30", "1e3", "1.25E-3", "-1E+3", "0e99999999999999999999",
		"99999999999999999999999999999999999999", "1234567890123456789.0123456789012345678", "1e-1000001",
		"2147483648", "-9223372036854775808", "18446744073709551616", "+", "",
		"1996-07-16", "2023-02-29", "2024-05-28 19:51:41.388146", "2024-05-28T19:51:41.123456789", "2024-05-28 24:00:00",
		"2024-05-28T19:51:41.5+02:00", "2024-05-28 19:51:41-0530", "2024-05-28T19:51:41z", "2024-05-28T19:51:41+19",
		"23:59:59.999999", "12:30:00.0000005Z",
	} {
		f.Add([]byte(s), uint8(10), uint8(2))
	}
	f.Add([]byte("0.00000000000000000000000000000000000001"), uint8(37), uint8(37))
	f.Add([]byte("150"), uint8(37), uint8(255)) // scale -1 for ParseBigDecimal
	f.Fuzz(func(t *testing.T, in []byte, p, s uint8) {
		precision := int32(p%38) + 1
		scale := int32(s) % (precision + 1)
		checkDecimal(t, in, false, precision, scale)
		checkDecimal(t, in, true, precision, scale)
		checkBigDecimal(t, in, int32(int8(s))%40)
		checkInts(t, in)
		checkDate(t, in)
		checkTimestamps(t, in)
		checkTime(t, in)
	})
}

var (
	plainRE = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$`)
	expRE   = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
)

// refDecimal is the reference reading: the syntax by regular expression,
// the value by big.Rat, scaled by 10^scale. ok is false where big.Rat
// refuses a valid number (an exponent beyond a million): no reference.
func refDecimal(in []byte, exp bool, scale int32) (n *big.Int, err error, ok bool) {
	re := plainRE
	if exp {
		re = expRE
	}
	if !re.Match(in) {
		return nil, ErrDecimal, true
	}
	r, ok := new(big.Rat).SetString(string(in))
	if !ok {
		return nil, nil, false
	}
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(scale, -scale))), nil))
	if scale >= 0 {
		r.Mul(r, p)
	} else {
		r.Quo(r, p)
	}
	if !r.IsInt() {
		return nil, ErrScale, true
	}
	return new(big.Int).Set(r.Num()), nil, true
}

func checkDecimal(t *testing.T, in []byte, exp bool, precision, scale int32) {
	parse, name := ParseDecimal, "ParseDecimal"
	if exp {
		parse, name = ParseDecimalExp, "ParseDecimalExp"
	}
	got, err := parse(in, precision, scale)
	want, wantErr, ok := refDecimal(in, exp, scale)
	if !ok {
		// big.Rat gives up on exponents beyond a million; the value
		// then has far more digits than 38, or far fewer than none.
		if err == nil && got.Sign() != 0 {
			t.Fatalf("%s(%q, %d, %d) = %s, want an error", name, in, precision, scale, got.BigInt())
		}
		return
	}
	if wantErr == nil && len(new(big.Int).Abs(want).String()) > int(precision) && want.Sign() != 0 {
		wantErr = ErrPrecision
	}
	if !errors.Is(err, wantErr) || err == nil && got.BigInt().Cmp(want) != 0 {
		t.Fatalf("%s(%q, %d, %d) = %s, %v; want %v, %v", name, in, precision, scale, got.BigInt(), err, want, wantErr)
	}
}

func checkBigDecimal(t *testing.T, in []byte, scale int32) {
	got, err := ParseBigDecimal(in, scale)
	want, wantErr, ok := refDecimal(in, true, scale)
	if !ok {
		// An exponent beyond a million is ErrDecimal, as in big.Rat,
		// except on zero, which is zero whatever its exponent.
		if err != ErrDecimal && (err != nil || got.Sign() != 0) {
			t.Fatalf("ParseBigDecimal(%q, %d) = %v, %v; want ErrDecimal or 0", in, scale, got, err)
		}
		return
	}
	if !errors.Is(err, wantErr) || err == nil && got.Cmp(want) != 0 {
		t.Fatalf("ParseBigDecimal(%q, %d) = %v, %v; want %v, %v", in, scale, got, err, want, wantErr)
	}
}

var (
	intRE  = regexp.MustCompile(`^[+-]?[0-9]+$`)
	uintRE = regexp.MustCompile(`^[0-9]+$`)
)

// checkInts: text of the syntax is what strconv reads, with its range
// errors; anything else is ErrInt (strconv may call an overflow first).
func checkInts(t *testing.T, in []byte) {
	for _, bits := range []uint{32, 64} {
		got, err := ParseInt(in, bits)
		want, werr := strconv.ParseInt(string(in), 10, int(bits))
		switch {
		case !intRE.Match(in):
			if err != ErrInt {
				t.Fatalf("ParseInt(%q, %d) = %d, %v; want ErrInt", in, bits, got, err)
			}
		case werr == nil && (err != nil || got != want), werr != nil && err != ErrRange:
			t.Fatalf("ParseInt(%q, %d) = %d, %v; strconv: %d, %v", in, bits, got, err, want, werr)
		}
	}
	got, err := ParseUint(in)
	want, werr := strconv.ParseUint(string(in), 10, 64)
	switch {
	case !uintRE.Match(in):
		if err != ErrInt {
			t.Fatalf("ParseUint(%q) = %d, %v; want ErrInt", in, got, err)
		}
	case werr == nil && (err != nil || got != want), werr != nil && err != ErrRange:
		t.Fatalf("ParseUint(%q) = %d, %v; strconv: %d, %v", in, got, err, want, werr)
	}
}

var dateRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

func checkDate(t *testing.T, in []byte) {
	got, err := ParseDate(in)
	var want time.Time
	werr := ErrDate
	if dateRE.Match(in) {
		if tm, e := time.Parse(time.DateOnly, string(in)); e == nil {
			want, werr = tm, nil
		}
	}
	if err != werr || err == nil && int64(got) != floorDiv(want.Unix(), 86400) {
		t.Fatalf("ParseDate(%q) = %d, %v; time: %v, %v", in, got, err, want, werr)
	}
}

var (
	tsRE    = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?)$`)
	zonedRE = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?)(|[Zz]|[+-][0-9]{2}|[+-][0-9]{2}:?[0-9]{2})$`)
	timeRE  = regexp.MustCompile(`^([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?)[Zz]?$`)
)

// refTime reads date and clock (and an RFC 3339 offset) with the time
// package; ok is false when they are no valid instant.
func refTime(date, clock, offset string) (time.Time, bool) {
	tm, err := time.Parse(time.RFC3339Nano, date+"T"+clock+offset)
	return tm, err == nil
}

func checkTimestamps(t *testing.T, in []byte) {
	micros, sub, err := ParseTimestamp(in)
	var want time.Time
	ok := false
	if m := tsRE.FindStringSubmatch(string(in)); m != nil {
		want, ok = refTime(m[1], m[2], "Z")
	}
	checkInstant(t, "ParseTimestamp", in, micros, sub, err, ErrTimestamp, want, ok)

	micros, sub, err = ParseZonedTimestamp(in)
	ok = false
	if m := zonedRE.FindStringSubmatch(string(in)); m != nil {
		// The offset as RFC 3339 writes it, and in range (±18:00, as
		// java.time.ZoneOffset allows).
		off, hh, mm := m[3], 0, 0
		if len(off) > 1 {
			digits := strings.ReplaceAll(off[1:], ":", "") + "00"
			hh, _ = strconv.Atoi(digits[:2])
			mm, _ = strconv.Atoi(digits[2:4])
			off = off[:1] + digits[:2] + ":" + digits[2:4]
		} else {
			off = "Z"
		}
		if hh <= 18 && mm <= 59 {
			want, ok = refTime(m[1], m[2], off)
		}
	}
	checkInstant(t, "ParseZonedTimestamp", in, micros, sub, err, ErrZonedTimestamp, want, ok)
}

func checkInstant(t *testing.T, name string, in []byte, micros int64, sub bool, err, sentinel error, want time.Time, ok bool) {
	t.Helper()
	if !ok {
		if err != sentinel {
			t.Fatalf("%s(%q) = %d, %v; want %v", name, in, micros, err, sentinel)
		}
		return
	}
	if err != nil || micros != want.UnixMicro() || sub != (want.Nanosecond()%1000 != 0) {
		t.Fatalf("%s(%q) = %d, %v, %v; want %d (%v)", name, in, micros, sub, err, want.UnixMicro(), want)
	}
}

func checkTime(t *testing.T, in []byte) {
	micros, sub, err := ParseTime(in)
	var want time.Time
	ok := false
	if m := timeRE.FindStringSubmatch(string(in)); m != nil {
		want, ok = refTime("1970-01-01", m[1], "Z")
	}
	checkInstant(t, "ParseTime", in, micros, sub, err, ErrTime, want, ok)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
