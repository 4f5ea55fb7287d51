package delta

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// TestMergerOpenClosesFailedReader: a data file whose Parquet reader
// opens but whose batch reader does not (a MAP group of three children,
// which pqarrow refuses, beside the key column) fails merger.open, which
// keeps no run of it (it used to add the run before making its batch
// reader); after close every buffer is released and no file is left
// open. (Whether open closes the Parquet reader itself is not visible
// here: openRanged's reader reads through an io.SectionReader, which
// file.Reader.Close has nothing to close of.)
func TestMergerOpenClosesFailedReader(t *testing.T) {
	ctx := context.Background()
	h, dir := runsInto(t, 3, 100, 2, 20)
	s := liveSnapshot(t, h.tb)
	const name = "bad-map.parquet"
	size := writeBadMapFile(t, filepath.Join(dir, "t", name))
	fds := testenv.OpenFiles(t)
	mem := h.m.(*memory.CheckedAllocator)
	held := mem.CurrentAlloc()

	m := &merger{t: h.tb, share: 1 << 20, readers: 1 << 30, spillDir: t.TempDir()}
	w := &fileWriter{t: h.tb, cols: s.cols}
	_, err := m.open(ctx, w, &addAction{Path: name, Size: size}, 1)
	if err == nil || !strings.Contains(err.Error(), "keyvalue") {
		t.Fatalf("open of a file pqarrow cannot read: %v, want its schema error", err)
	}
	if len(m.runs) != 0 {
		t.Fatalf("%d runs after a failed open", len(m.runs))
	}
	m.close()
	if n := mem.CurrentAlloc(); n != held {
		t.Fatalf("%d bytes allocated after close, %d before open", n, held)
	}
	if n := testenv.OpenFiles(t); n != fds {
		t.Fatalf("%d files open after close, %d before open", n, fds)
	}
}

// writeBadMapFile writes at path a Parquet file of no rows with a column
// id (int64) and a MAP group m of three children, and returns its size.
func writeBadMapFile(t *testing.T, path string) int64 {
	t.Helper()
	kv := schema.MustGroup(schema.NewGroupNode("key_value", parquet.Repetitions.Repeated, schema.FieldList{
		schema.MustPrimitive(schema.NewPrimitiveNode("key", parquet.Repetitions.Required, parquet.Types.Int32, -1, -1)),
		schema.MustPrimitive(schema.NewPrimitiveNode("value", parquet.Repetitions.Optional, parquet.Types.Int32, -1, -1)),
		schema.MustPrimitive(schema.NewPrimitiveNode("extra", parquet.Repetitions.Optional, parquet.Types.Int32, -1, -1)),
	}, -1))
	root := schema.MustGroup(schema.NewGroupNode("schema", parquet.Repetitions.Required, schema.FieldList{
		schema.MustPrimitive(schema.NewPrimitiveNode("id", parquet.Repetitions.Optional, parquet.Types.Int64, -1, -1)),
		schema.MustGroup(schema.NewGroupNodeLogical("m", parquet.Repetitions.Optional, schema.FieldList{kv}, schema.MapLogicalType{}, -1)),
	}, -1))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := file.NewParquetWriter(f, root)
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close() // when the writer did not
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
