package iceberg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
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

var tombSchema = arrow.NewSchema([]arrow.Field{
	{Name: "key", Type: arrow.BinaryTypes.Binary},
	{Name: "seq", Type: arrow.BinaryTypes.Binary},
	{Name: "at", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// tombstones is a sorted set of deleted keys.
type tombstones struct {
	keys, seqs [][]byte
	at         []int64
}

func (t *tombstones) len() int { return len(t.keys) }

// seqOf returns the _seq of key's delete, if key has a tombstone.
func (t *tombstones) seqOf(key []byte) ([]byte, bool) {
	i, ok := slices.BinarySearchFunc(t.keys, key, bytes.Compare)
	if !ok {
		return nil, false
	}
	return t.seqs[i], true
}

// tombEdit is one change to the tombstone set: add (seq != nil) or clear.
type tombEdit struct {
	key []byte
	seq []byte // nil: the key is live again, forget its tombstone
}

// apply merges edits (sorted by key, unique) into t and drops tombstones
// older than cutoff or with a _seq below floor (a reload superseded them).
// It returns whether anything changed.
func (t *tombstones) apply(edits []tombEdit, now, cutoff int64, floor []byte) (*tombstones, bool) {
	out := &tombstones{}
	changed := false
	keep := func(i int) {
		if t.at[i] < cutoff || (floor != nil && bytes.Compare(t.seqs[i], floor) < 0) {
			changed = true
			return
		}
		out.keys, out.seqs, out.at = append(out.keys, t.keys[i]), append(out.seqs, t.seqs[i]), append(out.at, t.at[i])
	}
	i, j := 0, 0
	for i < len(t.keys) || j < len(edits) {
		var c int
		switch {
		case i == len(t.keys):
			c = 1
		case j == len(edits):
			c = -1
		default:
			c = bytes.Compare(t.keys[i], edits[j].key)
		}
		switch {
		case c < 0:
			keep(i)
			i++
			continue
		case c == 0:
			i++ // replaced or cleared by the edit
			changed = true
		}
		if e := edits[j]; e.seq != nil {
			out.keys, out.seqs, out.at = append(out.keys, e.key), append(out.seqs, e.seq), append(out.at, now)
			changed = true
		}
		j++
	}
	return out, changed
}

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
			t.keys = append(t.keys, bytes.Clone(keys.Value(r)))
			t.seqs = append(t.seqs, bytes.Clone(seqs.Value(r)))
			t.at = append(t.at, at.Value(r))
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
	if t.len() == 0 {
		return "", nil
	}
	b := array.NewRecordBuilder(x.t.mem, tombSchema)
	defer b.Release()
	kb, sb, ab := b.Field(0).(*array.BinaryBuilder), b.Field(1).(*array.BinaryBuilder), b.Field(2).(*array.Int64Builder)
	for i := range t.keys {
		kb.Append(t.keys[i])
		sb.Append(t.seqs[i])
		ab.Append(t.at[i])
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDataPageVersion(parquet.DataPageV1), parquet.WithAllocator(x.t.mem))
	pw, err := pqarrow.NewFileWriter(tombSchema, &buf, props, pqarrow.DefaultWriterProps())
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
