package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// tableErrors runs run, status --json and plan --json of job's table
// orders, which cannot be read, and returns each command's error for it,
// by command. run and status exit 1, plan 0 (the plan was made).
func tableErrors(t *testing.T, job string, env ...string) map[string]string {
	t.Helper()
	errs := map[string]string{}
	r := clitest.Cmd{Args: []string{"run", "--config", job, "--table", "orders"}, Env: env}.Run(t)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != exitTableFailed || len(sum.Tables) != 1 {
		t.Fatalf("run: want exit 1 and a summary: %v\n%s", err, r)
	}
	errs["run"] = sum.Tables[0].Error
	r = clitest.Cmd{Args: []string{"status", "--config", job, "--table", "orders", "--json"}, Env: env}.Run(t)
	var sts []tableStatus
	if err := json.Unmarshal([]byte(r.Stdout), &sts); err != nil || len(sts) != 1 || r.Code != exitTableFailed {
		t.Fatalf("status: want exit 1 and the table: %v\n%s", err, r)
	}
	errs["status"] = sts[0].Error
	r = clitest.Cmd{Args: []string{"plan", "--config", job, "--table", "orders", "--json"}, Env: env}.Run(t)
	var p plan
	// The plan was made: its table is an item whose run fails alone.
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil || len(p.Tables) != 1 || r.Code != 0 || p.TablesFailed != 1 {
		t.Fatalf("plan: want exit 0 and the table failed: %v\n%s", err, r)
	}
	errs["plan"] = p.Tables[0].Error
	return errs
}

// onceEach fails unless msg holds each of words exactly once.
func onceEach(t *testing.T, what, msg string, words ...string) {
	t.Helper()
	for _, w := range words {
		if n := strings.Count(msg, w); n != 1 {
			t.Errorf("%s: %q %d times, want once:\n%s", what, w, n, msg)
		}
	}
}

// TestErrorsNameLocationOnce: an error of the raw zone's store names the
// location and the action once; the command adds no second "list <the
// same location>" (it said "list s3://b/p/: list s3://b/p/: …").
func TestErrorsNameLocationOnce(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		dir := t.TempDir()
		job := demoJobAt(t, dir, "missing.yaml", "raw: file://"+dir+"/raw", "raw: file://"+dir+"/no-raw")
		for cmd, e := range tableErrors(t, job) {
			if !strings.HasPrefix(strings.TrimPrefix(e, "table orders: "), "nothing to read: list "+dir+"/no-raw/public/orders/: folder "+dir+"/no-raw does not exist; check raw:") {
				t.Errorf("%s: error %q", cmd, e)
			}
			onceEach(t, cmd, e, "list ", dir+"/no-raw/public/orders/")
		}
	})
	t.Run("metadata", func(t *testing.T) {
		// The catalog names a metadata file that is gone.
		dir := t.TempDir()
		if r := clitest.Run(t, "demo", "--dir", dir); r.Code != 0 {
			t.Fatalf("demo: %s", r)
		}
		metas, err := filepath.Glob(filepath.Join(dir, "warehouse", "demo.db", "orders", "metadata", "*.metadata.json"))
		if err != nil || len(metas) == 0 {
			t.Fatalf("no metadata files: %v", err)
		}
		slices.Sort(metas)
		if err := os.Rename(metas[len(metas)-1], metas[len(metas)-1]+".moved"); err != nil {
			t.Fatal(err)
		}
		r := clitest.Run(t, "status", "--config", filepath.Join(dir, "job.yaml"), "--table", "orders", "--json")
		var sts []tableStatus
		if err := json.Unmarshal([]byte(r.Stdout), &sts); err != nil || len(sts) != 1 || r.Code != exitTableFailed {
			t.Fatalf("status: want exit 1 and the table: %v\n%s", err, r)
		}
		e := sts[0].Error
		if !strings.HasPrefix(e, "load table demo.orders: metadata file://"+metas[len(metas)-1]+": ") || !strings.Contains(e, "object does not exist") {
			t.Errorf("error %q", e)
		}
		onceEach(t, "status", e, "load table ")
	})
	t.Run("s3", func(t *testing.T) {
		ep := testenv.AWS(t)
		dir := t.TempDir()
		bucket := fmt.Sprintf("lm-missing-%d", time.Now().UnixNano())
		job := demoJobAt(t, dir, "missing.yaml", "raw: file://"+dir+"/raw", "raw: s3://"+bucket+"/dms",
			"defaults:", "s3:\n  endpoint: "+ep+"\ndefaults:")
		loc := "s3://" + bucket + "/dms/public/orders/"
		for cmd, e := range tableErrors(t, job) {
			if !strings.Contains(e, "list "+loc+": operation error S3: ListObjectsV2") || !strings.Contains(e, "NoSuchBucket") {
				t.Errorf("%s: error %q", cmd, e)
			}
			onceEach(t, cmd, e, "list ", loc)
		}
		// A job file or a plan location on S3 that cannot be read or written.
		env := []string{"AWS_ENDPOINT_URL_S3=" + ep}
		r := clitest.Cmd{Args: []string{"status", "--config", "s3://" + bucket + "/job.yaml", "--log-format", "text"}, Env: env}.Run(t)
		if r.Code != exitUsage || !strings.Contains(r.Stderr, "read job file: open s3://"+bucket+"/job.yaml: object does not exist") {
			t.Errorf("--config on S3: want exit 2 naming the object: %s", r)
		}
		onceEach(t, "--config", r.Stderr, "s3://"+bucket+"/job.yaml")
		r = clitest.Cmd{Args: []string{"plan", "--config", job, "--json", "--log-format", "text", "--out", "s3://" + bucket + "/plan.json"}, Env: env}.Run(t)
		if r.Code != 1 || !strings.Contains(r.Stderr, "write the plan: write s3://"+bucket+"/plan.json: ") {
			t.Errorf("--out on S3: want exit 1 naming the object: %s", r)
		}
		onceEach(t, "--out", r.Stderr, "s3://"+bucket+"/plan.json")
	})
}
