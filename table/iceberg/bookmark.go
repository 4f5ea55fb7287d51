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

	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/bookmarks"
)

// inlineBookmarkMax is the largest encoded bookmark kept inline in the
// table property. Larger ones go to a file next to the table metadata and
// the property holds a reference: catalogs copy table properties into
// their own records, and AWS Glue limits a parameter value to 512 KB.
const inlineBookmarkMax = 16 << 10

// refPrefix starts a bookmark property that references a bookmark file:
//
//	lmbref:<file location>#<hex sha-256 of the file>
//
// The file holds the bookmark's own encoding (package bookmarks). Each
// commit writes a new file under a fresh name before committing, so the
// reference and the file it names are committed together; the digest
// catches a file that was changed or truncated afterwards.
const refPrefix = "lmbref:"

// bookmarkProperty returns the property value for enc, writing a bookmark
// file when enc is too large to keep inline.
func (x *Txn) bookmarkProperty(ctx context.Context, enc string) (string, error) {
	if len(enc) <= inlineBookmarkMax {
		return enc, nil
	}
	fs, err := x.tbl.FS(ctx)
	if err != nil {
		return "", fmt.Errorf("open table io: %w", err)
	}
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return "", errors.New("table io cannot write files")
	}
	loc := strings.TrimRight(x.tbl.Location(), "/") + "/metadata/lakemerge-bookmark-" + uuid.NewString() + ".lmb"
	if err := wfs.WriteFile(loc, []byte(enc)); err != nil {
		return "", fmt.Errorf("write bookmark file %s: %w", loc, err)
	}
	x.sideFiles = append(x.sideFiles, sideFile{path: loc, size: int64(len(enc))})
	sum := sha256.Sum256([]byte(enc))
	return refPrefix + loc + "#" + hex.EncodeToString(sum[:]), nil
}

// bookmarkFile returns the file a bookmark property references, "" for an
// inline bookmark.
func bookmarkFile(prop string) string {
	ref, ok := strings.CutPrefix(prop, refPrefix)
	if !ok {
		return ""
	}
	loc, _, _ := strings.Cut(ref, "#")
	return loc
}

// BookmarkOf reads the bookmark a table carries (zero when it has none),
// following a reference to a bookmark file.
func BookmarkOf(ctx context.Context, tbl *icetable.Table) (bookmarks.Bookmark, error) {
	prop := tbl.Properties()[BookmarkProperty]
	name := strings.Join(tbl.Identifier(), ".")
	if ref, ok := strings.CutPrefix(prop, refPrefix); ok {
		loc, want, _ := strings.Cut(ref, "#")
		fs, err := tbl.FS(ctx)
		if err != nil {
			return bookmarks.Bookmark{}, fmt.Errorf("read bookmark of %s: %w", name, err)
		}
		f, err := fs.Open(loc)
		if err != nil {
			return bookmarks.Bookmark{}, fmt.Errorf("read bookmark of %s: %w", name, err)
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, f)
		f.Close()
		if err != nil {
			return bookmarks.Bookmark{}, fmt.Errorf("read bookmark of %s from %s: %w", name, loc, err)
		}
		if sum := sha256.Sum256(buf.Bytes()); hex.EncodeToString(sum[:]) != want {
			return bookmarks.Bookmark{}, fmt.Errorf("read bookmark of %s: %s does not match its digest: %w", name, loc, bookmarks.ErrCorrupt)
		}
		prop = buf.String()
	}
	bm, err := bookmarks.Decode(prop)
	if err != nil {
		return bm, fmt.Errorf("read bookmark of %s: %w", name, err)
	}
	return bm, nil
}
