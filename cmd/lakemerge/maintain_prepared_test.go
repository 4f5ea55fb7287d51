package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// preparedMaintainJob is maintainJob's Iceberg table with two prepared
// mirror tables under the given policy, both partitioned (not by key): an
// Iceberg one sorted by another column than the key, and a Delta one.
func preparedMaintainJob(t *testing.T, dir, maintenance string) (job, raw string) {
	t.Helper()
	return itemsJob(t, dir, maintenance, `    prepared:
      - target: { table: items_ice }
        mode: mirror
        select: [id, upper(name) AS name_uc, CASE WHEN id % 2 = 0 THEN 'even' ELSE 'odd' END AS parity]
        partition_by: [parity]
        sort_by: [name_uc]
      - target: { table: items_delta, format: delta }
        mode: mirror
        select: [id, name, CASE WHEN id % 2 = 0 THEN 'even' ELSE 'odd' END AS parity]
        where: "name <> 'new3'"
        partition_by: [parity]
`)
}

// TestBinaryMaintainsPreparedTables: a run maintains each prepared table
// after its commit by the base table's policy (the summary says what it
// did and the table's files, and delete files do not pile up), and
// `lakemerge maintain` maintains the prepared tables after their base
// table, one JSON object each, leaving their rows as they were and their
// layout intact: every file in its partition, Iceberg files in the
// table's sort order (interop/partitions.py).
func TestBinaryMaintainsPreparedTables(t *testing.T) {
	dir := t.TempDir()
	job, raw := preparedMaintainJob(t, dir, "{ compact_delete_files: 3, compact_small_files: 4 }")
	maintained := map[string]bool{}
	for r := range 6 {
		sum := runOnce(t, job, raw, r)
		if len(sum.Tables) != 1 || len(sum.Tables[0].Prepared) != 2 {
			t.Fatalf("run %d: %+v", r, sum.Tables)
		}
		for _, p := range sum.Tables[0].Prepared {
			if len(p.Warnings) > 0 || p.TableFiles == nil {
				t.Fatalf("run %d, %s: %+v", r, p.Table, p)
			}
			if p.Maintenance != nil && p.Maintenance.Compactions > 0 {
				maintained[p.Table] = true
			}
			if p.TableFiles.DeleteFiles >= 3*2 {
				t.Fatalf("run %d, %s: delete files pile up: %+v", r, p.Table, p.TableFiles)
			}
		}
	}
	if !maintained["prepared.items_ice"] || !maintained["prepared.items_delta"] {
		t.Fatalf("runs maintained %v", maintained)
	}

	rowsBefore := preparedRows(t, dir)
	out, errs, code := runBinary(t, "maintain", "--config", job)
	if code != 0 {
		t.Fatalf("maintain exit %d\n%s\n%s", code, out, errs)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r maintainResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("maintain line %q: %v", line, err)
		}
		if r.Error != "" || r.Files == nil {
			t.Fatalf("maintain: %+v", r)
		}
		got = append(got, r.Table+"/"+r.Prepared)
	}
	if want := []string{"ice/", "ice/prepared.items_ice", "ice/prepared.items_delta"}; !slices.Equal(got, want) {
		t.Fatalf("maintain reported %v, want %v", got, want)
	}
	if after := preparedRows(t, dir); !slices.Equal(after, rowsBefore) {
		t.Fatalf("maintain changed the prepared tables:\nbefore %v\nafter  %v", rowsBefore, after)
	}
	if py := pythonForInterop(t); py != nil {
		script := filepath.Join("..", "..", "interop", "partitions.py")
		for _, args := range [][]string{
			{"iceberg", filepath.Join(dir, "catalog.db"), "file://" + filepath.Join(dir, "warehouse"), "prepared.items_ice", "parity", "odd"},
			{"delta", filepath.Join(dir, "warehouse", "prepared.db", "items_delta"), "parity", "odd"},
		} {
			out, err := py.Output(append([]string{script}, args...)...)
			if err != nil {
				t.Fatalf("partitions.py %v: %v", args, err)
			}
			var l partLayout
			if err := json.Unmarshal(out, &l); err != nil {
				t.Fatalf("partitions.py %v: %v\n%s", args, err, out)
			}
			if len(l.BadPartition)+len(l.BadDeletePartition)+len(l.Unsorted)+len(l.BadFolder) > 0 || l.DataFiles+len(l.Files) == 0 {
				t.Fatalf("after maintain, %s: %+v", args[0], l)
			}
		}
	}
}

// preparedRows is the rows of both prepared tables as pyiceberg and
// deltalake read them (nil without the interop Python).
func preparedRows(t *testing.T, dir string) []string {
	t.Helper()
	py := pythonForInterop(t)
	if py == nil {
		return nil
	}
	interop := filepath.Join("..", "..", "interop")
	read := func(reader string, args ...string) []string {
		out, err := py.CombinedOutput(args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", reader, err, out)
		}
		return readerRows(t, reader, out)
	}
	ice := read("pyiceberg prepared.items_ice", filepath.Join(interop, "read_iceberg.py"), "sqlite",
		filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), "prepared.items_ice", "id")
	dl := read("deltalake prepared.items_delta", filepath.Join(interop, "read_delta.py"),
		filepath.Join(dir, "warehouse", "prepared.db", "items_delta"), "id")
	if len(ice) == 0 || len(dl) == 0 {
		t.Fatalf("prepared tables read empty: %d and %d rows", len(ice), len(dl))
	}
	return append(ice, dl...)
}
