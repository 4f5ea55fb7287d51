// Package gunzip opens change files that may be gzip-compressed, as both
// decoders read them: DMS (CompressionType=GZIP) and the S3 sink (.json.gz)
// write gzip, recognised by its magic bytes 1f 8b and never by the name;
// and a corrupt stream is bad input (the decoder reports it with the file),
// while a failing read is an I/O error.
package gunzip

import (
	"bytes"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// Open returns the content of r: r itself, or its decompressed stream when
// r starts with 1f 8b (gzipped is then true). With gzipped set, an error of
// Open or of reading content may say the stream is corrupt (Corrupt);
// without, every error is the reader's. Closing content never closes r.
func Open(r io.Reader) (content io.ReadCloser, gzipped bool, err error) {
	var magic [2]byte
	n, err := io.ReadFull(r, magic[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, false, err
	}
	src := io.MultiReader(bytes.NewReader(magic[:n]), r)
	if n < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return io.NopCloser(src), false, nil
	}
	gz, err := gzip.NewReader(src)
	if err != nil {
		return nil, true, err
	}
	return gz, true, nil
}

// Corrupt reports whether err, from opening or reading a gzip stream, says
// the stream is bad: a bad header or checksum, corrupt deflate data, or a
// stream cut short.
func Corrupt(err error) bool {
	var ce flate.CorruptInputError
	return errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// Stem returns the base name of an object key without ext and an optional
// ".gz" after it ("LOAD00000001" for "s/t/LOAD00000001.csv.gz" and ext
// ".csv"); ok is false when the name does not end so. The suffix only
// names a file: Open goes by the content.
func Stem(key, ext string) (stem string, ok bool) {
	return strings.CutSuffix(strings.TrimSuffix(path.Base(key), ".gz"), ext)
}
