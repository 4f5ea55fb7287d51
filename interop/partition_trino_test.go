package interop_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/internal/testkit/trino"
)

// TestTrinoPrunesPartitions: partitioned prepared tables (an Iceberg one
// by identity and month, a Delta one by an identity column) read in Trino
// (Athena's engine) equal what was written, and a query filtering on the
// partition column reads fewer rows than the table holds (Trino's query
// statistics, processedRows), while the same query on the base table
// (bucket(N, id): statuses spread over every file) reads them all. The
// second run moves rows between partitions.
func TestTrinoPrunesPartitions(t *testing.T) {
	url := trino.URL(t)
	bin := testenv.Require(t, "LAKEMERGE_BIN", "a lakemerge binary built with -tags duckdb_arrow (scripts/test.sh builds it)")
	dir := t.TempDir()
	wh := filepath.Join(dir, "warehouse")
	catPath := filepath.Join(dir, "catalog.db")
	job := fmt.Sprintf(`raw: file://%s/raw
warehouse: file://%s
catalog: { type: sqlite, path: %s }
defaults: { buckets: 4 }
tables:
  - name: orders
    source: { schema: shop, table: orders }
    target: { database: base, table: orders }
    primary_key: [id]
    columns:
      - { name: id, type: long }
      - { name: status, type: string }
      - { name: amount, type: long }
      - { name: day, type: date }
    dms: { header: true }
    prepared:
      - target: { table: orders_p }
        mode: mirror
        select: [id, status, amount, day]
        partition_by: [status, month(day)]
        sort_by: [amount DESC]
      - target: { table: orders_pd, format: delta }
        mode: mirror
        select: [id, status, amount, day]
        partition_by: [status]
        sort_by: [amount DESC]
`, dir, wh, catPath)
	jobPath := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(jobPath, []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}
	statuses := []string{"OPEN", "PAID", "SHIPPED", "CLOSED"}
	want := map[int]string{} // id → status
	write := func(name string, op string, ids []int, shift int) {
		var b strings.Builder
		b.WriteString("Op,id,status,amount,day\n")
		for _, id := range ids {
			st := statuses[(id+shift)%len(statuses)]
			fmt.Fprintf(&b, "%s,%d,%s,%d,2024-0%d-15\n", op, id, st, id*7%100, 1+(id%3))
			want[id] = st
		}
		p := filepath.Join(dir, "raw", "shop", "orders", "2024", "06", "01", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func() {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), bin, "run", "--config", jobPath).CombinedOutput()
		if err != nil {
			t.Fatalf("lakemerge run: %v\n%s", err, tail(string(out), 4000))
		}
	}
	var ids []int
	for id := 1; id <= 200; id++ {
		ids = append(ids, id)
	}
	write("20240601-000001000.csv", "I", ids, 0)
	run()
	// Every third key moves to the next status: its row leaves its
	// partition.
	var moved []int
	for id := 3; id <= 200; id += 3 {
		moved = append(moved, id)
	}
	write("20240601-000002000.csv", "U", moved, 1)
	run()
	open := 0
	for _, st := range want {
		if st == "OPEN" {
			open++
		}
	}

	schema := fmt.Sprintf("lm_part_%d", time.Now().UnixNano())
	for _, c := range []string{"iceberg_local", "delta_local"} {
		trino.Query(t, url, "CREATE SCHEMA "+c+"."+schema)
	}
	cat := openLocalCatalog(t, catPath, wh)
	defer cat.Close()
	for _, name := range []string{"base.orders", "prepared.orders_p"} {
		db, tb, _ := strings.Cut(name, ".")
		tbl, err := cat.LoadTable(t.Context(), icetable.Identifier{db, tb})
		if err != nil {
			t.Fatal(err)
		}
		trino.Query(t, url, fmt.Sprintf("CALL iceberg_local.system.register_table(schema_name => '%s', table_name => '%s', table_location => '%s', metadata_file_name => '%s')",
			schema, tb, tbl.Location(), filepath.Base(tbl.MetadataLocation())))
	}
	trino.Query(t, url, fmt.Sprintf("CALL delta_local.system.register_table(schema_name => '%s', table_name => 'orders_pd', table_location => 'file://%s')",
		schema, filepath.Join(wh, "prepared.db", "orders_pd")))

	for _, c := range []struct {
		table  string
		prunes bool
	}{
		{"iceberg_local." + schema + ".orders", false},
		{"iceberg_local." + schema + ".orders_p", true},
		{"delta_local." + schema + ".orders_pd", true},
	} {
		all, allRows := queryStats(t, url, "SELECT count(*) FROM "+c.table)
		some, someRows := queryStats(t, url, "SELECT count(*) FROM "+c.table+" WHERE status = 'OPEN'")
		t.Logf("%s: %s rows, %d read; status = 'OPEN': %s rows, %d read", c.table, all, allRows, some, someRows)
		if all != "200" || some != fmt.Sprint(open) {
			t.Errorf("%s: Trino counts %s rows, %s OPEN; want 200, %d", c.table, all, some, open)
		}
		if c.prunes && someRows >= allRows {
			t.Errorf("%s: the query on the partition column read %d rows of %d: no pruning", c.table, someRows, allRows)
		}
		if !c.prunes && someRows < allRows {
			t.Errorf("%s: the base table read %d of %d rows: the test's contrast is gone", c.table, someRows, allRows)
		}
	}
	// The rows themselves.
	res := trino.Query(t, url, "SELECT id, status FROM delta_local."+schema+".orders_pd ORDER BY id")
	res2 := trino.Query(t, url, "SELECT id, status FROM iceberg_local."+schema+".orders_p ORDER BY id")
	for _, r := range [][][]any{res.Rows, res2.Rows} {
		if len(r) != len(want) {
			t.Fatalf("Trino reads %d rows, want %d", len(r), len(want))
		}
		for _, row := range r {
			id, _ := row[0].(json.Number).Int64()
			if want[int(id)] != row[1] {
				t.Fatalf("row %d: status %v, want %s", id, row[1], want[int(id)])
			}
		}
	}
}

// queryStats runs a one-value query and returns the value and the rows
// the query read.
func queryStats(t *testing.T, url, sql string) (string, int64) {
	t.Helper()
	res := trino.Query(t, url, sql)
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		t.Fatalf("trino %q: %d rows, want one value", sql, len(res.Rows))
	}
	return fmt.Sprint(res.Rows[0][0]), res.ProcessedRows
}
