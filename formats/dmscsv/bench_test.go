package dmscsv

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

// benchFile generates a CDC file with a header, Op, a timestamp column and
// ten table columns (one of them AR_H_CHANGE_SEQ); every fifth note is
// quoted with an embedded delimiter and quotes.
func benchFile(t testing.TB, rows int) ([]byte, Options) {
	var b bytes.Buffer
	b.WriteString("Op,dms_ts,id,customer,qty,price,shipped,updated,active,score,note,change_seq\n")
	ops := "IUUD"
	for i := range rows {
		note := "plain note text"
		if i%5 == 0 {
			note = `"a note, with ""quotes"""`
		}
		fmt.Fprintf(&b, "%c,2024-05-28 19:51:41.%06d,%d,CUSTOMER%05d,%d,%d.%02d,1996-07-%02d,2024-05-28 19:51:41.388146,%t,%d.25,%s,2024052819514138%019d\n",
			ops[i%4], i%1000000, 1000000+i, i%50000, i%1000, i%100000, i%100, 1+i%28, i%2 == 0, i, note, i)
	}
	cols := [][2]string{{"id", "long"}, {"customer", "string"}, {"qty", "int"}, {"price", "decimal(12,2)"}, {"shipped", "date"}, {"updated", "timestamp"}, {"active", "boolean"}, {"score", "double"}, {"note", "string"}, {"change_seq", "string"}}
	opts := Options{Header: true, TimestampColumn: "dms_ts", ChangeSeqColumn: "change_seq", Columns: decodetest.Columns(t, cols)}
	return b.Bytes(), opts
}

// BenchmarkDecode measures decoding a 100k-row CDC file (decodetest.Bench
// has the benchstat recipe).
func BenchmarkDecode(b *testing.B) {
	const rows = 100_000
	data, opts := benchFile(b, rows)
	name, err := ParseName("raw/public/orders/20240528-195141380.csv")
	if err != nil {
		b.Fatal(err)
	}
	decodetest.Bench(b, data, rows, func(r io.Reader, mem memory.Allocator) (decodetest.Decoder, error) {
		return NewDecoder(r, File{Name: name}, opts, mem)
	})
}
