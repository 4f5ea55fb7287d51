package delta

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/table"
)

// journalCommit commits rows as the next run with a journal (Txn.Journal)
// of the same rows.
func journalCommit(h *harness, rows []chg) {
	h.t.Helper()
	ctx := context.Background()
	rec := buildChanges(h.t, h.m, smallCols, rows, false)
	defer rec.Release()
	h.mod.Apply(rec, rows, nil)
	h.bm = h.bm.Advance(nil)
	x, err := h.tb.Begin(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := x.Evolve(ctx, smallCols); err != nil {
		h.t.Fatal(err)
	}
	x.Journal(rec)
	if _, err := x.Apply(ctx, rec, nil); err != nil {
		h.t.Fatal(err)
	}
	if err := x.Commit(ctx, h.bm); err != nil {
		h.t.Fatal(err)
	}
}

// journalKeys lists the journal files of h's table (keys under its root).
func journalKeys(t *testing.T, h *harness) []string {
	t.Helper()
	objs, err := h.store.List(context.Background(), h.tb.root+stateDir+"journal-")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, strings.TrimPrefix(o.Key, h.tb.root))
	}
	return out
}

// TestJournalDigestAndMissing: a journal that does not match its digest,
// or is missing, fails ChangesSince with an error naming the file — not
// table.ErrNoHistory, and never a step derived from the files instead.
func TestJournalDigestAndMissing(t *testing.T) {
	ctx := context.Background()
	h, store := clockedHarness(t, Options{})
	journalCommit(h, upserts(1, 1, 2, 3))
	journalCommit(h, upserts(2, 2, 4))
	keys := journalKeys(t, h)
	if len(keys) != 2 {
		t.Fatalf("journal files %v, want one per commit", keys)
	}
	last := keys[1] // the run numbers order the names
	ch, err := h.tb.ChangesSince(ctx, 0, 1, true)
	if err != nil || len(ch.Steps) != 1 || !ch.Steps[0].Journal {
		t.Fatalf("changes of version 1: %d steps (%v)", len(ch.Steps), err)
	}
	ch.Release()
	if err := store.Put(ctx, h.tb.root+last, bytes.NewReader([]byte("not the journal"))); err != nil {
		t.Fatal(err)
	}
	_, err = h.tb.ChangesSince(ctx, 0, 1, true)
	var digest *table.DigestError
	if !errors.As(err, &digest) || !strings.Contains(err.Error(), last) || errors.Is(err, table.ErrNoHistory) {
		t.Fatalf("a journal changed after its commit: %v; want a digest error naming %s", err, last)
	}
	if err := store.Delete(ctx, h.tb.root+last); err != nil {
		t.Fatal(err)
	}
	_, err = h.tb.ChangesSince(ctx, 0, 1, true)
	if err == nil || !strings.Contains(err.Error(), last) || errors.Is(err, table.ErrNoHistory) {
		t.Fatalf("a journal missing: %v; want an error naming %s", err, last)
	}
	// Without each the journals are not read.
	if ch, err = h.tb.ChangesSince(ctx, 0, 1, false); err != nil {
		t.Fatal(err)
	}
	ch.Release()
}

// TestJournalLifecycle: a vacuum keeps the journals of the log entries
// left, and deletes those whose entries log cleanup removed.
func TestJournalLifecycle(t *testing.T) {
	ctx := context.Background()
	h, _ := clockedHarness(t, Options{CheckpointInterval: 3, LogRetention: time.Hour})
	for r := int64(0); r < 8; r++ {
		h.clock.advance(20 * time.Minute)
		journalCommit(h, upserts(uint64(r+1), r, r+1))
	}
	if n := len(journalKeys(t, h)); n != 8 {
		t.Fatalf("%d journal files, want 8", n)
	}
	// Cleanup at the checkpoint of version 6 kept the entries from 3 on.
	if exists(t, h, commitName(0)) || !exists(t, h, commitName(3)) {
		t.Fatal("log cleanup did not run as the test expects")
	}
	h.clock.advance(time.Minute)
	if _, err := h.tb.Vacuum(ctx, 0); err != nil {
		t.Fatal(err)
	}
	left := journalKeys(t, h)
	if len(left) != 5 {
		t.Fatalf("journal files after the vacuum: %v; want those of the versions 3..7", left)
	}
	ch, err := h.tb.ChangesSince(ctx, 3, 7, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Release()
	for _, s := range ch.Steps {
		if !s.Journal {
			t.Fatalf("step of version %d is not its journal", s.Snapshot)
		}
	}
	if len(ch.Steps) != 4 {
		t.Fatalf("%d steps from version 3 to 7, want 4", len(ch.Steps))
	}
}
