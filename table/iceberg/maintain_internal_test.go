package iceberg

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	ice "github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// TestExpiryDueInBatches: a run's pass expires snapshots only once the
// oldest expirable one is KeepFor/expirySlack past the window, so a table
// fed every few minutes expires a batch every few hours, not a snapshot
// a run.
func TestExpiryDueInBatches(t *testing.T) {
	f := newFixture(t)
	for seq := byte(1); seq <= 3; seq++ {
		f.commit(change.OpInsert, seq, int64(seq))
	}
	tbl, err := f.tbl.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := table.Policy{KeepVersions: 1, KeepFor: 24 * time.Hour}
	newest := time.UnixMilli(tbl.CurrentSnapshot().TimestampMs)
	for _, c := range []struct {
		after     time.Duration // after the newest snapshot
		expirable int
		due       bool
	}{
		{time.Hour, 0, false},
		{25 * time.Hour, 2, false},
		{24*time.Hour + 3*time.Hour - time.Minute, 2, false},
		{24*time.Hour + 3*time.Hour + time.Minute, 2, true},
	} {
		now := newest.Add(c.after)
		if got := len(expirable(tbl, p, now)); got != c.expirable {
			t.Fatalf("%v after the newest snapshot: %d expirable, want %d", c.after, got, c.expirable)
		}
		if got := expiryDue(tbl, p, now); got != c.due {
			t.Fatalf("%v after the newest snapshot: due %v, want %v", c.after, got, c.due)
		}
	}
}

// TestPruneDue: a pass prunes when at least one in pruneMin tombstones
// is past the horizon.
func TestPruneDue(t *testing.T) {
	for _, c := range []struct {
		have, kept int
		due        bool
	}{{0, 0, false}, {10, 10, false}, {2, 1, true}, {16, 14, true}, {17, 15, false}, {1000, 876, false}, {1000, 875, true}} {
		if got := pruneDue(c.have, c.kept); got != c.due {
			t.Errorf("pruneDue(%d, %d) = %v, want %v", c.have, c.kept, got, c.due)
		}
	}
}

// TestCountFilesAgreesWithPlan: the files counted from the manifests
// (Files without a plan of the snapshot) are those the compaction's plan
// counts, through inserts, updates (position deletes), deletes and a
// compaction.
func TestCountFilesAgreesWithPlan(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	check := func(step string) {
		t.Helper()
		tbl, err := f.tbl.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, small := range []int64{1, 32 << 20} {
			got, err := countFiles(ctx, tbl, small)
			if err != nil {
				t.Fatal(err)
			}
			_, want, err := buckets(ctx, tbl, small)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%s, small %d: counted %+v, planned %+v", step, small, got, want)
			}
		}
	}
	f.commit(change.OpInsert, 1, 1, 2, 3, 4, 5, 6, 7, 8)
	check("insert")
	f.commit(change.OpUpdate, 2, 2, 3, 9)
	check("update")
	f.commit(change.OpDelete, 3, 4, 5)
	f.commit(change.OpUpdate, 4, 1, 6)
	check("delete")
	if got, _ := f.tbl.Files(ctx, 32<<20); got.DeleteFiles == 0 || got.DataFiles < 2 {
		t.Fatalf("files %+v: want data and delete files", got)
	}
	st, err := f.tbl.Maintain(ctx, table.Policy{CompactDeleteFiles: 1, SmallFileBytes: 32 << 20})
	if err != nil || st.Compactions == 0 {
		t.Fatalf("compact: %+v, %v", st, err)
	}
	check("compaction")
}

// TestMinorPassTiers: a minor pass bin-packs a bucket's small files but
// its largest by tiers: the runs' files since the last pass, and a file
// an earlier pass packed only once they are about half its size; the
// largest file is kept with its delete files merged, and rewritten once
// its deleted share reaches the policy's; a file with one delete file of
// its own keeps it.
func TestMinorPassTiers(t *testing.T) {
	task := planTask
	paths := func(ts []icetable.FileScanTask) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.File.FilePath())
		}
		slices.Sort(out)
		return out
	}
	p := table.Policy{SmallFileBytes: 1 << 20, RewriteDeletedPct: 10}
	for _, c := range []struct {
		name            string
		tasks           []icetable.FileScanTask
		rewrite, merged []string
	}{
		{"two runs' files", []icetable.FileScanTask{task(t, "base", 1000, 2, 3), task(t, "packed", 80), task(t, "r1", 10), task(t, "r2", 12)},
			[]string{"r1", "r2"}, []string{"base"}},
		{"runs' files half the packed one", []icetable.FileScanTask{task(t, "base", 1000, 2, 3), task(t, "packed", 40), task(t, "r1", 10), task(t, "r2", 12)},
			[]string{"packed", "r1", "r2"}, []string{"base"}},
		{"one run's file and one delete file each: nothing to do", []icetable.FileScanTask{task(t, "base", 1000, 2), task(t, "r1", 10)},
			nil, nil},
		{"the largest past the deleted share", []icetable.FileScanTask{task(t, "base", 1000, 4, 6), task(t, "packed", 80, 1), task(t, "r1", 10)},
			[]string{"base", "r1"}, nil}, // packed's one delete file stays as it is
	} {
		t.Run(c.name, func(t *testing.T) {
			w := bucket{tasks: c.tasks, largest: "base"}.work(p)
			if got := paths(w.rewrite); !slices.Equal(got, c.rewrite) {
				t.Errorf("rewrite %v, want %v", got, c.rewrite)
			}
			if got := paths(w.merge); !slices.Equal(got, c.merged) {
				t.Errorf("merge %v, want %v", got, c.merged)
			}
		})
	}
}

// planTask is a scan task of a 100-row data file at path of size bytes,
// with a position-delete file of each count in deleted.
func planTask(t *testing.T, path string, size int64, deleted ...int64) icetable.FileScanTask {
	file := func(content ice.ManifestEntryContent, path string, rows, size int64) ice.DataFile {
		b, err := ice.NewDataFileBuilder(*ice.UnpartitionedSpec, content, path, ice.ParquetFile, nil, nil, nil, rows, size)
		if err != nil {
			t.Fatal(err)
		}
		return b.Build()
	}
	tk := icetable.FileScanTask{File: file(ice.EntryContentData, path, 100, size)}
	for i, n := range deleted {
		tk.DeleteFiles = append(tk.DeleteFiles, file(ice.EntryContentPosDeletes, fmt.Sprintf("%s-del%d", path, i), n, 10))
	}
	return tk
}

// TestMinorPassDueByCounts: the deleted share of a file never makes a
// bucket due; the counts do (delete files beyond one a data file, small
// files), and inside that pass the share picks the files rewritten. A
// small table whose every file has one delete file with half its rows
// deleted is not due, so a run does not compact it after every commit.
func TestMinorPassDueByCounts(t *testing.T) {
	p := table.Policy{CompactDeleteFiles: 2, CompactSmallFiles: 4, SmallFileBytes: 1 << 20, RewriteDeletedPct: 10}
	for _, c := range []struct {
		name    string
		b       bucket
		due     bool
		rewrite int // files the pass rewrites when due
	}{
		{"one delete file a file, half the rows deleted", bucket{tasks: []icetable.FileScanTask{
			planTask(t, "base", 1000, 50), planTask(t, "r1", 10, 50)}, deleteFiles: 2, withDeletes: 2, smallFiles: 2, largest: "base"}, false, 0},
		{"one delete file beyond one a file", bucket{tasks: []icetable.FileScanTask{
			planTask(t, "base", 1000, 50, 1), planTask(t, "r1", 10, 50)}, deleteFiles: 3, withDeletes: 2, smallFiles: 2, largest: "base"}, false, 0},
		{"two beyond: due, the files past the share rewritten", bucket{tasks: []icetable.FileScanTask{
			planTask(t, "base", 1000, 50, 1, 1), planTask(t, "r1", 10, 50)}, deleteFiles: 4, withDeletes: 2, smallFiles: 2, largest: "base"}, true, 2},
		{"two beyond, under the share: due, the deletes merged", bucket{tasks: []icetable.FileScanTask{
			planTask(t, "base", 1000, 1, 1, 1), planTask(t, "r1", 10, 1)}, deleteFiles: 4, withDeletes: 2, smallFiles: 2, largest: "base"}, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.b.due(p); got != c.due {
				t.Fatalf("due = %v, want %v", got, c.due)
			}
			if w := c.b.work(p); c.due && (len(w.rewrite) != c.rewrite || w.empty()) {
				t.Errorf("rewrite %d files (merge %d), want %d", len(w.rewrite), len(w.merge), c.rewrite)
			}
		})
	}
}
