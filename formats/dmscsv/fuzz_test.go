package dmscsv

import (
	"bytes"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
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

func FuzzDecode(f *testing.F) {
	for _, p := range decodetest.Inputs(f, "testdata/*/*.csv*", "testdata/real/*/*.csv*") {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range []uint8{0, 1, 5, 13, 37, 45, 67, 69, 255} {
			f.Add(data, v)
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
		// Any error is a MalformedError; the same bytes read one at a
		// time, and in bigger batches, give the same rows and error.
		decodetest.SameForSplits(t, opts.BatchRows, 1000, func(s decodetest.Split) (string, error) {
			o := opts
			o.BatchRows = s.BatchRows
			got, err := decodeRead(t, mem, s.Wrap(bytes.NewReader(data)), key, 1, o)
			if _, ok := err.(*change.MalformedError); err != nil && !ok {
				t.Fatalf("error %v is not a *change.MalformedError", err)
			}
			return got, err
		})
	})
}
