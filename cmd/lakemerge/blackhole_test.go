package main

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/clitest"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// blackhole returns an http:// endpoint on 127.0.0.1 that never answers a
// connect: a listening socket with a backlog of 0 whose one queue slot a
// connection that is never accepted holds, so that the kernel drops every
// further SYN, as a firewall that drops packets or an unroutable address
// does.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err != nil {
			return "http://" + addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("%s accepted every connect: no black hole on this machine", addr)
	return ""
}

// TestBlackholedEndpointFailsFast: an S3 or Glue endpoint, or the S3 or
// SSM endpoint of --config, that never answers a connect fails the command
// in about 15 s (three tries of a 5 s connect) with "cannot connect to
// <endpoint>" and the timeout, instead of three of the SDK's 30 s
// connects; a run exits 1 with the error in its summary, a job file that
// cannot be fetched exits 1 (a network failure, not a job-file error).
func TestBlackholedEndpointFailsFast(t *testing.T) {
	testenv.Credentials(t)
	ep := blackhole(t)
	// 3 × 5 s and the retry delays; the SDK's 30 s connects took 90 s.
	const bound = 40 * time.Second
	runOnDeadEndpoint(t, ep, "i/o timeout", bound)
	for _, tc := range []struct{ src, env string }{
		{"s3://lm-config/job.yaml", "AWS_ENDPOINT_URL_S3=" + ep},
		{"ssm:/lakemerge/job", "AWS_ENDPOINT_URL_SSM=" + ep},
	} {
		t.Run(strings.SplitN(tc.src, ":", 2)[0]+"-config", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := clitest.Cmd{Args: []string{"status", "--config", tc.src, "--log-format", "text"}, Env: []string{tc.env}}.Run(t)
			took := time.Since(start)
			if r.Code != exitTableFailed || !strings.Contains(r.Stderr, "read job file") {
				t.Fatalf("--config %s: want exit 1 reading the job file:\n%s", tc.src, r)
			}
			if !strings.Contains(r.Stderr, "cannot connect to "+ep+":") || !strings.Contains(r.Stderr, "i/o timeout") {
				t.Errorf("--config %s: stderr does not name %s and the timeout:\n%s", tc.src, ep, r.Stderr)
			}
			if took > bound {
				t.Errorf("--config %s: failing on a blackholed endpoint took %v, want under %v", tc.src, took, bound)
			}
		})
	}
}
