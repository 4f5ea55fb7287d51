package values

import (
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
)

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in       string
		prec, sc int32
		want     string // unscaled integer, or the error's text
	}{
		{"0", 1, 0, "0"},
		{"-0", 1, 0, "0"},
		{"32.38", 10, 2, "3238"},
		{"3.1", 10, 2, "310"},
		{"3", 10, 2, "300"},
		{".5", 10, 2, "50"},
		{"5.", 10, 2, "500"},
		{"+1.50000", 10, 2, "150"},
		{"-12345678.99", 10, 2, "-1234567899"},
		{"00000012345678.99", 10, 2, "1234567899"},
		{"0.000", 3, 3, "0"},
		{"-0.001", 3, 3, "-1"},
		{"123456789.00", 10, 2, ErrPrecision.Error()},
		{"1.001", 10, 2, ErrScale.Error()},
		{"1.0a", 10, 2, ErrDecimal.Error()},
		{"1.2.3", 10, 2, ErrDecimal.Error()},
		{"", 10, 2, ErrDecimal.Error()},
		{"-", 10, 2, ErrDecimal.Error()},
		{".", 10, 2, ErrDecimal.Error()},
		{"+.", 10, 2, ErrDecimal.Error()},
		{"1e5", 10, 2, ErrDecimal.Error()},
		{" 1", 10, 2, ErrDecimal.Error()},
		{"--1", 10, 2, ErrDecimal.Error()},
		{"99999999999999999999999999999999999999", 38, 0, "99999999999999999999999999999999999999"},
		{"-99999999999999999999999999999999999999", 38, 0, "-99999999999999999999999999999999999999"},
		{"999999999999999999999999999999999999999", 38, 0, ErrPrecision.Error()},
		{"1234567890123456789.0123456789012345678", 38, 19, "12345678901234567890123456789012345678"},
		{"1", 38, 37, "10000000000000000000000000000000000000"},
		{"0.00000000000000000000000000000000000001", 38, 38, "1"},
		{"-1.5", 38, 30, "-1500000000000000000000000000000"},
		{"1.5", 38, -1, ErrScale.Error()},
		{"150", 38, -1, "15"},
	} {
		got, err := ParseDecimal([]byte(tc.in), tc.prec, tc.sc)
		if err != nil {
			if err.Error() != tc.want {
				t.Errorf("ParseDecimal(%q, %d, %d): %v, want %s", tc.in, tc.prec, tc.sc, err, tc.want)
			}
			continue
		}
		if got.BigInt().String() != tc.want {
			t.Errorf("ParseDecimal(%q, %d, %d) = %s, want %s", tc.in, tc.prec, tc.sc, got.BigInt(), tc.want)
		}
	}
}

// TestParseDecimalExp: the exponent form, and the cases that take the
// 128-bit path (more than 18 digits) or cut digits across the point.
func TestParseDecimalExp(t *testing.T) {
	for _, tc := range []struct {
		in       string
		prec, sc int32
		want     string
	}{
		{"1e3", 10, 2, "100000"},
		{"1E+3", 10, 2, "100000"},
		{"12.5e-1", 10, 2, "125"},
		{"1.25E-3", 10, 2, ErrScale.Error()},
		{"125000e-5", 10, 2, "125"},
		{"0e999999999999999999999999", 10, 2, "0"},
		{"1e999999999999999999999999", 38, 2, ErrPrecision.Error()},
		{"1e-999999999999999999999999", 38, 2, ErrScale.Error()},
		{"1e", 10, 2, ErrDecimal.Error()},
		{"1e+", 10, 2, ErrDecimal.Error()},
		{"e5", 10, 2, ErrDecimal.Error()},
		{"1e+-5", 10, 2, ErrDecimal.Error()},
		{"1.e2", 10, 0, "100"},
		{"12345678901234567890.1234567890e-10", 38, 20, "123456789012345678901234567890"},
		{"1234567890.0000000000e10", 38, 0, "12345678900000000000"},
		{"1234567890.0000000001e10", 38, 0, "12345678900000000001"},
		{"1234567890.00000000010e9", 38, 0, ErrScale.Error()},
		{"100e-2", 3, 0, "1"},
		{"9.99e2", 3, 0, "999"},
		{"9.999e3", 3, 0, ErrPrecision.Error()},
	} {
		got, err := ParseDecimalExp([]byte(tc.in), tc.prec, tc.sc)
		if err != nil {
			if err.Error() != tc.want {
				t.Errorf("ParseDecimalExp(%q, %d, %d): %v, want %s", tc.in, tc.prec, tc.sc, err, tc.want)
			}
			continue
		}
		if got.BigInt().String() != tc.want {
			t.Errorf("ParseDecimalExp(%q, %d, %d) = %s, want %s", tc.in, tc.prec, tc.sc, got.BigInt(), tc.want)
		}
	}
}

func TestParseBigDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		sc   int32
		want string
	}{
		{"123456789012345678901234567890123456789012345678901234567890.5", 1, "1234567890123456789012345678901234567890123456789012345678905"},
		{"-1E+3", -2, "-10"},
		{"1E+3", -4, ErrScale.Error()},
		{"0.0", 5, "0"},
		{"1e1000000", 0, "1" + zeros(1000000)},
		{"1e1000001", 0, ErrDecimal.Error()},
		{"1e-1000001", 0, ErrDecimal.Error()},
		{"0e1000001", 0, "0"},
	} {
		got, err := ParseBigDecimal([]byte(tc.in), tc.sc)
		if err != nil {
			if err.Error() != tc.want {
				t.Errorf("ParseBigDecimal(%q, %d): %v, want %s", tc.in, tc.sc, err, tc.want)
			}
			continue
		}
		if got.String() != tc.want {
			t.Errorf("ParseBigDecimal(%.20q, %d) = %.40s, want %.40s", tc.in, tc.sc, got, tc.want)
		}
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

func TestParseTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in       string
		want     string // RFC 3339; "" for an error
		subMicro bool
	}{
		{"2024-05-28 19:51:41.388146", "2024-05-28T19:51:41.388146Z", false},
		{"2024-05-28T19:51:41", "2024-05-28T19:51:41Z", false},
		{"2024-05-28 19:51:41.1", "2024-05-28T19:51:41.1Z", false},
		{"2024-05-28 19:51:41.123456789", "2024-05-28T19:51:41.123456Z", true},
		{"2024-05-28 19:51:41.123456000", "2024-05-28T19:51:41.123456Z", false},
		{"1900-01-01 00:00:00.000001", "1900-01-01T00:00:00.000001Z", false},
		{"2024-05-28 19:51:41.", "", false},
		{"2024-05-28 19:51:41.1234567890", "", false},
		{"2024-05-28 19:51:41Z", "", false},
		{"2024-05-28 19:51:41+00", "", false},
		{"2024-05-28 19:51", "", false},
		{"2024-05-28 24:00:00", "", false},
		{"2023-02-29 00:00:00", "", false},
		{"2024-05-28x19:51:41", "", false},
	} {
		got, sub, err := ParseTimestamp([]byte(tc.in))
		if tc.want == "" {
			if !errors.Is(err, ErrTimestamp) {
				t.Errorf("ParseTimestamp(%q) = %d, %v; want ErrTimestamp", tc.in, got, err)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, tc.want)
		if err != nil || got != want.UnixMicro() || sub != tc.subMicro {
			t.Errorf("ParseTimestamp(%q) = %d, %v, %v; want %d, %v", tc.in, got, sub, err, want.UnixMicro(), tc.subMicro)
		}
	}
}

func TestParseZonedTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in       string
		want     string // RFC 3339; "" for an error
		subMicro bool
	}{
		{"2024-05-28T19:51:41Z", "2024-05-28T19:51:41Z", false},
		{"2024-05-28T19:51:41.5+02:00", "2024-05-28T17:51:41.5Z", false},
		{"2024-05-28 19:51:41-0530", "2024-05-29T01:21:41Z", false},
		{"2024-05-28T19:51:41+18", "2024-05-28T01:51:41Z", false},
		{"2024-05-28T19:51:41.000000001z", "2024-05-28T19:51:41Z", true},
		{"2024-05-28T19:51:41", "2024-05-28T19:51:41Z", false},
		{"2024-05-28T19:51:41+19", "", false},
		{"2024-05-28T19:51:41+2", "", false},
		{"2024-05-28T19:51:41+02:0", "", false},
		{"2024-05-28T19:51:41ZZ", "", false},
	} {
		got, sub, err := ParseZonedTimestamp([]byte(tc.in))
		if tc.want == "" {
			if !errors.Is(err, ErrZonedTimestamp) {
				t.Errorf("ParseZonedTimestamp(%q) = %d, %v; want ErrZonedTimestamp", tc.in, got, err)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, tc.want)
		if err != nil || got != want.UnixMicro() || sub != tc.subMicro {
			t.Errorf("ParseZonedTimestamp(%q) = %d, %v, %v; want %d, %v", tc.in, got, sub, err, want.UnixMicro(), tc.subMicro)
		}
	}
}

func TestParseDateAndTime(t *testing.T) {
	// Every day from 1600 to 2400 agrees with the time package.
	for d := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2400; d = d.AddDate(0, 0, 1) {
		got, err := ParseDate([]byte(d.Format("2006-01-02")))
		if err != nil || int64(got) != d.Unix()/86400 {
			t.Fatalf("ParseDate(%s) = %d, %v; want %d", d.Format("2006-01-02"), got, err, d.Unix()/86400)
		}
	}
	for _, in := range []string{"2024-13-01", "2024-00-10", "2024-04-31", "2024-1-01", "2024-01-01Z", "+024-01-01"} {
		if _, err := ParseDate([]byte(in)); !errors.Is(err, ErrDate) {
			t.Errorf("ParseDate(%q): %v, want ErrDate", in, err)
		}
	}
	for _, tc := range []struct {
		in       string
		micros   int64
		subMicro bool
		ok       bool
	}{
		{"00:00:00", 0, false, true},
		{"23:59:59.999999", 86399999999, false, true},
		{"12:30:00.0000005Z", 45000000000, true, true},
		{"12:30:00z", 45000000000, false, true},
		{"24:00:00", 0, false, false},
		{"12:30", 0, false, false},
		{"12:30:00+01:00", 0, false, false},
		{"12:30:00.", 0, false, false},
	} {
		got, sub, err := ParseTime([]byte(tc.in))
		if (err == nil) != tc.ok || tc.ok && (got != tc.micros || sub != tc.subMicro) {
			t.Errorf("ParseTime(%q) = %d, %v, %v", tc.in, got, sub, err)
		}
	}
}

func TestParseIntegers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits uint
		ok   bool
	}{{"0", 32, true}, {"-2147483648", 32, true}, {"2147483647", 32, true}, {"+7", 32, true}, {"2147483648", 32, false}, {"-2147483649", 32, false},
		{"9223372036854775807", 64, true}, {"-9223372036854775808", 64, true}, {"9223372036854775808", 64, false}, {"99999999999999999999999", 64, false},
		{"", 32, false}, {"+", 32, false}, {"1.0", 32, false}, {" 1", 32, false}} {
		if _, err := ParseInt([]byte(tc.in), tc.bits); (err == nil) != tc.ok {
			t.Errorf("ParseInt(%q, %d): %v", tc.in, tc.bits, err)
		}
	}
	for _, tc := range []struct {
		in   string
		want uint64
		err  error
	}{{"0", 0, nil}, {"18446744073709551615", 1<<64 - 1, nil}, {"18446744073709551616", 0, ErrRange}, {"", 0, ErrInt}, {"+1", 0, ErrInt}, {"-1", 0, ErrInt}} {
		if got, err := ParseUint([]byte(tc.in)); got != tc.want || err != tc.err {
			t.Errorf("ParseUint(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestDigitChecks(t *testing.T) {
	for _, tc := range []struct {
		in                string
		onlyDigits, numer bool
	}{{"", true, false}, {"0", true, true}, {"0123456789", true, true}, {"12a", false, false}, {"-1", false, false}, {" ", false, false}} {
		if OnlyDigits(tc.in) != tc.onlyDigits || OnlyDigits([]byte(tc.in)) != tc.onlyDigits {
			t.Errorf("OnlyDigits(%q) = %v", tc.in, !tc.onlyDigits)
		}
		if Numeral(tc.in) != tc.numer || Numeral([]byte(tc.in)) != tc.numer {
			t.Errorf("Numeral(%q) = %v", tc.in, !tc.numer)
		}
	}
}

// TestParseAllocatesNothing: the 128-bit decimal and the other scalar
// parsers do not allocate, whatever path they take.
func TestParseAllocatesNothing(t *testing.T) {
	for _, in := range []string{"32.38", "-12345678901234567890.123456789", "1.5e3", "0.000"} {
		b := []byte(in)
		if n := testing.AllocsPerRun(100, func() { ParseDecimalExp(b, 38, 6) }); n != 0 {
			t.Errorf("ParseDecimalExp(%q): %.0f allocations", in, n)
		}
	}
	ts := []byte("2024-05-28T19:51:41.388146+02:00")
	if n := testing.AllocsPerRun(100, func() { ParseZonedTimestamp(ts) }); n != 0 {
		t.Errorf("ParseZonedTimestamp: %.0f allocations", n)
	}
	f := []byte("1.25e-3")
	if n := testing.AllocsPerRun(100, func() { ParseFloat(f, 64) }); n != 0 {
		t.Errorf("ParseFloat: %.0f allocations", n)
	}
}

func TestKindOf(t *testing.T) {
	for _, name := range []string{"int", "long", "float", "double", "decimal(10,2)", "boolean", "string", "binary", "date", "timestamp"} {
		typ, err := change.ParseType(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := KindOf(typ); !ok {
			t.Errorf("KindOf(%s): no kind", name)
		}
	}
	for _, typ := range []arrow.DataType{&arrow.TimestampType{Unit: arrow.Millisecond}, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, arrow.BinaryTypes.LargeString, arrow.PrimitiveTypes.Int16} {
		if k, ok := KindOf(typ); ok {
			t.Errorf("KindOf(%s) = %d, want none", typ, k)
		}
	}
}
