package wire_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/catalog"

	"github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
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
