package interop_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/internal/testkit/arrowtext"
	"github.com/lakemerge/lakemerge/merge"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/table/delta"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// TestWideningAcrossRuns: every widening lakemerge accepts — int → long and
// decimal precision up on the primary key, int → long, float → double and
// decimal precision up on other columns — in a run between runs that
// insert, update and delete, in both formats. Runs after the widening update keys whose stored rows were
// written with the narrow types (Iceberg: data files and manifest bounds of
// 4 bytes for a long column, which readers must promote; issue 19). After
// every run the table holds exactly the expected rows.
func TestWideningAcrossRuns(t *testing.T) {
	for _, key := range []struct {
		name         string
		narrow, wide arrow.DataType
	}{
		{"int key", arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64},
		{"decimal key", &arrow.Decimal128Type{Precision: 9, Scale: 0}, &arrow.Decimal128Type{Precision: 18, Scale: 0}},
	} {
		t.Run(key.name, func(t *testing.T) { testWidening(t, key.narrow, key.wide) })
	}
}

// testWidening runs the widening scenario with a key column of type
// narrow, widened to wide (float keys do not exist: change.KeyEncoder
// refuses them).
func testWidening(t *testing.T, narrowKey, wideKey arrow.DataType) {
	narrow := []change.Column{
		{Name: "id", Type: narrowKey},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float32},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
	}
	wide := []change.Column{
		{Name: "id", Type: wideKey},
		{Name: "qty", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float64},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 14, Scale: 2}},
	}
	steps := []struct {
		file string
		cols []change.Column
		csv  string
		want string // id|qty|ratio|price, by id
	}{
		{"LOAD00000001.csv", narrow, "I,1,10,0.5,1.50\nI,2,20,1.25,-2.25\nI,3,30,2.5,3.00\nI,4,-2147483648,-0.75,99999999.99\nI,5,2147483647,0,-99999999.99\n",
			"1|10|0.5|1.50\n2|20|1.25|-2.25\n3|30|2.5|3.00\n4|-2147483648|-0.75|99999999.99\n5|2147483647|0|-99999999.99\n"},
		{"20240102-000001000.csv", narrow, "U,2,21,1.5,2.25\nD,3,,,\nI,6,60,6.5,6.00\n",
			"1|10|0.5|1.50\n2|21|1.5|2.25\n4|-2147483648|-0.75|99999999.99\n5|2147483647|0|-99999999.99\n6|60|6.5|6.00\n"},
		// The widening run: stored narrow rows are updated and deleted,
		// wide values inserted.
		{"20240102-000002000.csv", wide, "U,1,3000000000,1e+300,123456789012.34\nD,4,,,\nI,5000000000,-9000000000000000000,-2.5e-300,-0.01\nU,6,61,6.25,6.01\n",
			"1|3000000000|1e+300|123456789012.34\n2|21|1.5|2.25\n5|2147483647|0|-99999999.99\n6|61|6.25|6.01\n5000000000|-9000000000000000000|-2.5e-300|-0.01\n"},
		// After it: a narrow-era row, a wide-era row, a re-insert.
		{"20240102-000003000.csv", wide, "U,2,22,2,2.00\nU,5000000000,1,1,1.00\nI,3,33,3.5,3.33\nU,5,5,5,5.00\n",
			"1|3000000000|1e+300|123456789012.34\n2|22|2|2.00\n3|33|3.5|3.33\n5|5|5|5.00\n6|61|6.25|6.01\n5000000000|1|1|1.00\n"},
	}
	for _, format := range []string{"iceberg", "delta"} {
		t.Run(format, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			raw, err := objlocal.New(filepath.Join(dir, "raw"))
			if err != nil {
				t.Fatal(err)
			}
			var target merge.Target
			var read func() (arrow.Table, error)
			switch format {
			case "iceberg":
				cat := openLocalCatalog(t, filepath.Join(dir, "catalog.db"), filepath.Join(dir, "warehouse"))
				defer cat.Close()
				tb := iceberg.New(cat, iceberg.Options{Database: "shop", Name: "widen", Keys: []string{"id"}, Buckets: 4}, mem)
				target, read = wire.IcebergTarget{Table: tb}, func() (arrow.Table, error) { return tb.Read(ctx) }
			case "delta":
				wh, err := objlocal.New(filepath.Join(dir, "delta"))
				if err != nil {
					t.Fatal(err)
				}
				tb := delta.New(wh, "shop.db/widen", delta.Options{Name: "shop.widen", Keys: []string{"id"}, CheckpointInterval: 3}, mem)
				target, read = wire.DeltaTarget{Table: tb}, func() (arrow.Table, error) { return tb.Read(ctx) }
			}
			const prefix = "public/widen/"
			for _, s := range steps {
				if err := raw.Put(ctx, prefix+s.file, strings.NewReader("Op,id,qty,ratio,price\n"+s.csv)); err != nil {
					t.Fatal(err)
				}
				tbl := &merge.Table{Name: "widen", Prefix: prefix, Keys: []string{"id"}, Columns: s.cols,
					Raw: wire.RawStore{Store: raw}, Target: target, Mem: mem,
					Format: wire.DMSFormat(dmscsv.Options{Columns: s.cols, Header: true, IncludeOpForFullLoad: true})}
				if _, err := tbl.Run(ctx); err != nil {
					t.Fatalf("run of %s: %v", s.file, err)
				}
				at, err := read()
				if err != nil {
					t.Fatalf("read after %s: %v", s.file, err)
				}
				got := arrowtext.TableByKey(t, at, "id", "qty", "ratio", "price")
				at.Release()
				if got != s.want {
					t.Fatalf("after %s:\n%s\nwant:\n%s", s.file, got, s.want)
				}
			}
		})
	}
}
