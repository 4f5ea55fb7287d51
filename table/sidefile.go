package table

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// SideFile is a file a commit writes besides its data files and
// references by digest: a bookmark file, a tombstone file, a Delta state
// file. A side file is written once under a fresh name before the commit
// that references it and never changed; a reader checks the digest, so a
// file changed or cut short afterwards is found out, never misread
// (docs/format/lmbref.md).
type SideFile struct {
	Path   string // where the file is, as its writer names it (a URL, or a key under the table root)
	Size   int64  // bytes
	SHA256 string // lower-case hex SHA-256 of the bytes
}

// NewSideFile describes body, to be written at path.
func NewSideFile(path string, body []byte) SideFile {
	sum := sha256.Sum256(body)
	return SideFile{Path: path, Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
}

// Check returns a *DigestError when body is not what f's digest says.
func (f SideFile) Check(body []byte) error {
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != f.SHA256 {
		return &DigestError{Path: f.Path}
	}
	return nil
}

// DigestError says that a side file is not what its reference's digest
// says: it was changed or cut short after its commit. Readers never guess
// around it.
type DigestError struct{ Path string }

func (e *DigestError) Error() string { return fmt.Sprintf("%s does not match its digest", e.Path) }

// Ref is the reference to f a commit holds where only a string fits (a
// table property): prefix, the path, "#", the digest.
//
//	lmbref:s3://bucket/warehouse/shop.db/items/metadata/lakemerge-bookmark-<uuid>.lmb#<sha256>
func (f SideFile) Ref(prefix string) string { return prefix + f.Path + "#" + f.SHA256 }

// ParseRef reads a reference Ref wrote with prefix; ok is false when s
// does not start with prefix. The path ends at the last "#".
func ParseRef(prefix, s string) (f SideFile, ok bool) {
	ref, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return SideFile{}, false
	}
	i := strings.LastIndexByte(ref, '#')
	if i < 0 {
		return SideFile{Path: ref}, true
	}
	return SideFile{Path: ref[:i], SHA256: ref[i+1:]}, true
}

// encodeParquet writes rec as the one row group of a Parquet side file
// (a tombstone file, a journal) and returns its bytes.
func encodeParquet(rec arrow.RecordBatch, props *parquet.WriterProperties, aprops pqarrow.ArrowWriterProperties) ([]byte, error) {
	var buf bytes.Buffer
	pw, err := pqarrow.NewFileWriter(rec.Schema(), &buf, props, aprops)
	if err != nil {
		return nil, err
	}
	if err := pw.Write(rec); err != nil {
		pw.Close()
		return nil, err
	}
	if err := pw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeParquet reads the Parquet file b held in memory (a side file, a
// Delta checkpoint): check, when set, sees its key-value metadata first;
// then each is called with its record batches in order (borrowed: valid
// during the call).
func DecodeParquet(ctx context.Context, b []byte, mem memory.Allocator, check func(metadata.KeyValueMetadata) error, each func(arrow.RecordBatch) error) error {
	pr, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer pr.Close()
	if check != nil {
		if err := check(pr.MetaData().KeyValueMetadata()); err != nil {
			return err
		}
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, mem)
	if err != nil {
		return err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
		if err := each(rr.RecordBatch()); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
