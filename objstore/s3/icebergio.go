package s3

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/io/gocloud/blobfs"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob/s3blob"
)

// Catalog properties read by IcebergIO. s3.endpoint and s3.region are
// iceberg-go's own names; the others are lakemerge's.
const (
	PropEndpoint  = "s3.endpoint"
	PropRegion    = "s3.region"
	PropPathStyle = "s3.path-style-access"
	PropKMSKeyID  = "lakemerge.s3.sse-kms-key-id"
)

// IcebergIO is an iceberg-go file IO factory for s3:// locations: the
// table files iceberg-go writes and reads go through the same client
// options as the Store (endpoint, path style, retries) and, with a KMS key
// in the catalog properties, are encrypted with SSE-KMS under it. It
// reuses iceberg-go's blob file system (blobfs) on a gocloud bucket. The
// AWS configuration is the one the catalog puts in ctx (the Glue catalog
// does), else the default chain (LoadConfig).
//
// Register it with iceberg-go's io.Register for the schemes s3, s3a, s3n.
func IcebergIO(ctx context.Context, parsed *url.URL, props map[string]string) (iceio.IO, error) {
	opts := Options{Region: props[PropRegion], Endpoint: props[PropEndpoint], KMSKeyID: props[PropKMSKeyID]}
	opts.PathStyle = opts.Endpoint != ""
	if v, ok := props[PropPathStyle]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("s3 file io: %s=%q: %w", PropPathStyle, v, err)
		}
		opts.PathStyle = b
	}
	var cfg aws.Config
	if c := utils.GetAwsConfig(ctx); c != nil {
		cfg = c.Copy()
		if opts.Region != "" {
			cfg.Region = opts.Region
		}
	} else {
		var err error
		if cfg, err = LoadConfig(ctx, opts); err != nil {
			return nil, err
		}
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
		// S3-compatible servers often send no checksums; do not log each time.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	bo := &s3blob.Options{}
	if opts.KMSKeyID != "" {
		bo.EncryptionType = types.ServerSideEncryptionAwsKms
		bo.KMSEncryptionID = opts.KMSKeyID
	}
	bucket, err := s3blob.OpenBucketV2(ctx, client, parsed.Host, bo)
	if err != nil {
		return nil, fmt.Errorf("s3 file io for %s: %w", parsed.Host, err)
	}
	return blobfs.New(ctx, bucket, blobfs.DefaultObjectLocationExtractor(parsed.Host, "s3", "s3a", "s3n")), nil
}
