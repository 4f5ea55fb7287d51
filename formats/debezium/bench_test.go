package debezium

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

// benchFile generates PostgreSQL change events for a ten-column table:
// snapshot reads, then inserts, updates (every tenth with an unavailable
// TOAST value) and deletes. With wrapper, every line carries the schema
// envelope, as JsonConverter with schemas.enable writes it.
func benchFile(t testing.TB, lines int, wrapper bool) ([]byte, Options) {
	const schema = `{"type":"struct","fields":[` +
		`{"type":"struct","optional":true,"field":"before","fields":%[1]s},` +
		`{"type":"struct","optional":true,"field":"after","fields":%[1]s},` +
		`{"type":"struct","optional":false,"field":"source","fields":[{"type":"string","field":"connector"},{"type":"string","field":"sequence"},{"type":"int64","field":"lsn"}]},` +
		`{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}],"optional":false,"name":"pg.public.orders.Envelope"}`
	const fields = `[{"type":"int64","optional":false,"field":"id"},{"type":"string","optional":true,"field":"customer"},` +
		`{"type":"int32","optional":true,"field":"qty"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"12"},"field":"price"},` +
		`{"type":"int32","optional":true,"name":"io.debezium.time.Date","field":"shipped"},{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","field":"updated"},` +
		`{"type":"boolean","optional":true,"field":"active"},{"type":"double","optional":true,"field":"score"},{"type":"string","optional":true,"field":"note"},` +
		`{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","field":"created"}]`
	wrapped := fmt.Sprintf(schema, fields)
	prices := []string{"BNI=", "+y4=", "AJiWfw==", "AQ=="}
	var b bytes.Buffer
	for i := range lines {
		id := 1_000_000 + i%5000
		note := `"plain note text"`
		if i%7 == 0 {
			note = `"a note with \"quotes\" and \u00e9"`
		}
		row := fmt.Sprintf(`{"id":%d,"customer":"CUSTOMER%05d","qty":%d,"price":%q,"shipped":%d,"updated":%d,"active":%t,"score":%d.25,"note":%s,"created":"2024-05-28T19:51:41.%06dZ"}`,
			id, i%50000, i%1000, prices[i%4], 17000+i%3000, 1716925901388146+int64(i), i%2 == 0, i, note, i%1000000)
		op, before, after, seq := "c", "null", row, fmt.Sprintf(`[\"%d\",\"%d\"]`, 24000000+i*10, 24000000+i*10+5)
		switch {
		case i < lines/10:
			op, seq = "r", `[null,\"24000000\"]`
		case i%10 == 3:
			op = "u"
			if i%30 == 3 {
				after = fmt.Sprintf(`{"id":%d,"customer":"__debezium_unavailable_value","qty":1,"price":"BNI=","shipped":1,"updated":1,"active":true,"score":1.5,"note":"__debezium_unavailable_value","created":null}`, id)
			}
		case i%10 == 7:
			op, before, after = "d", fmt.Sprintf(`{"id":%d,"customer":null,"qty":null,"price":null,"shipped":null,"updated":null,"active":null,"score":null,"note":null,"created":null}`, id), "null"
		}
		payload := fmt.Sprintf(`{"before":%s,"after":%s,"source":{"version":"2.7.0.Final","connector":"postgresql","name":"pg","ts_ms":1716925901388,"snapshot":"false","db":"shop","sequence":"%s","schema":"public","table":"orders","txId":%d,"lsn":%d,"xmin":null},"op":"%s","ts_ms":1716925901400,"transaction":null}`,
			before, after, seq, 500+i, 24000000+i*10+5, op)
		if wrapper {
			fmt.Fprintf(&b, `{"schema":%s,"payload":%s}`+"\n", wrapped, payload)
		} else {
			b.WriteString(payload + "\n")
		}
	}
	cols := [][2]string{{"id", "long"}, {"customer", "string"}, {"qty", "int"}, {"price", "decimal(12,2)"}, {"shipped", "date"}, {"updated", "timestamp"}, {"active", "boolean"}, {"score", "double"}, {"note", "string"}, {"created", "timestamp"}}
	opts := Options{Keys: []string{"id"}}
	if !wrapper {
		opts.Columns = decodetest.Columns(t, cols)
	}
	return b.Bytes(), opts
}

// BenchmarkDecode measures decoding a 10k-line file, bare payloads and with
// a schema wrapper on every line (decodetest.Bench has the benchstat
// recipe).
func BenchmarkDecode(b *testing.B) {
	const lines = 10_000
	name, err := ParseName("topics/pg.public.orders/partition=0/pg.public.orders+0+0000000000.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, wrapper := range []bool{false, true} {
		b.Run(fmt.Sprintf("wrapper=%t", wrapper), func(b *testing.B) {
			data, opts := benchFile(b, lines, wrapper)
			decodetest.Bench(b, data, lines, func(r io.Reader, mem memory.Allocator) (decodetest.Decoder, error) {
				return NewDecoder(r, File{Name: name}, opts, mem)
			})
		})
	}
}
