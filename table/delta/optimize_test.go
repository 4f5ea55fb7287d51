package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/fault"
	"github.com/lakemerge/lakemerge/objstore/local"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/tabletest"
)

// optimizeAll compacts any two small files, and vacuums what an hour
// made unreferenced.
var optimizeAll = table.Policy{CompactSmallFiles: 2, SmallFileBytes: 1 << 20, OrphanAge: time.Hour}

// TestOptimizeKeepsModel: runs interleaved with maintenance passes keep
// the table equal to the model, its files sorted by key and its bookmark;
// the passes bound the number of files; deltalake reads the result.
func TestOptimizeKeepsModel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, store, Options{TargetFileBytes: 4 << 10, CheckpointInterval: 5})
	g := tabletest.NewGen(3, 300)
	g.Partial = false
	var total table.MaintenanceStats
	for r := range 12 {
		h.clock.advance(time.Minute)
		h.commit(g.Next(h.mod, 25))
		if r%4 == 3 {
			before, err := h.tb.Files(ctx, optimizeAll.SmallFileBytes)
			if err != nil {
				t.Fatal(err)
			}
			st, err := h.tb.Maintain(ctx, optimizeAll)
			if err != nil {
				t.Fatal(err)
			}
			total.Add(st)
			h.check(fmt.Sprintf("after optimize %+v", st))
			checkFilesSorted(t, h.tb)
			after, err := h.tb.Files(ctx, optimizeAll.SmallFileBytes)
			if err != nil {
				t.Fatal(err)
			}
			if after.DataFiles >= before.DataFiles || after.DataFiles > 3 {
				t.Fatalf("optimize left %+v (before: %+v)", after, before)
			}
		}
	}
	if total.Compactions != 3 {
		t.Fatalf("passes: %+v", total)
	}
	x, err := h.tb.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !x.Bookmark().Equal(h.bm) {
		t.Fatalf("bookmark %s, want %s", x.Bookmark().Summary(), h.bm.Summary())
	}
	compareWithDeltalake(t, interopPython(t), h.tb, filepath.Join(dir, "t"), h.bm.Runs)
}

// TestOptimizeConcurrentRun: a run that read files before an optimize
// removed them conflicts at commit and applies its changes again; an
// optimize whose version a run took plans again.
func TestOptimizeConcurrentRun(t *testing.T) {
	ctx := context.Background()
	hs := &hookStore{Store: mem.New()}
	h := newHarness(t, hs, Options{TargetFileBytes: 4 << 10})
	g := tabletest.NewGen(8, 100)
	g.Partial = false
	for range 5 {
		h.commit(g.Next(h.mod, 20))
	}
	rows := g.Next(h.mod, 20)
	x, rec := h.begin(rows)
	defer rec.Release()
	if st, err := h.tb.Maintain(ctx, optimizeAll); err != nil || st.Compactions != 1 {
		t.Fatalf("optimize: %+v, %v", st, err)
	}
	if err := x.Commit(ctx, h.bm.Advance(nil)); !errors.Is(err, table.ErrConflict) {
		t.Fatalf("a run that read files the optimize removed committed: %v", err)
	}
	h.check("the run lost to the optimize")
	h.commit(rows)
	h.check("the run again")

	// The optimize loses its version to a run: it plans again.
	for range 3 {
		h.commit(g.Next(h.mod, 5))
	}
	hs.hook = func() { h.commit(g.Next(h.mod, 20)) }
	st, err := h.tb.Maintain(ctx, optimizeAll)
	if err != nil || st.Retries != 1 || st.Compactions != 1 {
		t.Fatalf("optimize that lost its version: %+v, %v", st, err)
	}
	h.check("optimize that lost its version")
	checkFilesSorted(t, h.tb)
}

// hookStore runs hook once, before the next log entry is created: a
// commit that lands between an optimize's read and its commit.
type hookStore struct {
	objstore.Store
	hook func()
}

func (s *hookStore) CreateExclusive(ctx context.Context, key string, r io.Reader) error {
	if h := s.hook; h != nil && strings.HasSuffix(key, ".json") && strings.Contains(key, logDir) && !strings.Contains(key, stateDir) {
		s.hook = nil
		h()
	}
	return s.Store.CreateExclusive(ctx, key, r)
}

// TestOptimizeCrashAtEveryStep: a pass that fails at any write (a data
// file, the log entry, the checkpoint, a vacuum delete) leaves the table
// equal to the model; the next pass finishes.
func TestOptimizeCrashAtEveryStep(t *testing.T) {
	ctx := context.Background()
	build := func(t *testing.T, inj fault.Injector) *harness {
		h := newHarness(t, fault.New(mem.New(), fault.Config{Injector: inj}), Options{TargetFileBytes: 4 << 10})
		g := tabletest.NewGen(13, 100)
		g.Partial = false
		for range 5 {
			h.commit(g.Next(h.mod, 20))
		}
		return h
	}
	gate := &tabletest.Gate{}
	h := build(t, gate)
	writes := 0
	undo := gate.Deny(func(string) bool { writes++; return false })
	if _, err := h.tb.Maintain(ctx, optimizeAll); err != nil {
		t.Fatal(err)
	}
	undo()
	if writes < 3 {
		t.Fatalf("a pass wrote %d times", writes)
	}
	for k := 1; k <= writes; k++ {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			gate := &tabletest.Gate{}
			h := build(t, gate)
			n := 0
			undo := gate.Deny(func(string) bool { n++; return n == k })
			_, err := h.tb.Maintain(ctx, optimizeAll)
			undo()
			if err == nil {
				t.Fatalf("write %d failed and the pass did not say so", k)
			}
			h.check(fmt.Sprintf("after a pass that failed at write %d (%v)", k, err))
			if _, err := h.tb.Maintain(ctx, optimizeAll); err != nil {
				t.Fatal(err)
			}
			h.check("after the next pass")
			if fs, err := h.tb.Files(ctx, optimizeAll.SmallFileBytes); err != nil || fs.DataFiles > 2 {
				t.Fatalf("after the next pass: %+v, %v", fs, err)
			}
		})
	}
}

// TestParseInterval reads Delta's interval properties.
func TestParseInterval(t *testing.T) {
	for s, want := range map[string]time.Duration{"interval 30 days": 30 * 24 * time.Hour, "interval 1 day": 24 * time.Hour,
		"INTERVAL 2 hours": 2 * time.Hour, "interval 1 week": 7 * 24 * time.Hour} {
		if got, ok := parseInterval(s); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "30 days", "interval x days", "interval 3 fortnights"} {
		if _, ok := parseInterval(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}
