package wire_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/lakemerge/lakemerge/catalog/glue"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
)

// TestLoadTableKeepsParsedMetadata: two warehouse catalogs on one SQLite
// file and warehouse (two processes). A table loaded again after its own
// commit comes from the metadata the commit returned (its file is not
// read: the test removes it), and a commit through the other catalog is
// seen by the next load, as is the table's removal.
func TestLoadTableKeepsParsedMetadata(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wh := "file://" + filepath.Join(dir, "warehouse")
	open := func() wire.Catalog {
		store, err := objlocal.New(filepath.Join(dir, "warehouse"))
		if err != nil {
			t.Fatal(err)
		}
		lc, err := local.Open(filepath.Join(dir, "catalog.db"), wh, nil)
		if err != nil {
			t.Fatal(err)
		}
		cat, err := wire.WarehouseCatalog(lc, store, wh)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cat.Close() })
		return cat
	}
	a, b := open(), open()
	if err := a.EnsureNamespace(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	ident := icetable.Identifier{"db", "t"}
	sc := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	if _, err := a.CreateTable(ctx, ident, sc); err != nil {
		t.Fatal(err)
	}
	set := func(cat wire.Catalog, v string) string {
		t.Helper()
		tbl, err := cat.LoadTable(ctx, ident)
		if err != nil {
			t.Fatal(err)
		}
		_, loc, err := cat.CommitTable(ctx, ident, []icetable.Requirement{icetable.AssertTableUUID(tbl.Metadata().TableUUID())},
			[]icetable.Update{icetable.NewSetPropertiesUpdate(iceberg.Properties{"k": v})})
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	get := func(cat wire.Catalog) (string, string) {
		t.Helper()
		tbl, err := cat.LoadTable(ctx, ident)
		if err != nil {
			t.Fatal(err)
		}
		return tbl.Properties()["k"], tbl.MetadataLocation()
	}

	loc := set(a, "1")
	if v, l := get(b); v != "1" || l != loc {
		t.Fatalf("the other catalog: k=%q at %s, want 1 at %s", v, l, loc)
	}
	loc = set(b, "2")
	if v, l := get(a); v != "2" || l != loc {
		t.Fatalf("after the other catalog's commit: k=%q at %s, want 2 at %s", v, l, loc)
	}
	loc = set(a, "3")
	if err := os.Remove(filepath.Join(dir, "warehouse", strings.TrimPrefix(loc, wh))); err != nil {
		t.Fatal(err)
	}
	if v, l := get(a); v != "3" || l != loc {
		t.Fatalf("after its own commit: k=%q at %s, want 3 at %s", v, l, loc)
	}
	if _, err := b.LoadTable(ctx, ident); err == nil {
		t.Fatal("the other catalog loaded a table whose metadata file is gone")
	}
	if err := b.DropTable(ctx, ident); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoadTable(ctx, ident); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("load after the other catalog dropped the table: %v", err)
	}
}

// TestLoadTableOneGlueLookUp: on Glue (the moto server), a warehouse
// catalog that has not parsed a table's current metadata loads it with
// one GetTable (the pointer it reads the file at), not a second one by
// iceberg-go's LoadTable; a load of the unchanged table is one GetTable
// too, and a load after another catalog's commit sees that commit.
func TestLoadTableOneGlueLookUp(t *testing.T) {
	if testenv.Optional(t, "LAKEMERGE_AWS_ENDPOINT", "the Glue look-up count") == "" {
		return
	}
	ctx := context.Background()
	e := newEnv(t, scenario{backend: "aws", target: "iceberg", input: "dms"}) // a bucket on the moto server
	ep, wh := os.Getenv("LAKEMERGE_AWS_ENDPOINT"), e.whURL
	var getTables atomic.Int64
	glueCfg := e.aws.Copy()
	glueCfg.HTTPClient = countTarget{next: e.aws.HTTPClient, target: "AWSGlue.GetTable", n: &getTables}
	gc, err := glue.Open(glueCfg, glue.Options{Warehouse: wh, Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	open := func() wire.Catalog { // a process's: its own parsed metadata
		cat, err := wire.WarehouseCatalog(gc, objs3.New(e.aws, e.bucket, "warehouse", e.s3Opts), wh)
		if err != nil {
			t.Fatal(err)
		}
		return cat
	}
	a, b := open(), open()
	db := strings.ReplaceAll(e.bucket, "-", "_")
	if err := a.EnsureNamespace(ctx, db); err != nil {
		t.Fatal(err)
	}
	ident := icetable.Identifier{db, "t"}
	sc := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	created, err := a.CreateTable(ctx, ident, sc)
	if err != nil {
		t.Fatal(err)
	}
	load := func(what, wantLoc, wantK string) {
		t.Helper()
		getTables.Store(0)
		tbl, err := b.LoadTable(ctx, ident)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n := getTables.Load(); n != 1 || tbl.MetadataLocation() != wantLoc || tbl.Properties()["k"] != wantK {
			t.Errorf("%s: %d GetTable calls, at %s with k=%q; want 1, at %s with k=%q", what, n, tbl.MetadataLocation(), tbl.Properties()["k"], wantLoc, wantK)
		}
	}
	load("first load", created.MetadataLocation(), "")
	load("unchanged", created.MetadataLocation(), "")
	_, loc, err := a.CommitTable(ctx, ident, []icetable.Requirement{icetable.AssertTableUUID(created.Metadata().TableUUID())},
		[]icetable.Update{icetable.NewSetPropertiesUpdate(iceberg.Properties{"k": "1"})})
	if err != nil {
		t.Fatal(err)
	}
	load("after the other catalog's commit", loc, "1")
	if _, err := b.LoadTable(ctx, icetable.Identifier{db, "missing"}); !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Fatalf("load of a missing table: %v", err)
	}
}

// countTarget is an AWS HTTP client that counts the requests for one
// JSON API operation (X-Amz-Target) before sending them.
type countTarget struct {
	next   aws.HTTPClient
	target string
	n      *atomic.Int64
}

func (c countTarget) Do(r *http.Request) (*http.Response, error) {
	if r.Header.Get("X-Amz-Target") == c.target {
		c.n.Add(1)
	}
	return c.next.Do(r)
}
