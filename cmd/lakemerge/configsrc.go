package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/objstore"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
)

// The job file can live where ECS tasks keep their configuration:
//
//	--config path/to/job.yaml        a file
//	--config s3://bucket/key         an S3 object
//	--config ssm:/parameter/name     an SSM Parameter Store parameter
//	                                 (String or SecureString, decrypted)
//
// Whatever the source, the text goes through config.ParseEnv with the
// process's environment, and errors name the source (ssm:/lakemerge/job:12:
// ...). S3 and SSM are reached with the default AWS chain (credentials,
// region, and endpoint overrides such as AWS_ENDPOINT_URL_SSM).

// maxJobFile bounds what is read from S3 for a job file.
const maxJobFile = 16 << 20

// readJob reads and checks the job file at src (a path, s3:// or ssm:).
// Errors that retrying cannot fix — a missing object or parameter, access
// denied, a bad job file — are usage errors (errUsage); others (network,
// throttling after the SDK's retries) are not.
func readJob(ctx context.Context, src string) (*config.Job, error) {
	switch {
	case strings.HasPrefix(src, "s3://"), strings.HasPrefix(src, "ssm:"):
		data, err := fetchJob(ctx, src)
		if err != nil {
			return nil, err
		}
		job, err := config.ParseEnv(data, src, os.LookupEnv)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		if job.Catalog.Type == "sqlite" && !filepath.IsAbs(job.Catalog.Path) {
			return nil, fmt.Errorf("%w: %s: catalog.path %q: a relative path is relative to the job file's folder, which a job file from %s does not have: give an absolute path",
				errUsage, src, job.Catalog.Path, strings.SplitN(src, ":", 2)[0])
		}
		return job, nil
	}
	job, err := config.LoadEnv(src, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return job, nil
}

// fetchJob reads the text of a job file from S3 or SSM.
func fetchJob(ctx context.Context, src string) ([]byte, error) {
	// objstore/s3's policy: a dead endpoint fails in seconds, as for the
	// raw zone and the warehouse, not after the SDK's 30 s connect timeout
	// and its default retries.
	cfg, err := objs3.LoadConfig(ctx, objs3.Options{})
	if err != nil {
		return nil, fmt.Errorf("read job file %s: %w", src, err)
	}
	if name, ok := strings.CutPrefix(src, "ssm:"); ok {
		if name == "" {
			return nil, fmt.Errorf("%w: --config %q: want ssm:/parameter/name", errUsage, src)
		}
		out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{
			Name:           aws.String(name),
			WithDecryption: aws.Bool(true),
		})
		if err != nil {
			return nil, fetchErr(fmt.Errorf("read job file %s: %w", src, err))
		}
		return []byte(aws.ToString(out.Parameter.Value)), nil
	}
	bucket, key, err := objs3.ParseURL(src)
	if err != nil || key == "" || strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("%w: --config %q: want s3://bucket/key of the job file", errUsage, src)
	}
	rc, err := objs3.New(cfg, bucket, "", objs3.Options{}).Open(ctx, key)
	if err != nil {
		return nil, fetchErr(fmt.Errorf("read job file: %w", err)) // the store's error names src
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxJobFile+1))
	switch {
	case err != nil:
		return nil, fetchErr(fmt.Errorf("read job file %s: %w", src, err))
	case len(data) > maxJobFile:
		return nil, fmt.Errorf("%w: read job file %s: larger than %d MiB", errUsage, src, maxJobFile>>20)
	}
	return data, nil
}

// fetchErr classifies an error of reading a job file from S3 or SSM;
// errors that name a missing object or parameter, or access denied, are
// usage errors: running again will not help.
func fetchErr(err error) error {
	var ae smithy.APIError
	var re interface{ HTTPStatusCode() int }
	switch {
	case errors.Is(err, objstore.ErrNotExist):
		return fmt.Errorf("%w: %w", errUsage, err)
	case errors.As(err, &ae) && (ae.ErrorCode() == "ParameterNotFound" || ae.ErrorCode() == "ParameterVersionNotFound" ||
		ae.ErrorCode() == "AccessDeniedException" || ae.ErrorCode() == "AccessDenied" || ae.ErrorCode() == "ValidationException" ||
		ae.ErrorCode() == "NoSuchBucket"):
		return fmt.Errorf("%w: %w", errUsage, err)
	case errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusForbidden || re.HTTPStatusCode() == http.StatusNotFound):
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return err
}
