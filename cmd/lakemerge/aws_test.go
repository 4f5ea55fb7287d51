package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// awsEndpoint returns the moto server scripts/test.sh starts (S3 and Glue
// on one endpoint) and puts test credentials in the environment, where the
// default AWS chain finds them.
func awsEndpoint(t *testing.T) string {
	return testenv.AWS(t)
}

// s3Client talks to the test endpoint the way a user's tooling would.
func s3Client(t *testing.T, ep string) *s3.Client {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(ep)
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

func putFile(t *testing.T, c *s3.Client, bucket, key, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f}); err != nil {
		t.Fatal(err)
	}
}

// createBuckets creates the S3 buckets names.
func createBuckets(t *testing.T, c *s3.Client, names ...string) {
	t.Helper()
	for _, b := range names {
		if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
}

// putTree uploads the files under root that done does not hold (nil:
// every file) to bucket, under prefix and their path below root, records
// them in done and returns their paths below root.
func putTree(t *testing.T, c *s3.Client, bucket, prefix, root string, done map[string]bool) []string {
	t.Helper()
	var put []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if !done[rel] {
			putFile(t, c, bucket, prefix+rel, p)
			put = append(put, rel)
			if done != nil {
				done[rel] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return put
}

// TestDemoOnAWS runs the demo scenario of TestDemo with the raw zone and
// the warehouse on S3 and the tables in the Glue catalog (both the moto
// server's real APIs), and reads the tables back with pyiceberg's Glue
// catalog: the same rows as on the local default.
func TestDemoOnAWS(t *testing.T) {
	ep := awsEndpoint(t)
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := writeDemo(dir); err != nil {
		t.Fatal(err)
	}
	c := s3Client(t, ep)
	suffix := time.Now().UnixNano()
	rawBucket, whBucket := fmt.Sprintf("lm-raw-%d", suffix), fmt.Sprintf("lm-wh-%d", suffix)
	createBuckets(t, c, rawBucket, whBucket)
	rawDir := filepath.Join(dir, "raw")
	putTree(t, c, rawBucket, "dms/", rawDir, nil)
	// The demo job, moved to S3 and Glue.
	local, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	db := fmt.Sprintf("demo%d", suffix)
	const kmsKey = "arn:aws:kms:us-east-1:123456789012:key/0f6a1e4c-1d2b-4c3d-9e8f-001122334455"
	job := string(local)
	job = strings.Replace(job, "raw: file://"+dir+"/raw", "raw: s3://"+rawBucket+"/dms", 1)
	job = strings.Replace(job, "warehouse: file://"+dir+"/warehouse", "warehouse: s3://"+whBucket+"/tables", 1)
	job = strings.Replace(job, "catalog:\n  type: sqlite\n  path: "+dir+"/catalog.db",
		"catalog:\n  type: glue\n  endpoint: "+ep+"\ns3:\n  endpoint: "+ep+"\n  kms_key_id: "+kmsKey, 1)
	job = strings.ReplaceAll(job, "database: demo", "database: "+db)
	if !strings.Contains(job, "type: glue") || !strings.Contains(job, "s3://"+rawBucket) {
		t.Fatalf("job rewrite failed:\n%s", job)
	}
	jobPath := filepath.Join(dir, "aws-job.yaml")
	if err := os.WriteFile(jobPath, []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errs, code := lakemerge(t, "run", "--config", jobPath)
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || !sum.OK {
		t.Fatalf("run exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	if sum.Tables[0].Files != 4 || sum.Tables[1].Files != 3 {
		t.Fatalf("files absorbed: %+v", sum.Tables)
	}
	out, _, _ = lakemerge(t, "run", "--config", jobPath)
	if err := json.Unmarshal([]byte(out), &sum); err != nil || !sum.Tables[0].UpToDate || !sum.Tables[1].UpToDate || !sum.Tables[2].UpToDate {
		t.Fatalf("second run: %s", out)
	}
	cdc := filepath.Join(dir, "extra.csv")
	if err := os.WriteFile(cdc, []byte("D,1001,,,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	putFile(t, c, rawBucket, "dms/public/orders/20240530-090000000.csv", cdc)
	out, errs, code = lakemerge(t, "run", "--config", jobPath, "--table", "orders")
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || sum.Tables[0].Files != 1 || sum.Tables[0].Stats.Deleted != 1 {
		t.Fatalf("incremental run exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	out, _, code = lakemerge(t, "status", "--config", jobPath, "--json")
	var sts []tableStatus
	if err := json.Unmarshal([]byte(out), &sts); code != 0 || err != nil || sts[0].Rows != 5 || sts[1].Rows != 3 ||
		!strings.HasPrefix(sts[0].Location, "s3://"+whBucket+"/tables/"+db+".db/") {
		t.Fatalf("status exit %d: %v\n%s", code, err, out)
	}

	// Raw files expired by a lifecycle rule after they were absorbed: S3
	// has no folder to miss, so the table is up to date (a local folder
	// that vanished fails: TestVanishedRawLocation), and status says the
	// prefix holds no object.
	raws, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(rawBucket), Prefix: aws.String("dms/public/orders/")})
	if err != nil || len(raws.Contents) == 0 {
		t.Fatalf("raw objects of orders: %v (%d)", err, len(raws.Contents))
	}
	for _, o := range raws.Contents {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(rawBucket), Key: o.Key}); err != nil {
			t.Fatal(err)
		}
	}
	out, errs, code = lakemerge(t, "run", "--config", jobPath, "--table", "orders")
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || !sum.Tables[0].UpToDate {
		t.Fatalf("run after the raw files expired: exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	out, _, code = lakemerge(t, "status", "--config", jobPath, "--json", "--table", "orders")
	if err := json.Unmarshal([]byte(out), &sts); code != 0 || err != nil || sts[0].RawObjects != 0 || sts[0].FilesAbsorbed < len(raws.Contents) || sts[0].Error != "" {
		t.Fatalf("status after the raw files expired: exit %d: %v\n%s", code, err, out)
	}

	// Every object written to the warehouse (data, deletes, manifests,
	// metadata) is encrypted with SSE-KMS under the configured key.
	objs, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(whBucket)})
	if err != nil || len(objs.Contents) < 10 {
		t.Fatalf("warehouse objects: %v (%d)", err, len(objs.Contents))
	}
	for _, o := range objs.Contents {
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(whBucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		if h.ServerSideEncryption != "aws:kms" || aws.ToString(h.SSEKMSKeyId) != kmsKey {
			t.Fatalf("%s: encryption %q key %q, want aws:kms with %s", aws.ToString(o.Key), h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId), kmsKey)
		}
	}

	py := pythonForInterop(t)
	if py == nil {
		return
	}
	var got strings.Builder
	for _, tb := range []struct{ name, keys string }{{"customers", "customer_id"}, {"orders", "order_id"}, {"shipments", "shipment_id"}} {
		o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "glue", ep, db+"."+tb.name, tb.keys)
		if err != nil {
			t.Fatalf("pyiceberg (Glue) read %s: %v\n%s", tb.name, err, o)
		}
		got.WriteString("# demo." + tb.name + "\n")
		got.Write(o)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "demo_pyiceberg.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Fatalf("tables on S3+Glue differ from the local demo:\n%s\nwant:\n%s", got.String(), want)
	}

	// The prepared tables, in their own database: the Iceberg one found
	// through Glue by pyiceberg, the Delta one registered in Glue (as
	// Athena finds it) and read from S3 by deltalake.
	pdb := db + "_prepared"
	got.Reset()
	o, err := py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "glue", ep, pdb+".vip_customers", "customer_id")
	if err != nil {
		t.Fatalf("pyiceberg (Glue) read %s.vip_customers: %v\n%s", pdb, err, o)
	}
	got.WriteString("# demo_prepared.vip_customers\n")
	got.Write(o)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := glue.NewFromConfig(cfg, func(o *glue.Options) { o.BaseEndpoint = aws.String(ep) }).GetTable(ctx,
		&glue.GetTableInput{DatabaseName: aws.String(pdb), Name: aws.String("weighed_shipments")})
	if err != nil {
		t.Fatalf("Glue has no prepared Delta table: %v", err)
	}
	loc := aws.ToString(gt.Table.StorageDescriptor.Location)
	if gt.Table.Parameters["table_type"] != "DELTA" || !strings.HasPrefix(loc, "s3://"+whBucket+"/tables/"+pdb+".db/weighed_shipments") {
		t.Fatalf("Glue's prepared Delta table: parameters %v, location %s", gt.Table.Parameters, loc)
	}
	o, err = py.CombinedOutput(filepath.Join("..", "..", "interop", "read_delta.py"), loc, "shipment_id", ep)
	if err != nil {
		t.Fatalf("deltalake read %s: %v\n%s", loc, err, o)
	}
	got.WriteString("# demo_prepared.weighed_shipments\n")
	got.Write(o)
	if want, err = os.ReadFile(filepath.Join("testdata", "demo_prepared.golden")); err != nil {
		t.Fatal(err)
	}
	// The local demo's history table holds the versions of its three
	// runs; this test absorbs the demo's files in one run, which keeps one
	// version per key (its latest change): the mirrors are compared, the
	// history is checked on its own below.
	hist := "# demo_prepared.customers_history\n"
	i := strings.Index(string(want), hist)
	j := strings.Index(string(want), "# demo_prepared.weighed_shipments\n")
	if i < 0 || j < i {
		t.Fatalf("demo_prepared.golden has no history section before the shipments")
	}
	want = append(want[:i:i], want[j:]...)
	if got.String() != string(want) {
		t.Fatalf("prepared tables on S3+Glue differ from the local demo:\n%s\nwant:\n%s", got.String(), want)
	}
	// The history table through Glue: one current version of each live
	// customer, and customer 3's delete as a D row.
	o, err = py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "glue", ep, pdb+".customers_history", "customer_id",
		"customer_id,op,is_current")
	if err != nil {
		t.Fatalf("pyiceberg (Glue) read %s.customers_history: %v\n%s", pdb, err, o)
	}
	wantHist := `{"customer_id": 1, "is_current": true, "op": "U"}
{"customer_id": 2, "is_current": true, "op": "U"}
{"customer_id": 3, "is_current": false, "op": "D"}
{"customer_id": 4, "is_current": true, "op": "I"}
{"customer_id": 5, "is_current": true, "op": "U"}
{"customer_id": 6, "is_current": true, "op": "U"}
`
	if string(o) != wantHist {
		t.Fatalf("the history table on S3+Glue:\n%s\nwant:\n%s", o, wantHist)
	}
}
