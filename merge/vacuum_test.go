package merge_test

import (
	"context"
	"errors"
	iofs "io/fs"
	"strings"
	"testing"
	"time"

	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// TestVacuumDeletesOnlyOrphans: runs that crash after writing their files
// leave orphans; Vacuum deletes exactly those (and nothing of a table whose
// name extends this one's), the table reads the same afterwards, and the
// next runs work. With a retention longer than the files' age it deletes
// nothing.
func TestVacuumDeletesOnlyOrphans(t *testing.T) {
	for _, b := range backends(t) {
		t.Run("backend="+b, func(t *testing.T) {
			ctx := context.Background()
			e := newEnvOn(t, b)
			sibling := iceberg.New(e.cat, iceberg.Options{Database: e.db(), Name: "items_old", Keys: []string{"id"}, Buckets: 4}, e.mem)
			for round := 0; round < 3; round++ {
				scenario(e, round)
				if round > 0 {
					// Crash once after the files are written, then re-run.
					ft := &faultTarget{Target: wire.IcebergTarget{Table: e.iceberg()}, at: afterApply}
					if _, err := e.table(ft).Run(ctx); !errors.Is(err, errCrash) {
						t.Fatalf("round %d: got %v, want the injected crash", round, err)
					}
				}
				e.run()
				if _, err := e.table(wire.IcebergTarget{Table: sibling}).Run(ctx); err != nil {
					t.Fatal(err)
				}
			}
			want := e.read()
			before, siblingBefore := tableFiles(t, e, "items"), tableFiles(t, e, "items_old")

			if vs, err := e.iceberg().Vacuum(ctx, 24*time.Hour); err != nil || vs.FilesDeleted != 0 {
				t.Fatalf("vacuum with a retention older than every file: %+v, %v", vs, err)
			}
			vs, err := e.iceberg().Vacuum(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			after := tableFiles(t, e, "items")
			if vs.FilesDeleted == 0 || int(vs.FilesDeleted) != len(before)-len(after) || vs.BytesDeleted <= 0 {
				t.Fatalf("vacuum deleted %+v; files %d before, %d after", vs, len(before), len(after))
			}
			if got := tableFiles(t, e, "items_old"); len(got) != len(siblingBefore) {
				t.Fatalf("vacuum of items deleted files of items_old: %d before, %d after", len(siblingBefore), len(got))
			}
			diff(t, "table after vacuum", e.read(), want)
			if vs, err := e.iceberg().Vacuum(ctx, 0); err != nil || vs.FilesDeleted != 0 {
				t.Fatalf("second vacuum: %+v, %v", vs, err)
			}
			// The table still works: a later change lands on it.
			e.writeCDC([]change1{{op: 'U', id: 1, name: "a2", amount: "1.20", seq: 20}})
			if res := e.run(); res.Stats.Updated != 1 {
				t.Fatalf("run after vacuum: %+v", res.Stats)
			}
		})
	}
}

// tableFiles lists every file under a table's location.
func tableFiles(t *testing.T, e *env, name string) []string {
	t.Helper()
	ctx := context.Background()
	tbl, err := e.cat.LoadTable(ctx, icetable.Identifier{e.db(), name})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lst, ok := fs.(iceio.ListableIO)
	if !ok {
		t.Fatalf("table io %T cannot list", fs)
	}
	var files []string
	err = lst.WalkDir(strings.TrimRight(tbl.Location(), "/"), func(p string, d iofs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
