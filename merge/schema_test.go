package merge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/internal/testkit/arrowtext"
)

// TestSchemaEvolution: a column that appears in a later file's header is
// added to the table (old rows read NULL), a configured type that grows
// (int → long, decimal(10,2) → decimal(12,2)) widens the column, and a type
// change that is not a widening stops the table with a message naming the
// column, leaving table and bookmark as they were.
func TestSchemaEvolution(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cols := []change.Column{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
	}
	run := func(cols []change.Column) error {
		tbl := e.table(wire.IcebergTarget{Table: e.iceberg()})
		tbl.Columns = cols
		tbl.Format = wire.DMSFormat(dmsOpts(cols))
		_, err := tbl.Run(ctx)
		return err
	}
	columnsOf := func() string {
		info, err := e.iceberg().Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, c := range info.Columns {
			s = append(s, c.Name+" "+change.TypeName(c.Type))
		}
		return strings.Join(s, ", ")
	}

	e.write("20240102-000001000.csv", []byte("Op,id,qty,price\nI,1,5,1.50\n"))
	if err := run(cols); err != nil {
		t.Fatal(err)
	}
	if got := columnsOf(); got != "id long, qty int, price decimal(10,2)" {
		t.Fatalf("columns %s", got)
	}

	// A new column in the header; config widened.
	e.write("20240102-000002000.csv", []byte("Op,id,qty,price,note\nI,2,3000000000,12345678.90,hello\n"))
	wide := []change.Column{cols[0], {Name: "qty", Type: arrow.PrimitiveTypes.Int64}, {Name: "price", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}}}
	if err := run(wide); err != nil {
		t.Fatal(err)
	}
	if got := columnsOf(); got != "id long, qty long, price decimal(12,2), note string" {
		t.Fatalf("columns after evolution %s", got)
	}
	tbl, err := e.iceberg().Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := arrowtext.TableByKey(t, tbl, "id", "qty", "price", "note")
	tbl.Release()
	if want := "1|5|1.50|NULL\n2|3000000000|12345678.90|hello\n"; rows != want {
		t.Fatalf("rows:\n%s\nwant:\n%s", rows, want)
	}

	// qty as string is not a widening: the table stops, nothing moves.
	before := e.bookmark()
	e.write("20240102-000003000.csv", []byte("Op,id,qty,price,note\nU,1,lots,1.50,x\n"))
	bad := []change.Column{cols[0], {Name: "qty", Type: arrow.BinaryTypes.String}, wide[2]}
	err = run(bad)
	if err == nil || !strings.Contains(err.Error(), "qty") {
		t.Fatalf("got %v, want an error naming column qty", err)
	}
	if !e.bookmark().Equal(before) || columnsOf() != "id long, qty long, price decimal(12,2), note string" {
		t.Fatal("a refused type change moved the table")
	}
}

func dmsOpts(cols []change.Column) dmscsv.Options {
	return dmscsv.Options{Columns: cols, Header: true, IncludeOpForFullLoad: true}
}
