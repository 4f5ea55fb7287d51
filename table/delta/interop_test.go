package delta

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/objstore/local"
)

// interopPython returns the Python that has deltalake and duckdb
// (LAKEMERGE_PYTHON), or skips the test when there is none. Under CI a
// LAKEMERGE_PYTHON without those packages is a failure, not a skip.
func interopPython(t *testing.T) string {
	t.Helper()
	return testenv.Python(t, "deltalake", "duckdb")
}

// pyRead is what testdata/read_delta.py prints.
type pyRead struct {
	Version int64            `json:"version"`
	Txn     *int64           `json:"txn"`
	History int              `json:"history"`
	Rows    []map[string]any `json:"rows"`
}

func readWithDeltalake(t *testing.T, py, dir, key string) pyRead {
	t.Helper()
	cmd := exec.Command(py, filepath.Join("testdata", "read_delta.py"), dir, key)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("read_delta.py %s: %v\n%s", dir, err, stderr.String())
	}
	var r pyRead
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("read_delta.py output: %v\n%s", err, out)
	}
	return r
}

// canonicalRows renders tbl the way read_delta.py does: Delta (lower-case)
// names, decimals and timestamps as strings, binary as hex, numbers as
// JSON numbers; sorted by the first column.
func canonicalRows(t *testing.T, tbl arrow.Table) []map[string]any {
	t.Helper()
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	var rows []map[string]any
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for c := 0; c < int(rec.NumCols()); c++ {
				row[strings.ToLower(rec.ColumnName(c))] = canonicalValue(rec.Column(c), i)
			}
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(a, b map[string]any) int {
		return int(a["id"].(float64) - b["id"].(float64))
	})
	// The JSON round trip gives the same Go types as decoding Python's.
	raw, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func canonicalValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return float64(a.Value(i))
	case *array.Int32:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Binary:
		return hex.EncodeToString(a.Value(i))
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(i))).UTC().Format("2006-01-02T15:04:05.000000")
	}
	panic(fmt.Sprintf("no canonical form for %s", a.DataType()))
}

func compareWithDeltalake(t *testing.T, py string, tb *Table, dir string, runs int64) {
	t.Helper()
	ctx := context.Background()
	got := readWithDeltalake(t, py, dir, "id")
	tbl, err := tb.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := canonicalRows(t, tbl)
	tbl.Release()
	info, err := tb.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != info.Snapshot {
		t.Errorf("deltalake reads version %d, lakemerge %d", got.Version, info.Snapshot)
	}
	if got.Txn == nil || *got.Txn != runs {
		t.Errorf("deltalake's transaction_version(lakemerge) = %v, want %d", got.Txn, runs)
	}
	if got.History == 0 {
		t.Error("deltalake reads no history")
	}
	if len(got.Rows) != len(want) {
		t.Fatalf("deltalake reads %d rows, lakemerge %d", len(got.Rows), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got.Rows[i], want[i]) {
			t.Fatalf("row %d:\ndeltalake: %v\nlakemerge: %v", i, got.Rows[i], want[i])
		}
	}
}

// TestDeltalakeReadsTable writes a table through random runs (checkpoints
// every 3 versions, an added column, reloads, an upper-case column) and has
// deltalake (delta-rs) and DuckDB read it back: their rows must equal the
// reference model's. Runs when LAKEMERGE_PYTHON has deltalake and duckdb.
func TestDeltalakeReadsTable(t *testing.T) {
	py := interopPython(t)
	dir := t.TempDir()
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := runModel(t, store, "orders/", 11, 16)
	compareWithDeltalake(t, py, tb, filepath.Join(dir, "orders"), 16)
}

// TestWritesIntoDeltalakeTable: lakemerge takes over a table deltalake
// created (no _seq, no txn, delta-rs's commitInfo), upserts into it, and
// deltalake reads the result.
func TestWritesIntoDeltalakeTable(t *testing.T) {
	py := interopPython(t)
	ctx := context.Background()
	dir := t.TempDir()
	script := `import sys, deltalake, pyarrow as pa
deltalake.write_deltalake(sys.argv[1], pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": ["a", "b", "c"]}))`
	if out, err := exec.Command(py, "-c", script, filepath.Join(dir, "t")).CombinedOutput(); err != nil {
		t.Fatalf("create with deltalake: %v\n%s", err, out)
	}
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := checkedMem(t)
	tb := New(store, "t/", Options{Keys: []string{"id"}}, m)
	rows := []chg{
		{Op: change.OpUpdate, Seq: 1, Vals: map[string]any{"id": int64(2), "v": "B"}},
		{Op: change.OpDelete, Seq: 1, Vals: map[string]any{"id": int64(3)}},
		{Op: change.OpInsert, Seq: 1, Vals: map[string]any{"id": int64(4), "v": "d"}},
	}
	rec := buildChanges(t, m, smallCols, rows, false)
	defer rec.Release()
	st, _ := run(t, tb, smallCols, rec, nil, bookmarks.Bookmark{Runs: 1})
	if st.Updated != 1 || st.Deleted != 1 || st.Inserted != 1 {
		t.Fatalf("stats %+v", st)
	}
	got := readWithDeltalake(t, py, filepath.Join(dir, "t"), "id")
	var text []string
	for _, r := range got.Rows {
		text = append(text, fmt.Sprintf("%v=%v/%v", r["id"], r["v"], r["_seq"]))
	}
	if want := "1=a/<nil> 2=B/0000000000000001 4=d/0000000000000001"; strings.Join(text, " ") != want {
		t.Fatalf("deltalake reads %q, want %q", strings.Join(text, " "), want)
	}
	info, err := tb.Describe(ctx)
	if err != nil || info.Rows != 3 || info.Bookmark.Runs != 1 {
		t.Fatalf("describe %+v %v", info, err)
	}
}
