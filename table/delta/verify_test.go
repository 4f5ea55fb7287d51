package delta

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/table"
)

// TestVerifyCatchesLostFiles: Commit checks the files against the plan
// and writes no log entry when they differ: a data file the writer
// dropped, a file shorter than written, a file that is gone, a planned
// delete that removed no row.
func TestVerifyCatchesLostFiles(t *testing.T) {
	ctx := context.Background()
	firstData := func(x *Txn) int {
		return slices.IndexFunc(x.newFiles, func(f newFile) bool { return f.rows > 0 })
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, h *harness, x *Txn)
		want   string
	}{
		{"dropped data file", func(t *testing.T, h *harness, x *Txn) {
			i := firstData(x)
			x.newFiles = slices.Delete(x.newFiles, i, i+1)
		}, "new data files hold"},
		{"short data file", func(t *testing.T, h *harness, x *Txn) {
			f := x.newFiles[firstData(x)]
			b, err := h.tb.readAll(ctx, f.key)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.store.Put(ctx, f.key, bytes.NewReader(b[:len(b)-1])); err != nil {
				t.Fatal(err)
			}
		}, "were written"},
		{"missing data file", func(t *testing.T, h *harness, x *Txn) {
			if err := h.store.Delete(ctx, x.newFiles[firstData(x)].key); err != nil {
				t.Fatal(err)
			}
		}, "object does not exist"},
		{"planned delete removed nothing", func(t *testing.T, h *harness, x *Txn) {
			x.stats.Deleted++
		}, "rewritten files held"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, mem.New(), Options{TargetFileBytes: 1 << 10})
			h.commit(upserts(1, ids(1, 60)...))
			before, err := h.tb.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			x, rec := h.begin(upserts(2, ids(1, 60)...))
			defer rec.Release()
			if firstData(x) < 0 || x.stats.Updated != 60 {
				t.Fatalf("the update wrote no data file (%+v)", x.stats)
			}
			tc.tamper(t, h, x)
			err = x.Commit(ctx, h.bm.Advance([]bookmarks.Entry{{Key: "raw/2"}}))
			if err == nil || !strings.Contains(err.Error(), "verify against the plan") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("commit: %v, want a verify error with %q", err, tc.want)
			}
			if table.Retryable(err) {
				t.Fatalf("a commit that does not match its plan is retried: %v", err)
			}
			after, err := h.tb.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after.Snapshot != before.Snapshot || !after.Bookmark.Equal(before.Bookmark) {
				t.Fatalf("table moved: version %d → %d", before.Snapshot, after.Snapshot)
			}
			h.check("after the refused commit")
		})
	}
}

// TestRewriteRefusesFileWithOtherRowCount: a stored data file whose rows
// differ from the count its log entry records is not rewritten (its rows
// would be lost or invented).
func TestRewriteRefusesFileWithOtherRowCount(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, mem.New(), Options{})
	h.commit(upserts(1, 1, 2, 3))
	h.commit(upserts(2, 4))
	// A file of another table holding key 4 and one more row takes the
	// place of the one-row file of key 4.
	other := newHarness(t, mem.New(), Options{})
	other.commit(upserts(1, 4, 5))
	otherSnap, err := other.tb.load(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.tb.load(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	var src, dst string
	for p := range otherSnap.files {
		src = p
	}
	for p, a := range s.files {
		if strings.Contains(a.Stats, `"numRecords":1`) {
			dst = p
		}
	}
	b, err := other.tb.readAll(ctx, other.tb.root+src)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.Put(ctx, h.tb.root+dst, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	x, err := h.tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Evolve(ctx, smallCols); err != nil {
		t.Fatal(err)
	}
	rec := buildChanges(t, h.m, smallCols, upserts(3, 4), false)
	defer rec.Release()
	_, err = x.Apply(ctx, rec, nil)
	if err == nil || !strings.Contains(err.Error(), "holds 2 rows, the log records 1") || table.Retryable(err) {
		t.Fatalf("apply over a file with a wrong row count: %v", err)
	}
}
