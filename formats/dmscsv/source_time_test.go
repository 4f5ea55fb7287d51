package dmscsv

import (
	"bytes"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

// TestSourceTime: for every golden input, SourceTime is the greatest value
// of the timestamp column when the table has one (read from the decoded
// rows, whichever batch they fall in), else the instant a CDC file's name
// carries (parsed here from the name), else zero; and each row's _ts is
// its timestamp column's value, else that instant, else null.
func TestSourceTime(t *testing.T) {
	seen := map[string]int{}
	for _, c := range loadGoldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			name, err := ParseName(c.key)
			if err != nil {
				t.Fatal(err)
			}
			opts := c.Options.options(t)
			opts.BatchRows = 1
			dec, err := NewDecoder(bytes.NewReader(c.data), File{Name: name, Generation: c.Options.Generation}, opts, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			// instant is a CDC file's instant, parsed here from its name.
			var instant time.Time
			if base := path.Base(c.key); !strings.Contains(base, "LOAD") {
				stem := base[:strings.Index(base, ".csv")]
				if instant, err = time.Parse("20060102-150405", stem[:15]); err != nil {
					t.Fatal(err)
				}
				frac := stem[15:] // milliseconds, or tenths of them
				for len(frac) < 9 {
					frac += "0"
				}
				ns, err := time.ParseDuration(strings.TrimLeft(frac, "0") + "ns")
				if frac == "000000000" {
					ns, err = 0, nil
				}
				if err != nil {
					t.Fatal(err)
				}
				instant = instant.Add(ns)
			}
			var newest time.Time
			err = decodetest.Drain(t, dec, 1, func(rec arrow.RecordBatch) {
				var col *array.Timestamp
				if idx := rec.Schema().FieldIndices(opts.TimestampColumn); opts.TimestampColumn != "" && len(idx) == 1 {
					col = rec.Column(idx[0]).(*array.Timestamp)
					for i := 0; i < col.Len(); i++ {
						if v := time.UnixMicro(int64(col.Value(i))); col.IsValid(i) && v.After(newest) {
							newest = v
						}
					}
				}
				// _ts: the timestamp column's value, else the CDC
				// instant, else null.
				ts := rec.Column(rec.Schema().FieldIndices(change.ColTS)[0]).(*array.Timestamp)
				for i := 0; i < ts.Len(); i++ {
					var want time.Time
					switch {
					case col != nil && col.IsValid(i):
						want = time.UnixMicro(int64(col.Value(i)))
					default:
						want = instant
					}
					if want.IsZero() != ts.IsNull(i) || (ts.IsValid(i) && !time.UnixMicro(int64(ts.Value(i))).Equal(want)) {
						t.Fatalf("row %d: _ts %s, want %v", i, ts.ValueStr(i), want)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			var want time.Time
			kind := "none"
			switch {
			case !newest.IsZero():
				want, kind = newest, "timestamp column"
			case !instant.IsZero():
				want, kind = instant, "CDC name"
			}
			seen[kind]++
			if got := dec.SourceTime(); !got.Equal(want) || (!got.IsZero() && got.Location() != time.UTC) {
				t.Fatalf("SourceTime %v, want %v (%s)", got, want, kind)
			}
		})
	}
	for _, kind := range []string{"timestamp column", "CDC name", "none"} {
		if seen[kind] == 0 {
			t.Errorf("no golden input checks SourceTime from %s", kind)
		}
	}
}
