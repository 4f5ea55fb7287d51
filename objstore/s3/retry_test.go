package s3

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// closedEndpoint returns the URL of a local port nothing listens on: one
// that was just listened on and closed.
func closedEndpoint(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestRefusedConnectionFailsFast: an endpoint that refuses connections
// fails a request within seconds (the standard policy took about two
// minutes), with an error that names the endpoint and the refusal.
func TestRefusedConnectionFailsFast(t *testing.T) {
	testenv.Credentials(t)
	ep := closedEndpoint(t)
	ctx := context.Background()
	opts := Options{Endpoint: ep, PathStyle: true}
	cfg, err := LoadConfig(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	st := New(cfg, "bucket", "p", opts)
	start := time.Now()
	_, err = st.List(ctx, "")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "cannot connect to "+ep+":") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("list on a closed port: %v", err)
	}
	// A generous bound for a loaded machine: three quick tries take half a
	// second.
	if took > 10*time.Second {
		t.Fatalf("list on a closed port took %v", took)
	}
}

// TestConnectRetryerBoundsFailedConnections: a failed connection is retried
// connectRetries times a short delay apart, then stops with an error naming
// the endpoint; other errors keep the standard policy.
func TestConnectRetryerBoundsFailedConnections(t *testing.T) {
	r := connectRetryer{retry.NewStandard()}
	refused := &url.Error{Op: "Get", URL: "http://s3.example:9000/b?list-type=2",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	unknownHost := &url.Error{Op: "Get", URL: "https://b.s3.example.invalid/k",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "b.s3.example.invalid", IsNotFound: true}}}
	for _, err := range []error{refused, unknownHost} {
		if !r.IsErrorRetryable(err) {
			t.Fatalf("%v: not retryable", err)
		}
		for attempt := 1; attempt <= connectRetries; attempt++ {
			if d, derr := r.RetryDelay(attempt, err); derr != nil || d != connectDelay {
				t.Fatalf("%v attempt %d: delay %v, %v", err, attempt, d, derr)
			}
		}
		_, derr := r.RetryDelay(connectRetries+1, err)
		u, _ := url.Parse(err.(*url.Error).URL)
		if derr == nil || !errors.Is(derr, err) || !strings.Contains(derr.Error(), "cannot connect to "+u.Scheme+"://"+u.Host+":") {
			t.Fatalf("%v after %d retries: %v", err, connectRetries, derr)
		}
	}
	// A connection reset while reading is not a failed connection: the
	// standard policy, which retries it up to MaxAttempts.
	reset := &url.Error{Op: "Get", URL: "http://s3.example:9000/b/k",
		Err: &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}}
	if !r.IsErrorRetryable(reset) {
		t.Fatal("a reset connection is not retryable")
	}
	if _, err := r.RetryDelay(connectRetries+1, reset); err != nil {
		t.Fatalf("a reset connection is retried only %d times: %v", connectRetries, err)
	}
}

// TestSlowResponseOutlastsConnectTimeout: connectTimeout bounds the
// connect only: a server that accepts at once and answers later than it
// is waited for, and its answer read.
func TestSlowResponseOutlastsConnectTimeout(t *testing.T) {
	testenv.Credentials(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(connectTimeout + time.Second)
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>bucket</Name><Prefix>p/</Prefix><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>
<Contents><Key>p/a.csv</Key><Size>3</Size><ETag>"e"</ETag></Contents></ListBucketResult>`)
	}))
	defer srv.Close()
	opts := Options{Endpoint: srv.URL, PathStyle: true, MaxAttempts: 1}
	cfg, err := LoadConfig(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := New(cfg, "bucket", "p", opts).List(t.Context(), "")
	if err != nil || len(infos) != 1 || infos[0].Key != "a.csv" {
		t.Fatalf("list of a slow server: %+v, %v", infos, err)
	}
}
