package debezium

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
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

// fuzzKey is the values file every fuzz input is decoded as.
const fuzzKey = "topics/pg.public.t/partition=0/pg.public.t+0+0000000000.json"

func FuzzDecoder(f *testing.F) {
	// The golden inputs, invented and real; each with its keys file.
	for _, p := range decodetest.Inputs(f, "testdata/*/*.json*", "testdata/real/*/*.json") {
		if strings.HasSuffix(p, "options.json") || strings.Contains(p, ".keys.json") {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
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
		opts := fuzzOptions(t, v).options(t)
		// Any error is a MalformedError; the same bytes read one at a
		// time, and in bigger batches, give the same rows and error.
		decodetest.SameForSplits(t, opts.BatchRows, 1000, func(s decodetest.Split) (string, error) {
			o := opts
			o.BatchRows = s.BatchRows
			// keys is never nil: a keys file, if an empty one, is always
			// there, so that every option set decodes.
			in := input{key: fuzzKey, data: data, keys: append([]byte{}, keys...), gen: 1}
			got, err := decodeSplit(t, mem, in, o, s.Wrap)
			if err != nil {
				var me *change.MalformedError
				if !errors.As(err, &me) || !errors.Is(err, change.ErrMalformed) {
					t.Fatalf("error %v is not a MalformedError", err)
				}
			}
			return got, err
		})
	})
}
