//go:build !(duckdb_arrow && cgo)

package transform

import (
	"context"
	"errors"
	"testing"
)

// TestNoEngine: a binary built without the engine says so at Open, and
// how to build one with it.
func TestNoEngine(t *testing.T) {
	if Available() {
		t.Fatal("Available in a build without the engine")
	}
	e, err := Open(context.Background(), Options{})
	if e != nil || !errors.Is(err, ErrNoEngine) {
		t.Fatalf("Open: %v, %v", e, err)
	}
	if want := "this lakemerge was built without the SQL engine that prepared tables need (DuckDB): build it with cgo and -tags duckdb_arrow"; err.Error() != want {
		t.Errorf("%s", err)
	}
}
