package dmscsv

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// TestFormatOrder: every key lands in exactly one list; change files in
// apply order (LOAD before CDC, CDC by the instant in the name, not by the
// key's text), the rest unknown with the reason; no companions.
func TestFormatOrder(t *testing.T) {
	keys := []string{
		"s/t/20240101-000000001.csv",
		"s/t/notes.txt",
		"s/t/LOAD00000002.csv",
		"s/t/2023/20240101-0000000005.csv.gz", // 0.5 ms: before ...000001 (1 ms)
		"s/t/CDC_TXN-20201117153046033.csv",
		"s/t/LOAD00000001.csv.gz",
	}
	ordered, companions, unknown := Format{}.Order(keys)
	want := []string{"s/t/LOAD00000001.csv.gz", "s/t/LOAD00000002.csv", "s/t/2023/20240101-0000000005.csv.gz", "s/t/20240101-000000001.csv"}
	if !slices.Equal(ordered, want) || len(companions) != 0 {
		t.Fatalf("ordered %q, companions %q; want %q and none", ordered, companions, want)
	}
	if len(unknown) != 2 || unknown[0].Key != "s/t/notes.txt" || unknown[1].Key != "s/t/CDC_TXN-20201117153046033.csv" ||
		!strings.Contains(unknown[1].Reason.Error(), "not supported yet") {
		t.Fatalf("unknown %v", unknown)
	}
	f := Format{}
	for key, want := range map[string]bool{"s/t/LOAD00000001.csv": true, "s/t/SEGMENT2_LOAD0A.csv.gz": true, "s/t/20240101-000000001.csv": false, "s/t/notes.txt": false} {
		if got := f.IsSnapshot(key); got != want {
			t.Errorf("IsSnapshot(%q) = %v", key, got)
		}
	}
}

// TestFormatOpen: Open decodes by the key's name (a CDC file has Op) with
// the generation given, and refuses a key that is no DMS file.
func TestFormatOpen(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f := Format{Options: Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}}}
	ctx := context.Background()
	if _, err := f.Open(ctx, strings.NewReader("1\n"), "s/t/notes.txt", 0, mem); err == nil {
		t.Fatal("notes.txt opened")
	}
	d, err := f.Open(ctx, strings.NewReader("U,7\n"), "s/t/20240101-000000001.csv", 3, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	var seq change.SeqBuilder
	seq.Uint32(3)
	if rec.NumRows() != 1 || change.Op(rec.Column(1).(*array.Int8).Value(0)) != change.OpUpdate ||
		!bytes.HasPrefix(rec.Column(2).(*array.Binary).Value(0), seq.Bytes()) {
		t.Fatalf("decoded %v", rec)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Fatalf("second Next: %v", err)
	}
}
