//go:build duckdb_arrow && cgo

package transform

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/change"
)

// TestCompileErrors: every problem of a definition is reported at once,
// each with the index of its expression, in the words a job file's author
// reads (DuckDB's own for binding errors).
func TestCompileErrors(t *testing.T) {
	e := openEngine(t, Options{})
	for _, c := range []struct {
		name string
		def  Definition
		want Errors
	}{{
		name: "row-level only",
		def: Definition{Select: []string{
			"id",
			"sum(amount) AS total",
			"row_number() OVER (ORDER BY id) AS rn",
			"(SELECT max(id) FROM range(3)) AS m",
			"id IN (SELECT 1) AS sub",
			"*",
			"COLUMNS('a.*')",
			"$1 AS p",
			"read_csv('x') AS t",
			"count(*) FILTER (WHERE vip) AS c",
			"amount FROM other",
			"DISTINCT name",
			"id, name",
		}},
		want: Errors{
			{1, "aggregate function sum is not row-level: a curated column is computed from its own row alone"},
			{2, "window functions (OVER) are not row-level: a curated column is computed from its own row alone"},
			{3, "subqueries are not row-level: a curated column is computed from its own row alone"},
			{4, "subqueries are not row-level: a curated column is computed from its own row alone"},
			{5, "* and COLUMNS(...) are not allowed: name each column"},
			{6, "* and COLUMNS(...) are not allowed: name each column"},
			{7, "parameters ($1, ?) are not allowed"},
			{8, "table function read_csv cannot be used in an expression"},
			{9, "aggregate function count_star is not row-level: a curated column is computed from its own row alone"},
			{10, "want one expression, not a query: no FROM, WHERE, GROUP BY, ORDER BY, LIMIT, DISTINCT or WITH"},
			{11, "want one expression, not a query: no FROM, WHERE, GROUP BY, ORDER BY, LIMIT, DISTINCT or WITH"},
			{12, "want one expression, not 2: give each column its own select item"},
		},
	}, {
		name: "names",
		def: Definition{Select: []string{
			"id", "upper(name)", "name AS ID", "email AS _seq", "email AS _pass", "vip AS __lm_x", "_op", "x.id",
			"id AS \"Mixed Case\"",
		}},
		want: Errors{
			{1, "the column needs a name: write upper(name) AS name"},
			{2, "column name ID is also select[0]'s (names are compared ignoring case, as Athena does)"},
			{3, "_seq is a column lakemerge adds itself: name the column otherwise"},
			{4, "_pass is a column lakemerge adds itself: name the column otherwise"},
			{5, "names starting with __lm_ are lakemerge's own: name the column otherwise"},
			{6, "_op is not a column of the base row (lakemerge's system columns cannot be used)"},
			{7, "qualified name x.id: name the column alone"},
		},
	}, {
		name: "binding and types",
		def: Definition{Select: []string{
			"emial",
			"sha256(id) AS h",
			"hash(email) AS hh",
			"CAST(ts AS TIMESTAMP_NS) AS tns",
			"CAST('10:00' AS TIME) AS tm",
			"[id] AS l",
			"gen_random_uuid() AS u",
			"random() AS r",
			"now() AS nw",
			"current_date AS cd",
			"'a' + 1 AS bad",
			"interval 1 day AS i",
			"name AS ok",
		}, Where: "amount"},
		want: Errors{
			{0, `Referenced column "emial" is not a column of the base table. Candidate bindings: "email", "big", "vip"`},
			{1, "No function matches the given name and argument types 'sha256(BIGINT)'. You might need to add explicit type casts. Candidate functions: sha256(VARCHAR) -> VARCHAR sha256(BLOB) -> VARCHAR"},
			{2, "column hh is UBIGINT, which lakemerge cannot store: CAST it to BIGINT or DECIMAL(38,0)"},
			{3, "column tns is TIMESTAMP_NS, which lakemerge cannot store (timestamps are microseconds): CAST it to TIMESTAMP"},
			{4, "column tm is TIME, which lakemerge cannot store: CAST it to one of INTEGER, BIGINT, FLOAT, DOUBLE, DECIMAL(p,s), BOOLEAN, VARCHAR, BLOB, DATE, TIMESTAMP (e.g. CAST(x AS VARCHAR))"},
			{5, "column l is BIGINT[], which lakemerge cannot store: CAST it to one of INTEGER, BIGINT, FLOAT, DOUBLE, DECIMAL(p,s), BOOLEAN, VARCHAR, BLOB, DATE, TIMESTAMP (e.g. CAST(x AS VARCHAR))"},
			{6, "gen_random_uuid() gives another result each time it runs, so a rebuild would not give the same rows: not allowed"},
			{7, "random() gives another result each time it runs, so a rebuild would not give the same rows: not allowed"},
			{8, "now() gives another result each time it runs, so a rebuild would not give the same rows: not allowed"},
			{9, "current_date() gives another result each time it runs, so a rebuild would not give the same rows: not allowed"},
			{10, `Could not choose a best candidate function for the function call "+(STRING_LITERAL, INTEGER_LITERAL)". In order to select one, please add explicit type casts. Candidate functions: +(DATE, INTEGER) -> DATE +(INTEGER, INTEGER) -> INTEGER`},
			{11, "column i is INTERVAL, which lakemerge cannot store: CAST it to one of INTEGER, BIGINT, FLOAT, DOUBLE, DECIMAL(p,s), BOOLEAN, VARCHAR, BLOB, DATE, TIMESTAMP (e.g. CAST(x AS VARCHAR))"},
			{WhereItem, "want a condition (true or false), not DECIMAL(12,2)"},
		},
	}, {
		name: "syntax",
		def:  Definition{Select: []string{"id", "CASE WHEN vip THEN 1", "'unterminated", "id; DROP TABLE x", "id AS", "id; SELECT 2"}, Where: "vip AS x"},
		want: Errors{
			{1, `not valid SQL: syntax error at end of input`},
			{2, `not valid SQL: unterminated quoted string at or near "'unterminated"`},
			{3, "want one expression, not several statements"},
			{4, `not valid SQL: syntax error at end of input`},
			{5, "want one expression, not 2 statements"},
			{WhereItem, "a condition has no name: drop AS x"},
		},
	}, {
		name: "where",
		def:  Definition{Select: []string{"id"}, Where: "amount > 0, vip"},
		want: Errors{{WhereItem, "want one condition, not 2 expressions: join conditions with AND or OR"}},
	}} {
		t.Run(c.name, func(t *testing.T) {
			p, err := e.Compile(context.Background(), baseColumns(t), c.def)
			var got Errors
			if !errors.As(err, &got) {
				if p != nil {
					p.Close()
				}
				t.Fatalf("error %T %v, want Errors", err, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n%v\nwant\n%v", got, c.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	e := openEngine(t, Options{})
	ctx := context.Background()
	p, err := e.Parse(ctx, Definition{
		Select: []string{"id AS key", "name", "coalesce(nick, name) AS display", "list_transform([a], x -> x + b) AS l", "current_date AS d"},
		Where:  "vip AND other > 1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &Parsed{
		Names:   []string{"key", "name", "display", "l", "d"},
		Sources: []string{"id", "name", "", "", ""},
		Refs:    []string{"id", "name", "nick", "a", "b", "vip", "other"},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
	// Parse finds what the text tells, without the columns.
	p, err = e.Parse(ctx, Definition{Select: []string{"sum(x) AS s", "y"}, Where: "z AS w"})
	if want := "select[0]: aggregate function sum is not row-level: a curated column is computed from its own row alone\nwhere: a condition has no name: drop AS w"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	// With problems, the items without are still named.
	if want := (&Parsed{Names: []string{"", "y"}, Sources: []string{"", "y"}, Refs: []string{"y"}}); !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v, want %+v", p, want)
	}
}

// TestCompileCasts: results of types lakemerge stores only after a cast
// are cast in the query, and Columns says the stored type.
func TestCompileCasts(t *testing.T) {
	e := openEngine(t, Options{})
	p, err := e.Compile(context.Background(), baseColumns(t), Definition{Select: []string{
		"CAST(n AS TINYINT) AS a", "CAST(n AS UINTEGER) AS b", "CAST(ts AS TIMESTAMPTZ) AS c",
		"CAST(ts AS TIMESTAMP_MS) AS d", "CAST('{}' AS JSON) AS e", "NULL AS f",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var got []string
	for _, c := range p.Columns() {
		got = append(got, c.Name+" "+change.TypeName(c.Type))
	}
	if want := []string{"a int", "b long", "c timestamp", "d timestamp", "e string", "f int"}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns %q, want %q", got, want)
	}
	if q := p.Query(); !strings.Contains(q, "CAST((CAST(n AS TINYINT)) AS INTEGER) AS c0") || !strings.Contains(q, "AS TIMESTAMP) AS c2") {
		t.Errorf("query %s", q)
	}
}

func TestOpenWithoutFilesOrNetwork(t *testing.T) {
	e := openEngine(t, Options{})
	ctx := context.Background()
	for _, q := range []string{
		"SELECT * FROM read_csv('/etc/hostname')",
		"INSTALL httpfs",
		"SET enable_external_access = true",
		"SET TimeZone = 'Europe/Paris'",
	} {
		if _, err := e.db.ExecContext(ctx, q); err == nil {
			t.Errorf("%s: allowed", q)
		}
	}
	var tz string
	if err := e.db.QueryRowContext(ctx, "SELECT current_setting('TimeZone')").Scan(&tz); err != nil || tz != "UTC" {
		t.Errorf("time zone %q, %v", tz, err)
	}
}
