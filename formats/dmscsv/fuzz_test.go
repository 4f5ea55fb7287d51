package dmscsv

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// fuzzOptions picks one of a few option sets from the bits of v.
func fuzzOptions(t testing.TB, v uint8) (key string, opts Options) {
	key = "t/LOAD00000001.csv"
	if v&1 != 0 {
		key = "t/20240528-195141380.csv"
	}
	all := [][2]string{{"i", "int"}, {"l", "long"}, {"f", "float"}, {"d", "double"}, {"dec", "decimal(12,3)"}, {"b", "boolean"}, {"dt", "date"}, {"ts", "timestamp"}, {"s", "string"}, {"bin", "binary"}, {"seq", "string"}}
	cols := all
	if v&2 != 0 {
		cols = [][2]string{{"i", "int"}, {"s", "string"}, {"seq", "string"}}
	}
	to := testOptions{Columns: cols, Header: v&4 != 0, IncludeOpForFullLoad: v&8 != 0, BatchRows: int(v>>7) + 1}
	if v&16 != 0 {
		to.Delimiter, to.NullValue = "|", `\N`
	}
	if v&32 != 0 {
		to.TimestampColumn, to.ChangeSeqColumn = "dms_ts", "seq"
	}
	if v&64 != 0 {
		// Before images of the key i (add-before-image-columns).
		to.Keys, to.BeforeImagePrefix = []string{"i"}, "BI_"
		if !to.Header {
			to.BeforeImageColumns = []string{"BI_i"}
		}
	}
	return key, to.options(t)
}

// decodeRendered decodes data fully and renders rows, or returns the error.
func decodeRendered(t testing.TB, mem memory.Allocator, r io.Reader, key string, opts Options) (string, error) {
	name, err := ParseName(key)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(r, File{Name: name, Generation: 1}, opts, mem)
	if err != nil {
		return "", err
	}
	defer dec.Close()
	var sb strings.Builder
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			return sb.String(), nil
		}
		if err != nil {
			return sb.String(), err
		}
		if int(rec.NumRows()) > opts.BatchRows {
			t.Errorf("batch of %d rows > %d", rec.NumRows(), opts.BatchRows)
		}
		for i, c := range rec.Columns() {
			if c.Len() != int(rec.NumRows()) {
				t.Errorf("column %d has %d rows, batch %d", i, c.Len(), rec.NumRows())
			}
		}
		renderRows(&sb, rec)
		rec.Release()
	}
}

func FuzzDecode(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/*.csv*")
	real, _ := filepath.Glob("testdata/real/*/*.csv*")
	for _, p := range append(paths, real...) {
		data, err := os.ReadFile(p)
		if err == nil {
			for _, v := range []uint8{0, 1, 5, 13, 37, 45, 67, 69, 255} {
				f.Add(data, v)
			}
		}
	}
	f.Add([]byte("I,1,a,,\nU,2,b,,1\nU,2,c,,2\nD,2,,,\n"), uint8(67))
	f.Add([]byte("Op,i,s,seq,BI_i\nU,2,b,1,1\n"), uint8(71))
	f.Add([]byte("I,1,\"a\"\"b\"\r\nU,2,\"x\ny\",\n"), uint8(3))
	f.Add([]byte("Op,dms_ts,i,s,seq\nI,2024-01-01 00:00:00,1,\"\",123\n"), uint8(47))
	f.Add([]byte("1|\\N|\"\"\n"), uint8(18))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, v uint8) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		key, opts := fuzzOptions(t, v)
		got, err := decodeRendered(t, mem, bytes.NewReader(data), key, opts)
		if err != nil {
			var me *change.MalformedError
			if !asMalformed(err, &me) {
				t.Fatalf("error %v is not a MalformedError", err)
			}
		}
		// The same bytes read one at a time, and in bigger batches, must give
		// the same rows and the same error.
		got1, err1 := decodeRendered(t, mem, oneByteReader{bytes.NewReader(data)}, key, opts)
		if got1 != got || errText(err1) != errText(err) {
			t.Fatalf("one-byte reads differ:\n%s %v\nvs\n%s %v", got1, err1, got, err)
		}
		opts.BatchRows = 1000
		got2, err2 := decodeRendered(t, mem, bytes.NewReader(data), key, opts)
		// With an error, bigger batches return fewer of the rows before it.
		if errText(err2) != errText(err) || (err == nil && got2 != got) || !strings.HasPrefix(got, got2) {
			t.Fatalf("BatchRows 1000 differs:\n%s %v\nvs\n%s %v", got2, err2, got, err)
		}
	})
}

func asMalformed(err error, me **change.MalformedError) bool {
	e, ok := err.(*change.MalformedError)
	*me = e
	return ok
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
