package workload_test

import (
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/benchmarks/workload"
)

// TestReinserts: with Reinserts set, some inserts bring back deleted keys;
// both forms still merge into the same table, with the rows the generator
// reports.
func TestReinserts(t *testing.T) {
	spec := workload.Spec{Seed: 9, BaseRows: 200, Changes: 600, Inserts: 0.3, Deletes: 0.3, Reinserts: 0.6,
		Dist: workload.Uniform, NoteBytes: 6, RowsPerFile: 150}
	res, err := workload.Write(spec, t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reinserts < res.Inserts/4 || res.Reinserts > res.Inserts {
		t.Fatalf("%d of %d inserts re-insert a deleted key", res.Reinserts, res.Inserts)
	}
	dms := mergeWorkload(t, "dms", spec)
	if dbz := mergeWorkload(t, "debezium", spec); dbz != dms {
		t.Fatal("the DMS and Debezium forms of a workload with re-inserts merge into different tables")
	}
	if n := strings.Count(dms, "\n") + 1; n != res.FinalRows {
		t.Fatalf("table has %d rows, the generator says %d", n, res.FinalRows)
	}
}
