package dmscsv

import (
	"math/big"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestParseDecimal(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, tc := range []struct {
		in       string
		prec, sc int32
		want     string // unscaled integer; "" for an error
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
		{"123456789.00", 10, 2, ""},
		{"1.001", 10, 2, ""},
		{"1.0a", 10, 2, ""},
		{"1.2.3", 10, 2, ""},
		{"", 10, 2, ""},
		{"-", 10, 2, ""},
		{".", 10, 2, ""},
		{"1e5", 10, 2, ""},
		{" 1", 10, 2, ""},
		{"99999999999999999999999999999999999999", 38, 0, "99999999999999999999999999999999999999"},
		{"-99999999999999999999999999999999999999", 38, 0, "-99999999999999999999999999999999999999"},
		{"999999999999999999999999999999999999999", 38, 0, ""},
		{"1234567890123456789.0123456789012345678", 38, 19, "12345678901234567890123456789012345678"},
		{"1", 38, 37, "10000000000000000000000000000000000000"},
		{"0.00000000000000000000000000000000000001", 38, 38, "1"},
		{"-1.5", 38, 30, "-1500000000000000000000000000000"},
	} {
		got, err := parseDecimal([]byte(tc.in), tc.prec, tc.sc)
		if tc.want == "" {
			if err == nil {
				t.Errorf("parseDecimal(%q, %d, %d) = %s, want error", tc.in, tc.prec, tc.sc, got.BigInt())
			}
			continue
		}
		want, _ := new(big.Int).SetString(tc.want, 10)
		if err != nil || got.BigInt().Cmp(want) != 0 {
			t.Errorf("parseDecimal(%q, %d, %d) = %s, %v; want %s", tc.in, tc.prec, tc.sc, got.BigInt(), err, want)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2024-05-28 19:51:41.388146", "2024-05-28T19:51:41.388146Z"},
		{"2024-05-28T19:51:41", "2024-05-28T19:51:41Z"},
		{"2024-05-28 19:51:41.1", "2024-05-28T19:51:41.1Z"},
		{"2024-05-28 19:51:41.123456789", "2024-05-28T19:51:41.123456Z"},
		{"1900-01-01 00:00:00.000001", "1900-01-01T00:00:00.000001Z"},
		{"2024-05-28 19:51:41.", ""},
		{"2024-05-28 19:51:41.1234567890", ""},
		{"2024-05-28 19:51:41Z", ""},
		{"2024-05-28 19:51:41+00", ""},
		{"2024-05-28 19:51", ""},
		{"2024-05-28 24:00:00", ""},
		{"2023-02-29 00:00:00", ""},
		{"2024-05-28x19:51:41", ""},
	} {
		got, err := parseTimestamp([]byte(tc.in))
		if tc.want == "" {
			if err == nil {
				t.Errorf("parseTimestamp(%q) = %d, want error", tc.in, got)
			}
			continue
		}
		want, _ := time.Parse(time.RFC3339Nano, tc.want)
		if err != nil || got != want.UnixMicro() {
			t.Errorf("parseTimestamp(%q) = %d, %v; want %d", tc.in, got, err, want.UnixMicro())
		}
	}
	// Every day from 1600 to 2400 agrees with the time package.
	for d := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2400; d = d.AddDate(0, 0, 1) {
		got, err := parseDate([]byte(d.Format("2006-01-02")))
		if err != nil || int64(got) != d.Unix()/86400 {
			t.Fatalf("parseDate(%s) = %d, %v; want %d", d.Format("2006-01-02"), got, err, d.Unix()/86400)
		}
	}
}

func TestParseScalars(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits uint
		ok   bool
	}{{"0", 32, true}, {"-2147483648", 32, true}, {"2147483647", 32, true}, {"2147483648", 32, false}, {"-2147483649", 32, false},
		{"9223372036854775807", 64, true}, {"-9223372036854775808", 64, true}, {"9223372036854775808", 64, false}, {"99999999999999999999999", 64, false},
		{"", 32, false}, {"+", 32, false}, {"1.0", 32, false}, {" 1", 32, false}} {
		if _, err := parseInt([]byte(tc.in), tc.bits); (err == nil) != tc.ok {
			t.Errorf("parseInt(%q, %d): %v", tc.in, tc.bits, err)
		}
	}
	for in, want := range map[string]bool{"true": true, "TRUE": true, "t": true, "1": true, "yes": true, "Yes": true, "false": false, "F": false, "0": false, "no": false, "NO": false} {
		if got, err := parseBool([]byte(in)); err != nil || got != want {
			t.Errorf("parseBool(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "2", "y", "n", "tru", "falsey", "on"} {
		if _, err := parseBool([]byte(in)); err == nil {
			t.Errorf("parseBool(%q): no error", in)
		}
	}
	for in, want := range map[string]string{"": "", "0x": "", "00ff": "\x00\xff", "0XAbCd": "\xab\xcd", "DEADbeef": "\xde\xad\xbe\xef"} {
		if got, err := appendHex(nil, []byte(in)); err != nil || string(got) != want {
			t.Errorf("appendHex(%q) = %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "abc", "0xg0", "x0", "0x0"} {
		if _, err := appendHex(nil, []byte(in)); err == nil {
			t.Errorf("appendHex(%q): no error", in)
		}
	}
}
