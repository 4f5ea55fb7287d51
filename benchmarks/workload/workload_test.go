package workload_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/benchmarks/workload"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/formats/debezium"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/merge"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

var cols = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "status", Type: arrow.BinaryTypes.String},
	{Name: "amount", Type: &arrow.Decimal128Type{Precision: 12, Scale: 2}},
	{Name: "qty", Type: arrow.PrimitiveTypes.Int32},
	{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
	{Name: "note", Type: arrow.BinaryTypes.String},
}

// mergeWorkload runs the full load, then the changes, into a fresh table
// and returns its rows rendered and sorted.
func mergeWorkload(t *testing.T, format string, spec workload.Spec) string {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw")
	write, prefix := workload.Write, "public/orders/"
	loadDir, cdcDir := filepath.Join(raw, "public", "orders"), filepath.Join(raw, "public", "orders")
	if format == "debezium" {
		write, prefix, loadDir, cdcDir = workload.WriteDebezium, "topics/"+workload.Topic+"/", raw, raw
	}
	store, err := objlocal.New(raw)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := local.Open(filepath.Join(dir, "c.db"), "file://"+filepath.Join(dir, "wh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ice := iceberg.New(cat, iceberg.Options{Database: "b", Name: "orders", Keys: []string{"id"}, Buckets: 4}, mem)
	var f merge.Format = wire.DMSFormat(dmscsv.Options{Columns: cols})
	if format == "debezium" {
		f = wire.DebeziumFormat(debezium.Options{Columns: cols, Keys: []string{"id"}, Encodings: workload.DebeziumEncodings}, store)
	}
	tbl := &merge.Table{Name: "orders", Prefix: prefix, Keys: []string{"id"}, Columns: cols,
		Raw: wire.RawStore{Store: store}, Format: f, Target: wire.IcebergTarget{Table: ice}, Mem: mem}
	// Both stages go to one folder; the first run absorbs the load alone
	// because the changes are written after it.
	spec2 := spec
	if _, err := write(spec2, loadDir, filepath.Join(dir, "stage")); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := write(spec2, filepath.Join(dir, "stage2"), cdcDir); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	at, err := ice.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var rows []string
	tr := array.NewTableReader(at, 4096)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			var cells []string
			for c, fl := range rec.Schema().Fields() {
				if change.IsSystemColumn(fl.Name) {
					continue
				}
				cells = append(cells, rec.Column(c).ValueStr(r))
			}
			rows = append(rows, fmt.Sprintf("%020s|%s", cells[0], strings.Join(cells, "|")))
		}
	}
	slices.Sort(rows)
	return strings.Join(rows, "\n")
}

// TestDMSAndDebeziumFormsGiveSameTable: the two forms of one workload hold
// the same changes, so merging either gives the same table, with the
// number of rows the generator reports.
func TestDMSAndDebeziumFormsGiveSameTable(t *testing.T) {
	spec := workload.Spec{Seed: 4, BaseRows: 3000, Changes: 2000, Inserts: 0.2, Deletes: 0.1, Dist: workload.Zipf, NoteBytes: 12, RowsPerFile: 700}
	dms := mergeWorkload(t, "dms", spec)
	dbz := mergeWorkload(t, "debezium", spec)
	if dms != dbz {
		t.Fatal("the DMS and Debezium forms of one workload merge into different tables")
	}
	res, err := workload.Write(spec, t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(dms, "\n") + 1; n != res.FinalRows {
		t.Fatalf("table has %d rows, the generator says %d", n, res.FinalRows)
	}
}
