package local

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/apache/iceberg-go/table"
)

func TestOpenNamespaceAndDelta(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cat, err := Open(filepath.Join(dir, "sub", "c.db"), "file://"+filepath.Join(dir, "wh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	for range 2 {
		if err := cat.EnsureNamespace(ctx, "base"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := cat.CheckNamespaceExists(ctx, table.Identifier{"base"}); err != nil || !ok {
		t.Fatalf("namespace: %v %v", ok, err)
	}
	if loc, err := cat.DeltaLocation(ctx, "base", "orders"); err != nil || loc != "" {
		t.Fatalf("unregistered: %q %v", loc, err)
	}
	for _, loc := range []string{"file:///a/orders", "file:///b/orders"} {
		if err := cat.RegisterDelta(ctx, "base", "orders", loc); err != nil {
			t.Fatal(err)
		}
		if got, err := cat.DeltaLocation(ctx, "base", "orders"); err != nil || got != loc {
			t.Fatalf("location %q %v, want %q", got, err, loc)
		}
	}
}
