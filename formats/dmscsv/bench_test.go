package dmscsv

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// benchFile generates a CDC file with a header, Op, a timestamp column and
// ten table columns (one of them AR_H_CHANGE_SEQ); every fifth note is
// quoted with an embedded delimiter and quotes.
func benchFile(rows int) ([]byte, Options) {
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
	opts := Options{Header: true, TimestampColumn: "dms_ts", ChangeSeqColumn: "change_seq"}
	for _, c := range cols {
		t, err := change.ParseType(c[1])
		if err != nil {
			panic(err)
		}
		opts.Columns = append(opts.Columns, change.Column{Name: c[0], Type: t})
	}
	return b.Bytes(), opts
}

func BenchmarkDecode(b *testing.B) {
	data, opts := benchFile(100_000)
	name, err := ParseName("raw/public/orders/20240528-195141380.csv")
	if err != nil {
		b.Fatal(err)
	}
	// The checked allocator records a stack per allocation, which costs
	// about 5% here; it stays so that the benchmark also checks for leaks.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(b, 0)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		dec, err := NewDecoder(bytes.NewReader(data), File{Name: name}, opts, mem)
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			rec, err := dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows += int(rec.NumRows())
			rec.Release()
		}
		dec.Close()
		if rows != 100_000 {
			b.Fatalf("%d rows", rows)
		}
	}
}
