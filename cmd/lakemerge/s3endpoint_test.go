package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// demoJobAt writes the demo's files and job file to dir (writeDemo) and
// then the job file name beside it: the demo's job with each old of
// replacements (old, new pairs) replaced by its new. It returns name's
// path.
func demoJobAt(t *testing.T, dir, name string, replacements ...string) string {
	t.Helper()
	if _, err := writeDemo(dir); err != nil {
		t.Fatal(err)
	}
	job, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(job)
	for i := 0; i+1 < len(replacements); i += 2 {
		if !strings.Contains(text, replacements[i]) {
			t.Fatalf("the demo job has no %q:\n%s", replacements[i], text)
		}
		text = strings.ReplaceAll(text, replacements[i], replacements[i+1])
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnreachableEndpointFailsFast: an S3 or Glue endpoint that refuses
// connections fails the run within seconds (the SDK's standard retries
// took about two minutes), exit 1, with a summary whose error names the
// endpoint and the refusal.
func TestUnreachableEndpointFailsFast(t *testing.T) {
	testenv.Credentials(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "http://" + l.Addr().String()
	l.Close()
	// A behaviour bound, generous for a loaded machine: three quick tries
	// take about half a second, the standard policy two minutes.
	runOnDeadEndpoint(t, ep, "connection refused", 15*time.Second)
}

// runOnDeadEndpoint runs the demo's table orders with its raw zone on S3
// at ep (subtest s3: the table fails listing), and with S3 and Glue both
// there (subtest glue: the run fails opening the catalog, before the table
// starts); each must exit 1 within bound with a summary error and stderr
// naming ep, the error with reason in it too.
func runOnDeadEndpoint(t *testing.T, ep, reason string, bound time.Duration) {
	for _, tc := range []struct {
		name, want string
		repl       []string
	}{
		{"s3", "table orders: list s3://lm-raw/dms/public/orders/", []string{
			"defaults:", "s3:\n  endpoint: " + ep + "\ndefaults:",
		}},
		{"glue", "not started: check database demo", []string{
			"defaults:", "s3:\n  endpoint: " + ep + "\ndefaults:",
			"  type: sqlite\n", "  type: glue\n  endpoint: " + ep + "\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			repl := append([]string{
				"raw: file://" + dir + "/raw", "raw: s3://lm-raw/dms",
			}, tc.repl...)
			if tc.name == "glue" {
				repl = append(repl, "warehouse: file://"+dir+"/warehouse", "warehouse: s3://lm-wh/tables",
					"  path: "+dir+"/catalog.db\n", "")
			}
			job := demoJobAt(t, dir, "unreachable.yaml", repl...)
			start := time.Now()
			out, errs, code := lakemerge(t, "run", "--config", job, "--table", "orders")
			took := time.Since(start)
			var sum summary
			if err := json.Unmarshal([]byte(out), &sum); code != 1 || err != nil || sum.OK || len(sum.Tables) != 1 {
				t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errs)
			}
			msg := sum.Tables[0].Error
			if !strings.HasPrefix(msg, tc.want) || !strings.Contains(msg, "cannot connect to "+ep+":") || !strings.Contains(msg, reason) {
				t.Fatalf("error %q: want it to start %q and name %s and %q", msg, tc.want, ep, reason)
			}
			if !strings.Contains(errs, "cannot connect to "+ep) {
				t.Fatalf("stderr does not name the endpoint:\n%s", errs)
			}
			if took > bound {
				t.Fatalf("failing on %s took %v, want under %v", ep, took, bound)
			}
		})
	}
}

// TestRawLocationListingNothingWarns: a raw location on S3 that lists no
// objects while the table's bookmark holds absorbed files — a mistyped
// raw: here; a lifecycle rule that expired them looks the same — leaves
// the table up to date (exit 0), with a warning in the table's summary
// entry and a WARN log line that name the location and the files absorbed.
// A table with nothing absorbed yet and nothing listed fails instead
// (ErrNoRawFiles), and a raw location that lists objects warns nothing.
func TestRawLocationListingNothingWarns(t *testing.T) {
	ep := awsEndpoint(t)
	ctx := context.Background()
	c := s3Client(t, ep)
	rawBucket := fmt.Sprintf("lm-raw-%d", time.Now().UnixNano())
	createBuckets(t, c, rawBucket)
	dir := t.TempDir()
	s3Repl := []string{"defaults:", "s3:\n  endpoint: " + ep + "\ndefaults:"}
	job := demoJobAt(t, dir, "s3.yaml", append([]string{"raw: file://" + dir + "/raw", "raw: s3://" + rawBucket + "/dms"}, s3Repl...)...)
	mistyped := demoJobAt(t, dir, "mistyped.yaml", append([]string{"raw: file://" + dir + "/raw", "raw: s3://" + rawBucket + "/dsm"}, s3Repl...)...)
	putTree(t, c, rawBucket, "dms/", filepath.Join(dir, "raw"), nil)

	run := func(job string) (tableResult, string) {
		t.Helper()
		out, errs, code := lakemerge(t, "run", "--config", job, "--table", "orders")
		var sum summary
		if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || len(sum.Tables) != 1 {
			t.Fatalf("run %s: exit %d: %v\n%s\n%s", filepath.Base(job), code, err, out, errs)
		}
		return sum.Tables[0], errs
	}
	tr, errs := run(job)
	if tr.Files != 3 || len(tr.Warnings) != 0 || strings.Contains(errs, `"level":"WARN"`) {
		t.Fatalf("first run: %+v\n%s", tr, errs)
	}
	tr, errs = run(job)
	if !tr.UpToDate || len(tr.Warnings) != 0 || strings.Contains(errs, `"level":"WARN"`) {
		t.Fatalf("second run, nothing new: %+v\n%s", tr, errs)
	}

	tr, errs = run(mistyped)
	want := "raw location s3://" + rawBucket + "/dsm/public/orders/ lists no objects; 3 files were absorbed from it"
	if !tr.UpToDate || len(tr.Warnings) != 1 || !strings.HasPrefix(tr.Warnings[0], want) {
		t.Fatalf("mistyped raw: warnings %q, up to date %v; want one starting %q", tr.Warnings, tr.UpToDate, want)
	}
	var warned bool
	for _, line := range strings.Split(strings.TrimSpace(errs), "\n") {
		var rec struct {
			Level    string `json:"level"`
			Table    string `json:"table"`
			Location string `json:"location"`
			Absorbed int    `json:"files_absorbed"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" {
			warned = rec.Table == "orders" && rec.Location == "s3://"+rawBucket+"/dsm/public/orders/" && rec.Absorbed == 3
		}
	}
	if !warned {
		t.Fatalf("mistyped raw: no WARN line naming the location and the 3 files absorbed:\n%s", errs)
	}

	// The customers table has absorbed nothing: the same mistake there
	// is an error, as on the local disk.
	out, errs, code := lakemerge(t, "run", "--config", mistyped, "--table", "customers")
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); code != 1 || err != nil || !strings.Contains(sum.Tables[0].Error, "nothing to read") {
		t.Fatalf("mistyped raw, nothing absorbed: exit %d: %v\n%s\n%s", code, err, out, errs)
	}

	// The right location again, with one object left of the absorbed
	// ones: no warning.
	objs, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(rawBucket), Prefix: aws.String("dms/public/orders/")})
	if err != nil || len(objs.Contents) != 3 {
		t.Fatalf("raw objects of orders: %v (%d)", err, len(objs.Contents))
	}
	for _, o := range objs.Contents[1:] {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(rawBucket), Key: o.Key}); err != nil {
			t.Fatal(err)
		}
	}
	if tr, errs = run(job); !tr.UpToDate || len(tr.Warnings) != 0 {
		t.Fatalf("one raw object left: %+v\n%s", tr, errs)
	}
}
