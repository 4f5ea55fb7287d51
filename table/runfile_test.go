package table_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/table"
)

// runBatches are three batches of (id long, name string), nulls included.
func runBatches(t *testing.T, mem memory.Allocator) []arrow.RecordBatch {
	t.Helper()
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	var out []arrow.RecordBatch
	for _, js := range []string{
		`[{"id": 1, "name": "one"}, {"id": 2, "name": null}]`,
		`[]`,
		`[{"id": 3, "name": "` + strings.Repeat("three ", 5000) + `"}]`,
	} {
		rec, _, err := array.RecordFromJSON(mem, sch, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// runFixture returns a checked allocator, a folder and runBatches; the
// test's cleanup releases the batches and then fails it if a buffer is
// still allocated or more files are open than at the start.
func runFixture(t *testing.T) (*memory.CheckedAllocator, string, []arrow.RecordBatch) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	fds := testenv.OpenFiles(t)
	batches := runBatches(t, mem)
	t.Cleanup(func() {
		release(batches)
		mem.AssertSize(t, 0)
		if n := testenv.OpenFiles(t); n != fds {
			t.Errorf("%d files open, %d before", n, fds)
		}
	})
	return mem, t.TempDir(), batches
}

// readRun reads every batch of r and closes it.
func readRun(t *testing.T, r *table.RunReader) []arrow.RecordBatch {
	t.Helper()
	var out []arrow.RecordBatch
	for {
		rec, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			break
		}
		out = append(out, rec)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameBatches(t *testing.T, got, want []arrow.RecordBatch) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d batches, wrote %d", len(got), len(want))
	}
	for i := range got {
		if !array.RecordEqual(got[i], want[i]) {
			t.Fatalf("batch %d: read %v, wrote %v", i, got[i], want[i])
		}
	}
}

func release(bs []arrow.RecordBatch) {
	for _, b := range bs {
		b.Release()
	}
}

// TestRunFileRoundTrip: batches written to a named run file (CreateRun)
// read back equal, in order, from OpenRun, and Bytes is the file's size;
// batches written to a temporary one (CreateTempRun), which is gone from
// its folder from the start, read back equal from ReadBack, and the file
// is closed with its reader (Close of the writer then does nothing). No
// buffer and no file stays open.
func TestRunFileRoundTrip(t *testing.T) {
	mem, dir, batches := runFixture(t)

	name := filepath.Join(dir, "p0000-0000.arrows")
	w, err := table.CreateRun(mem, name, batches[0].Schema(), 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(name); err != nil || fi.Size() != w.Bytes() || w.Bytes() == 0 {
		t.Fatalf("file %v (%v), Bytes %d", fi, err, w.Bytes())
	}
	r, err := table.OpenRun(mem, name, 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	got := readRun(t, r)
	sameBatches(t, got, batches)
	release(got)

	tw, err := table.CreateTempRun(mem, dir, "run-*.arrow", batches[0].Schema(), 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Fatalf("folder after CreateTempRun: %v, want the named run file alone", left)
	}
	for _, b := range batches {
		if err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := tw.ReadBack(mem, 4<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	got = readRun(t, tr)
	sameBatches(t, got, batches)
	release(got)
}

// TestRunFileErrors: a run file on a full disk (/dev/full) fails with an
// error errors.Is finds ENOSPC in, naming the file; a file that is not a
// run file fails OpenRun, and neither leaves a file open or a buffer
// allocated.
func TestRunFileErrors(t *testing.T) {
	mem, dir, batches := runFixture(t)

	if _, err := os.Stat("/dev/full"); err == nil {
		full := filepath.Join(dir, "full.arrows")
		if err := os.Symlink("/dev/full", full); err != nil {
			t.Fatal(err)
		}
		w, err := table.CreateRun(mem, full, batches[0].Schema(), 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			if err = w.Write(b); err != nil {
				break
			}
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), full) {
			t.Fatalf("got %v, want ENOSPC naming %s", err, full)
		}
	}
	junk := filepath.Join(dir, "junk.arrows")
	if err := os.WriteFile(junk, []byte("not an Arrow IPC stream"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := table.OpenRun(mem, junk, 1<<10); err == nil {
		r.Close()
		t.Fatal("OpenRun of a file that is not a run file: no error")
	}
	if _, err := table.OpenRun(mem, filepath.Join(dir, "missing"), 1<<10); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenRun of a missing file: %v", err)
	}
}
