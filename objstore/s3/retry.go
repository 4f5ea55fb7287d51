package s3

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// connectRetries is how many times a request whose connection could not
// be made is tried again, connectDelay apart.
const (
	connectRetries = 2
	connectDelay   = 250 * time.Millisecond
)

// connectTimeout bounds the making of one TCP connection; the SDK's default
// is 30 s. An endpoint that never answers a connect (a blackholed address,
// a firewall that drops packets, a listener whose queue is full) held
// each of the three tries that long: 90 s before a run failed. A connect
// to any AWS region, VPC endpoint or S3-compatible server takes a round
// trip, milliseconds; 5 s leaves a wide margin for a loaded network and
// makes a dead endpoint fail in about 15 s. It bounds the connect only:
// reading a slow response keeps the SDK's timeouts (none on the body).
const connectTimeout = 5 * time.Second

// connectRetryer is the standard retryer with one change: a request whose
// connection could not be made at all (refused, no route to the host, a
// failed name lookup, a connect timeout) is tried again connectRetries
// times, connectDelay apart, then fails with an error naming the endpoint.
// A configured endpoint that refuses connections is a wrong endpoint or a
// server that is down, not a blip a batch job should wait minutes for: the
// standard policy (MaxAttempts tries, backoff up to 20 s) took about two
// minutes to give up. Throttling, 5xx answers and connections that fail
// once made (reset, timeout while reading) keep the standard policy.
//
// The SDK numbers attempt from 1 after the first failure, or from 0 under
// AWS_NEW_RETRIES_2026, which allows one more try.
type connectRetryer struct {
	aws.RetryerV2
}

// IsErrorRetryable implements aws.Retryer: a failed connection is, for
// RetryDelay to bound, even one the standard retryer does not retry (an
// unknown host), so that every such error names the endpoint alike.
func (r connectRetryer) IsErrorRetryable(err error) bool {
	return dialError(err) != nil || r.RetryerV2.IsErrorRetryable(err)
}

// RetryDelay implements aws.Retryer. An error stops the retries; the SDK
// returns it as the request's error.
func (r connectRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	op := dialError(err)
	if op == nil {
		return r.RetryerV2.RetryDelay(attempt, err)
	}
	if attempt > connectRetries {
		return 0, fmt.Errorf("cannot connect to %s: %w", endpointOf(err, op), err)
	}
	return connectDelay, nil
}

// dialError is the failed connection in err, nil when err is not one.
func dialError(err error) *net.OpError {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return op
	}
	return nil
}

// endpointOf is the scheme and host a failed request went to, or the
// address it dialled when the error holds no URL.
func endpointOf(err error, op *net.OpError) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
	}
	if op.Addr != nil {
		return op.Addr.String()
	}
	return "the endpoint"
}
