package interop_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// TestTrinoPrunesPartitions: partitioned prepared tables (an Iceberg one
// by identity and month, a Delta one by an identity column) read in Trino
// (Athena's engine) equal what was written, and a query filtering on the
// partition column reads fewer rows than the table holds (Trino's query
// statistics, processedRows), while the same query on the base table
// (bucket(N, id): statuses spread over every file) reads them all. The
// second run moves rows between partitions.
func TestTrinoPrunesPartitions(t *testing.T) {
	url := trinoURL(t)
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
		query(t, url, "CREATE SCHEMA "+c+"."+schema)
	}
	cat := openLocalCatalog(t, catPath, wh)
	defer cat.Close()
	for _, name := range []string{"base.orders", "prepared.orders_p"} {
		db, tb, _ := strings.Cut(name, ".")
		tbl, err := cat.LoadTable(t.Context(), icetable.Identifier{db, tb})
		if err != nil {
			t.Fatal(err)
		}
		query(t, url, fmt.Sprintf("CALL iceberg_local.system.register_table(schema_name => '%s', table_name => '%s', table_location => '%s', metadata_file_name => '%s')",
			schema, tb, tbl.Location(), filepath.Base(tbl.MetadataLocation())))
	}
	query(t, url, fmt.Sprintf("CALL delta_local.system.register_table(schema_name => '%s', table_name => 'orders_pd', table_location => 'file://%s')",
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
	res := query(t, url, "SELECT id, status FROM delta_local."+schema+".orders_pd ORDER BY id")
	res2 := query(t, url, "SELECT id, status FROM iceberg_local."+schema+".orders_p ORDER BY id")
	for _, r := range [][][]any{res.rows, res2.rows} {
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

// queryStats runs a one-value query through Trino's client protocol and
// returns the value and the rows the query read (stats.processedRows of
// its last page).
func queryStats(t *testing.T, url, sql string) (string, int64) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/statement", strings.NewReader(sql))
	var value string
	var processed int64
	for req != nil {
		req.Header.Set("X-Trino-User", "lakemerge")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("trino %q: %v", sql, err)
		}
		var page struct {
			NextURI string  `json:"nextUri"`
			Data    [][]any `json:"data"`
			Stats   struct {
				State         string `json:"state"`
				ProcessedRows int64  `json:"processedRows"`
			} `json:"stats"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		err = dec.Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("trino %q: %v", sql, err)
		}
		if page.Error != nil {
			t.Fatalf("trino %q: %s", sql, page.Error.Message)
		}
		if len(page.Data) > 0 {
			value = fmt.Sprint(page.Data[0][0])
		}
		processed = page.Stats.ProcessedRows
		req = nil
		if page.NextURI != "" {
			req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, page.NextURI, nil)
		}
	}
	return value, processed
}
