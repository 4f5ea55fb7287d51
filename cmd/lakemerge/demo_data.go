package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lakemerge/lakemerge/prepared/transform"
)

// demoJob is the job file the demo writes; %[1]s is the demo folder, %[2]s
// and %[3]s the prepared tables of customers and shipments
// (demoPreparedCustomers, demoPreparedShipments), or nothing in a binary
// without the SQL engine.
const demoJob = `# Written by "lakemerge demo". Run it again with:
#   lakemerge run --config %[1]s/job.yaml
raw: file://%[1]s/raw
warehouse: file://%[1]s/warehouse
catalog:
  type: sqlite
  path: %[1]s/catalog.db
defaults:
  buckets: 4
  prepared: { database: demo_prepared }
tables:
  # DMS with AddColumnName=true, IncludeOpForFullLoad=true, a timestamp
  # column and an AR_H_CHANGE_SEQ transformation column.
  - name: customers
    source: { schema: public, table: customers }
    primary_key: [customer_id]
    columns:
      - { name: customer_id, type: long }
      - { name: name, type: string }
      - { name: email, type: string }
      - { name: balance, type: "decimal(12,2)" }
      - { name: vip, type: boolean }
      - { name: signed_up, type: date }
      - { name: change_seq, type: string }
    target: { database: demo, table: customers }
    dms: { header: true, include_op_for_full_load: true, timestamp_column: dms_ts, change_seq_column: change_seq }
%[2]s  # DMS with default settings: no header, full-load rows without Op.
  - name: orders
    source: { schema: public, table: orders }
    primary_key: [order_id]
    columns:
      - { name: order_id, type: int }
      - { name: customer_id, type: long }
      - { name: status, type: string }
      - { name: total, type: "decimal(10,2)" }
      - { name: note, type: string }
    target: { database: demo, table: orders }
    dms: { header: false }
  # Debezium (MySQL connector) events, written by the Kafka Connect S3 sink
  # to two partitions; ordered by binlog position across them.
  - name: shipments
    source: { schema: shop, table: shipments, topic: my.shop.shipments }
    format: debezium-json
    primary_key: [shipment_id]
    columns:
      - { name: shipment_id, type: long }
      - { name: order_id, type: int }
      - { name: carrier, type: string }
      - { name: weight_kg, type: "decimal(8,3)" }
      - { name: shipped_at, type: timestamp }
    target: { database: demo, table: shipments }
    debezium:
      encodings: { weight_kg: string, shipped_at: io.debezium.time.Timestamp }
%[3]s`

const demoPreparedCustomers = `    # A prepared table for analysts: VIP customers only, the e-mail address
    # masked, the balance as a double, the sign-up year derived.
    prepared:
      - target: { table: vip_customers }
        mode: mirror
        select:
          - customer_id
          - name
          - sha256(lower(email)) AS email_sha256
          - CAST(balance AS double) AS balance
          - signed_up
          - year(signed_up) AS signup_year
        where: vip
      # Every version of each customer (SCD type 2): valid_from and
      # valid_to are the changes' commit times (dms_ts), a delete is a D row.
      - target: { table: customers_history }
        mode: history
        select: [customer_id, name, sha256(lower(email)) AS email_sha256, balance, vip]
`

const demoPreparedShipments = `    # A Delta prepared table of the weighed shipments, with the day shipped.
    prepared:
      - target: { table: weighed_shipments, format: delta }
        mode: mirror
        select: [shipment_id, order_id, upper(carrier) AS carrier, weight_kg, CAST(shipped_at AS date) AS shipped_on]
        where: weight_kg IS NOT NULL
`

// demoFiles are realistic DMS outputs: full loads, CDC files with inserts,
// updates, deletes (key-only, as PostgreSQL writes them), quoted values with
// commas, quotes and newlines, and a gzip-compressed CDC file. The demo
// runs three times (run: 0 the full loads, 1 the first day's changes, 2
// the second day's), so that its history table has versions to show.
var demoFiles = []struct {
	path string
	body string
	gzip bool
	run  int
}{
	{"public/customers/LOAD00000001.csv", `Op,dms_ts,customer_id,name,email,balance,vip,signed_up,change_seq
I,2024-05-28 19:40:00.000000,1,Ada Lovelace,ada@example.com,120.50,true,2021-03-01,
I,2024-05-28 19:40:00.000000,2,"Grace ""Amazing"" Hopper",grace@example.com,99.99,false,2022-07-15,
I,2024-05-28 19:40:00.000000,3,"Lovelace, Byron",byron@example.com,0.00,false,2023-01-09,
`, false, 0},
	{"public/customers/LOAD00000002.csv", `Op,dms_ts,customer_id,name,email,balance,vip,signed_up,change_seq
I,2024-05-28 19:40:00.000000,4,Alan Turing,alan@example.com,1500.00,true,2020-11-30,
I,2024-05-28 19:40:00.000000,5,Edsger Dijkstra,,42.00,false,2021-08-08,
`, false, 0},
	{"public/customers/2024/05/28/20240528-195141380.csv", `Op,dms_ts,customer_id,name,email,balance,vip,signed_up,change_seq
U,2024-05-28 19:51:41.388146,1,Ada Lovelace,ada@analytical.engine,130.50,true,2021-03-01,20240528195141380000000000000000061
I,2024-05-28 20:21:48.298940,6,Barbara Liskov,barbara@example.com,10.00,false,2024-05-28,20240528202148290000000000000000133
U,2024-05-28 20:21:48.298940,6,Barbara Liskov,barbara@example.com,15.00,true,2024-05-28,20240528202148290000000000000000137
D,2024-05-28 20:21:48.298940,3,,,,,,20240528202148290000000000000000141
`, false, 1},
	{"public/customers/2024/05/29/20240529-081502114.csv.gz", `Op,dms_ts,customer_id,name,email,balance,vip,signed_up,change_seq
U,2024-05-29 08:15:02.101000,5,Edsger Dijkstra,ewd@example.com,42.00,false,2021-08-08,20240529081502100000000000000000200
U,2024-05-29 08:15:02.105000,2,"Grace ""Amazing"" Hopper","grace@navy.mil",250.00,true,2022-07-15,20240529081502100000000000000000201
D,2024-05-29 08:15:02.109000,4,,,,,,20240529081502100000000000000000202
I,2024-05-29 08:15:02.111000,4,Alan Turing,alan@bletchley.uk,1500.00,true,2020-11-30,20240529081502100000000000000000203
`, true, 2},
	{"public/orders/LOAD00000001.csv", `1001,1,shipped,32.38,"says ""hi"", twice"
1002,2,open,11.61,"line one
line two"
1003,4,open,250.00,
`, false, 0},
	{"public/orders/20240528-195141380.csv", `U,1002,2,shipped,11.61,"line one
line two"
I,1004,6,open,75.10,first order
D,1003,,,,
`, false, 1},
	{"public/orders/20240529-081502114.csv", `U,1004,6,cancelled,75.10,customer changed their mind
I,1005,1,open,9.99,
`, false, 2},
}

// dbzSource is the source block of the demo's MySQL events.
func dbzSource(snapshot, file string, pos, row int) string {
	return fmt.Sprintf(`{"version":"2.7.0.Final","connector":"mysql","name":"my","ts_ms":1716926000000,"snapshot":%q,"db":"shop","sequence":null,"table":"shipments","server_id":1,"gtid":null,"file":%q,"pos":%d,"row":%d,"thread":7,"query":null}`,
		snapshot, file, pos, row)
}

// demoDebezium are the demo's Kafka Connect S3 sink files: snapshot rows,
// creates, updates, a delete with its tombstone, over two partitions.
func demoDebezium() []struct{ path, body string } {
	ship := func(id, order int, carrier, weight string, at int64) string {
		w := "null"
		if weight != "" {
			w = fmt.Sprintf("%q", weight)
		}
		return fmt.Sprintf(`{"shipment_id":%d,"order_id":%d,"carrier":%q,"weight_kg":%s,"shipped_at":%d}`, id, order, carrier, w, at)
	}
	ev := func(op, before, after, source string) string {
		return fmt.Sprintf(`{"before":%s,"after":%s,"source":%s,"op":%q,"ts_ms":1716926000100}`, before, after, source, op) + "\n"
	}
	s1 := ship(1, 1001, "DHL", "1.250", 1716925200000)
	s2 := ship(2, 1002, "UPS", "0.400", 1716925260000)
	s3 := ship(3, 1004, "FedEx", "12.000", 1716929000000)
	p0 := ev("r", "null", s1, dbzSource("true", "mysql-bin.000003", 154, 0)) +
		ev("r", "null", s2, dbzSource("last", "mysql-bin.000003", 154, 0)) +
		ev("u", s1, ship(1, 1001, "DHL Express", "1.300", 1716925200000), dbzSource("false", "mysql-bin.000004", 900, 0)) +
		ev("d", s2, "null", dbzSource("false", "mysql-bin.000004", 1200, 0)) +
		"null\n"
	p1 := ev("c", "null", s3, dbzSource("false", "mysql-bin.000004", 500, 0)) +
		ev("u", s3, ship(3, 1004, "FedEx Ground", "12.000", 1716929000000), dbzSource("false", "mysql-bin.000004", 1500, 0)) +
		ev("c", "null", ship(4, 1005, "Royal Mail", "", 1716930000000), dbzSource("false", "mysql-bin.000004", 1600, 0))
	return []struct{ path, body string }{
		{"topics/my.shop.shipments/partition=0/my.shop.shipments+0+0000000000.json", p0},
		{"topics/my.shop.shipments/partition=1/my.shop.shipments+1+0000000000.json", p1},
	}
}

// writeDemo writes the demo's raw files and job file into dir.
func writeDemo(dir string) (jobPath string, err error) {
	for run := range demoRuns {
		if err := writeDemoFiles(dir, run); err != nil {
			return "", err
		}
	}
	return writeDemoJob(dir)
}

// demoRuns names the demo's runs by the files they find (demoFiles.run;
// the Debezium events come with the full loads).
var demoRuns = []string{"the full loads", "the first day's changes", "the second day's changes"}

// writeDemoFiles writes the demo's raw files of run into dir.
func writeDemoFiles(dir string, run int) error {
	for _, f := range demoFiles {
		if f.run != run {
			continue
		}
		p := filepath.Join(dir, "raw", filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write demo: %w", err)
		}
		data := []byte(f.body)
		if f.gzip {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			data = b.Bytes()
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return fmt.Errorf("write demo: %w", err)
		}
	}
	if run != 0 {
		return nil
	}
	for _, f := range demoDebezium() {
		p := filepath.Join(dir, "raw", filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write demo: %w", err)
		}
		if err := os.WriteFile(p, []byte(f.body), 0o644); err != nil {
			return fmt.Errorf("write demo: %w", err)
		}
	}
	return nil
}

// writeDemoJob writes the demo's job file into dir.
func writeDemoJob(dir string) (jobPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write demo job: %w", err)
	}
	jobPath = filepath.Join(dir, "job.yaml")
	customers, shipments := demoPreparedCustomers, demoPreparedShipments
	if !transform.Available() {
		// A binary without the SQL engine refuses prepared tables: its demo
		// shows the base tables only.
		customers, shipments = "", ""
	}
	if err := os.WriteFile(jobPath, []byte(fmt.Sprintf(demoJob, dir, customers, shipments)), 0o644); err != nil {
		return "", fmt.Errorf("write demo job: %w", err)
	}
	return jobPath, nil
}
