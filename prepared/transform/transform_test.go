//go:build duckdb_arrow && cgo

package transform

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/arrowtext"
)

// openEngine starts an engine for one test and closes it after.
func openEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func mustType(t testing.TB, name string) arrow.DataType {
	t.Helper()
	dt, err := change.ParseType(name)
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

// baseColumns are the columns of the fixture: one of every type lakemerge
// stores.
func baseColumns(t testing.TB) []change.Column {
	var cols []change.Column
	for _, s := range []string{"id long", "n int", "f float", "d double", "amount decimal(12,2)",
		"big decimal(38,10)", "vip boolean", "name string", "email string", "raw binary",
		"born date", "ts timestamp", "iso string"} {
		name, typ, _ := strings.Cut(s, " ")
		cols = append(cols, change.Column{Name: name, Type: mustType(t, typ)})
	}
	return cols
}

// fixtureRow is one change of the fixture; nil fields are NULL.
type fixtureRow struct {
	op          change.Op
	id          int64
	n           *int32
	f           *float32
	d           *float64
	amount, big string // decimal text; "" for NULL
	vip         *bool
	name, email *string
	raw         []byte // nil for NULL
	born, ts    string // "" for NULL
	iso         *string
}

func ptr[T any](v T) *T { return &v }

var fixture = []fixtureRow{
	{op: change.OpInsert, id: 1, n: ptr[int32](7), f: ptr[float32](1.5), d: ptr(2.5), amount: "10.10",
		big: "12345678901234567890.0123456789", vip: ptr(true), name: ptr("Zoë"), email: ptr("Zoe@Example.COM"),
		raw: []byte{0xde, 0xad, 0xbe, 0xef}, born: "1990-02-28", ts: "2024-03-31 23:59:59.123456",
		iso: ptr("2024-05-01T10:00:00+02:00")},
	{op: change.OpUpdate, id: 2, n: ptr[int32](-7), d: ptr(-0.5), amount: "-0.01", big: "-1.0000000001",
		vip: ptr(false), name: ptr("日本語"), email: ptr(" jp@Example.jp "), raw: []byte{}, born: "2000-01-01",
		ts: "1970-01-01 00:00:00.000001", iso: ptr("2024-01-01")},
	{op: change.OpUpdate, id: 3},
	{op: change.OpDelete, id: 4, n: ptr[int32](0), amount: "0.00", big: "0", name: ptr(""), email: ptr("a@b"),
		raw: []byte{0}, born: "2024-02-29", ts: "2024-02-29 12:00:00", iso: ptr("2024-02-29T12:00:00Z")},
	{op: change.OpInsert, id: 5, n: ptr[int32](2147483647), f: ptr[float32](0.25), d: ptr(123.25),
		amount: "9999999999.99", big: "999999999999999999999999999.9999999999", vip: ptr(true),
		name: ptr("😀 emoji"), email: ptr("X@Y.Z"), raw: []byte{1, 2}, born: "1969-12-31",
		ts: "1969-12-31 23:59:59.999999", iso: ptr("1969-12-31T23:59:59.999999Z")},
}

const (
	dateLayout = "2006-01-02"
	tsLayout   = "2006-01-02 15:04:05.000000"
)

func parseTime(t testing.TB, layout, s string) time.Time {
	t.Helper()
	if layout == tsLayout {
		layout = "2006-01-02 15:04:05.999999" // fractions optional
	}
	v, err := time.Parse(layout, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// buildFixture builds the fixture as a change batch: the base columns,
// then _op and _seq.
func buildFixture(t testing.TB, mem memory.Allocator, rows []fixtureRow) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, change.Schema(baseColumns(t)))
	defer b.Release()
	for i, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		appendOpt(b.Field(1).(*array.Int32Builder), r.n)
		appendOpt(b.Field(2).(*array.Float32Builder), r.f)
		appendOpt(b.Field(3).(*array.Float64Builder), r.d)
		for j, s := range []string{r.amount, r.big} {
			db := b.Field(4 + j).(*array.Decimal128Builder)
			if s == "" {
				db.AppendNull()
				continue
			}
			dt := db.Type().(*arrow.Decimal128Type)
			v, err := decimal128.FromString(s, dt.Precision, dt.Scale)
			if err != nil {
				t.Fatal(err)
			}
			db.Append(v)
		}
		appendOpt(b.Field(6).(*array.BooleanBuilder), r.vip)
		appendOpt(b.Field(7).(*array.StringBuilder), r.name)
		appendOpt(b.Field(8).(*array.StringBuilder), r.email)
		if r.raw == nil {
			b.Field(9).AppendNull()
		} else {
			b.Field(9).(*array.BinaryBuilder).Append(r.raw)
		}
		if r.born == "" {
			b.Field(10).AppendNull()
		} else {
			b.Field(10).(*array.Date32Builder).Append(arrow.Date32FromTime(parseTime(t, dateLayout, r.born)))
		}
		if r.ts == "" {
			b.Field(11).AppendNull()
		} else {
			b.Field(11).(*array.TimestampBuilder).Append(arrow.Timestamp(parseTime(t, tsLayout, r.ts).UnixMicro()))
		}
		appendOpt(b.Field(12).(*array.StringBuilder), r.iso)
		b.Field(13).(*array.Int8Builder).Append(int8(r.op))
		var sb change.SeqBuilder
		b.Field(14).(*array.BinaryBuilder).Append(sb.Uint64(uint64(i)).Bytes())
	}
	return b.NewRecordBatch()
}

func appendOpt[T any, B interface {
	Append(T)
	AppendNull()
}](b B, v *T) {
	if v == nil {
		b.AppendNull()
	} else {
		b.Append(*v)
	}
}

// render writes row i of a as text: as arrowtext.Value does, but strings
// bare and binary in hex without 0x (as the reference and Trino write
// them).
func render(a arrow.Array, i int) string {
	if !a.IsNull(i) {
		switch a := a.(type) {
		case *array.String:
			return a.Value(i)
		case *array.Binary:
			return hex.EncodeToString(a.Value(i))
		}
	}
	return arrowtext.Value(a, i)
}

// expected computes a column's expected values from the fixture with plain
// Go: the reference the engine's results are compared with. A nil result
// for a row means NULL.
type expected func(r fixtureRow) *string

func strp(s string) *string { return &s }

// ofString applies f to a string field, NULL in, NULL out.
func ofString(field func(fixtureRow) *string, f func(string) string) expected {
	return func(r fixtureRow) *string {
		if v := field(r); v != nil {
			return strp(f(*v))
		}
		return nil
	}
}

func ofDate(t testing.TB, field func(fixtureRow) string, layout string, f func(time.Time) string) expected {
	return func(r fixtureRow) *string {
		if v := field(r); v != "" {
			return strp(f(parseTime(t, layout, v)))
		}
		return nil
	}
}

// perRow lists the expected text of each fixture row ("NULL" for NULL).
func perRow(vals ...string) expected {
	i := 0
	return func(fixtureRow) *string {
		v := vals[i]
		i++
		if v == "NULL" {
			return nil
		}
		return &v
	}
}

func name(r fixtureRow) *string  { return r.name }
func email(r fixtureRow) *string { return r.email }

// TestTransformExpressions evaluates one expression of each family an
// Athena user writes — projection, rename, CAST, arithmetic, CASE,
// coalesce, string, date and hash functions, the Athena macros — over the
// fixture (NULLs, unicode, exact decimals, microsecond timestamps) and
// compares every value with a plain Go computation or a hand-written
// value.
func TestTransformExpressions(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t, Options{})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	hexOf := func(b []byte) string { return hex.EncodeToString(b) }
	cases := []struct {
		expr, name string
		typ        string // the lakemerge type, "" to leave unchecked
		want       expected
	}{
		{"id", "id", "long", perRow("1", "2", "3", "4", "5")},
		{"name AS full_name", "full_name", "string", ofString(name, func(s string) string { return s })},
		{"CAST(n AS varchar) AS n_text", "n_text", "string", perRow("7", "-7", "NULL", "0", "2147483647")},
		{"CAST(amount AS double) AS amount_d", "amount_d", "double", perRow("10.1", "-0.01", "NULL", "0", "9.99999999999e+09")},
		{"CAST(d AS decimal(10,2)) AS d2", "d2", "decimal(10,2)", perRow("2.50", "-0.50", "NULL", "NULL", "123.25")},
		{"CAST(n % 100 AS smallint) AS n_small", "n_small", "int", perRow("7", "-7", "NULL", "0", "47")},
		{"amount * 3 AS amount3", "amount3", "", perRow("30.30", "-0.03", "NULL", "0.00", "29999999999.97")},
		{"big + 1 AS big1", "big1", "decimal(38,10)", perRow("12345678901234567891.0123456789", "-0.0000000001", "NULL", "1.0000000000", "1000000000000000000000000000.9999999999")},
		{"n / 2 AS half", "half", "int", perRow("3", "-3", "NULL", "0", "1073741823")},
		{"n % 3 AS n_mod", "n_mod", "int", perRow("1", "-1", "NULL", "0", "1")},
		{"f * 2 AS f2", "f2", "float", perRow("3", "NULL", "NULL", "NULL", "0.5")},
		{"d / 4 AS d4", "d4", "double", perRow("0.625", "-0.125", "NULL", "NULL", "30.8125")},
		{"CASE WHEN vip THEN 'gold' WHEN vip IS NULL THEN 'unknown' ELSE 'standard' END AS tier", "tier", "string",
			perRow("gold", "standard", "unknown", "unknown", "gold")},
		{"vip AND amount > 10 AS rich", "rich", "boolean", perRow("true", "false", "NULL", "false", "true")},
		{"coalesce(name, 'anonymous') AS display", "display", "string", perRow("Zoë", "日本語", "anonymous", "", "😀 emoji")},
		{"upper(name) AS upper_name", "upper_name", "string", ofString(name, strings.ToUpper)},
		{"length(name) AS name_len", "name_len", "long", ofString(name, func(s string) string { return strconv.Itoa(len([]rune(s))) })},
		{"substr(name, 2, 2) AS mid", "mid", "string", ofString(name, func(s string) string {
			r := []rune(s)
			return string(r[min(1, len(r)):min(3, len(r))])
		})},
		{"name || '!' AS bang", "bang", "string", ofString(name, func(s string) string { return s + "!" })},
		{"split_part(email, '@', 2) AS domain", "domain", "string", ofString(email, func(s string) string {
			_, d, _ := strings.Cut(s, "@")
			return d
		})},
		{"lower(trim(email)) AS email_norm", "email_norm", "string", ofString(email, func(s string) string { return strings.ToLower(strings.TrimSpace(s)) })},
		{"sha256(email) AS email_sha256", "email_sha256", "string", ofString(email, func(s string) string {
			h := sha256.Sum256([]byte(s))
			return hexOf(h[:])
		})},
		{"md5(email) AS email_md5", "email_md5", "string", ofString(email, func(s string) string {
			h := md5.Sum([]byte(s))
			return hexOf(h[:])
		})},
		{"to_hex(raw) AS raw_hex", "raw_hex", "string", func(r fixtureRow) *string {
			if r.raw == nil {
				return nil
			}
			return strp(strings.ToUpper(hexOf(r.raw)))
		}},
		{"to_utf8(name) AS name_bytes", "name_bytes", "binary", ofString(name, func(s string) string { return hexOf([]byte(s)) })},
		{"date_trunc('month', ts) AS ts_month", "ts_month", "timestamp", ofDate(t, func(r fixtureRow) string { return r.ts }, tsLayout, func(v time.Time) string {
			return time.Date(v.Year(), v.Month(), 1, 0, 0, 0, 0, time.UTC).Format(tsLayout)
		})},
		{"CAST(ts AS date) AS ts_date", "ts_date", "date", ofDate(t, func(r fixtureRow) string { return r.ts }, tsLayout, func(v time.Time) string { return v.Format(dateLayout) })},
		{"ts + INTERVAL 1 DAY AS ts_next", "ts_next", "timestamp", ofDate(t, func(r fixtureRow) string { return r.ts }, tsLayout, func(v time.Time) string { return v.AddDate(0, 0, 1).Format(tsLayout) })},
		{"strftime(ts, '%Y-%m-%d %H:%M:%S.%f') AS ts_text", "ts_text", "string", ofDate(t, func(r fixtureRow) string { return r.ts }, tsLayout, func(v time.Time) string { return v.Format(tsLayout) })},
		{"year(born) AS born_year", "born_year", "long", ofDate(t, func(r fixtureRow) string { return r.born }, dateLayout, func(v time.Time) string { return strconv.Itoa(v.Year()) })},
		{"day_of_week(born) AS born_dow", "born_dow", "long", ofDate(t, func(r fixtureRow) string { return r.born }, dateLayout, func(v time.Time) string {
			return strconv.Itoa((int(v.Weekday())+6)%7 + 1) // ISO: Monday 1 … Sunday 7
		})},
		{"date_diff('day', born, CAST(ts AS DATE)) AS age_days", "age_days", "long", func(r fixtureRow) *string {
			if r.born == "" || r.ts == "" {
				return nil
			}
			b, ts := parseTime(t, dateLayout, r.born), parseTime(t, tsLayout, r.ts)
			ts = time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC)
			return strp(strconv.Itoa(int(ts.Sub(b).Hours() / 24)))
		}},
		{"from_iso8601_timestamp(iso) AS iso_ts", "iso_ts", "timestamp", perRow("2024-05-01 08:00:00.000000", "2024-01-01 00:00:00.000000", "NULL", "2024-02-29 12:00:00.000000", "1969-12-31 23:59:59.999999")},
	}
	def := Definition{Where: "amount > 0 AND name IS NOT NULL"}
	for _, c := range cases {
		def.Select = append(def.Select, c.expr)
	}
	p, err := e.Compile(ctx, baseColumns(t), def)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in := buildFixture(t, mem, fixture)
	defer in.Release()
	out, err := p.Transform(ctx, mem, in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()

	if got, want := int(out.NumCols()), len(cases)+3; got != want {
		t.Fatalf("%d columns, want %d (curated, _op, _seq, _pass):\n%v", got, want, out.Schema())
	}
	for j, c := range cases {
		f := out.Schema().Field(j)
		if f.Name != c.name || p.Columns()[j].Name != c.name {
			t.Errorf("column %d is %s, want %s", j, f.Name, c.name)
		}
		if c.typ != "" && change.TypeName(f.Type) != c.typ {
			t.Errorf("%s: type %s, want %s", c.expr, change.TypeName(f.Type), c.typ)
		}
		for i, r := range fixture {
			want := "NULL"
			if v := c.want(r); v != nil {
				want = *v
			}
			if got := render(out.Column(j), i); got != want {
				t.Errorf("%s, row %d: %q, want %q", c.expr, i, got, want)
			}
		}
	}
	// _op and _seq are the batch's own arrays.
	for k, name := range []string{change.ColOp, change.ColSeq} {
		j := len(cases) + k
		if out.Schema().Field(j).Name != name || out.Column(j) != in.Column(in.Schema().FieldIndices(name)[0]) {
			t.Errorf("column %d is %s, not the batch's %s", j, out.Schema().Field(j).Name, name)
		}
	}
	// where: amount > 0 AND name IS NOT NULL; deletes never pass.
	pass := out.Column(len(cases) + 2).(*array.Boolean)
	if out.Schema().Field(len(cases)+2).Name != ColPass {
		t.Fatalf("last column %s", out.Schema().Field(len(cases)+2).Name)
	}
	for i, want := range []bool{true, false, false, false, true} {
		if pass.IsNull(i) || pass.Value(i) != want {
			t.Errorf("row %d passes: %s, want %v", i, render(pass, i), want)
		}
	}
	if src := p.Sources(); src[0] != "id" || src[1] != "name" || src[2] != "" {
		t.Errorf("sources %q", src[:3])
	}
}
