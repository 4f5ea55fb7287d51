package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// Side files: lakemerge's state that does not fit a table property lives
// in files beside the table metadata, referenced by digest from table
// properties (table.SideFile.Ref), so every metadata file references the
// side files of its state (docs/format/lmbref.md).
const (
	// BookmarkProperty holds the table's bookmark: its text form, or,
	// when that is longer than inlineBookmarkMax, an lmbref: reference to
	// a bookmark file holding it.
	BookmarkProperty = "lakemerge.bookmark"
	// TombstonesProperty references the table's tombstone file (lmtref:),
	// absent when there are no tombstones (docs/format/tombstones.md).
	// Tombstones older than Options.TombstoneHorizon are dropped.
	TombstonesProperty = "lakemerge.tombstones"

	// JournalProperty is the snapshot summary property that references
	// the snapshot's journal (lmjref:): the change set the run applied in
	// it (table.EncodeJournal, docs/format/journal.md), written when the
	// table has a history or changelog table.
	JournalProperty = "lakemerge.journal"

	bookmarkRef = "lmbref:"
	tombRef     = "lmtref:"
	journalRef  = "lmjref:"
)

// inlineBookmarkMax is the largest encoded bookmark kept inline in the
// table property. Larger ones go to a file next to the table metadata and
// the property holds a reference: catalogs copy table properties into
// their own records, and AWS Glue limits a parameter value to 512 KB.
const inlineBookmarkMax = 16 << 10

// writeSideFile writes body to a new file named prefix-<uuid>.ext in the
// table's metadata folder and returns its description, which Commit
// verifies before committing a reference to it.
func (x *Txn) writeSideFile(ctx context.Context, prefix, ext string, body []byte) (table.SideFile, error) {
	fs, err := x.tbl.FS(ctx)
	if err != nil {
		return table.SideFile{}, fmt.Errorf("open table io: %w", err)
	}
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return table.SideFile{}, errors.New("table io cannot write files")
	}
	f := table.NewSideFile(strings.TrimRight(x.tbl.Location(), "/")+"/metadata/"+prefix+"-"+uuid.NewString()+ext, body)
	if err := wfs.WriteFile(f.Path, body); err != nil {
		return table.SideFile{}, fmt.Errorf("write %s: %w", f.Path, err)
	}
	x.sideFiles = append(x.sideFiles, f)
	return f, nil
}

// readSideFile reads the file f names through tbl's IO and checks it
// against f's digest.
func readSideFile(ctx context.Context, tbl *icetable.Table, f table.SideFile) ([]byte, error) {
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	r, err := fs.Open(f.Path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, r)
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Path, err)
	}
	if err := f.Check(buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// bookmarkProperty returns the property value for enc, writing a bookmark
// file when enc is too large to keep inline.
func (x *Txn) bookmarkProperty(ctx context.Context, enc string) (string, error) {
	if len(enc) <= inlineBookmarkMax {
		return enc, nil
	}
	f, err := x.writeSideFile(ctx, "lakemerge-bookmark", ".lmb", []byte(enc))
	if err != nil {
		return "", fmt.Errorf("write bookmark file: %w", err)
	}
	return f.Ref(bookmarkRef), nil
}

// BookmarkOf reads the bookmark a table carries (zero when it has none),
// following a reference to a bookmark file. A bookmark file that does not
// match its digest is bookmarks.ErrCorrupt.
//
// After a rollback inside the metadata it is the bookmark of the main
// branch's line (see stateProps).
func BookmarkOf(ctx context.Context, tbl *icetable.Table) (bookmarks.Bookmark, error) {
	props, _, err := stateProps(ctx, tbl)
	if err != nil {
		return bookmarks.Bookmark{}, err
	}
	return bookmarkIn(ctx, tbl, props)
}

// bookmarkIn reads the bookmark props hold (tbl's, or a recovered state,
// see stateProps).
func bookmarkIn(ctx context.Context, tbl *icetable.Table, props ice.Properties) (bookmarks.Bookmark, error) {
	prop := props[BookmarkProperty]
	name := strings.Join(tbl.Identifier(), ".")
	if f, ok := table.ParseRef(bookmarkRef, prop); ok {
		b, err := readSideFile(ctx, tbl, f)
		var digest *table.DigestError
		if errors.As(err, &digest) {
			err = fmt.Errorf("%w: %w", err, bookmarks.ErrCorrupt)
		}
		if err != nil {
			return bookmarks.Bookmark{}, fmt.Errorf("read bookmark of %s: %w", name, err)
		}
		prop = string(b)
	}
	bm, err := bookmarks.Decode(prop)
	if err != nil {
		return bm, fmt.Errorf("read bookmark of %s: %w", name, err)
	}
	return bm, nil
}

// loadTombstones reads the tombstones props reference (tbl's, or a
// recovered state, see stateProps; none when the property is unset).
func loadTombstones(ctx context.Context, tbl *icetable.Table, props ice.Properties, mem memory.Allocator) (*table.Tombstones, error) {
	prop := props[TombstonesProperty]
	if prop == "" {
		return &table.Tombstones{}, nil
	}
	f, ok := table.ParseRef(tombRef, prop)
	if !ok {
		return nil, fmt.Errorf("read tombstones: property %s is not a %s reference", TombstonesProperty, tombRef)
	}
	b, err := readSideFile(ctx, tbl, f)
	if err != nil {
		return nil, fmt.Errorf("read tombstones: %w", err)
	}
	t, err := table.DecodeTombstones(ctx, b, mem)
	if err != nil {
		return nil, fmt.Errorf("read tombstones %s: %w", f.Path, err)
	}
	return t, nil
}

// tombstonesProperty writes t to a new tombstone file and returns the
// property value referencing it ("" for an empty set).
func (x *Txn) tombstonesProperty(ctx context.Context, t *table.Tombstones) (string, error) {
	if t.Len() == 0 {
		return "", nil
	}
	b, err := table.EncodeTombstones(t, x.t.mem)
	if err != nil {
		return "", err
	}
	f, err := x.writeSideFile(ctx, "lakemerge-tombstones", ".parquet", b)
	if err != nil {
		return "", fmt.Errorf("write tombstones: %w", err)
	}
	return f.Ref(tombRef), nil
}

// sideFilesOf returns the bookmark and tombstone files the table
// properties of one metadata file reference.
func sideFilesOf(props map[string]string) []string {
	var out []string
	for _, r := range []struct{ prefix, prop string }{{bookmarkRef, props[BookmarkProperty]}, {tombRef, props[TombstonesProperty]}} {
		if f, ok := table.ParseRef(r.prefix, r.prop); ok {
			out = append(out, f.Path)
		}
	}
	return out
}

// journalRef writes the journal Journal gave to a new file and returns
// the snapshot summary value referencing it.
func (x *Txn) journalRef(ctx context.Context) (string, error) {
	b, err := table.EncodeJournal(x.journal, x.journalStale, x.t.mem)
	if err != nil {
		return "", err
	}
	f, err := x.writeSideFile(ctx, "lakemerge-journal", ".parquet", b)
	if err != nil {
		return "", fmt.Errorf("write journal: %w", err)
	}
	return f.Ref(journalRef), nil
}

// readJournal reads the journal snapshot s references (ok false when it
// references none) as a step of a table with user columns cols. A journal
// missing, or not matching its digest, is an error naming the file.
func (t *Table) readJournal(ctx context.Context, tbl *icetable.Table, s *icetable.Snapshot, cols []change.Column) (step table.Step, ok bool, _ error) {
	if s.Summary == nil {
		return step, false, nil
	}
	f, ok := table.ParseRef(journalRef, s.Summary.Properties[JournalProperty])
	if !ok {
		return step, false, nil
	}
	b, err := readSideFile(ctx, tbl, f)
	if err != nil {
		return step, true, fmt.Errorf("read journal %s of snapshot %d: %w", f.Path, s.SnapshotID, err)
	}
	if step, err = table.DecodeJournal(ctx, b, cols, t.mem); err != nil {
		return step, true, fmt.Errorf("read journal %s of snapshot %d: %w", f.Path, s.SnapshotID, err)
	}
	step.Snapshot = s.SnapshotID
	return step, true, nil
}

// journalsOf returns the journal files the snapshots of meta reference.
func journalsOf(meta icetable.Metadata) []string {
	var out []string
	for _, s := range meta.Snapshots() {
		if s.Summary == nil {
			continue
		}
		if f, ok := table.ParseRef(journalRef, s.Summary.Properties[JournalProperty]); ok {
			out = append(out, f.Path)
		}
	}
	return out
}
