//go:build duckdb_arrow && cgo

package transform

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/trino"
)

// This file compares the dialect with Athena's engine: each expression is
// evaluated by the engine and by Trino 476 (which scripts/trino.sh starts
// for the tests; Athena engine v3 is built on Trino) over the same rows,
// and the results are compared as text. The cases say which expressions
// give the same results (the macros of AthenaFunctions among them) and
// which differ as the package doc says, so that the doc stays true.

// dialectRows are the rows both engines read, as SQL literals for Trino
// (column order: s, n, ts, d, iso, j).
var dialectRows = [][]string{
	{"'banana'", "7", "TIMESTAMP '2024-03-31 23:59:59.123456'", "DATE '2024-02-29'", "'2024-05-01T10:00:00+02:00'", `'{"a": 1}'`},
	{"'Zoë'", "-7", "TIMESTAMP '1970-01-01 00:00:00.000001'", "DATE '1969-12-31'", "'2024-01-01T00:00:00Z'", `'{"a": "x"}'`},
	{"NULL", "NULL", "NULL", "NULL", "NULL", `'{"a": {"b": 1}}'`},
	{"''", "0", "TIMESTAMP '2021-01-03 12:00:00.000000'", "DATE '2021-01-03'", "'2021-01-03T12:00:00.5-05:00'", `'{"a": null}'`},
}

// dialectBatch is dialectRows as a change batch.
func dialectBatch(t *testing.T, mem memory.Allocator) (arrow.RecordBatch, []change.Column) {
	var cols []change.Column
	for _, c := range [][2]string{{"s", "string"}, {"n", "int"}, {"ts", "timestamp"}, {"d", "date"}, {"iso", "string"}, {"j", "string"}} {
		cols = append(cols, change.Column{Name: c[0], Type: mustType(t, c[1])})
	}
	b := array.NewRecordBuilder(mem, change.Schema(cols))
	defer b.Release()
	for i, row := range dialectRows {
		for j, lit := range row {
			if lit == "NULL" {
				b.Field(j).AppendNull()
				continue
			}
			v := lit[strings.IndexByte(lit, '\'')+1 : len(lit)-1]
			switch fb := b.Field(j).(type) {
			case *array.StringBuilder:
				fb.Append(strings.ReplaceAll(v, "''", "'"))
			case *array.Int32Builder:
				n, err := strconv.Atoi(lit)
				if err != nil {
					t.Fatal(err)
				}
				fb.Append(int32(n))
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(parseTime(t, tsLayout, v).UnixMicro()))
			case *array.Date32Builder:
				fb.Append(arrow.Date32FromTime(parseTime(t, dateLayout, v)))
			}
		}
		b.Field(len(cols)).(*array.Int8Builder).Append(int8(change.OpInsert))
		b.Field(len(cols) + 1).(*array.BinaryBuilder).Append([]byte{byte(i)})
	}
	return b.NewRecordBatch(), cols
}

type dialectCase struct {
	ours, trino string // the expression for each; trino "" means the same text
	same        bool   // whether the results are equal on every row
}

// TestAthenaFunctionsMatchTrino: the macros of AthenaFunctions, and the
// built-in functions both engines share, give Trino's results.
func TestAthenaFunctionsMatchTrino(t *testing.T) {
	cases := []dialectCase{
		{"to_utf8(s)", "", true},
		{"from_utf8(to_utf8(s))", "", true},
		// Stored as the UTC timestamp: Trino's value, converted to UTC.
		{"from_iso8601_timestamp(iso)", "CAST(from_iso8601_timestamp(iso) AT TIME ZONE 'UTC' AS timestamp(6))", true},
		{"from_iso8601_date(substr(iso, 1, 10))", "", true},
		{"from_unixtime(n * 1000000)", "CAST(from_unixtime(n * 1000000) AT TIME ZONE 'UTC' AS timestamp(6))", true},
		{"to_unixtime(ts)", "", true},
		{"regexp_like(s, '^[a-z]+$')", "", true},
		{"day_of_week(d)", "", true},
		{"day_of_year(d)", "", true},
		{"week_of_year(d)", "", true},
		{"year_of_week(d)", "", true},
		{"json_extract_scalar(j, '$.a')", "", true},
		// Built-ins of both.
		{"n / 2", "", true},
		{"n % 3", "", true},
		{"CAST(n AS varchar)", "", true},
		{"date_trunc('month', ts)", "", true},
		{"CAST(ts AS date)", "", true},
		{"year(ts)", "", true},
		{"hour(ts)", "", true},
		{"lower(s)", "", true},
		{"upper(s)", "", true},
		{"length(s)", "", true},
		{"substr(s, 2, 3)", "", true},
		{"strpos(s, 'n')", "", true},
		{"replace(s, 'a', 'o')", "", true},
		{"split_part(iso, 'T', 1)", "", true},
		{"coalesce(s, 'none')", "", true},
		{"s || '!'", "", true},
		{"CASE WHEN n > 0 THEN 'pos' WHEN n < 0 THEN 'neg' ELSE 'zero' END", "", true},
		{"ts + INTERVAL '1' DAY", "", true},
		// Athena's to_hex(sha256(to_utf8(x))) is DuckDB's upper(sha256(x)).
		{"upper(sha256(s))", "to_hex(sha256(to_utf8(s)))", true},
		{"upper(md5(s))", "to_hex(md5(to_utf8(s)))", true},
		// regexp_replace with 'g' replaces every match, as Trino's does.
		{"regexp_replace(s, 'a', 'X', 'g')", "regexp_replace(s, 'a', 'X')", true},
	}
	compareWithTrino(t, cases)
}

// TestDialectDifferences: the differences the package doc lists are
// there (when one goes away, the doc must change).
func TestDialectDifferences(t *testing.T) {
	compareWithTrino(t, []dialectCase{
		{"sha256(s)", "to_hex(sha256(to_utf8(s)))", false},
		{"concat(s, NULL)", "", false},
		{"greatest(n, NULL)", "", false},
		{"regexp_replace(s, 'a', 'X')", "", false},
		{"date_diff('day', ts, TIMESTAMP '2024-04-02 00:00:00')", "date_diff('day', ts, TIMESTAMP '2024-04-02 00:00:00.000000')", false},
		// DuckDB's date_sub counts whole units as Trino's date_diff does,
		// but 1970-01-01 00:00:00.000001 to 2024-04-02 is 19814 days in
		// DuckDB, 19815 in Trino 476.
		{"date_sub('day', ts, TIMESTAMP '2024-04-02 00:00:00')", "date_diff('day', ts, TIMESTAMP '2024-04-02 00:00:00.000000')", false},
		{"date_trunc('month', d)", "", false},
		{"CAST(n AS decimal(10,2)) / CAST(2 AS decimal(10,2))", "", false},
	})
}

func compareWithTrino(t *testing.T, cases []dialectCase) {
	url := trino.URL(t)
	ctx := context.Background()
	e := openEngine(t, Options{})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in, cols := dialectBatch(t, mem)
	defer in.Release()

	// Ours: one program for all cases.
	def := Definition{}
	var trinoSel []string
	for i, c := range cases {
		def.Select = append(def.Select, fmt.Sprintf("%s AS c%d", c.ours, i))
		te := c.trino
		if te == "" {
			te = c.ours
		}
		trinoSel = append(trinoSel, fmt.Sprintf("%s AS c%d", te, i))
	}
	p, err := e.Compile(ctx, cols, def)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out, err := p.Transform(ctx, mem, in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()

	var values []string
	for _, r := range dialectRows {
		values = append(values, "("+strings.Join(r, ", ")+")")
	}
	// ORDER BY keeps the rows in input order (the ts column tells them
	// apart, the NULL row last).
	q := fmt.Sprintf("SELECT %s FROM (VALUES %s) AS t(s, n, ts, d, iso, j) ORDER BY ts NULLS LAST", strings.Join(trinoSel, ", "), strings.Join(values, ", "))
	res := trino.Query(t, url, q)
	order := []int{1, 3, 0, 2} // rows by ts: 1970, 2021, 2024, NULL
	for j, c := range cases {
		var diffs []string
		for k, i := range order {
			ours, theirs := render(out.Column(j), i), trinoText(t, res.Types[j], res.Rows[k][j])
			if ours != theirs {
				diffs = append(diffs, fmt.Sprintf("row %d: ours %q, Trino's %q", i, ours, theirs))
			}
		}
		switch {
		case c.same && len(diffs) > 0:
			t.Errorf("%s (Trino: %s, %s) differs:\n\t%s", c.ours, c.trino, res.Types[j], strings.Join(diffs, "\n\t"))
		case !c.same && len(diffs) == 0:
			t.Errorf("%s gives Trino's results: the package doc says it differs", c.ours)
		}
	}
}

// trinoText renders a value of Trino's client protocol as render does.
func trinoText(t *testing.T, typ string, v any) string {
	if v == nil {
		return "NULL"
	}
	switch {
	case typ == "varbinary":
		b, err := base64.StdEncoding.DecodeString(v.(string))
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(b)
	case typ == "double" || typ == "real":
		f, err := v.(json.Number).Float64()
		if err != nil {
			t.Fatal(err)
		}
		bits := 64
		if typ == "real" {
			bits = 32
		}
		return strconv.FormatFloat(f, 'g', -1, bits)
	}
	return fmt.Sprint(v)
}
