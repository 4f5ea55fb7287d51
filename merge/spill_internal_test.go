package merge

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// TestSpillDiskFull: a spill file that hits a full disk (its path is a
// link to /dev/full, whose writes fail with ENOSPC) fails the spill with
// ErrSpillDiskFull, naming the folder and what to do; close still removes
// the folder and every Arrow buffer is released.
func TestSpillDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	parent := t.TempDir()
	s, err := newSpiller(mem, []string{"id"}, parent, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for p := range 2 {
		if err := os.Symlink("/dev/full", filepath.Join(s.dir, "p000"+string(rune('0'+p))+"-0000.arrows")); err != nil {
			t.Fatal(err)
		}
	}
	b := array.NewRecordBuilder(mem, change.Schema([]change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}))
	for i := range 10000 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.Int8Builder).Append(int8(change.OpInsert))
		b.Field(2).(*array.BinaryBuilder).Append([]byte("seq-of-some-length"))
	}
	rec := b.NewRecordBatch()
	b.Release()
	err = s.add(rec)
	if err == nil {
		err = s.finish()
	}
	if !errors.Is(err, ErrSpillDiskFull) || !strings.Contains(err.Error(), s.dir) || !strings.Contains(err.Error(), "spill_dir") {
		t.Fatalf("got %v, want a disk-full error naming the folder", err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if left, err := os.ReadDir(parent); err != nil || len(left) != 0 {
		t.Fatalf("left after close: %v %v", left, err)
	}
}

func TestSpillParts(t *testing.T) {
	for _, tc := range []struct {
		raw, budget int64
		want        int
	}{
		{10 << 10, 1, minSpillParts},         // a few KiB: no more than one partition per MiB
		{1 << 30, 256 << 20, 32},             // 2 GiB decoded, 64 MiB a partition
		{10 << 30, 256 << 20, 320},           //
		{100 << 30, 256 << 20, 512},          // capped
		{100 << 20, 16 << 30, minSpillParts}, // a budget far above the input
	} {
		if got := spillParts(tc.raw, tc.budget); got != tc.want {
			t.Errorf("spillParts(%d, %d) = %d, want %d", tc.raw, tc.budget, got, tc.want)
		}
	}
}

// TestSpillKeepsOrderAcrossSchemas: batches of different schemas (a
// column added part way, as Debezium's schema changes do) go to a new
// file per partition; reading a partition back gives its rows in the
// order added, each with the schema it came with, and every row of a key
// in one partition.
func TestSpillKeepsOrderAcrossSchemas(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s, err := newSpiller(mem, []string{"id"}, t.TempDir(), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	narrow := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}
	wide := append(narrow, change.Column{Name: "extra", Type: arrow.BinaryTypes.String})
	batch := func(cols []change.Column, first, n int) arrow.RecordBatch {
		b := array.NewRecordBuilder(mem, change.Schema(cols))
		defer b.Release()
		for i := first; i < first+n; i++ {
			b.Field(0).(*array.Int64Builder).Append(int64(i % 50))
			if len(cols) == 2 {
				b.Field(1).(*array.StringBuilder).Append("x")
			}
			b.Field(len(cols)).(*array.Int8Builder).Append(int8(change.OpUpdate))
			b.Field(len(cols) + 1).(*array.BinaryBuilder).Append([]byte{byte(i >> 8), byte(i)})
		}
		return b.NewRecordBatch()
	}
	for _, in := range []struct {
		cols     []change.Column
		first, n int
	}{{narrow, 0, 100}, {wide, 100, 100}, {narrow, 200, 100}} {
		if err := s.add(batch(in.cols, in.first, in.n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.finish(); err != nil {
		t.Fatal(err)
	}
	if s.rows != 300 {
		t.Fatalf("spilled %d rows, want 300", s.rows)
	}
	seen := map[int64]int{} // key → partition
	total := 0
	for p := range s.parts {
		if n := len(s.parts[p].files); n > 3 {
			t.Fatalf("partition %d has %d files, want at most one per schema run", p, n)
		}
		batches, err := s.read(p)
		if err != nil {
			t.Fatal(err)
		}
		last := -1
		for _, b := range batches {
			ids := b.Column(0).(*array.Int64)
			seqs := b.Column(b.Schema().FieldIndices(change.ColSeq)[0]).(*array.Binary)
			for r := range int(b.NumRows()) {
				pos := int(seqs.Value(r)[0])<<8 | int(seqs.Value(r)[1])
				if pos <= last {
					t.Fatalf("partition %d: row %d after row %d", p, pos, last)
				}
				last = pos
				if wantWide := pos >= 100 && pos < 200; wantWide != (b.Schema().NumFields() == 4) {
					t.Fatalf("row %d came back with schema %s", pos, b.Schema())
				}
				if q, ok := seen[ids.Value(r)]; ok && q != p {
					t.Fatalf("key %d in partitions %d and %d", ids.Value(r), q, p)
				}
				seen[ids.Value(r)] = p
				total++
			}
			b.Release()
		}
	}
	if total != 300 {
		t.Fatalf("read back %d rows, want 300", total)
	}
}
