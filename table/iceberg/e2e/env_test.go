// Package e2e_test tests table/iceberg wired as the binary wires it: every
// table file through lakemerge's stores (objstore/icebergio, which
// wire.RegisterFileIO registers process-wide, hence a test package of its
// own), with the SQLite catalog on a folder and with Glue on S3 (the moto
// server scripts/test.sh starts). It runs table/tabletest's suite there,
// and the scenarios only Iceberg has: the bookmark file, a catalog rolled
// back to an earlier metadata file, pyiceberg reading the table.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/catalog/glue"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/objstore/fault"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
	"github.com/lakemerge/lakemerge/table/iceberg"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

func TestMain(m *testing.M) {
	wire.RegisterFileIO()
	os.Exit(m.Run())
}

// backends lists where the tests run: on a folder with the SQLite catalog
// always, and on S3 with Glue when LAKEMERGE_AWS_ENDPOINT is set; under CI
// it must be.
func backends(t *testing.T) []string {
	if testenv.Optional(t, "LAKEMERGE_AWS_ENDPOINT", "the S3 + Glue tests") != "" {
		return []string{"local", "aws"}
	}
	return []string{"local"}
}

// env is one warehouse and catalog.
type env struct {
	t       *testing.T
	backend string
	dir     string // local: the folder of catalog.db and warehouse/
	cat     wire.Catalog
	db      string
	wh      string   // the warehouse's URL
	catArgs []string // how interop/read_iceberg.py opens the catalog
	// deny refuses PutObject of the keys (under the warehouse) matching
	// pattern, until the returned func lifts it: a Gate locally, a bucket
	// policy on S3.
	deny        func(pattern string) func()
	unreachable func(o tabletest.Options) tabletest.Writer
	// gate fails the writes under the warehouse its rule matches (local
	// only; nil on S3).
	gate *tabletest.Gate
}

// awsRun numbers the buckets and Glue databases of this process.
var awsRun atomic.Int64

func newEnv(t *testing.T, backend string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, backend: backend, dir: t.TempDir(), db: "shop"}
	switch backend {
	case "local":
		gate := &tabletest.Gate{}
		e.gate = gate
		inner, err := objlocal.New(filepath.Join(e.dir, "warehouse"))
		if err != nil {
			t.Fatal(err)
		}
		store := fault.New(inner, fault.Config{Injector: gate})
		wh := "file://" + filepath.Join(e.dir, "warehouse")
		e.wh = wh
		lc, err := local.Open(filepath.Join(e.dir, "catalog.db"), wh, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.cat, err = wire.WarehouseCatalog(lc, store, wh); err != nil {
			t.Fatal(err)
		}
		e.catArgs = []string{"sqlite", filepath.Join(e.dir, "catalog.db"), wh}
		e.deny = func(pattern string) func() {
			// As an IAM resource pattern: one * matching anything.
			before, after, _ := strings.Cut(pattern, "*")
			return gate.Deny(func(key string) bool {
				return len(key) >= len(before)+len(after) && strings.HasPrefix(key, before) && strings.HasSuffix(key, after)
			})
		}
	case "aws":
		ep := testenv.AWS(t)
		opts := objs3.Options{Endpoint: ep, PathStyle: true}
		cfg, err := objs3.LoadConfig(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		bucket := fmt.Sprintf("lm-ice-%d-%d", os.Getpid(), awsRun.Add(1))
		client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true })
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		e.db = strings.ReplaceAll(bucket, "-", "_")
		openCat := func(bucket string) wire.Catalog {
			wh := "s3://" + bucket + "/warehouse"
			gc, err := glue.Open(cfg, glue.Options{Warehouse: wh, Endpoint: ep})
			if err != nil {
				t.Fatal(err)
			}
			cat, err := wire.WarehouseCatalog(gc, objs3.New(cfg, bucket, "warehouse", opts), wh)
			if err != nil {
				t.Fatal(err)
			}
			return cat
		}
		e.cat = openCat(bucket)
		e.wh = "s3://" + bucket + "/warehouse"
		e.catArgs = []string{"glue", ep}
		e.deny = func(pattern string) func() {
			pol, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::" + bucket + "/warehouse/" + pattern}}})
			if _, err := client.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(pol))}); err != nil {
				t.Fatal(err)
			}
			return func() {
				if _, err := client.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		e.unreachable = func(o tabletest.Options) tabletest.Writer {
			cat := openCat("lm-missing-" + bucket)
			t.Cleanup(func() { cat.Close() })
			db := e.db + "_missing"
			if err := cat.EnsureNamespace(ctx, db); err != nil {
				t.Fatal(err)
			}
			opts := e.options(o, db)
			opts.Location, opts.Files = "", nil // where Glue puts it, unchecked: the bucket is missing
			return writer{iceberg.New(cat, opts, o.Mem)}
		}
	default:
		t.Fatalf("unknown backend %s", backend)
	}
	if err := e.cat.EnsureNamespace(ctx, e.db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cat.Close() })
	return e
}

// writer adapts an iceberg.Table to tabletest.Writer.
type writer struct{ *iceberg.Table }

func (w writer) Begin(ctx context.Context) (tabletest.Txn, error) {
	x, err := w.Table.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// name is the table o names ("" the scenario's: items).
func name(o tabletest.Options) string {
	if o.Name == "" {
		return "items"
	}
	return o.Name
}

// options are the writer options of the table o names in database db, as
// wire.Build sets them: bucket(4, first key) partitioning, created at
// <warehouse>/<db>.db/<name>, refusing to create over table metadata the
// catalog does not know.
func (e *env) options(o tabletest.Options, db string) iceberg.Options {
	keys := o.Keys
	if keys == nil {
		keys = []string{"id"}
	}
	var files func(context.Context) iceio.IO
	if f, ok := e.cat.(interface {
		IO(context.Context) iceio.IO
	}); ok {
		files = f.IO
	}
	return iceberg.Options{Database: db, Name: name(o), Keys: keys, Buckets: 4,
		Location: e.wh + "/" + db + ".db/" + name(o), Files: files,
		TargetFileBytes: o.TargetFileBytes, TombstoneHorizon: o.TombstoneHorizon, Now: o.Now}
}

// open is a handle of the table o names.
func (e *env) open(o tabletest.Options) tabletest.Writer {
	return writer{iceberg.New(e.cat, e.options(o, e.db), o.Mem)}
}

// prefix is the key prefix (under the warehouse) of the table items'
// files, which exists.
func (e *env) prefix() string {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), icetable.Identifier{e.db, "items"})
	if err != nil {
		e.t.Fatal(err)
	}
	loc := strings.TrimRight(tbl.Location(), "/")
	for _, root := range []string{"file://" + filepath.Join(e.dir, "warehouse") + "/", "s3://"} {
		loc = strings.TrimPrefix(loc, root)
	}
	if e.backend == "aws" {
		_, loc, _ = strings.Cut(loc, "/warehouse/")
	}
	return loc + "/"
}

// suiteBackend is the env as a tabletest backend.
func (e *env) suiteBackend() tabletest.Backend {
	return tabletest.Backend{
		Open: e.open,
		Deny: func(kind tabletest.FileKind) (string, func()) {
			p := e.prefix()
			if kind == tabletest.DataFiles {
				return p + "data/", e.deny(p + "data/*")
			}
			return ".metadata.json", e.deny(p + "metadata/*.metadata.json")
		},
		Unreachable: e.unreachable,
	}
}

// TestSuite: table/iceberg passes table/tabletest on each backend.
func TestSuite(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b, func(t *testing.T) {
			tabletest.Run(t, func(t *testing.T) tabletest.Backend { return newEnv(t, b).suiteBackend() }, b == "aws")
		})
	}
}
