package debezium

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

// pgLine is a PostgreSQL change event without a schema wrapper.
func pgLine(op, before, after string, lsn int) string {
	return `{"before":` + before + `,"after":` + after + `,"source":{"connector":"postgresql","name":"pg","snapshot":"false","db":"d","schema":"public","table":"t","lsn":` + strconv.Itoa(lsn) + `},"op":"` + op + `","ts_ms":1}`
}

const (
	decKey  = "topics/pg.public.t/partition=0/pg.public.t+0+0000000000.json"
	keysKey = "topics/pg.public.t/partition=0/pg.public.t+0+0000000000.keys.json"
)

var tcols = [][2]string{{"id", "int"}, {"v", "string"}, {"amt", "decimal(10,2)"}}

// TestErrors checks that bad input stops with a MalformedError naming the
// file, the line and the column.
func TestErrors(t *testing.T) {
	ok1 := pgLine("c", "null", `{"id":1,"v":"a","amt":"BNI="}`, 100)
	base := testOptions{Columns: tcols, Keys: []string{"id"}}
	wrapped := func(fieldType string) string {
		return `{"schema":{"type":"struct","fields":[{"type":"struct","field":"after","fields":[{"type":"int32","field":"id"},` + fieldType + `]}]},"payload":` + pgLine("c", "null", `{"id":1,"v":1}`, 100) + `}`
	}
	for _, tc := range []struct {
		name   string
		opts   testOptions
		data   string
		keys   string // keys file; "" for none
		file   string // default decKey
		line   int64
		column string
		reason string // substring
	}{
		{name: "bad JSON", opts: base, data: ok1 + "\n{\"before\":null,\n", line: 2, reason: "bad JSON"},
		{name: "byte order mark", opts: base, data: "\ufeff" + ok1 + "\n", line: 1, reason: "starts with a UTF-8 byte order mark"},
		{name: "byte order mark in keys file", opts: testOptions{Columns: tcols, Keys: []string{"id"}, Tombstones: "delete"}, data: ok1 + "\nnull\n", keys: "\ufeff{\"id\":1}\n{\"id\":1}\n", file: keysKey, line: 1, reason: "starts with a UTF-8 byte order mark"},
		{name: "trailing garbage", opts: base, data: ok1 + "}\n", line: 1, reason: "after the value"},
		{name: "empty line", opts: base, data: ok1 + "\n\n" + ok1 + "\n", line: 2, reason: "empty line"},
		{name: "not an object", opts: base, data: "[1,2]\n", line: 1, reason: "not a JSON object"},
		{name: "bad base64 decimal", opts: base, data: ok1 + "\n" + pgLine("c", "null", `{"id":2,"v":"a","amt":"B*I="}`, 110) + "\n", line: 2, column: "amt", reason: "base64"},
		{name: "decimal precision", opts: base, data: pgLine("c", "null", `{"id":2,"amt":"AQAAAAAAAAAA"}`, 110) + "\n", line: 1, column: "amt", reason: "precision"},
		{name: "decimal number scale", opts: base, data: pgLine("c", "null", `{"id":2,"amt":1.234}`, 110) + "\n", line: 1, column: "amt", reason: "fraction digits"},
		{name: "missing op", opts: base, data: ok1 + "\n" + `{"before":null,"after":{"id":1},"source":{"connector":"postgresql","lsn":5}}` + "\n", line: 2, reason: "no op"},
		{name: "unknown op", opts: base, data: pgLine("x", "null", `{"id":1}`, 100) + "\n", line: 1, reason: `unknown op "x"`},
		{name: "op not a string", opts: base, data: `{"before":null,"after":{"id":1},"source":{},"op":1}` + "\n", line: 1, reason: "unknown op"},
		{name: "null key", opts: base, data: ok1 + "\n" + pgLine("u", "null", `{"id":null,"v":"b"}`, 110) + "\n", line: 2, column: "id", reason: "key column is null"},
		{name: "missing key", opts: base, data: pgLine("c", "null", `{"v":"b"}`, 110) + "\n", line: 1, column: "id", reason: "key column missing"},
		{name: "unavailable key", opts: base, data: pgLine("u", "null", `{"id":"__debezium_unavailable_value"}`, 110) + "\n", line: 1, column: "id", reason: "unavailable"},
		{name: "null key in delete", opts: base, data: pgLine("d", `{"id":null}`, "null", 110) + "\n", line: 1, column: "id", reason: "key column is null"},
		{name: "after not an object", opts: base, data: pgLine("c", "null", "null", 110) + "\n", line: 1, reason: "after null"},
		{name: "delete without before", opts: base, data: pgLine("d", "null", "null", 110) + "\n", line: 1, reason: "keys file"},
		{name: "int out of range", opts: base, data: pgLine("c", "null", `{"id":2147483648}`, 110) + "\n", line: 1, column: "id", reason: "out of range"},
		{name: "int with fraction", opts: base, data: pgLine("c", "null", `{"id":1.0}`, 110) + "\n", line: 1, column: "id", reason: "not an integer"},
		{name: "string for int", opts: base, data: pgLine("c", "null", `{"id":"1"}`, 110) + "\n", line: 1, column: "id", reason: "is a string, want an integer"},
		{name: "duplicate field", opts: base, data: pgLine("c", "null", `{"id":1,"v":"a","v":"b"}`, 110) + "\n", line: 1, column: "v", reason: "twice"},
		{name: "system column name", opts: base, data: pgLine("c", "null", `{"id":1,"_seq":"a"}`, 110) + "\n", line: 1, column: "_seq", reason: "system column"},
		{name: "no position", opts: base, data: `{"before":null,"after":{"id":1},"source":{"connector":"postgresql","lsn":null},"op":"c"}` + "\n", line: 1, reason: "no source position"},
		{name: "no source", opts: base, data: `{"before":null,"after":{"id":1},"op":"c"}` + "\n", line: 1, reason: "no source position"},
		{name: "unknown connector", opts: base, data: `{"before":null,"after":{"id":1},"source":{"connector":"mongodb","ord":1},"op":"c"}` + "\n", line: 1, reason: `connector "mongodb"`},
		{name: "connector changes", opts: base, data: ok1 + "\n" + `{"before":null,"after":{"id":1},"source":{"connector":"mysql","file":"b.000001","pos":4},"op":"c"}` + "\n", line: 2, reason: "connector mysql in a file of postgresql"},
		{name: "bad lsn", opts: base, data: pgLine("c", "null", `{"id":1}`, -5) + "\n", line: 1, reason: "source lsn"},
		{name: "bad sequence", opts: base, data: `{"before":null,"after":{"id":1},"source":{"connector":"postgresql","lsn":5,"sequence":"[1]"},"op":"c"}` + "\n", line: 1, reason: "source sequence"},
		{name: "binlog without number", opts: base, data: `{"before":null,"after":{"id":1},"source":{"connector":"mysql","file":"binlog","pos":4},"op":"c"}` + "\n", line: 1, reason: "numeric suffix"},
		{name: "binlog without pos", opts: base, data: `{"before":null,"after":{"id":1},"source":{"connector":"mysql","file":"b.000001"},"op":"c"}` + "\n", line: 1, reason: "no pos"},
		{name: "bad sql server lsn", opts: base, data: `{"before":null,"after":{"id":1},"source":{"connector":"sqlserver","commit_lsn":"00000027:00000758","change_lsn":null},"op":"c"}` + "\n", line: 1, reason: "XXXXXXXX"},
		{name: "flat deleted mismatch", opts: base, data: `{"id":1,"__op":"u","__lsn":5,"__deleted":"true"}` + "\n", line: 1, reason: `__deleted is "true" but __op is 'u'`},
		{name: "flat deleted false on delete", opts: base, data: `{"id":1,"__op":"d","__lsn":5,"__deleted":"false"}` + "\n", line: 1, reason: `__op is "d"`},
		{name: "flat deleted garbage", opts: base, data: `{"id":1,"__lsn":5,"__deleted":"maybe"}` + "\n", line: 1, reason: "__deleted"},
		{name: "not an event", opts: base, data: `{"id":1,"v":"x"}` + "\n", line: 1, reason: "not a Debezium change event"},
		{name: "row like a transaction", opts: base, data: `{"id":1,"status":"BEGIN","v":"x"}` + "\n", line: 1, reason: "not a Debezium change event"},
		{name: "row like a heartbeat", opts: base, data: `{"ts_ms":1,"v":"x"}` + "\n", line: 1, reason: "not a Debezium change event"},
		{name: "row like a schema change", opts: base, data: `{"ddl":"x","v":"x"}` + "\n", line: 1, reason: "not a Debezium change event"},
		{name: "flat without position", opts: testOptions{Columns: tcols, Flattened: true}, data: `{"id":1,"v":"x"}` + "\n", line: 1, reason: "debezium.single_partition: true"},
		{name: "wrapper type conflict", opts: testOptions{Keys: []string{"id"}}, data: wrapped(`{"type":"int64","field":"v"}`) + "\n" + wrapped(`{"type":"string","field":"v"}`) + "\n", line: 2, column: "v", reason: "not a widening"},
		{name: "wrapper unknown type", opts: base, data: wrapped(`{"type":"int128","field":"v"}`) + "\n", line: 1, column: "v", reason: "unknown Connect type"},
		{name: "wrapper variable scale", opts: base, data: wrapped(`{"type":"struct","name":"io.debezium.data.VariableScaleDecimal","field":"w"}`) + "\n", line: 1, column: "w", reason: "set debezium.wide_decimals: string"},
		{name: "wrapper decimal too wide", opts: base, data: wrapped(`{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"50"},"field":"w"}`) + "\n", line: 1, column: "w", reason: "decimal(50,2) does not fit the 38 digits of a decimal column: set debezium.wide_decimals: string"},
		{name: "wrapper type the columns cannot hold", opts: base, data: wrapped(`{"type":"int64","field":"v"}`) + "\n", line: 1, column: "v", reason: "columns types it string, but the events' schema sends int64"},
		{name: "wrapper float64 is not a JsonConverter name", opts: base, data: wrapped(`{"type":"float64","field":"x"}`) + "\n", line: 1, column: "x", reason: `unknown Connect type "float64" (JsonConverter writes int8, int16, int32, int64, float, double,`},
		{name: "wide decimal value does not fit", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"w", "decimal(38,2)"}}, Keys: []string{"id"}}, data: `{"schema":{"type":"struct","fields":[{"type":"struct","field":"after","fields":[{"type":"int32","field":"id"},{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"50"},"field":"w"}]}]},"payload":` + pgLine("c", "null", `{"id":1,"w":"AQAAAAAAAAAAAAAAAAAAAAAA"}`, 100) + "}\n", line: 1, column: "w", reason: `"AQAAAAAAAAAAAAAAAAAAAAAA" (871122859317602466466238995025326621327.36): more digits than the precision allows for decimal(38,2)`},
		{name: "wide decimal value loses digits", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"w", "decimal(38,1)"}}, Keys: []string{"id"}}, data: `{"schema":{"type":"struct","fields":[{"type":"struct","field":"after","fields":[{"type":"int32","field":"id"},{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"50"},"field":"w"}]}]},"payload":` + pgLine("c", "null", `{"id":1,"w":"BNI="}`, 100) + "}\n", line: 1, column: "w", reason: `"BNI=" (12.34): more fraction digits than the scale allows for decimal(38,1)`},
		{name: "wrapper string gets number", opts: base, data: wrapped(`{"type":"string","field":"v"}`) + "\n", line: 1, column: "v", reason: "want a string"},
		{name: "field not in wrapper", opts: base, data: `{"schema":{"type":"struct","fields":[{"type":"struct","field":"after","fields":[{"type":"int32","field":"id"}]}]},"payload":` + pgLine("c", "null", `{"id":1,"w":2}`, 100) + "}\n", line: 1, column: "w", reason: "not described"},
		{name: "nanos below a microsecond", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"ts", "timestamp"}}, Encodings: map[string]string{"ts": "io.debezium.time.NanoTimestamp"}}, data: pgLine("c", "null", `{"id":1,"ts":1559729468470123400}`, 100) + "\n", line: 1, column: "ts", reason: "below a microsecond"},
		{name: "zoned below a microsecond", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"ts", "timestamp"}}}, data: pgLine("c", "null", `{"id":1,"ts":"2019-06-05T10:11:08.4701234Z"}`, 100) + "\n", line: 1, column: "ts", reason: "below a microsecond"},
		{name: "bad date", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"d", "date"}}}, data: pgLine("c", "null", `{"id":1,"d":"2024-02-30"}`, 100) + "\n", line: 1, column: "d", reason: "not a date"},
		{name: "bad timestamp", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"ts", "timestamp"}}}, data: pgLine("c", "null", `{"id":1,"ts":"yesterday"}`, 100) + "\n", line: 1, column: "ts", reason: "ISO-8601"},
		{name: "millis overflow", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"ts", "timestamp"}}, Encodings: map[string]string{"ts": "io.debezium.time.Timestamp"}}, data: pgLine("c", "null", `{"id":1,"ts":9223372036854775807}`, 100) + "\n", line: 1, column: "ts", reason: "out of range"},
		{name: "bad boolean", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"b", "boolean"}}}, data: pgLine("c", "null", `{"id":1,"b":"yes"}`, 100) + "\n", line: 1, column: "b", reason: "want a boolean"},
		{name: "bad float", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"f", "double"}}}, data: pgLine("c", "null", `{"id":1,"f":"1.5"}`, 100) + "\n", line: 1, column: "f", reason: "not a floating-point"},
		{name: "float overflow", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"f", "float"}}}, data: pgLine("c", "null", `{"id":1,"f":1e300}`, 100) + "\n", line: 1, column: "f", reason: "not a floating-point"},
		{name: "bad binary", opts: testOptions{Columns: [][2]string{{"id", "int"}, {"b", "binary"}}}, data: pgLine("c", "null", `{"id":1,"b":"AQ"}`, 100) + "\n", line: 1, column: "b", reason: "base64"},
		{name: "bad variable scale decimal", opts: testOptions{Columns: tcols, Encodings: map[string]string{"amt": "io.debezium.data.VariableScaleDecimal"}}, data: pgLine("c", "null", `{"id":1,"amt":{"scale":3,"value":"BNI="}}`, 100) + "\n", line: 1, column: "amt", reason: "fraction digits"},
		{name: "tombstone with no position", opts: testOptions{Columns: tcols, Keys: []string{"id"}, Tombstones: "delete"}, data: "null\n", keys: `{"id":1}` + "\n", line: 1, reason: "tombstone has no change with a source position"},
		{name: "bad key line", opts: testOptions{Columns: tcols, Keys: []string{"id"}, Tombstones: "delete"}, data: ok1 + "\nnull\n", keys: `{"id":1}` + "\n{\"id\":\n", file: keysKey, line: 2, reason: "bad JSON"},
		{name: "null key in keys file", opts: testOptions{Columns: tcols, Keys: []string{"id"}, Tombstones: "delete"}, data: ok1 + "\nnull\n", keys: `{"id":1}` + "\n{\"id\":null}\n", file: keysKey, line: 2, column: "id", reason: "key column is null"},
		{name: "key not an object", opts: testOptions{Columns: tcols, Keys: []string{"id"}, Tombstones: "delete"}, data: ok1 + "\nnull\n", keys: `{"id":1}` + "\n5\n", file: keysKey, line: 2, reason: "not an object"},
		{name: "gzip corrupt", opts: base, data: "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xffgarbage", line: 0, reason: "gzip"},
		{name: "keys file line count", opts: testOptions{Columns: tcols, Keys: []string{"id"}, Tombstones: "delete"}, data: ok1 + "\nnull\n", keys: `{"id":1}` + "\n", file: keysKey, line: 2, reason: "keys file has 1 lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := input{key: decKey, data: []byte(tc.data)}
			if tc.keys != "" {
				in.keys = []byte(tc.keys)
			}
			_, err := decodeAll(t, mem, in, tc.opts.options(t))
			file := tc.file
			if file == "" {
				file = decKey
			}
			decodetest.Malformed(t, err, file, tc.line, tc.column, tc.reason)
		})
	}
}

// TestRowsBeforeError checks that the rows of the lines before a bad line
// come out before the error, which then sticks.
func TestRowsBeforeError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	data := pgLine("c", "null", `{"id":1}`, 100) + "\n" + pgLine("c", "null", `{"id":2}`, 110) + "\n" + pgLine("c", "null", `{"id":3}`, 120) + "\n{oops\n"
	name, _ := ParseName(decKey)
	opts := testOptions{Columns: tcols, Keys: []string{"id"}, BatchRows: 2}.options(t)
	dec, err := NewDecoder(strings.NewReader(data), File{Name: name}, opts, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var rows int64
	var last error
	for {
		rec, err := dec.Next()
		if err != nil {
			last = err
			break
		}
		rows += rec.NumRows()
		rec.Release()
	}
	var me *change.MalformedError
	if rows != 3 || !errors.As(last, &me) || me.Line != 4 {
		t.Fatalf("%d rows then %v; want 3 rows then an error at line 4", rows, last)
	}
	if _, err := dec.Next(); err != last {
		t.Errorf("second Next after the error: %v, want %v", err, last)
	}
}

func TestOptionErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	name, _ := ParseName(decKey)
	keysName, _ := ParseName(keysKey)
	i32 := arrow.PrimitiveTypes.Int32
	for _, tc := range []struct {
		name   string
		file   File
		opts   Options
		reason string
	}{
		{"duplicate column", File{Name: name}, Options{Columns: []change.Column{{Name: "a", Type: i32}, {Name: "a", Type: i32}}}, "twice"},
		{"system column", File{Name: name}, Options{Columns: []change.Column{{Name: "_op", Type: i32}}}, "adds itself"},
		{"unsupported type", File{Name: name}, Options{Columns: []change.Column{{Name: "a", Type: arrow.PrimitiveTypes.Uint8}}}, "not one of"},
		{"no type", File{Name: name}, Options{Columns: []change.Column{{Name: "a"}}}, "no type"},
		{"tombstones value", File{Name: name}, Options{Tombstones: "drop"}, "debezium.tombstones: \"drop\" is not skip or delete"},
		{"tombstones without keys file", File{Name: name}, Options{Tombstones: "delete", Keys: []string{"a"}}, "keys file"},
		{"tombstones without keys", File{Name: name, Keys: strings.NewReader("")}, Options{Tombstones: "delete"}, "debezium.tombstones: delete needs primary_key"},
		{"encoding of unknown column", File{Name: name}, Options{Encodings: map[string]string{"a": "string"}}, "debezium.encodings names column \"a\", which is not in columns"},
		{"wide decimals value", File{Name: name}, Options{WideDecimals: "round"}, "debezium.wide_decimals: \"round\" is not error or string"},
		{"encoding unknown", File{Name: name}, Options{Columns: []change.Column{{Name: "a", Type: i32}}, Encodings: map[string]string{"a": "io.debezium.time.Fancy"}}, "not a Connect type"},
		{"encoding mismatch", File{Name: name}, Options{Columns: []change.Column{{Name: "a", Type: i32}}, Encodings: map[string]string{"a": "io.debezium.time.MicroTimestamp"}}, "cannot be read into a int column"},
		{"duplicate key", File{Name: name}, Options{Keys: []string{"a", "a"}}, "twice"},
		{"keys file as values", File{Name: keysName}, Options{}, "not a values file"},
		{"zero name", File{}, Options{}, "ParseName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := NewDecoder(strings.NewReader(""), tc.file, tc.opts, mem)
			if err == nil {
				dec.Close()
				t.Fatal("no error")
			}
			if errors.Is(err, change.ErrMalformed) {
				t.Errorf("option error %v matches ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not contain %q", err, tc.reason)
			}
		})
	}
}

// TestBlankTail checks that blank lines at the end of a values or keys
// file are no records, and that a blank line before a record is an error.
func TestBlankTail(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	lines := pgLine("c", "null", `{"id":1,"v":"a"}`, 100) + "\n" + pgLine("d", `{"id":1}`, "null", 110)
	keys := `{"id":1}` + "\n" + `{"id":1}`
	opts := testOptions{Columns: tcols, Keys: []string{"id"}}.options(t)
	want, err := decodeAll(t, mem, input{key: decKey, data: []byte(lines + "\n"), keys: []byte(keys + "\n")}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tail := range []string{"", "\n", "\n\n", "\n \n\t\n", "\n\r\n", "\n  "} {
		for _, keysTail := range []string{"\n", "\n\n \n"} {
			got, err := decodeAll(t, mem, input{key: decKey, data: []byte(lines + tail), keys: []byte(keys + keysTail)}, opts)
			if err != nil {
				t.Errorf("values ending %q, keys ending %q: %v", tail, keysTail, err)
				continue
			}
			if got != want {
				t.Errorf("values ending %q, keys ending %q:\n%s\nwant\n%s", tail, keysTail, got, want)
			}
		}
	}
	for _, data := range []string{"", "\n", " \n\n"} {
		got, err := decodeAll(t, mem, input{key: decKey, data: []byte(data)}, opts)
		if err != nil || !strings.Contains(got, "stats: lines=0 ") {
			t.Errorf("blank file %q: %v\n%s", data, err, got)
		}
	}
}
