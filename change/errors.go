package change

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// ErrMalformed is the category of every input error: a file that cannot be
// decoded as its format says. It stops the table; the bookmark does not move
// past the file.
var ErrMalformed = errors.New("malformed input")

// MalformedError says which file, which line and why. It matches ErrMalformed
// with errors.Is.
type MalformedError struct {
	File   string // object key or path
	Line   int64  // 1-based physical line where the bad record starts; 0 if unknown
	Column string // column name, if the error is about one value
	Reason string
}

func (e *MalformedError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Column != "" {
		s += fmt.Sprintf(" column %s", e.Column)
	}
	return s + ": " + e.Reason
}

// Unwrap lets errors.Is(err, ErrMalformed) hold.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// Error categories. Table writers classify every error of a commit attempt
// into one of these or leave it permanent (no category: the run fails at
// once); the merge loop reacts to the category.
var (
	// ErrConflict: another writer committed first, or a file this attempt
	// read vanished because the table moved on. Nothing of ours landed;
	// reload, re-plan and commit again.
	ErrConflict = errors.New("commit conflict")
	// ErrCommitUnknown: the commit may or may not have landed (a timeout, a
	// dropped connection or a 5xx answer to the catalog update or the
	// conditional put of the log entry). Reload and compare the table's
	// bookmark with ours to find out.
	ErrCommitUnknown = errors.New("commit outcome unknown")
	// ErrTransient: a failure that may pass on its own (throttling, a 5xx
	// answer, a timeout, a dropped connection) before the commit request,
	// so nothing of ours landed. Reload and try again.
	ErrTransient = errors.New("transient failure")
)

// Retryable reports whether err is in a category the merge loop retries:
// ErrConflict, ErrCommitUnknown or ErrTransient. Everything else is
// permanent.
func Retryable(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrCommitUnknown) || errors.Is(err, ErrTransient)
}

// Temporary reports whether err is, by its type, a failure that may pass
// when the same request is made again. It is the fact table writers build
// their categories on (where in a commit attempt the error happened decides
// between ErrTransient and ErrCommitUnknown). Temporary are:
//
//   - context.DeadlineExceeded and net.Error timeouts;
//   - a connection that was refused, reset or closed mid-request
//     (syscall.ECONNREFUSED, ECONNRESET, ECONNABORTED, EPIPE, io.ErrUnexpectedEOF,
//     *net.OpError);
//   - an API error whose code is one of temporaryCode's (the throttling and
//     transient codes the AWS SDK retries), or whose HTTP status is 429 or
//     5xx. API errors are found by their methods, ErrorCode() and
//     HTTPStatusCode(), which smithy-go's APIError and ResponseError (every
//     S3 and Glue error of the AWS SDK) have; SQLite's busy and locked
//     errors (Code() 5 and 6, the local catalog while another process
//     writes it) count too.
//
// Everything else is not temporary: permission and authentication errors,
// missing buckets and tables, bad requests, local file system errors
// (fs.ErrPermission, a read-only or full disk, a file where a folder should
// be), and errors of unknown types. context.Canceled is never temporary:
// the run is being stopped.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) && temporaryCode(api.ErrorCode()) {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		if c := status.HTTPStatusCode(); c == 429 || c >= 500 {
			return true
		}
	}
	var sqlite interface{ Code() int }
	if errors.As(err, &sqlite) {
		if c := sqlite.Code() & 0xff; c == 5 || c == 6 { // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
	}
	var op *net.OpError
	return errors.As(err, &op)
}

// temporaryCode reports whether an API error code is one of a temporary
// failure: the AWS SDK's throttling and transient codes (aws/retry
// DefaultThrottleErrorCodes and DefaultRetryableErrorCodes) and S3's codes
// for the same.
func temporaryCode(code string) bool {
	switch code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException",
		"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
		"LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
		"EC2ThrottledException", "RequestTimeout", "RequestTimeoutException",
		"InternalError", "InternalFailure", "InternalServerException", "InternalServiceException",
		"ServiceUnavailable", "ServiceUnavailableException", "OperationAborted", "OperationAbortedException":
		return true
	}
	return false
}
