package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/objstore/mem"
)

// clockedStore is a mem store whose object times follow the harness clock.
func clockedHarness(t *testing.T, opts Options) (*harness, *mem.Store) {
	store := mem.New()
	h := newHarness(t, store, opts)
	store.Now = h.clock.now
	return h, store
}

func exists(t *testing.T, h *harness, key string) bool {
	t.Helper()
	objs, err := h.store.List(context.Background(), h.tb.root+key)
	if err != nil {
		t.Fatal(err)
	}
	return len(objs) > 0 && objs[0].Key == h.tb.root+key
}

// TestBookmarkAcrossCheckpointAndCleanup: checkpoints every 3 versions and
// a one-hour log retention delete old log entries; Begin still finds the
// bookmark and the rows, also when every log entry is gone and only the
// checkpoint and the state file are left.
func TestBookmarkAcrossCheckpointAndCleanup(t *testing.T) {
	ctx := context.Background()
	h, store := clockedHarness(t, Options{CheckpointInterval: 3, LogRetention: time.Hour})
	for r := int64(0); r < 11; r++ {
		h.clock.advance(20 * time.Minute)
		h.commit(upserts(uint64(r+1), r, r+1, 50+r))
	}
	// Cleanup at version 9 kept the checkpoint at 6 (the newest not newer
	// than an hour before) and everything after it.
	for v, want := range map[int64]bool{0: false, 5: false, 6: true, 10: true} {
		if got := exists(t, h, commitName(v)); got != want {
			t.Errorf("log entry %d exists: %v, want %v", v, got, want)
		}
	}
	if exists(t, h, checkpointName(3)) || !exists(t, h, checkpointName(6)) || !exists(t, h, checkpointName(9)) {
		t.Error("wrong checkpoints kept")
	}
	x, err := h.tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if x.ReadVersion() != 10 || !x.Bookmark().Equal(h.bm) {
		t.Fatalf("version %d, bookmark %s; want 10, %s", x.ReadVersion(), x.Bookmark().Summary(), h.bm.Summary())
	}
	h.check("after cleanup")

	// Another writer's cleanup removed every log entry: only a checkpoint
	// of the newest version and lakemerge's state files are left.
	if err := h.tb.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	objs, _ := store.List(ctx, h.tb.root+logDir)
	for _, o := range objs {
		if strings.HasSuffix(o.Key, ".json") && !strings.Contains(o.Key, stateDir) {
			if err := store.Delete(ctx, o.Key); err != nil {
				t.Fatal(err)
			}
		}
	}
	x, err = h.tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if x.ReadVersion() != 10 || !x.Bookmark().Equal(h.bm) {
		t.Fatalf("from the checkpoint alone: version %d, bookmark %s; want 10, %s", x.ReadVersion(), x.Bookmark().Summary(), h.bm.Summary())
	}
	h.check("from the checkpoint alone")
	h.commit(upserts(20, 3, 99))
	h.check("a commit after it")

	// Two state files of the newest run: the fallback cannot choose.
	if err := h.tb.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, h.tb.root+commitName(11)); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%s%sstate-%020d-extra.json", h.tb.root, stateDir, h.bm.Runs)
	if err := store.Put(ctx, key, strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.tb.Begin(ctx); err == nil || !strings.Contains(err.Error(), "cannot tell the bookmark") {
		t.Fatalf("two candidate state files: %v", err)
	}
}

// TestStaleLastCheckpoint: a _last_checkpoint that names an older
// checkpoint (whose following entries were cleaned up), or that is
// garbage, does not hide newer versions.
func TestStaleLastCheckpoint(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, mem.New(), Options{CheckpointInterval: 3})
	for r := int64(0); r < 8; r++ {
		h.commit(upserts(uint64(r+1), r, 20+r))
	}
	for _, body := range []string{`{"version":3,"size":1}`, `not json`} {
		if err := h.store.Put(ctx, h.tb.root+lastCheckName, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		if err := h.store.Delete(ctx, h.tb.root+commitName(4)); err != nil {
			t.Fatal(err)
		}
		x, err := h.tb.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if x.ReadVersion() != 7 || !x.Bookmark().Equal(h.bm) {
			t.Fatalf("_last_checkpoint %s: version %d, want 7", body, x.ReadVersion())
		}
		h.check("stale _last_checkpoint")
	}
}

// TestVacuum deletes the files rewritten away (and stray files) once they
// are older than the retention, and nothing else.
func TestVacuum(t *testing.T) {
	ctx := context.Background()
	h, store := clockedHarness(t, Options{})
	h.commit(upserts(1, ids(1, 10)...))
	h.commit(upserts(2, 3))
	h.commit(upserts(3, 4))
	stray := h.tb.root + "part-stray.zstd.parquet"
	if err := store.Put(ctx, stray, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	vs, err := h.tb.Vacuum(ctx, time.Hour)
	if err != nil || vs.FilesDeleted != 0 {
		t.Fatalf("vacuum of young files: %+v, %v", vs, err)
	}
	h.clock.advance(2 * time.Hour)
	fresh := h.tb.root + "part-fresh.zstd.parquet" // a commit in flight
	if err := store.Put(ctx, fresh, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	vs, err = h.tb.Vacuum(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Removed: the first file (rewritten at commit 2) and its successor
	// (rewritten at commit 3), plus the stray.
	if vs.FilesDeleted != 3 {
		t.Fatalf("vacuum deleted %d files, want 3", vs.FilesDeleted)
	}
	if exists(t, h, "part-stray.zstd.parquet") || !exists(t, h, "part-fresh.zstd.parquet") || !exists(t, h, commitName(0)) {
		t.Fatal("vacuum deleted the wrong files")
	}
	h.check("after vacuum")
}

// TestWideningRewritesEveryFile: int→long rewrites every live data file
// with the new type in the commit of the new metaData, so no reader sees a
// file of the old type; narrowing, other type changes and drops are
// refused.
func TestWideningRewritesEveryFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := checkedMem(t)
	tb := New(store, "w/", Options{Keys: []string{"id"}, TargetFileBytes: 1 << 10}, m)
	narrow := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "qty", Type: arrow.PrimitiveTypes.Int32}}
	wide := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "qty", Type: arrow.PrimitiveTypes.Int64}}
	mod := newModel(narrow)
	var rows []chg
	for i := int64(0); i < 300; i++ {
		rows = append(rows, chg{Op: change.OpInsert, Seq: 1, Vals: map[string]any{"id": i, "qty": int32(i * 3)}})
	}
	rec := buildChanges(t, m, narrow, rows, false)
	mod.Apply(rec, rows, nil)
	run(t, tb, narrow, rec, nil, bookmarks.Bookmark{Runs: 1})
	rec.Release()
	before, err := tb.load(ctx, -1)
	if err != nil || len(before.files) < 2 {
		t.Fatalf("want several files before widening: %v", err)
	}

	for _, bad := range [][]change.Column{
		{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "qty", Type: arrow.PrimitiveTypes.Int16}},
		{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "qty", Type: arrow.BinaryTypes.String}},
		{{Name: "id", Type: arrow.PrimitiveTypes.Int64}},
		{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "qty", Type: arrow.PrimitiveTypes.Int32}, {Name: "QTY", Type: arrow.PrimitiveTypes.Int32}},
		{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "qty", Type: arrow.PrimitiveTypes.Int32}, {Name: "a b", Type: arrow.PrimitiveTypes.Int32}},
	} {
		x, err := tb.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Evolve(ctx, bad); err == nil {
			t.Errorf("Evolve(%v) accepted", bad)
		}
	}

	rows = []chg{{Op: change.OpUpdate, Seq: 2, Vals: map[string]any{"id": int64(5), "qty": int64(1) << 40}}}
	rec = buildChanges(t, m, wide, rows, false)
	defer rec.Release()
	mod.Cols = wide
	mod.Apply(rec, rows, nil)
	st, x := run(t, tb, wide, rec, nil, bookmarks.Bookmark{Runs: 2})
	if st.FilesRewritten != int64(len(before.files)) {
		t.Fatalf("widening rewrote %d of %d files", st.FilesRewritten, len(before.files))
	}
	cols, _ := x.Columns()
	if !arrow.TypeEqual(cols[1].Type, arrow.PrimitiveTypes.Int64) {
		t.Fatalf("columns after widening: %v", cols)
	}
	s, err := tb.load(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.paths() {
		pr, err := tb.openParquet(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if pt := pr.MetaData().Schema.Column(1).PhysicalType(); pt != parquet.Types.Int64 {
			t.Errorf("%s: qty is %s after widening", p, pt)
		}
		pr.Close()
	}
	diffRows(t, "after widening", readRows(t, tb), mod.Render())
	if py := pythonIfAny(t); py != "" {
		got := readWithDeltalake(t, py, filepath.Join(dir, "w"), "id")
		if len(got.Rows) != 300 || got.Rows[5]["qty"].(float64) != float64(int64(1)<<40) {
			t.Fatalf("deltalake reads the widened table wrongly: %d rows, row 5 %v", len(got.Rows), got.Rows[5])
		}
	}
}

// pythonIfAny is interopPython for tests that also do other checks: ""
// instead of a skip.
func pythonIfAny(t *testing.T) string {
	var py string
	t.Run("interop", func(t *testing.T) { py = interopPython(t) })
	return py
}

// TestRefusesUnsupportedTables: tables whose protocol, partitioning or
// properties lakemerge cannot honour are refused with ErrUnsupported.
func TestRefusesUnsupportedTables(t *testing.T) {
	ctx := context.Background()
	schema := `{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}`
	meta := func(extra string) string {
		return `{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"` + schema + `","partitionColumns":[` + extra + `],"configuration":{CONF},"createdTime":1}}`
	}
	cases := map[string]string{
		"reader 3":              `{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}` + "\n" + strings.Replace(meta(""), "CONF", "", 1),
		"writer 7":              `{"protocol":{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["appendOnly","checkConstraints"]}}` + "\n" + strings.Replace(meta(""), "CONF", "", 1),
		"reader 2":              `{"protocol":{"minReaderVersion":2,"minWriterVersion":5}}` + "\n" + strings.Replace(meta(""), "CONF", "", 1),
		"reader 3 ntz and more": `{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["timestampNtz","columnMapping"],"writerFeatures":["timestampNtz","columnMapping"]}}` + "\n" + strings.Replace(meta(""), "CONF", "", 1),
		"partitioned":           `{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}` + "\n" + strings.Replace(meta(`"id"`), "CONF", "", 1),
		"append only":           `{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}` + "\n" + strings.Replace(meta(""), "CONF", `"delta.appendOnly":"true"`, 1),
		"nested type":           `{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}` + "\n" + strings.Replace(strings.Replace(meta(""), "CONF", "", 1), `\"type\":\"long\"`, `\"type\":{\"type\":\"struct\",\"fields\":[]}`, 1),
	}
	for name, log := range cases {
		t.Run(name, func(t *testing.T) {
			store := mem.New()
			if err := store.Put(ctx, "t/"+commitName(0), strings.NewReader(log+"\n")); err != nil {
				t.Fatal(err)
			}
			tb := New(store, "t/", Options{Keys: []string{"id"}}, checkedMem(t))
			if _, err := tb.Begin(ctx); !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Begin: %v, want ErrUnsupported", err)
			}
		})
	}
}

// checkFilesSorted verifies that every live data file holds its rows in
// key order, and returns the key span of each.
func checkFilesSorted(t testing.TB, tb *Table) []keySpan {
	t.Helper()
	ctx := context.Background()
	s := liveSnapshot(t, tb)
	key := []column{s.cols[findColumn(s.cols, tb.opts.Keys[0])]}
	var spans []keySpan
	for _, p := range s.paths() {
		var sp keySpan
		err := tb.readColumns(ctx, p, key, func(rec arrow.RecordBatch, _ int64) error {
			enc, err := change.NewKeyEncoder(rec, tb.opts.Keys[:1])
			if err != nil {
				return err
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				k := enc.Append(nil, i)
				if sp.hi != nil && bytes.Compare(sp.hi, k) >= 0 {
					return fmt.Errorf("row %d out of key order", i)
				}
				if sp.lo == nil {
					sp.lo = k
				}
				sp.hi = k
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		spans = append(spans, sp)
	}
	return spans
}

// keySpan is the lowest and highest key of a data file.
type keySpan struct{ lo, hi []byte }

// liveSnapshot is tb's current version, checked.
func liveSnapshot(t testing.TB, tb *Table) *snapshot {
	t.Helper()
	s, err := tb.load(context.Background(), -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.check(false); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWideningWithoutChanges: a widening whose run has no changes (Evolve,
// then Commit without Apply) still rewrites every file.
func TestWideningWithoutChanges(t *testing.T) {
	ctx := context.Background()
	m := checkedMem(t)
	tb := New(mem.New(), "w/", Options{Keys: []string{"id"}}, m)
	narrow := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "f", Type: arrow.PrimitiveTypes.Float32}}
	wide := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "f", Type: arrow.PrimitiveTypes.Float64}}
	rows := []chg{{Op: change.OpInsert, Seq: 1, Vals: map[string]any{"id": int32(1), "f": float32(1.5)}}}
	rec := buildChanges(t, m, narrow, rows, false)
	run(t, tb, narrow, rec, nil, bookmarks.Bookmark{Runs: 1})
	rec.Release()
	x, err := tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, wide); err != nil {
		t.Fatal(err)
	}
	if err := x.Commit(ctx, bookmarks.Bookmark{Runs: 2}); err != nil {
		t.Fatal(err)
	}
	if x.stats.FilesRewritten != 1 {
		t.Fatalf("rewrote %d files", x.stats.FilesRewritten)
	}
	got := readRows(t, tb)
	if len(got) != 1 || got[0] != "id=1 f=1.5 _seq=0000000000000001" {
		t.Fatalf("rows %v", got)
	}
	tbl, err := tb.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if !arrow.TypeEqual(tbl.Schema().Field(0).Type, arrow.PrimitiveTypes.Int64) || !arrow.TypeEqual(tbl.Schema().Field(1).Type, arrow.PrimitiveTypes.Float64) {
		t.Fatalf("schema %s", tbl.Schema())
	}
}

// TestVacuumKeepsLiveStateFiles: commits no longer delete the state and
// tombstone files of earlier runs (a run that began from an earlier
// version reads them); Vacuum deletes those no log entry left can
// reference, once older than the retention, and keeps the rest: the
// table still begins, reads and commits.
func TestVacuumKeepsLiveStateFiles(t *testing.T) {
	ctx := context.Background()
	h, store := clockedHarness(t, Options{CheckpointInterval: 3, LogRetention: time.Hour})
	for r := int64(0); r < 11; r++ {
		h.clock.advance(20 * time.Minute)
		rows := upserts(uint64(2*r+1), r, 100+r)
		if (r > 0 && r < 6) || r == 9 { // a delete: the tombstones of runs 2-6 and 10 change
			rows = append(rows, chg{Op: change.OpDelete, Seq: uint64(2*r + 2), Vals: map[string]any{"id": 100 + r - 1}})
		}
		h.commit(rows)
	}
	sideFiles := func() (states, tombs map[int64]int) {
		states, tombs = map[int64]int{}, map[int64]int{}
		objs, err := store.List(ctx, h.tb.root+stateDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			name := strings.TrimPrefix(o.Key, h.tb.root+stateDir)
			if r, ok := runsOf(name, "state-"); ok {
				states[r]++
			} else if r, ok := runsOf(name, "tombstones-"); ok {
				tombs[r]++
			}
		}
		return states, tombs
	}
	states, tombs := sideFiles()
	if len(states) != 11 || len(tombs) != 6 {
		t.Fatalf("before vacuum: state files of %d runs, tombstone files of %d; want every run's", len(states), len(tombs))
	}
	// Log cleanup kept the checkpoint at version 6 (run 7) and after.
	if exists(t, h, commitName(5)) || !exists(t, h, commitName(6)) {
		t.Fatal("log cleanup did not keep exactly versions 6 and later")
	}
	h.clock.advance(2 * time.Hour)
	if _, err := h.tb.Vacuum(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	states, tombs = sideFiles()
	for r := range states {
		if r < 7 {
			t.Errorf("vacuum kept the state file of run %d, which no log entry left references", r)
		}
	}
	for r := int64(7); r <= 11; r++ {
		if states[r] != 1 {
			t.Errorf("vacuum deleted the state file of run %d", r)
		}
	}
	// Runs 7-9 reference the tombstones of run 6, runs 10 and 11 those of
	// run 10.
	if len(tombs) != 2 || tombs[6] != 1 || tombs[10] != 1 {
		t.Errorf("tombstone files of runs %v left, want those of runs 6 and 10", tombs)
	}
	h.check("after vacuum")
	h.commit([]chg{{Op: change.OpDelete, Seq: 100, Vals: map[string]any{"id": int64(1)}}})
	h.check("a commit after vacuum")
}

// TestCheckpointFailureIsMaintenanceErr: when the checkpoint written
// after a commit fails, the commit stands and the Txn says so in
// MaintenanceErr (merge.Maintainer, which a run reports as a warning);
// the next commit works and has no maintenance error.
func TestCheckpointFailureIsMaintenanceErr(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, store, Options{CheckpointInterval: 1})
	h.commit(upserts(1, 1, 2))
	// The checkpoint of version 1 cannot be written: a folder is in its way.
	if err := os.MkdirAll(filepath.Join(dir, "t", checkpointName(1), "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	rows := upserts(2, 2, 3)
	x, rec := h.begin(rows)
	defer rec.Release()
	h.mod.Apply(rec, rows, nil)
	h.bm = h.bm.Advance(nil)
	if err := x.Commit(ctx, h.bm); err != nil {
		t.Fatal(err)
	}
	if err := x.MaintenanceErr(); err == nil || !strings.Contains(err.Error(), "maintenance") {
		t.Fatalf("maintenance error %v, want the failed checkpoint", err)
	}
	h.check("after the commit whose checkpoint failed")
	if x := h.commit(upserts(3, 4)); x.MaintenanceErr() != nil {
		t.Fatalf("next commit: %v", x.MaintenanceErr())
	}
	h.check("after the next commit")
}
