package gunzip

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

// TestOpen: content is the input itself or its decompressed stream, by
// the magic bytes alone, also when read one byte at a time; a corrupt or
// cut stream is Corrupt, a failing reader is not.
func TestOpen(t *testing.T) {
	gz := decodetest.Gzip(t, "a,b\n1,2\n")
	for _, tc := range []struct {
		name    string
		in      []byte
		want    string
		gzipped bool
		corrupt bool // an error, and Corrupt says so
	}{
		{"plain", []byte("a,b\n"), "a,b\n", false, false},
		{"empty", nil, "", false, false},
		{"one byte", []byte{0x1f}, "\x1f", false, false},
		{"gzip", gz, "a,b\n1,2\n", true, false},
		{"gzip header only", gz[:10], "", true, true},
		{"gzip cut", gz[:len(gz)-4], "", true, true},
		{"bad checksum", append(append([]byte(nil), gz[:len(gz)-8]...), 0, 0, 0, 0, 8, 0, 0, 0), "", true, true},
		{"magic then garbage", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xffgarbage"), "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(tc.in), iotest.OneByteReader(bytes.NewReader(tc.in))} {
				content, gzipped, err := Open(r)
				var got []byte
				if err == nil {
					got, err = io.ReadAll(content)
					content.Close()
				}
				if gzipped != tc.gzipped || (err != nil) != tc.corrupt || err != nil && !Corrupt(err) || err == nil && string(got) != tc.want {
					t.Fatalf("got %q, gzipped %v, %v (corrupt: %v)", got, gzipped, err, err != nil && Corrupt(err))
				}
			}
		})
	}
	failing := errors.New("connection reset")
	if _, _, err := Open(iotest.ErrReader(failing)); !errors.Is(err, failing) || Corrupt(err) {
		t.Fatalf("failing reader: %v", err)
	}
	content, _, err := Open(io.MultiReader(bytes.NewReader(gz[:12]), iotest.ErrReader(failing)))
	if err == nil {
		_, err = io.ReadAll(content)
	}
	if !errors.Is(err, failing) || Corrupt(err) {
		t.Fatalf("reader failing inside the stream: %v", err)
	}
}

func TestStem(t *testing.T) {
	for _, tc := range []struct {
		key, ext, stem string
		ok             bool
	}{
		{"s/t/LOAD00000001.csv", ".csv", "LOAD00000001", true},
		{"s/t/LOAD00000001.csv.gz", ".csv", "LOAD00000001", true},
		{"t+0+5.keys.json.gz", ".json", "t+0+5.keys", true},
		{"s/t/LOAD00000001.csv.zst", ".csv", "", false},
		{"s/t/LOAD00000001.gz", ".csv", "", false},
		{"s/t.csv/notes", ".csv", "", false},
		{"x.csv", ".json", "", false},
	} {
		stem, ok := Stem(tc.key, tc.ext)
		if ok != tc.ok || ok && stem != tc.stem {
			t.Errorf("Stem(%q, %q) = %q, %v", tc.key, tc.ext, stem, ok)
		}
	}
}
