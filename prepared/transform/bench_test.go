//go:build duckdb_arrow && cgo

package transform

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// benchDefinition is a prepared table as an analyst would curate a
// customers table: a key, a rename, a masked e-mail, casts, a CASE, date
// truncation and a filter.
var benchDefinition = Definition{
	Select: []string{
		"customer_id",
		"name AS customer_name",
		"sha256(lower(email)) AS email_sha256",
		"CAST(balance AS double) AS balance",
		"CASE WHEN vip THEN 'gold' WHEN balance > 1000 THEN 'silver' ELSE 'standard' END AS tier",
		"CAST(signed_up AS varchar) AS signed_up_text",
		"date_trunc('month', updated_at) AS updated_month",
		"coalesce(country, 'unknown') AS country",
	},
	Where: "balance >= 0 AND country <> 'XX'",
}

// benchBatch is a change batch of n customers: the columns the definition
// reads and three it does not.
func benchBatch(mem memory.Allocator, n int) (arrow.RecordBatch, []change.Column) {
	var cols []change.Column
	for _, s := range [][2]string{{"customer_id", "long"}, {"name", "string"}, {"email", "string"},
		{"balance", "decimal(12,2)"}, {"vip", "boolean"}, {"signed_up", "date"}, {"updated_at", "timestamp"},
		{"country", "string"}, {"notes", "string"}, {"score", "double"}, {"change_seq", "string"}} {
		dt, _ := change.ParseType(s[1])
		cols = append(cols, change.Column{Name: s[0], Type: dt})
	}
	r := rand.New(rand.NewPCG(1, 2))
	b := array.NewRecordBuilder(mem, change.Schema(cols))
	defer b.Release()
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("Customer %d", i))
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("Customer.%d@Example.com", i))
		b.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(r.Int64N(500000) - 10000))
		b.Field(4).(*array.BooleanBuilder).Append(r.IntN(10) == 0)
		b.Field(5).(*array.Date32Builder).Append(arrow.Date32FromTime(base.AddDate(0, 0, r.IntN(1500))))
		b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(base.Add(time.Duration(r.Int64N(int64(1500 * 24 * time.Hour)))).UnixMicro()))
		if r.IntN(20) == 0 {
			b.Field(7).AppendNull()
		} else {
			b.Field(7).(*array.StringBuilder).Append([]string{"DE", "FR", "US", "XX"}[r.IntN(4)])
		}
		b.Field(8).(*array.StringBuilder).Append("a note of some forty characters, or so..")
		b.Field(9).(*array.Float64Builder).Append(r.Float64())
		b.Field(10).(*array.StringBuilder).Append(fmt.Sprintf("%020d", i))
		b.Field(11).(*array.Int8Builder).Append(int8(1 + r.IntN(3)))
		b.Field(12).(*array.BinaryBuilder).Append([]byte(fmt.Sprintf("%016d", i)))
	}
	return b.NewRecordBatch(), cols
}

// BenchmarkTransform measures rows/s of benchDefinition (def=curated)
// over batches of customers, and of three bare columns (def=bare: what
// moving rows through DuckDB and back costs by itself). Compare runs with
//
//	go test -tags duckdb_arrow -run XXX -bench Transform -count 6 ./prepared/transform/ > new.txt
//	benchstat old.txt new.txt
func BenchmarkTransform(b *testing.B) {
	bare := Definition{Select: []string{"customer_id", "name", "balance"}}
	for _, threads := range []int{1, 2} {
		for _, rows := range []int{10_000, 100_000, 1_000_000} {
			for _, def := range []struct {
				name string
				def  Definition
			}{{"curated", benchDefinition}, {"bare", bare}} {
				b.Run(fmt.Sprintf("def=%s/threads=%d/rows=%d", def.name, threads, rows), func(b *testing.B) {
					mem := memory.NewGoAllocator()
					e := openEngine(b, Options{Threads: threads})
					in, cols := benchBatch(mem, rows)
					defer in.Release()
					p := compile(b, e, cols, def.def)
					ctx := context.Background()
					out, err := p.Transform(ctx, mem, in) // warm up
					if err != nil {
						b.Fatal(err)
					}
					out.Release()
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						out, err := p.Transform(ctx, mem, in)
						if err != nil {
							b.Fatal(err)
						}
						out.Release()
					}
					b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
				})
			}
		}
	}
}
