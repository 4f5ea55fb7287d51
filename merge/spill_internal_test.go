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
