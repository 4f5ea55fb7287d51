package dmscsv

import "testing"

// TestParseScalars: DMS's textual booleans and hex binary (the values
// both decoders read are tested in formats/internal/values).
func TestParseScalars(t *testing.T) {
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
