package delta

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

// TestOptimizeWithinBudget: the same runs into two tables, then an
// optimize of each, one unbounded and one under a budget so small that it
// holds a few rows of each file at a time. Both hold the model's rows,
// every file in key order and the files in key order one after the other
// (no two overlap); the bounded one held a fraction of the rows, and its
// files' stats are those of their rows. deltalake reads the bounded one.
func TestOptimizeWithinBudget(t *testing.T) {
	ctx := context.Background()
	tiny := optimizeAll
	tiny.MemoryBudget = 16 << 10
	var hs [2]*harness
	var sts [2]table.MaintenanceStats
	var dirs [2]string
	for i, p := range []table.Policy{optimizeAll, tiny} {
		var h *harness
		h, dirs[i] = runsInto(t, 21, 2000, 24, 60)
		before, err := h.tb.Files(ctx, p.SmallFileBytes)
		if err != nil {
			t.Fatal(err)
		}
		if before.SmallFiles < 20 {
			t.Fatalf("the runs left %+v: too few small files to merge", before)
		}
		if sts[i], err = h.tb.Maintain(ctx, p); err != nil {
			t.Fatal(err)
		}
		h.check("after the optimize")
		checkFilesApart(t, checkFilesSorted(t, h.tb))
		hs[i] = h
	}
	whole, bounded := sts[0], sts[1]
	if whole.Compactions != 1 || bounded.Compactions != 1 || bounded.FilesRewritten != whole.FilesRewritten {
		t.Fatalf("unbounded %+v, bounded %+v", whole, bounded)
	}
	rows := int64(len(hs[0].mod.Render()))
	if whole.RowsHeld < rows || bounded.RowsHeld == 0 || bounded.RowsHeld > rows/4 {
		t.Fatalf("rows held: unbounded %d, bounded %d, of %d", whole.RowsHeld, bounded.RowsHeld, rows)
	}
	// Under 16 KiB no file's Parquet reader fits: every one is copied to
	// a run file first.
	if whole.FilesSpilled != 0 || bounded.FilesSpilled != bounded.FilesRewritten {
		t.Fatalf("files spilled: unbounded %d, bounded %d of %d", whole.FilesSpilled, bounded.FilesSpilled, bounded.FilesRewritten)
	}
	t.Logf("rows held: unbounded %d, bounded %d; files written %d, %d", whole.RowsHeld, bounded.RowsHeld, whole.FilesWritten, bounded.FilesWritten)
	checkFileStats(t, hs[1].tb)
	compareWithDeltalake(t, interopPython(t), hs[1].tb, filepath.Join(dirs[1], "t"), hs[1].bm.Runs)
}

// TestOptimizeSpillsWhatDoesNotFit: under a budget whose readers' share
// fits the Parquet readers of five of the small files (readerBytes), the
// optimize reads those directly and copies the others to run files first
// (into the policy's SpillDir, empty after it); the table keeps the
// model's rows, its files in key order and apart. Without the bound on the
// readers, no file would be spilled.
func TestOptimizeSpillsWhatDoesNotFit(t *testing.T) {
	ctx := context.Background()
	h, _ := runsInto(t, 8, 2000, 24, 60)
	s := liveSnapshot(t, h.tb)
	small := smallFiles(s, optimizeAll.SmallFileBytes)
	var fit int64
	for _, a := range small[:5] {
		pr, err := h.tb.openRanged(ctx, a.Path, a.Size)
		if err != nil {
			t.Fatal(err)
		}
		fit += readerBytes(pr, s.cols, minMergeBuffer)
		pr.Close()
	}
	p := optimizeAll
	p.MemoryBudget = fit * readerShare
	p.SpillDir = t.TempDir()
	st, err := h.tb.Maintain(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if n := int64(len(small)); st.FilesRewritten != n || st.FilesSpilled < n-5 || st.FilesSpilled == n {
		t.Fatalf("%d small files under a budget that fits 5 readers: %+v", n, st)
	}
	h.check("after the optimize")
	checkFilesApart(t, checkFilesSorted(t, h.tb))
	checkFileStats(t, h.tb)
	if left, err := os.ReadDir(p.SpillDir); err != nil || len(left) != 0 {
		t.Fatalf("the spill folder holds %d entries after the optimize (%v)", len(left), err)
	}
	t.Logf("%d of %d files spilled", st.FilesSpilled, len(small))
}

// TestOptimizeWithinBudgetUnsorted: a data file another writer appended
// out of key order makes the bounded optimize read the files whole: the
// table keeps the model's rows, now in key order.
func TestOptimizeWithinBudgetUnsorted(t *testing.T) {
	ctx := context.Background()
	h, _ := runsInto(t, 5, 200, 4, 30)
	x, err := h.tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := upserts(1<<40, 1009, 1003, 1007, 1001, 1005)
	foreignCommit(t, h, x.snap.version+1, rows)
	rec := buildChanges(t, h.m, smallCols, rows, false)
	h.mod.Apply(rec, rows, nil)
	rec.Release()
	h.check("after the foreign append")

	p := optimizeAll
	p.MemoryBudget = 4 << 10
	st, err := h.tb.Maintain(ctx, p)
	if err != nil || st.Compactions != 1 || st.RowsHeld != int64(len(h.mod.Render())) {
		t.Fatalf("optimize (the files read whole): %+v, %v", st, err)
	}
	h.check("after the optimize")
	checkFilesSorted(t, h.tb)
}

// runsInto commits runs random runs of rows changes each (generator seed,
// keys) into a new table of files of 4 KiB in a local folder, which it
// returns.
func runsInto(t *testing.T, seed uint64, keys int64, runs, rows int) (*harness, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, store, Options{TargetFileBytes: 4 << 10})
	g := tabletest.NewGen(seed, keys)
	g.Partial = false
	for range runs {
		h.commit(g.Next(h.mod, rows))
	}
	return h, dir
}

// checkFilesApart fails unless no two of the key spans overlap.
func checkFilesApart(t *testing.T, spans []keySpan) {
	t.Helper()
	slices.SortFunc(spans, func(a, b keySpan) int { return bytes.Compare(a.lo, b.lo) })
	for i := 1; i < len(spans); i++ {
		if bytes.Compare(spans[i-1].hi, spans[i].lo) >= 0 {
			t.Fatalf("the key ranges of two data files overlap (%d files)", len(spans))
		}
	}
}

// checkFileStats fails unless the stats of each of tb's data files are
// those of its rows.
func checkFileStats(t *testing.T, tb *Table) {
	t.Helper()
	s := liveSnapshot(t, tb)
	for _, p := range s.paths() {
		rec, err := tb.readFile(context.Background(), p, s.cols)
		if err != nil {
			t.Fatal(err)
		}
		want := fileStats(rec, s.cols)
		rec.Release()
		if got := s.files[p].Stats; got != want {
			t.Fatalf("%s: stats %s, want %s", p, got, want)
		}
	}
}
