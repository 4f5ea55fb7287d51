package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	for _, tc := range []struct {
		name, want string
		repl       []string
	}{
		// The raw zone on S3, the rest local: the table fails listing.
		{"s3", "table orders: list s3://lm-raw/dms/public/orders/", []string{
			"defaults:", "s3:\n  endpoint: " + ep + "\ndefaults:",
		}},
		// Everything on S3 and Glue: the run fails opening the catalog,
		// before the table starts.
		{"glue", "not started: check database demo", []string{
			"defaults:", "s3:\n  endpoint: " + ep + "\ndefaults:",
			"  type: sqlite\n", "  type: glue\n  endpoint: " + ep + "\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			if !strings.HasPrefix(msg, tc.want) || !strings.Contains(msg, "cannot connect to "+ep+":") || !strings.Contains(msg, "connection refused") {
				t.Fatalf("error %q: want it to start %q and name %s and the refusal", msg, tc.want, ep)
			}
			if !strings.Contains(errs, "cannot connect to "+ep) {
				t.Fatalf("stderr does not name the endpoint:\n%s", errs)
			}
			// A behaviour bound, generous for a loaded machine: three quick
			// tries take about half a second, the standard policy two minutes.
			if took > 15*time.Second {
				t.Fatalf("failing on a closed port took %v", took)
			}
		})
	}
}
