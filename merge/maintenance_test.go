package merge_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/table/delta"
)

// TestMaintenanceFailureIsAWarning: when the Delta checkpoint written after
// a commit fails, the commit stands, the run succeeds and says so in
// Result.Warnings; the next run works and has no warning.
func TestMaintenanceFailureIsAWarning(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	whDir := filepath.Join(e.dir, "delta")
	wh, err := objlocal.New(whDir)
	if err != nil {
		t.Fatal(err)
	}
	tb := delta.New(wh, "shop.db/items", delta.Options{Name: "shop.items", Keys: []string{"id"}, CheckpointInterval: 1}, e.mem)
	run := func() ([]string, int64) {
		t.Helper()
		res, err := e.table(wire.DeltaTarget{Table: tb}).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return res.Warnings, res.Stats.Inserted + res.Stats.Updated + res.Stats.Deleted
	}
	scenario(e, 0)
	if w, _ := run(); len(w) != 0 {
		t.Fatalf("first run warned: %v", w)
	}
	// The checkpoint of version 1 cannot be written: a folder is in its way.
	blocker := filepath.Join(whDir, "shop.db", "items", "_delta_log", "00000000000000000001.checkpoint.parquet", "x")
	if err := os.MkdirAll(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	scenario(e, 1)
	w, applied := run()
	if len(w) != 1 || !strings.Contains(w[0], "maintenance") || applied != 3 {
		t.Fatalf("run with failing checkpoint: warnings %q, %d changes applied", w, applied)
	}
	scenario(e, 2)
	if w, applied := run(); len(w) != 0 || applied != 3 {
		t.Fatalf("next run: warnings %q, %d changes applied", w, applied)
	}
	rows, err := tb.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Release()
	if rows.NumRows() != 3 { // 1, 2 (re-inserted) and 4; 3 deleted
		t.Fatalf("table has %d rows, want 3", rows.NumRows())
	}
}
