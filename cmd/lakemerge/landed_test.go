package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// dropProxy stands between lakemerge and the moto server. It forwards
// every request, but the first one its rule matches it forwards, lets the
// server apply, reads the server's whole answer and then drops the
// client's connection without answering: a connection lost after the
// service applied the request and before its answer arrived, which the
// AWS SDK answers by sending the request again.
type dropProxy struct {
	url  string
	rule func(r *http.Request, body []byte) bool

	mu      sync.Mutex
	dropped []string // what was dropped: method and path (and Glue operation)
}

// errDropped is the transport's error for a request whose answer the
// proxy drops.
var errDropped = errors.New("answer dropped")

// newDropProxy starts a proxy to target, stopped when the test ends.
func newDropProxy(t *testing.T, target string, rule func(r *http.Request, body []byte) bool) *dropProxy {
	t.Helper()
	to, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{rule: rule}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(to)
			r.Out.Host = r.In.Host // the SDK signed the proxy's host
		},
		Transport: p,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, errDropped) {
				panic(http.ErrAbortHandler) // close the connection, answer nothing
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// RoundTrip forwards r; when it is the first request the rule matches,
// it returns errDropped after the server answered.
func (p *dropProxy) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	p.mu.Lock()
	drop := len(p.dropped) == 0 && p.rule != nil && p.rule(r, body)
	if drop {
		p.dropped = append(p.dropped, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Amz-Target"))
	}
	p.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !drop {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, errDropped
}

// drops is what the proxy dropped so far.
func (p *dropProxy) drops() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dropped...)
}

// glueCall matches the Glue operation op on the table db.name.
func glueCall(op, db, name string) func(*http.Request, []byte) bool {
	return func(r *http.Request, body []byte) bool {
		if r.Header.Get("X-Amz-Target") != "AWSGlue."+op {
			return false
		}
		var in struct {
			DatabaseName string
			TableInput   struct{ Name string }
		}
		return json.Unmarshal(body, &in) == nil && in.DatabaseName == db && in.TableInput.Name == name
	}
}

// deltaLogPut matches the conditional put of a log entry of the Delta
// table db.name.
func deltaLogPut(db, name string) func(*http.Request, []byte) bool {
	return func(r *http.Request, _ []byte) bool {
		return r.Method == http.MethodPut && r.Header.Get("If-None-Match") == "*" &&
			strings.Contains(r.URL.Path, "/"+db+".db/"+name+"/_delta_log/") && strings.HasSuffix(r.URL.Path, ".json")
	}
}

// TestCommitRetriedAfterLanding: the binary runs against S3 and Glue (the
// moto server) through a proxy that drops the connection of one commit
// request after the server applied it — the Iceberg base table's Glue
// CreateTable in the first run, its Glue UpdateTable or the Delta base
// table's conditional put of its log entry in the second — so that the AWS
// SDK sends the request again and meets the table the first try made
// (Glue: AlreadyExistsException, ConcurrentModificationException; S3:
// 412). The run reports what it did: its commit, in one attempt, with the
// rows it wrote, and each mirror table keeps the base commit's changes
// ("changes", not a catch-up); the tables read back by pyiceberg and
// deltalake equal the reference model.
func TestCommitRetriedAfterLanding(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  int // the run whose request is dropped
		rule func(baseDB string) func(*http.Request, []byte) bool
	}{
		{"iceberg create", 1, func(db string) func(*http.Request, []byte) bool { return glueCall("CreateTable", db, "acc_ice") }},
		{"iceberg commit", 2, func(db string) func(*http.Request, []byte) bool { return glueCall("UpdateTable", db, "acc_ice") }},
		{"delta commit", 2, func(db string) func(*http.Request, []byte) bool { return deltaLogPut(db, "acc_delta") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := awsEnv(t)
			baseDB, _ := e.databases()
			proxy := newDropProxy(t, e.aws.ep, nil)
			e.aws.ep = proxy.url // the job's and the readers' endpoint
			e.job(t, defV1, false, "stop")
			m := &mirrorModel{live: map[int64]account{}, seqs: map[int64]int64{}}
			w := &mirrorWorkload{rng: rand.New(rand.NewPCG(7, 14)), used: map[int64]bool{}, model: m}
			for run := 1; run <= 2; run++ {
				if run == tc.run {
					proxy.mu.Lock()
					proxy.rule = tc.rule(baseDB)
					proxy.mu.Unlock()
				}
				w.run(t, e.dir)
				e.sync(t)
				sum, r := runSummary(t, e.dir)
				if r.Code != 0 || !sum.OK {
					t.Fatalf("run %d: %s", run, r)
				}
				for _, tr := range sum.Tables {
					if tr.Attempts != 1 || tr.UpToDate || tr.Files == 0 || tr.Stats.Inserted+tr.Stats.Updated+tr.Stats.Deleted+tr.Stats.Stale+tr.Stats.Absent == 0 {
						t.Errorf("run %d: table %s: %d attempts, up to date %v, %d files, stats %+v; want its own commit in one attempt", run, tr.Table, tr.Attempts, tr.UpToDate, tr.Files, tr.Stats)
					}
					for _, p := range tr.Prepared {
						want := "changes"
						switch {
						case run == 1:
							want = "catch-up (whole table)"
						case tr.Stats.Stale > 0:
							want = "catch-up"
						}
						if p.How != want || p.Attempts != 1 {
							t.Errorf("run %d: %s went %q in %d attempts, want %q in 1", run, p.Table, p.How, p.Attempts, want)
						}
					}
				}
				if run == tc.run {
					if d := proxy.drops(); len(d) != 1 {
						t.Fatalf("run %d: the proxy dropped %v, want one request", run, d)
					} else {
						t.Logf("run %d: dropped the answer to %s", run, d[0])
					}
				}
				e.checkMirrors(t, m, defV1, false, false)
				if py := pythonForInterop(t); py != nil {
					// checkMirrors reads the Iceberg base table; the Delta
					// one too.
					for _, rd := range e.readers(t, baseDB, "acc_delta", "delta", "id", false) {
						out, err := py.CombinedOutput(rd.args...)
						if err != nil {
							t.Fatalf("%s: %v\n%s", rd.label, err, out)
						}
						if got, want := readerRows(t, rd.label, out), m.rows(); !slices.Equal(got, want) {
							t.Fatalf("run %d: %s reads\n%s\nthe model has\n%s", run, rd.label, strings.Join(got, "\n"), strings.Join(want, "\n"))
						}
					}
				}
			}
		})
	}
}
