package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/objstoretest"
)

// endpoint returns the S3-compatible server the integration tests use
// (scripts/test.sh starts one and sets LAKEMERGE_S3_ENDPOINT), with test
// credentials in the environment for the default chain.
func endpoint(t *testing.T) string {
	return testenv.S3(t)
}

func newStore(t *testing.T, prefix string) *Store {
	ep := endpoint(t)
	ctx := context.Background()
	opts := Options{Endpoint: ep, PathStyle: true}
	cfg, err := LoadConfig(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("lm-test-%d", time.Now().UnixNano())
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true })
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return New(cfg, bucket, prefix, opts)
}

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return newStore(t, "some/root") })
	objstoretest.RunRanges(t, func(t *testing.T) objstoretest.RangeStore { return newStore(t, "some/root") })
}

// TestLargeAndRanged: a body above the multipart threshold round-trips,
// and ranged reads return the requested bytes.
func TestLargeAndRanged(t *testing.T) {
	s := newStore(t, "")
	ctx := context.Background()
	body := strings.Repeat("0123456789abcdef", 2<<20) // 32 MiB: several parts
	if err := s.Put(ctx, "big/object", strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	infos, err := s.List(ctx, "big/")
	if err != nil || len(infos) != 1 || infos[0].Size != int64(len(body)) {
		t.Fatalf("list %+v %v", infos, err)
	}
	r, err := s.OpenRange(ctx, "big/object", 16*1000+3, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "3456789abc" {
		t.Fatalf("range read %q", got)
	}
	r, err = s.Open(ctx, "big/object")
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(r)
	r.Close()
	if string(all) != body {
		t.Fatal("large object differs")
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{"s3://b/p/q/": "b|p/q/", "s3://b": "b|", "s3://b/": "b|"} {
		b, p, err := ParseURL(in)
		if err != nil || b+"|"+p != want {
			t.Errorf("ParseURL(%q) = %q %q %v", in, b, p, err)
		}
	}
	for _, bad := range []string{"s3://", "file:///x", "s3:///x"} {
		if _, _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

// TestRetriesThrottlingAndServerErrors: behind a proxy that answers every
// other request with 503 SlowDown or 500, every call still succeeds (the
// SDK's retryer backs off and tries again).
func TestRetriesThrottlingAndServerErrors(t *testing.T) {
	ep := endpoint(t)
	target, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	var n, injected atomic.Int64
	fwd := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 4 {
		case 1:
			injected.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		case 3:
			injected.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>`)
			return
		}
		fwd.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	ctx := context.Background()
	opts := Options{Endpoint: proxy.URL, PathStyle: true}
	cfg, err := LoadConfig(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	bucket := fmt.Sprintf("lm-retry-%d", time.Now().UnixNano())
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true })
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	st := New(cfg, bucket, "p", opts)
	for i := 0; i < 5; i++ {
		if err := st.Put(ctx, fmt.Sprintf("k%d", i), strings.NewReader("v")); err != nil {
			t.Fatalf("put through faults: %v", err)
		}
	}
	infos, err := st.List(ctx, "")
	if err != nil || len(infos) != 5 {
		t.Fatalf("list through faults: %d objects, %v", len(infos), err)
	}
	r, err := st.Open(ctx, "k3")
	if err != nil {
		t.Fatalf("open through faults: %v", err)
	}
	r.Close()
	if injected.Load() == 0 {
		t.Fatal("the proxy injected no faults")
	}
}
