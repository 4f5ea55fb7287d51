package table_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// awsError is an error as the AWS SDK returns it: an operation error
// around an HTTP response error around the API error.
func awsError(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "msg"},
	}}
}

// sqliteError has the method of modernc.org/sqlite's errors.
type sqliteError int

func (e sqliteError) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteError) Code() int     { return int(e) }

type timeout struct{}

func (timeout) Error() string   { return "i/o timeout" }
func (timeout) Timeout() bool   { return true }
func (timeout) Temporary() bool { return true }

func TestFaultOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want table.Fault
	}{
		{"slow down", awsError(503, "SlowDown"), table.FaultTemporary},
		{"throttling", awsError(400, "ThrottlingException"), table.FaultTemporary},
		{"internal error", awsError(500, "InternalError"), table.FaultTemporary},
		{"5xx without a code", awsError(502, "UnknownError"), table.FaultTemporary},
		{"too many requests", awsError(429, "UnknownError"), table.FaultTemporary},
		{"request timeout", awsError(400, "RequestTimeout"), table.FaultTemporary},
		{"access denied", awsError(403, "AccessDenied"), table.FaultPermanent},
		{"403 without a body", awsError(403, "UnknownError"), table.FaultPermanent},
		{"glue entity not found", awsError(400, "EntityNotFoundException"), table.FaultPermanent},
		{"bad credentials", awsError(403, "InvalidAccessKeyId"), table.FaultPermanent},
		{"no such bucket", awsError(404, "NoSuchBucket"), table.FaultPermanent},
		{"no such key", awsError(404, "NoSuchKey"), table.FaultMissing},
		{"local file missing", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, table.FaultMissing},
		{"local permission", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, table.FaultPermanent},
		{"immutable file", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EPERM}, table.FaultPermanent},
		{"file where a folder should be", &fs.PathError{Op: "mkdir", Path: "/x", Err: syscall.ENOTDIR}, table.FaultPermanent},
		{"read-only file system", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}, table.FaultPermanent},
		{"disk full", &fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, table.FaultPermanent},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, table.FaultTemporary},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, table.FaultTemporary},
		{"network timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeout{}}, table.FaultTemporary},
		{"body cut short", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), table.FaultTemporary},
		{"deadline", fmt.Errorf("commit: %w", context.DeadlineExceeded), table.FaultTemporary},
		{"canceled", fmt.Errorf("commit: %w", context.Canceled), table.FaultPermanent},
		{"sqlite busy", sqliteError(5), table.FaultTemporary},
		{"sqlite busy snapshot", sqliteError(5 | 2<<8), table.FaultTemporary},
		{"sqlite constraint", sqliteError(19), table.FaultUnknown},
		{"untyped", errors.New("requirement failed: branch main has changed"), table.FaultUnknown},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", awsError(403, "AccessDenied"))), table.FaultPermanent},
	} {
		if got := table.FaultOf(tc.err); got != tc.want {
			t.Errorf("%s: FaultOf(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, err := range []error{table.ErrConflict, table.ErrCommitUnknown, table.ErrTransient} {
		if !table.Retryable(fmt.Errorf("x: %w: y", err)) {
			t.Errorf("%v is not retryable", err)
		}
	}
	for _, err := range []error{errors.New("x"), change.ErrMalformed, context.Canceled} {
		if table.Retryable(err) {
			t.Errorf("%v is retryable", err)
		}
	}
}

// TestBackoff: the wait grows with the attempt up to 5s, with up to half
// taken off at random, and ends early with the context's error.
func TestBackoff(t *testing.T) {
	start := time.Now()
	if err := table.Backoff(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Errorf("first backoff waited %v, want at least 25ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	if err := table.Backoff(ctx, 20); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled backoff: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cancelled backoff waited %v", d)
	}
}
