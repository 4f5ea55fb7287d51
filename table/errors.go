package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/lakemerge/lakemerge/objstore"
)

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

// Fault is what kind of failure an error is, as its types tell.
type Fault int

const (
	// FaultUnknown: nothing in the error's types tells (iceberg-go's
	// requirement checks, for one, fail with untyped errors). The writer
	// decides from what it can observe, such as whether the table moved on.
	FaultUnknown Fault = iota
	// FaultTemporary: the same request may succeed when made again.
	FaultTemporary
	// FaultMissing: a file or object does not exist. Permanent, unless the
	// table moved on since it was read (the file belonged to an older
	// state).
	FaultMissing
	// FaultPermanent: making the request again cannot help.
	FaultPermanent
)

// FaultOf classifies err by its types, never by its message. It is the
// fact table writers build their categories on (where in a commit attempt
// the error happened decides between ErrTransient, ErrCommitUnknown and
// ErrConflict).
//
// Temporary are: context.DeadlineExceeded and net.Error timeouts; a
// connection refused, reset or closed mid-request (syscall.ECONNREFUSED,
// ECONNRESET, ECONNABORTED, EPIPE, io.ErrUnexpectedEOF, *net.OpError); an
// API error whose code is a throttling or transient one (temporaryCode) or
// whose HTTP status is 408, 429 or 5xx; SQLite's busy and locked errors
// (the local catalog while another process writes it).
//
// Missing are: fs.ErrNotExist, objstore.ErrNotExist, and API errors with
// code NoSuchKey or NotFound or HTTP status 404 (but NoSuchBucket is
// permanent).
//
// Permanent are: context.Canceled (the run is being stopped);
// fs.ErrPermission; a read-only or full file system, a file where a folder
// should be and the like (EROFS, ENOSPC, EDQUOT, ENOTDIR, EISDIR,
// ENAMETOOLONG); API errors with HTTP status 400, 401, 403 or 405 (access
// denied, bad credentials, bad requests, Glue's EntityNotFoundException) or
// code NoSuchBucket.
//
// API errors are found by their methods ErrorCode() and HTTPStatusCode(),
// which smithy-go's APIError and ResponseError have (every S3 and Glue error
// of the AWS SDK, also when gocloud or iceberg-go wrap them), and SQLite
// errors by Code() (modernc.org/sqlite), so this package imports neither.
func FaultOf(err error) Fault {
	var (
		api    interface{ ErrorCode() string }
		status interface{ HTTPStatusCode() int }
		sqlite interface{ Code() int }
		ne     net.Error
		op     *net.OpError
	)
	code, httpStatus := "", 0
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	if errors.As(err, &status) {
		httpStatus = status.HTTPStatusCode()
	}
	switch {
	case err == nil:
		return FaultUnknown
	case errors.Is(err, context.Canceled):
		return FaultPermanent
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne) && ne.Timeout(),
		temporaryCode(code),
		httpStatus == 408 || httpStatus == 429 || httpStatus >= 500,
		errors.As(err, &sqlite) && (sqlite.Code()&0xff == 5 || sqlite.Code()&0xff == 6): // SQLITE_BUSY, SQLITE_LOCKED
		return FaultTemporary
	case code == "NoSuchBucket":
		return FaultPermanent
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, objstore.ErrNotExist), code == "NoSuchKey", code == "NotFound", httpStatus == 404:
		return FaultMissing
	case errors.Is(err, fs.ErrPermission),
		errors.Is(err, syscall.EROFS), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT),
		errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENAMETOOLONG),
		httpStatus == 400 || httpStatus == 401 || httpStatus == 403 || httpStatus == 405:
		return FaultPermanent
	case errors.As(err, &op):
		return FaultTemporary // a network operation failed: dial, read or write
	}
	return FaultUnknown
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

// Phase says where in a commit attempt an error happened.
type Phase int

const (
	// BeforeCommit: loading the table, reading files, writing files,
	// staging. Nothing of the attempt is visible to anyone.
	BeforeCommit Phase = iota
	// InCommit: the request that makes the commit (a catalog's
	// compare-and-swap, the conditional put of a log entry). It may have
	// landed.
	InCommit
)

// Moved is what a writer finds when it looks at its table again after an
// error whose type does not tell its category.
type Moved int

const (
	// Unmoved: the table is at the state the attempt began from.
	Unmoved Moved = iota
	// MovedOn: another commit landed since the attempt began.
	MovedOn
	// MovedToOurs: the table moved on to a state that carries what this
	// attempt meant to commit (its commit landed after all, or another
	// run committed the same).
	MovedToOurs
)

// Classify is the part of every writer's error classifier that types and
// the table's state decide alike; a writer first handles the errors whose
// category its own types tell (a catalog's failed compare-and-swap is a
// conflict) and hands the rest here. It puts err, met in phase p of a
// commit attempt, into its category, by type, never by message:
//
//   - the caller's ctx is done, or err has a category already: err as it
//     is;
//   - a temporary failure (FaultOf): ErrCommitUnknown in the commit,
//     ErrTransient before it;
//   - a permanent failure by type (access denied, a missing bucket, a bad
//     request, a local permission or file system error): err as it is, so
//     the run fails at once instead of rewriting its files on every
//     attempt;
//   - otherwise (an untyped error, or a file that does not exist) the table
//     tells, as moved reports it: a table that moved on means the attempt
//     lost a race (ErrConflict: a concurrent commit changed what the
//     attempt staged against, or a file of the state it began from is
//     gone); one that moved to ours is ErrCommitUnknown (the merge loop's
//     reload tells whether it landed); an unmoved table leaves err
//     permanent. When the table cannot be read, the category is
//     ErrCommitUnknown in the commit and ErrTransient before it.
func Classify(ctx context.Context, p Phase, err error, moved func(context.Context) (Moved, error)) error {
	if err == nil || ctx.Err() != nil || Retryable(err) {
		return err
	}
	retry := ErrTransient
	if p == InCommit {
		retry = ErrCommitUnknown
	}
	switch FaultOf(err) {
	case FaultTemporary:
		return fmt.Errorf("%w: %w", retry, err)
	case FaultPermanent:
		return err
	}
	m, lerr := moved(ctx)
	switch {
	case lerr != nil:
		return fmt.Errorf("%w: %w (and the table cannot be read back: %w)", retry, err, lerr)
	case m == MovedToOurs:
		return fmt.Errorf("%w: the table moved on to the bookmark this commit carries: %w", ErrCommitUnknown, err)
	case m == MovedOn:
		return fmt.Errorf("%w: the table moved on since this attempt began: %w", ErrConflict, err)
	}
	return err
}

// Backoff waits before attempt (the second is 1) of a commit that lost a
// conflict or met a transient error: 50ms·2^(attempt-1), at most 5s, less
// a random part of up to half (so that writers that lost to each other do
// not meet again in step), or until ctx ends, returning its error.
func Backoff(ctx context.Context, attempt int) error {
	d := 50 * time.Millisecond << min(attempt-1, 7)
	d = min(d, 5*time.Second)
	d -= rand.N(d/2 + 1)
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
