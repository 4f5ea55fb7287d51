package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsglue "github.com/aws/aws-sdk-go-v2/service/glue"
)

// ordersGolden is the orders section of the demo's pyiceberg golden file:
// the same rows must come out of a Delta target.
func ordersGolden(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "demo_pyiceberg.golden"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = s[strings.Index(s, "# demo.orders\n")+len("# demo.orders\n"):]
	return s[:strings.Index(s, "# ")]
}

// TestDeltaTarget: with target.format: delta the demo's orders table is a
// Delta Lake table, recorded in the local catalog, and deltalake (delta-rs)
// reads the same rows as the Iceberg demo gives.
func TestDeltaTarget(t *testing.T) {
	dir := t.TempDir()
	if _, err := writeDemo(dir); err != nil {
		t.Fatal(err)
	}
	job := filepath.Join(dir, "job.yaml")
	b, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(b), "target: { database: demo, table: orders }", "target: { database: demo, table: orders, format: delta }", 1)
	if yaml == string(b) {
		t.Fatal("job rewrite failed")
	}
	if err := os.WriteFile(job, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := lakemerge(t, "run", "--config", job, "--table", "orders")
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || sum.Tables[0].Stats.Inserted != 4 {
		t.Fatalf("run exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	if err := os.WriteFile(filepath.Join(dir, "raw", "public", "orders", "20240530-090000000.csv"), []byte("D,1001,,,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code = lakemerge(t, "run", "--config", job, "--table", "orders"); code != 0 {
		t.Fatalf("second run exit %d\n%s", code, errs)
	}
	out, _, code = lakemerge(t, "status", "--config", job, "--json", "--table", "orders")
	var sts []tableStatus
	if err := json.Unmarshal([]byte(out), &sts); code != 0 || err != nil || sts[0].Format != "delta" || sts[0].Rows != 3 ||
		sts[0].SnapshotID != 1 || sts[0].FilesAbsorbed != 4 {
		t.Fatalf("status exit %d: %v\n%s", code, err, out)
	}
	table := filepath.Join(dir, "warehouse", "demo.db", "orders")
	// vacuum: the rewritten file of the second run is not deleted while
	// younger than the retention.
	out, errs, code = lakemerge(t, "vacuum", "--config", job, "--table", "orders", "--retention", "1h")
	var vr vacuumResult
	if err := json.Unmarshal([]byte(out), &vr); code != 0 || err != nil || vr.Error != "" || vr.FilesDeleted != 0 {
		t.Fatalf("vacuum exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	if _, _, code := lakemerge(t, "vacuum", "--config", job, "--retention", "5m"); code != exitUsage {
		t.Fatalf("short retention accepted: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(table, "_delta_log", "00000000000000000000.json")); err != nil {
		t.Fatalf("no delta log: %v", err)
	}
	py := pythonForInterop(t)
	if py == nil {
		return
	}
	got, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_delta.py"), table, "order_id")
	if err != nil {
		t.Fatalf("deltalake read: %v\n%s", err, got)
	}
	if string(got) != ordersGolden(t) {
		t.Fatalf("deltalake reads\n%s\nwant\n%s", got, ordersGolden(t))
	}
	got, err = py.CombinedOutput(filepath.Join("..", "..", "interop", "read_delta.py"), "--duckdb", table, "order_id")
	if err != nil {
		t.Fatalf("duckdb delta_scan: %v\n%s", err, got)
	}
	if string(got) != ordersGolden(t) {
		t.Fatalf("duckdb delta_scan reads\n%s\nwant\n%s", got, ordersGolden(t))
	}
}

// TestDeltaTargetOnAWS: the same Delta target on S3 with the Glue catalog:
// the table is registered for Athena (table_type=DELTA, location, columns)
// and deltalake reads it over the S3 API.
func TestDeltaTargetOnAWS(t *testing.T) {
	ep := awsEndpoint(t)
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := writeDemo(dir); err != nil {
		t.Fatal(err)
	}
	c := s3Client(t, ep)
	suffix := time.Now().UnixNano()
	rawBucket, whBucket := fmt.Sprintf("lm-draw-%d", suffix), fmt.Sprintf("lm-dwh-%d", suffix)
	createBuckets(t, c, rawBucket, whBucket)
	for _, f := range []string{"LOAD00000001.csv", "20240528-195141380.csv", "20240529-081502114.csv"} {
		putFile(t, c, rawBucket, "public/orders/"+f, filepath.Join(dir, "raw", "public", "orders", f))
	}
	db := fmt.Sprintf("deltademo%d", suffix)
	job := fmt.Sprintf(`raw: s3://%s
warehouse: s3://%s/lake
catalog: { type: glue, endpoint: %s }
s3: { endpoint: %s }
tables:
  - name: orders
    source: { schema: public, table: orders }
    primary_key: [order_id]
    columns:
      - { name: order_id, type: int }
      - { name: customer_id, type: long }
      - { name: status, type: string }
      - { name: total, type: "decimal(10,2)" }
      - { name: note, type: string }
    target: { database: %s, table: orders, format: delta }
`, rawBucket, whBucket, ep, ep, db)
	jobPath := filepath.Join(dir, "delta-aws.yaml")
	if err := os.WriteFile(jobPath, []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := lakemerge(t, "run", "--config", jobPath); code != 0 {
		t.Fatalf("run exit %d\n%s\n%s", code, out, errs)
	}
	extra := filepath.Join(dir, "extra.csv")
	if err := os.WriteFile(extra, []byte("D,1001,,,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	putFile(t, c, rawBucket, "public/orders/20240530-090000000.csv", extra)
	if out, errs, code := lakemerge(t, "run", "--config", jobPath); code != 0 {
		t.Fatalf("second run exit %d\n%s\n%s", code, out, errs)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g := awsglue.NewFromConfig(cfg, func(o *awsglue.Options) { o.BaseEndpoint = aws.String(ep) })
	gt, err := g.GetTable(ctx, &awsglue.GetTableInput{DatabaseName: aws.String(db), Name: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	loc := "s3://" + whBucket + "/lake/" + db + ".db/orders/"
	if gt.Table.Parameters["table_type"] != "DELTA" || aws.ToString(gt.Table.StorageDescriptor.Location) != loc ||
		len(gt.Table.StorageDescriptor.Columns) < 5 {
		t.Fatalf("glue entry %+v", gt.Table)
	}
	py := pythonForInterop(t)
	if py == nil {
		return
	}
	got, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_delta.py"), loc, "order_id", ep)
	if err != nil {
		t.Fatalf("deltalake read over S3: %v\n%s", err, got)
	}
	if string(got) != ordersGolden(t) {
		t.Fatalf("deltalake reads\n%s\nwant\n%s", got, ordersGolden(t))
	}
}
