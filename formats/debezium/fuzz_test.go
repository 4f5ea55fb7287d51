package debezium

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// fuzzOptions picks one of a few option sets from the bits of v.
func fuzzOptions(t testing.TB, v uint8) testOptions {
	o := testOptions{
		Keys:              []string{"id"},
		Flattened:         v&1 != 0,
		SinglePartition:   v&2 != 0,
		TruncateSubMicros: v&16 != 0,
		BatchRows:         int(v>>6) + 1,
	}
	if v&4 != 0 {
		o.Tombstones = "delete"
	}
	if v&16 != 0 {
		o.WideDecimals = WideDecimalsString
	}
	if v&8 != 0 {
		o.Columns = [][2]string{{"id", "int"}, {"l", "long"}, {"f", "float"}, {"d", "double"}, {"dec", "decimal(12,3)"}, {"b", "boolean"},
			{"dt", "date"}, {"ts", "timestamp"}, {"s", "string"}, {"bin", "binary"}, {"amount", "decimal(20,4)"}, {"email", "string"}, {"balance", "decimal(10,2)"}}
	}
	if v&32 != 0 {
		o.Columns = append(o.Columns, [2]string{"ms", "timestamp"}, [2]string{"vs", "decimal(38,6)"}, [2]string{"txt", "decimal(9,2)"})
		o.Encodings = map[string]string{"ms": "io.debezium.time.Timestamp", "vs": "io.debezium.data.VariableScaleDecimal", "txt": "string"}
	}
	return o
}

// oneByteReader returns one byte per Read, to cross every buffer boundary.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// decodeRendered decodes data fully and renders rows, or returns the error.
func decodeRendered(t testing.TB, mem memory.Allocator, r, keys io.Reader, opts Options) (string, error) {
	name, err := ParseName("topics/pg.public.t/partition=0/pg.public.t+0+0000000000.json")
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(r, File{Name: name, Generation: 1, Keys: keys}, opts, mem)
	if err != nil {
		return "", err
	}
	defer dec.Close()
	var sb strings.Builder
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			for _, s := range dec.Truncates() {
				sb.WriteString("truncate " + string(s) + "\n")
			}
			return sb.String(), nil
		}
		if err != nil {
			return sb.String(), err
		}
		if int(rec.NumRows()) > opts.BatchRows {
			t.Errorf("batch of %d rows > %d", rec.NumRows(), opts.BatchRows)
		}
		if !rec.Schema().Equal(dec.Schema()) {
			t.Errorf("batch schema differs from decoder schema")
		}
		for i, c := range rec.Columns() {
			if c.Len() != int(rec.NumRows()) {
				t.Errorf("column %d has %d rows, batch %d", i, c.Len(), rec.NumRows())
			}
		}
		renderRows(&sb, rec, opts.SinglePartition)
		rec.Release()
	}
}

func FuzzDecoder(f *testing.F) {
	// The golden inputs, invented and real; each with its keys file.
	invented, _ := filepath.Glob("testdata/*/*.json*")
	real, _ := filepath.Glob("testdata/real/*/*.json")
	if len(real) == 0 {
		f.Fatal("no real samples")
	}
	for _, p := range append(invented, real...) {
		if strings.HasSuffix(p, "options.json") || strings.Contains(p, ".keys.json") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		keys, _ := os.ReadFile(strings.Replace(p, ".json", ".keys.json", 1))
		for _, v := range []uint8{0, 1, 2, 3, 4, 8, 13, 45, 63, 255} {
			f.Add(data, keys, v)
		}
	}
	f.Add([]byte(`{"id":1,"__deleted":"true","__lsn":5}`+"\nnull\n"), []byte("{\"id\":1}\n{\"id\":2}\n"), uint8(5))
	f.Add([]byte(`{"before":null,"after":{"id":1,"amount":{"scale":3,"value":"AQ=="}},"source":{"connector":"postgresql","lsn":1},"op":"c"}`), []byte(nil), uint8(8))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), []byte(nil), uint8(0))
	f.Fuzz(func(t *testing.T, data, keys []byte, v uint8) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		to := fuzzOptions(t, v)
		opts := to.options(t)
		got, err := decodeRendered(t, mem, bytes.NewReader(data), bytes.NewReader(keys), opts)
		if err != nil {
			var me *change.MalformedError
			if !errors.As(err, &me) || !errors.Is(err, change.ErrMalformed) {
				t.Fatalf("error %v is not a MalformedError", err)
			}
		}
		// The same bytes read one at a time, and in bigger batches, must give
		// the same rows and the same error.
		got1, err1 := decodeRendered(t, mem, oneByteReader{bytes.NewReader(data)}, oneByteReader{bytes.NewReader(keys)}, opts)
		if got1 != got || errText(err1) != errText(err) {
			t.Fatalf("one-byte reads differ:\n%s %v\nvs\n%s %v", got1, err1, got, err)
		}
		opts.BatchRows = 1000
		got2, err2 := decodeRendered(t, mem, bytes.NewReader(data), bytes.NewReader(keys), opts)
		// With an error, bigger batches return fewer of the rows before it.
		if errText(err2) != errText(err) || (err == nil && got2 != got) || !strings.HasPrefix(got, got2) {
			t.Fatalf("BatchRows 1000 differs:\n%s %v\nvs\n%s %v", got2, err2, got, err)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
