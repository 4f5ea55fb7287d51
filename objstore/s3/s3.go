// Package s3 is an objstore.Store on an Amazon S3 bucket (or an
// S3-compatible server), built on aws-sdk-go-v2.
//
// A Store is rooted at s3://bucket/prefix: keys are relative to the prefix.
// Credentials come only from the default AWS chain (environment, shared
// profile, ECS task role, instance profile), never from lakemerge's job file.
// Listing is paginated; uploads go through the SDK's transfer manager, which
// switches to multipart uploads for large bodies; CreateExclusive is a
// conditional write (If-None-Match: *), which S3 guarantees lets exactly one
// of concurrent writers create a key. Throttling and 5xx answers are retried
// by the SDK's standard retryer with exponential backoff and jitter; a
// connection that cannot be made (refused, unknown host, no answer within
// 5 s) is tried only three times, a quarter second apart, and fails naming
// the endpoint. With a
// KMS key configured every object this package writes is encrypted with
// SSE-KMS under that key. Besides objstore.Store, Stat (HEAD) and
// OpenRange (a ranged GET) read an object's info and a part of its
// content, so that Iceberg's Parquet reads fetch footers and column chunks
// instead of whole files (objstore/icebergio).
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/lakemerge/lakemerge/objstore"
)

// Options tune the client. The zero value talks to AWS in the region of
// the default chain.
type Options struct {
	Region string // overrides the chain's region
	// Endpoint overrides the S3 endpoint (S3-compatible servers, tests).
	Endpoint string
	// PathStyle addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key; S3-compatible servers usually need it.
	PathStyle bool
	// KMSKeyID, when set, encrypts every object written with SSE-KMS.
	KMSKeyID string
	// MaxAttempts bounds tries per request (throttling, 5xx); 0 means 10.
	// A connection that cannot be made is tried three times at most.
	MaxAttempts int
}

// LoadConfig returns the AWS configuration of the default credential chain
// with the region and retry policy of opts and connects bounded by
// connectTimeout. The Glue catalog and the job file's S3 and SSM reads use
// it too, so the policy is the same for all of them.
func LoadConfig(ctx context.Context, opts Options) (aws.Config, error) {
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = 10
	}
	lo := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return connectRetryer{retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = 20 * time.Second
			})}
		}),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = connectTimeout
		})),
	}
	if opts.Region != "" {
		lo = append(lo, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// Store is a bucket prefix used as an object store. Safe for concurrent
// use.
type Store struct {
	client *s3.Client
	tm     *transfermanager.Client
	bucket string
	root   string // "" or ends with "/"
	kms    string
}

var _ objstore.Store = (*Store)(nil)

// New returns a store for s3://bucket/prefix using cfg (see LoadConfig).
func New(cfg aws.Config, bucket, prefix string, opts Options) *Store {
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
		// S3-compatible servers often send no checksums; do not log each time.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	root := strings.Trim(prefix, "/")
	if root != "" {
		root += "/"
	}
	return &Store{client: client, tm: transfermanager.New(client), bucket: bucket, root: root, kms: opts.KMSKeyID}
}

// ParseURL splits s3://bucket/prefix.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok || rest == "" || strings.HasPrefix(rest, "/") {
		return "", "", fmt.Errorf("%q is not an s3://bucket/prefix location", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, prefix, nil
}

func (s *Store) key(k string) string { return s.root + k }

// Bucket is the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// List returns the objects under prefix, sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]objstore.ObjectInfo, error) {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.key(prefix)),
	})
	var out []objstore.ObjectInfo
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.bucket, s.key(prefix), err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.root)
			if strings.HasSuffix(k, "/") {
				continue // a folder marker, not an object
			}
			out = append(out, objstore.ObjectInfo{
				Key:          k,
				Size:         aws.ToInt64(o.Size),
				ETag:         strings.Trim(aws.ToString(o.ETag), `"`),
				LastModified: aws.ToTime(o.LastModified),
			})
		}
	}
	slices.SortFunc(out, func(a, b objstore.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Open reads one object.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.get(ctx, key, nil)
}

// Stat returns the info of one object (a HEAD request), as List reports
// it.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))})
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			err = objstore.ErrNotExist
		}
		return objstore.ObjectInfo{}, fmt.Errorf("stat s3://%s/%s: %w", s.bucket, s.key(key), err)
	}
	return objstore.ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         strings.Trim(aws.ToString(out.ETag), `"`),
		LastModified: aws.ToTime(out.LastModified),
	}, nil
}

// OpenRange reads length bytes of one object from offset (a ranged GET),
// or to its end when length < 0. A range that runs past the end stops at
// the end; one that starts at or past the end reads nothing.
func (s *Store) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("open s3://%s/%s: negative offset %d", s.bucket, s.key(key), offset)
	}
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	r := fmt.Sprintf("bytes=%d-", offset)
	if length > 0 {
		r += fmt.Sprint(offset + length - 1)
	}
	body, err := s.get(ctx, key, aws.String(r))
	if httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
		// The range starts at or past the end (S3 answers 416 even for an
		// empty object).
		return io.NopCloser(strings.NewReader("")), nil
	}
	return body, err
}

func (s *Store) get(ctx context.Context, key string, rng *string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key)), Range: rng})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) || httpStatus(err) == http.StatusNotFound {
			return nil, fmt.Errorf("open s3://%s/%s: %w", s.bucket, s.key(key), objstore.ErrNotExist)
		}
		return nil, fmt.Errorf("open s3://%s/%s: %w", s.bucket, s.key(key), err)
	}
	return out.Body, nil
}

func (s *Store) upload(ctx context.Context, key string, r io.Reader, exclusive bool) error {
	in := &transfermanager.UploadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key)), Body: r}
	if exclusive {
		in.IfNoneMatch = aws.String("*")
	}
	if s.kms != "" {
		in.ServerSideEncryption = "aws:kms"
		in.SSEKMSKeyID = aws.String(s.kms)
	}
	_, err := s.tm.UploadObject(ctx, in)
	return err
}

// Put stores r under key, replacing any object there.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	if err := s.upload(ctx, key, r, false); err != nil {
		return fmt.Errorf("write s3://%s/%s: %w", s.bucket, s.key(key), err)
	}
	return nil
}

// CreateExclusive stores r under key only if no object has that key. S3
// answers 412 when the key exists, and 409 when a concurrent conditional
// write is in flight; then the body is sent again, because the other
// writer may yet fail. r must be an io.Seeker for that retry.
func (s *Store) CreateExclusive(ctx context.Context, key string, r io.Reader) error {
	for attempt := 1; ; attempt++ {
		err := s.upload(ctx, key, r, true)
		switch st := httpStatus(err); {
		case err == nil:
			return nil
		case st == http.StatusPreconditionFailed:
			return fmt.Errorf("create s3://%s/%s: %w", s.bucket, s.key(key), objstore.ErrExists)
		case st == http.StatusConflict && attempt < 5:
			seeker, ok := r.(io.Seeker)
			if !ok {
				return fmt.Errorf("create s3://%s/%s: conflicting concurrent write and the body cannot be re-sent: %w", s.bucket, s.key(key), err)
			}
			if _, serr := seeker.Seek(0, io.SeekStart); serr != nil {
				return fmt.Errorf("create s3://%s/%s: %w", s.bucket, s.key(key), serr)
			}
			t := time.NewTimer(time.Duration(attempt*attempt) * 100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		default:
			return fmt.Errorf("create s3://%s/%s: %w", s.bucket, s.key(key), err)
		}
	}
}

// Delete removes an object; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key(key))})
	if err != nil && httpStatus(err) != http.StatusNotFound {
		return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, s.key(key), err)
	}
	return nil
}

// httpStatus is the HTTP status of an AWS API error, 0 when there is none.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed":
			return http.StatusPreconditionFailed
		case "ConditionalRequestConflict":
			return http.StatusConflict
		case "NoSuchKey", "NotFound":
			return http.StatusNotFound
		case "InvalidRange":
			return http.StatusRequestedRangeNotSatisfiable
		}
	}
	return 0
}
