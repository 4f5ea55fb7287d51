package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/table"
)

var smallCols = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.BinaryTypes.String},
}

func upserts(seq uint64, ids ...int64) []chg {
	var rows []chg
	for _, id := range ids {
		rows = append(rows, chg{Op: change.OpUpdate, Seq: seq, Vals: map[string]any{"id": id, "v": fmt.Sprintf("v%d@%d", id, seq)}})
	}
	return rows
}

func ids(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// harness is a table plus its reference model.
type harness struct {
	t     *testing.T
	m     memory.Allocator
	store objstore.Store
	tb    *Table
	mod   *model
	bm    bookmarks.Bookmark
	clock *fakeClock
}

func newHarness(t *testing.T, store objstore.Store, opts Options) *harness {
	h := &harness{t: t, m: checkedMem(t), store: store, mod: newModel(smallCols), clock: newClock()}
	if opts.Keys == nil {
		opts.Keys = []string{"id"}
	}
	h.tb = New(store, "t/", opts, h.m)
	h.tb.now = h.clock.now
	return h
}

// begin starts a Txn and stages rows (not committed).
func (h *harness) begin(rows []chg) (*Txn, arrow.RecordBatch) {
	h.t.Helper()
	ctx := context.Background()
	x, err := h.tb.Begin(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := x.Evolve(ctx, smallCols); err != nil {
		h.t.Fatal(err)
	}
	rec := buildChanges(h.t, h.m, smallCols, rows, false)
	if _, err := x.Apply(ctx, rec, nil); err != nil {
		h.t.Fatal(err)
	}
	return x, rec
}

// commit runs rows through a whole Txn and the model.
func (h *harness) commit(rows []chg) *Txn {
	h.t.Helper()
	rec := buildChanges(h.t, h.m, smallCols, rows, false)
	defer rec.Release()
	h.mod.Apply(rec, rows, nil)
	h.bm = h.bm.Advance(nil)
	_, x := run(h.t, h.tb, smallCols, rec, nil, h.bm)
	return x
}

func (h *harness) check(what string) {
	h.t.Helper()
	diffRows(h.t, what, readRows(h.t, h.tb), h.mod.Render())
}

// foreignCommit commits version v as another writer would: a blind append
// of a data file holding rows (written with the table's columns), or the
// actions given.
func foreignCommit(t *testing.T, h *harness, v int64, rows []chg, extra ...action) {
	t.Helper()
	ctx := context.Background()
	acts := []action{{CommitInfo: &commitInfoAction{Operation: "WRITE", EngineInfo: "other"}}}
	if rows != nil {
		x, err := h.tb.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rec := buildChanges(t, h.m, smallCols, rows, false)
		defer rec.Release()
		cs, err := x.newChangeSet(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.release()
		idx := make([]int, len(rows))
		for i := range idx {
			idx[i] = i
		}
		out, err := x.take(ctx, nil, cs, nil, idx, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := &fileWriter{t: h.tb, cols: x.cols}
		err = w.write(ctx, out)
		out.Release()
		if err != nil {
			t.Fatal(err)
		}
		for i := range w.adds {
			acts = append(acts, action{Add: &w.adds[i]})
		}
	}
	acts = append(acts, extra...)
	body, err := encodeActions(acts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.CreateExclusive(ctx, h.tb.root+commitName(v), bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

// TestForeignCommitRebaseOrConflict: another writer commits between Begin
// and Commit. An append of keys this commit does not touch is no conflict
// (the commit lands after it); an append that may hold our keys, a
// metaData change or the removal of a file we read is.
func TestForeignCommitRebaseOrConflict(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		foreign  func(h *harness, v int64)
		conflict string
	}{
		{"append elsewhere", func(h *harness, v int64) {
			foreignCommit(t, h, v, upserts(9, 500, 600))
		}, ""},
		{"append overlapping", func(h *harness, v int64) {
			foreignCommit(t, h, v, upserts(9, 4, 600)) // range 4..600 covers key 5
		}, "may hold keys"},
		{"metadata", func(h *harness, v int64) {
			x, _ := h.tb.Begin(ctx)
			m := *x.snap.meta
			foreignCommit(t, h, v, nil, action{MetaData: &m})
		}, "metadata"},
		{"remove read file", func(h *harness, v int64) {
			x, _ := h.tb.Begin(ctx)
			p := x.snap.paths()[0]
			foreignCommit(t, h, v, nil, action{Remove: &removeAction{Path: p, DataChange: true}})
		}, "which this commit read"},
		{"unknown action", func(h *harness, v int64) {
			foreignCommit(t, h, v, nil)
			body := []byte(`{"domainMetadata":{"domain":"x","configuration":"{}","removed":false}}` + "\n")
			if err := h.store.Put(ctx, h.tb.root+commitName(v), bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}, "domainMetadata"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, mem.New(), Options{})
			h.commit(upserts(1, ids(1, 10)...))
			rows := upserts(2, 5, 11)
			x, rec := h.begin(rows)
			defer rec.Release()
			c.foreign(h, 1)
			err := x.Commit(ctx, h.bm.Advance(nil))
			if c.conflict != "" {
				if !errors.Is(err, table.ErrConflict) || !strings.Contains(err.Error(), c.conflict) {
					t.Fatalf("commit: %v; want a conflict mentioning %q", err, c.conflict)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if x.Version() != 2 {
				t.Fatalf("committed version %d, want 2 (after the foreign one)", x.Version())
			}
			h.mod.Apply(rec, rows, nil)
			frows := upserts(9, 500, 600)
			frec := buildChanges(t, h.m, smallCols, frows, false)
			h.mod.Apply(frec, frows, nil)
			frec.Release()
			h.check("after the rebased commit")
		})
	}
}

// failingStore fails the conditional put of log entries after storing
// them, as a timeout after S3 accepted the request would (or, with lost,
// before: the put never reached S3).
type failingStore struct {
	objstore.Store
	fail error // returned by the conditional put of a log entry, after it landed
	lost bool  // the put does not land
}

func (s *failingStore) CreateExclusive(ctx context.Context, key string, r io.Reader) error {
	if s.fail != nil && s.lost {
		return s.fail
	}
	err := s.Store.CreateExclusive(ctx, key, r)
	if err == nil && s.fail != nil && strings.HasSuffix(key, ".json") && strings.Contains(key, logDir) {
		return s.fail
	}
	return err
}

// TestCommitUnknownOutcome: a commit whose conditional put fails after
// landing is resolved by reading the entry back: it holds our commit (no
// other writer's entry equals ours: it names our state file), so Commit
// succeeds, whether the error is temporary (a connection reset), of no
// known type, or "exists" (the AWS SDK retried the put after S3 stored
// it, and the retry met the first try's entry: 412). A temporary failure
// of a put that did not land reports table.ErrCommitUnknown (it may still
// land), and the bookmark Begin reads back tells.
func TestCommitUnknownOutcome(t *testing.T) {
	reset := &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name string
		err  error
		lost bool
		want error
	}{
		{"reset", reset, false, nil},
		{"untyped", errors.New("something odd"), false, nil},
		{"exists", fmt.Errorf("create: %w", objstore.ErrExists), false, nil},
		{"reset, not landed", reset, true, table.ErrCommitUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			fs := &failingStore{Store: mem.New(), lost: tc.lost}
			h := newHarness(t, fs, Options{})
			h.commit(upserts(1, 1, 2))
			fs.fail = tc.err
			rows := upserts(2, 2, 3)
			x, rec := h.begin(rows)
			defer rec.Release()
			next := h.bm.Advance([]bookmarks.Entry{{Key: "raw/x", ETag: "e", Size: 1}})
			if err := x.Commit(ctx, next); !errors.Is(err, tc.want) {
				t.Fatalf("commit: %v, want %v", err, tc.want)
			}
			fs.fail = nil
			y, err := h.tb.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.lost {
				if !y.Bookmark().Equal(h.bm) {
					t.Fatalf("bookmark read back %s, want %s", y.Bookmark().Summary(), h.bm.Summary())
				}
				h.check("after a put that did not land")
				return
			}
			if !y.Bookmark().Equal(next) {
				t.Fatalf("bookmark read back %s, want %s", y.Bookmark().Summary(), next.Summary())
			}
			h.mod.Apply(rec, rows, nil)
			h.check("after the unknown outcome")
		})
	}
}
