package delta_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/fault"
	"github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/objstore/mem"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
	"github.com/lakemerge/lakemerge/table/delta"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

// TestSuite: the Delta writer passes table/tabletest on a folder, in
// memory, and on S3 (the moto server scripts/test.sh starts; under CI it
// must run).
func TestSuite(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		tabletest.Run(t, gated(func(t *testing.T) objstore.Store {
			s, err := local.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}), false)
	})
	t.Run("mem", func(t *testing.T) {
		tabletest.Run(t, gated(func(*testing.T) objstore.Store { return mem.New() }), false)
	})
	if testenv.Optional(t, "LAKEMERGE_AWS_ENDPOINT", "the suite on S3") == "" {
		return
	}
	t.Run("s3", func(t *testing.T) {
		ep := testenv.AWS(t)
		tabletest.Run(t, onS3(ep), true)
	})
}

// writer adapts a delta.Table to tabletest.Writer.
type writer struct{ *delta.Table }

func (w writer) Begin(ctx context.Context) (tabletest.Txn, error) {
	x, err := w.Table.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// root is the key prefix of the table named name ("" the scenario's).
func root(name string) string {
	if name == "" {
		name = "items"
	}
	return "shop.db/" + name + "/"
}

// open is a handle of the table o names in store, checkpointing every 3
// versions so that the suite's runs cross checkpoints.
func open(store objstore.Store, o tabletest.Options) tabletest.Writer {
	keys := o.Keys
	if keys == nil {
		keys = []string{"id"}
	}
	return writer{delta.New(store, root(o.Name), delta.Options{
		Keys:               keys,
		TargetFileBytes:    o.TargetFileBytes,
		TombstoneHorizon:   o.TombstoneHorizon,
		Now:                o.Now,
		CheckpointInterval: 3,
	}, o.Mem)}
}

// gated is a factory of fresh stores that newStore makes, wrapped so that
// Deny refuses writes with a permission error (tabletest.Gate).
func gated(newStore func(t *testing.T) objstore.Store) tabletest.Factory {
	return func(t *testing.T) tabletest.Backend {
		gate := &tabletest.Gate{}
		store := fault.New(newStore(t), fault.Config{Injector: gate})
		return tabletest.Backend{
			Open: func(o tabletest.Options) tabletest.Writer { return open(store, o) },
			Deny: func(kind tabletest.FileKind) (string, func()) {
				if kind == tabletest.DataFiles {
					return "/part-", gate.Deny(func(key string) bool { return strings.HasPrefix(key, root("")+"part-") })
				}
				return "_delta_log/0", gate.Deny(func(key string) bool {
					return strings.HasPrefix(key, root("")+"_delta_log/0") && strings.HasSuffix(key, ".json")
				})
			},
		}
	}
}

// buckets numbers the S3 buckets of this process.
var buckets atomic.Int64

// onS3 is a factory of fresh buckets on the S3 server at ep; Deny is a
// bucket policy (S3 answers AccessDenied), and Unreachable a bucket that
// does not exist.
func onS3(ep string) tabletest.Factory {
	return func(t *testing.T) tabletest.Backend {
		ctx := context.Background()
		opts := objs3.Options{Endpoint: ep, PathStyle: true}
		cfg, err := objs3.LoadConfig(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		bucket := fmt.Sprintf("lm-delta-%d-%d", os.Getpid(), buckets.Add(1))
		client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true })
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		store := objs3.New(cfg, bucket, "warehouse", opts)
		deny := func(pattern string) func() {
			pol, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::" + bucket + "/warehouse/" + root("") + pattern}}})
			if _, err := client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(pol))}); err != nil {
				t.Fatal(err)
			}
			return func() {
				if _, err := client.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		return tabletest.Backend{
			Open: func(o tabletest.Options) tabletest.Writer { return open(store, o) },
			Deny: func(kind tabletest.FileKind) (string, func()) {
				if kind == tabletest.DataFiles {
					return "/part-", deny("part-*")
				}
				return "_delta_log/0", deny("_delta_log/0*.json")
			},
			Unreachable: func(o tabletest.Options) tabletest.Writer {
				return open(objs3.New(cfg, "lm-missing-"+bucket, "warehouse", opts), o)
			},
		}
	}
}
