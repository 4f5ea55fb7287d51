package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
)

// TestJobFileEnvironment: ${NAME} in a job file takes the process's
// environment; an unset variable is a job-file error (exit 2) naming the
// variable and its line, every one of them at once.
func TestJobFileEnvironment(t *testing.T) {
	dir := t.TempDir()
	job := demoRaw(t, dir)
	data, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "path: "+dir+"/catalog.db", "path: ${LM_CATALOG}", 1)
	text = strings.ReplaceAll(text, dir, "${LM_ROOT}") // also in a comment, which stays as written
	if !strings.Contains(text, "raw: file://${LM_ROOT}/raw") || !strings.Contains(text, "${LM_CATALOG}") {
		t.Fatalf("job rewrite failed:\n%s", text)
	}
	if err := os.WriteFile(job, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := clitest.Cmd{Args: []string{"run", "--config", job}, Env: []string{"LM_ROOT=" + dir, "LM_CATALOG=state/catalog.db"}}.Run(t)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 || !sum.OK || len(sum.Tables) != 3 || sum.Tables[0].Files == 0 {
		t.Fatalf("run with the environment: %v\n%s", err, r)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "catalog.db")); err != nil {
		t.Fatalf("catalog from ${LM_CATALOG}, relative to the job file: %v", err)
	}

	// LM_ROOT set but empty is fine; LM_CATALOG and LM_OTHER are not set.
	text = strings.Replace(text, "tables:", "defaults:\n  database: ${LM_OTHER}\ntables:", 1)
	if err := os.WriteFile(job, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r = clitest.Cmd{Args: []string{"status", "--config", job}, Env: []string{"LM_ROOT="}}.Run(t)
	var want []string
	for i, l := range strings.Split(text, "\n") {
		for _, v := range []string{"LM_CATALOG", "LM_OTHER"} {
			if strings.Contains(l, "${"+v+"}") {
				want = append(want, fmt.Sprintf("%s:%d: ", job, i+1), "${"+v+"}: environment variable "+v+" is not set")
			}
		}
	}
	if r.Code != exitUsage || r.Stdout != "" || len(want) == 0 {
		t.Fatalf("unset variable: want exit 2: %s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.Stderr)
		}
	}
}

// TestJobFileFromS3AndSSM puts a job file (raw zone and warehouse on S3,
// tables in Glue, the endpoint from ${...}) in an S3 object and in an SSM
// SecureString parameter of the moto server, and runs the built binary on
// each as an ECS task would: plan from s3:// writes its plan to S3, run
// from ssm: absorbs the files; a bad job file is reported with the source
// and line; a missing object or parameter, or a relative catalog path, is
// a usage error.
func TestJobFileFromS3AndSSM(t *testing.T) {
	ep := awsEndpoint(t)
	ctx := context.Background()
	dir := t.TempDir()
	job := demoRaw(t, dir)
	c := s3Client(t, ep)
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sm := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(ep) })
	suffix := time.Now().UnixNano()
	rawBucket, whBucket, cfgBucket := fmt.Sprintf("lm-raw-%d", suffix), fmt.Sprintf("lm-wh-%d", suffix), fmt.Sprintf("lm-cfg-%d", suffix)
	createBuckets(t, c, rawBucket, whBucket, cfgBucket)
	rawDir := filepath.Join(dir, "raw")
	var uploaded int
	for _, p := range putTree(t, c, rawBucket, "dms/", rawDir, nil) {
		if !strings.HasSuffix(p, ".keys.json") {
			uploaded++
		}
	}
	local, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	db := fmt.Sprintf("cfg%d", suffix)
	text := string(local)
	text = strings.Replace(text, "raw: file://"+dir+"/raw", "raw: s3://${RAW_BUCKET}/dms", 1)
	text = strings.Replace(text, "warehouse: file://"+dir+"/warehouse", "warehouse: s3://"+whBucket+"/tables", 1)
	text = strings.Replace(text, "catalog:\n  type: sqlite\n  path: "+dir+"/catalog.db",
		"catalog:\n  type: glue\n  endpoint: ${AWS_ENDPOINT}\ns3:\n  endpoint: ${AWS_ENDPOINT}", 1)
	text = strings.ReplaceAll(text, "database: demo", "database: "+db)
	if !strings.Contains(text, "type: glue") || !strings.Contains(text, "${RAW_BUCKET}") {
		t.Fatalf("job rewrite failed:\n%s", text)
	}
	put := func(key, body string) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfgBucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	param := func(name, value string) {
		if _, err := sm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
			Type: ssmtypes.ParameterTypeSecureString}); err != nil {
			t.Fatal(err)
		}
	}
	put("jobs/job.yaml", text)
	ssmName := fmt.Sprintf("/lakemerge/test%d/job", suffix)
	param(ssmName, text)
	env := []string{"RAW_BUCKET=" + rawBucket, "AWS_ENDPOINT=" + ep, "AWS_ENDPOINT_URL_S3=" + ep, "AWS_ENDPOINT_URL_SSM=" + ep}

	// plan from S3, written to S3.
	planKey := "plans/run-1.json"
	r := clitest.Cmd{Args: []string{"plan", "--config", "s3://" + cfgBucket + "/jobs/job.yaml", "--out", "s3://" + cfgBucket + "/" + planKey}, Env: env}.Run(t)
	var p plan
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil || r.Code != 0 {
		t.Fatalf("plan from S3: %v\n%s", err, r)
	}
	if p.PendingFiles != uploaded || p.TablesPending != 3 || len(p.Items) != 3 || p.OldestPendingAgeS > 600 {
		t.Fatalf("plan of %d uploaded change files: %+v", uploaded, p)
	}
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(cfgBucket), Key: aws.String(planKey)})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(stored) != r.Stdout {
		t.Fatalf("plan object\n%s\nstdout\n%s", stored, r.Stdout)
	}

	// run from SSM.
	r = clitest.Cmd{Args: []string{"run", "--config", "ssm:" + ssmName}, Env: env}.Run(t)
	var sum summary
	if err := json.Unmarshal([]byte(r.Stdout), &sum); err != nil || r.Code != 0 || !sum.OK {
		t.Fatalf("run from SSM: %v\n%s", err, r)
	}
	files := 0
	for _, tr := range sum.Tables {
		files += tr.Files
	}
	if files != uploaded {
		t.Fatalf("run absorbed %d files, %d uploaded", files, uploaded)
	}
	r = clitest.Cmd{Args: []string{"plan", "--config", "ssm:" + ssmName}, Env: env}.Run(t)
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil || r.Code != 0 || p.TablesUpToDate != 3 || len(p.Items) != 0 {
		t.Fatalf("plan after the run: %v\n%s", err, r)
	}

	// Problems.
	bad := strings.Replace(text, "tables:", "tables:\n  - source: {schema: x}", 1)
	lineOf := func(text, s string) int { return strings.Count(text[:strings.Index(text, s)], "\n") + 1 }
	badLine, rawLine := lineOf(bad, "{schema: x}"), lineOf(text, "${RAW_BUCKET}")
	param(ssmName+"-bad", bad)
	put("jobs/relative.yaml", "raw: s3://"+rawBucket+"/dms\nwarehouse: file:///tmp/wh\ncatalog: {type: sqlite, path: catalog.db}\ntables:\n  - source: {schema: public, table: orders}\n    primary_key: [id]\n    dms: {header: true}\n")
	for _, c := range []struct {
		src  string
		env  []string
		want string
	}{
		{"ssm:" + ssmName + "-bad", env, fmt.Sprintf("ssm:%s-bad:%d: tables[0]", ssmName, badLine)},
		{"ssm:" + ssmName, []string{"AWS_ENDPOINT=" + ep, "AWS_ENDPOINT_URL_SSM=" + ep}, fmt.Sprintf("ssm:%s:%d: raw: ${RAW_BUCKET}: environment variable RAW_BUCKET is not set", ssmName, rawLine)},
		{"ssm:" + ssmName + "-missing", env, "ParameterNotFound"},
		{"s3://" + cfgBucket + "/jobs/missing.yaml", env, "s3://" + cfgBucket + "/jobs/missing.yaml"},
		{"s3://" + cfgBucket + "/jobs/relative.yaml", env, `catalog.path "catalog.db": a relative path`},
		{"s3://" + cfgBucket + "/jobs/", env, "want s3://bucket/key"},
	} {
		r := clitest.Cmd{Args: []string{"run", "--config", c.src, "--log-format", "text"}, Env: c.env}.Run(t)
		if r.Code != exitUsage || !strings.Contains(r.Stderr, c.want) || r.Stdout != "" {
			t.Errorf("run --config %s: want exit 2 and %q on stderr: %s", c.src, c.want, r)
		}
	}
}
