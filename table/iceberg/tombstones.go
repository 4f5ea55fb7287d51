package iceberg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/change"
)

// TombstonesProperty references the table's tombstone file:
//
//	lmtref:<file location>#<hex sha-256 of the file>
//
// A tombstone remembers a deleted key and the _seq of its delete, so that a
// late change of that key (one with a smaller _seq, arriving in a later
// run) does not bring the row back: the stored row is gone, and without the
// tombstone there would be nothing to compare the late change with. The
// file is Parquet with columns key (binary, change.KeyEncoder encoding,
// sorted, unique), seq (binary) and at (int64, Unix µs of the commit that
// wrote the tombstone). Tombstones older than Options.TombstoneHorizon are
// dropped. Like the bookmark, each commit writes a new file under a fresh
// name and references it in the same commit.
const TombstonesProperty = "lakemerge.tombstones"

const tombRefPrefix = "lmtref:"

// DefaultTombstoneHorizon is how long a tombstone is kept when Options
// leaves it unset.
const DefaultTombstoneHorizon = 7 * 24 * time.Hour

// tombstones and tombEdit are the shared tombstone set (change.Tombstones);
// this file stores it.
type (
	tombstones = change.Tombstones
	tombEdit   = change.TombEdit
)

// loadTombstones reads the tombstones a table references (none when the
// property is unset).
func loadTombstones(ctx context.Context, tbl *icetable.Table, mem memory.Allocator) (*tombstones, error) {
	prop := tbl.Properties()[TombstonesProperty]
	t := &tombstones{}
	if prop == "" {
		return t, nil
	}
	ref, ok := strings.CutPrefix(prop, tombRefPrefix)
	if !ok {
		return nil, fmt.Errorf("read tombstones: property %s is not a %s reference", TombstonesProperty, tombRefPrefix)
	}
	loc, want, _ := strings.Cut(ref, "#")
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, fmt.Errorf("read tombstones: %w", err)
	}
	f, err := fs.Open(loc)
	if err != nil {
		return nil, fmt.Errorf("read tombstones: %w", err)
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read tombstones %s: %w", loc, err)
	}
	if sum := sha256.Sum256(buf.Bytes()); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("read tombstones: %s does not match its digest", loc)
	}
	pr, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("read tombstones %s: %w", loc, err)
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem)
	if err != nil {
		return nil, fmt.Errorf("read tombstones %s: %w", loc, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("read tombstones %s: %w", loc, err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		keys, ok1 := rec.Column(0).(*array.Binary)
		seqs, ok2 := rec.Column(1).(*array.Binary)
		at, ok3 := rec.Column(2).(*array.Int64)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("read tombstones %s: unexpected columns %s", loc, rec.Schema())
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			t.Keys = append(t.Keys, bytes.Clone(keys.Value(r)))
			t.Seqs = append(t.Seqs, bytes.Clone(seqs.Value(r)))
			t.At = append(t.At, at.Value(r))
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read tombstones %s: %w", loc, err)
	}
	return t, nil
}

// writeTombstones writes t to a new file beside the table metadata and
// returns the property value referencing it ("" for an empty set).
func (x *Txn) writeTombstones(ctx context.Context, t *tombstones) (string, error) {
	if t.Len() == 0 {
		return "", nil
	}
	b := array.NewRecordBuilder(x.t.mem, change.TombstoneSchema())
	defer b.Release()
	kb, sb, ab := b.Field(0).(*array.BinaryBuilder), b.Field(1).(*array.BinaryBuilder), b.Field(2).(*array.Int64Builder)
	for i := range t.Keys {
		kb.Append(t.Keys[i])
		sb.Append(t.Seqs[i])
		ab.Append(t.At[i])
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDataPageVersion(parquet.DataPageV1), parquet.WithAllocator(x.t.mem))
	pw, err := pqarrow.NewFileWriter(change.TombstoneSchema(), &buf, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return "", fmt.Errorf("write tombstones: %w", err)
	}
	if err := pw.Write(rec); err != nil {
		pw.Close()
		return "", fmt.Errorf("write tombstones: %w", err)
	}
	if err := pw.Close(); err != nil {
		return "", fmt.Errorf("write tombstones: %w", err)
	}
	fs, err := x.tbl.FS(ctx)
	if err != nil {
		return "", fmt.Errorf("write tombstones: %w", err)
	}
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return "", errors.New("write tombstones: table io cannot write files")
	}
	loc := strings.TrimRight(x.tbl.Location(), "/") + "/metadata/lakemerge-tombstones-" + uuid.NewString() + ".parquet"
	if err := wfs.WriteFile(loc, buf.Bytes()); err != nil {
		return "", fmt.Errorf("write tombstones %s: %w", loc, err)
	}
	x.sideFiles = append(x.sideFiles, sideFile{path: loc, size: int64(buf.Len())})
	sum := sha256.Sum256(buf.Bytes())
	return tombRefPrefix + loc + "#" + hex.EncodeToString(sum[:]), nil
}

// tombstoneFile returns the file a tombstone property references.
func tombstoneFile(prop string) string {
	ref, _ := strings.CutPrefix(prop, tombRefPrefix)
	loc, _, _ := strings.Cut(ref, "#")
	return loc
}

// nowMicros is the tombstone clock; a Txn takes it once, at Apply.
func nowMicros() int64 { return time.Now().UnixMicro() }
