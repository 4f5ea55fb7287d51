package dmscsv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

// TestBatchBoundaries decodes n-1, n and n+1 rows with BatchRows n and
// checks the batch sizes and that the rows come out in order.
func TestBatchBoundaries(t *testing.T) {
	const n = 4
	name, _ := ParseName("t/20240528-195141380.csv")
	opts := Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String}}, BatchRows: n}
	for _, rows := range []int{0, 1, n - 1, n, n + 1, 2 * n, 2*n + 1} {
		t.Run(fmt.Sprint(rows), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			var sb strings.Builder
			for i := range rows {
				fmt.Fprintf(&sb, "I,%d,\"s%d\"\n", i, i)
			}
			dec, err := NewDecoder(strings.NewReader(sb.String()), File{Name: name}, opts, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			var sizes []int64
			next := int64(0)
			err = decodetest.Drain(t, dec, n, func(rec arrow.RecordBatch) {
				sizes = append(sizes, rec.NumRows())
				ids := rec.Column(0).(*array.Int64)
				for i := 0; i < ids.Len(); i++ {
					if ids.Value(i) != next {
						t.Errorf("row %d has id %d", next, ids.Value(i))
					}
					next++
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for left := rows; left > 0; left -= n {
				want = append(want, int64(min(left, n)))
			}
			if fmt.Sprint(sizes) != fmt.Sprint(want) {
				t.Errorf("batch sizes %v, want %v", sizes, want)
			}
		})
	}
}

// TestReaderBoundaries decodes the golden inputs through a reader that
// returns one byte at a time, and demands the same rows.
func TestReaderBoundaries(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			want, err := decodeAll(t, mem, c.key, c.Options.Generation, c.data, c.Options.options(t))
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRead(t, mem, iotest.OneByteReader(bytes.NewReader(c.data)), c.key, c.Options.Generation, c.Options.options(t))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("one-byte reads:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestLongRecords(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	name, _ := ParseName("t/LOAD00000001.csv")
	opts := Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "s", Type: arrow.BinaryTypes.String}}}
	long := strings.Repeat("abcdefgh", initialBufSize/8*3+3)
	quotedLong := strings.Repeat("ab\"\"c,\n", initialBufSize/7*2+5)
	data := "1," + long + "\n2,\"" + quotedLong + "\"\n3,x\n"
	dec, err := NewDecoder(strings.NewReader(data), File{Name: name}, opts, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	rec, err := dec.Next()
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	s := rec.Column(1).(*array.String)
	if rec.NumRows() != 3 || s.Value(0) != long || s.Value(1) != strings.ReplaceAll(quotedLong, `""`, `"`) || s.Value(2) != "x" {
		t.Errorf("long records decoded wrong: %d rows", rec.NumRows())
	}
	if _, err := dec.Next(); err != io.EOF {
		t.Errorf("want EOF, got %v", err)
	}
}

// TestEmptyFile: a file without bytes has no rows, with or without header.
func TestEmptyFile(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	name, _ := ParseName("t/20240528-195141380.csv")
	for _, header := range []bool{false, true} {
		opts := Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, Header: header}
		dec, err := NewDecoder(strings.NewReader(""), File{Name: name}, opts, mem)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dec.Next(); err != io.EOF {
			t.Errorf("header %v: want EOF, got %v", header, err)
		}
		dec.Close()
	}
}

// TestCutShortWithoutFinalNewline: an uncompressed file whose last record
// has no line break was cut short (every real DMS file found ends with
// one), wherever the cut falls: inside an unquoted field, after a closing
// quote, after a CR, inside a header. The error names the file and the
// record's line. A gzip stream is checked by its trailer instead, so a
// complete one may end without a newline, and a complete file may end with
// CRLF or be empty.
func TestCutShortWithoutFinalNewline(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	opts := testOptions{Columns: [][2]string{{"id", "int"}, {"s", "string"}}}.options(t)
	header := testOptions{Columns: [][2]string{{"id", "int"}, {"s", "string"}}, Header: true}.options(t)
	const key = "raw/t/LOAD00000001.csv"
	for _, tc := range []struct {
		name, data string
		opts       Options
		line       int64
	}{
		{"unquoted", "1,a\n2,b", opts, 2},
		{"unquoted, quotes before", "1,\"a\"\n2,b", opts, 2},
		{"closing quote", "1,a\n2,\"b\"", opts, 2},
		{"quoted line break, then unquoted", "1,\"a\nb\",\n2,\"x\ny\",c", Options{Columns: append(opts.Columns, change.Column{Name: "t", Type: arrow.BinaryTypes.String})}, 3},
		{"CR", "1,a\r\n2,\"b\"\r", opts, 2},
		{"header", "id,", header, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAll(t, mem, key, 1, []byte(tc.data), tc.opts)
			var me *change.MalformedError
			if !errors.As(err, &me) || me.File != key || me.Line != tc.line || !strings.Contains(me.Reason, "ends without a newline: cut short?") {
				t.Fatalf("%q: error %v, want a MalformedError of %s line %d saying it was cut short", tc.data, err, key, tc.line)
			}
		})
	}
	for _, tc := range []struct{ name, data string }{
		{"gzip", string(decodetest.Gzip(t, "1,a\n2,b"))},
		{"CRLF", "1,a\r\n2,\"b\"\r\n"},
		{"empty", ""},
	} {
		if _, err := decodeAll(t, mem, key, 1, []byte(tc.data), opts); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
