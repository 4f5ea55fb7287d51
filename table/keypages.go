package table

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/apache/thrift/lib/go/thrift"
)

// keyPage is one data page of the first key column of a row group, as
// ScanMatches prunes it: where its bytes are (header included), its rows
// and the min/max of its values.
type keyPage struct {
	offset, size int64 // in the file, header and body
	first, rows  int64 // rows of the row group it holds
	lo, hi       int64
	stats        bool // lo and hi are known; without them the page is read
}

// rowRange is rows [first, first+rows) of a row group.
type rowRange struct{ first, rows int64 }

// keyChunk is the first key column of a row group, as ScanMatches
// prunes its pages.
type keyChunk struct {
	pages []keyPage
	// indexed: the pages come from the file's offset index, and the
	// column reader seeks to them. Otherwise they come from the page
	// headers in chunk (the column chunk's bytes, from file offset start),
	// and dict is its dictionary page (size 0 without one).
	indexed bool
	chunk   []byte
	start   int64
	dict    keyPage
}

// keyPages lists the data pages of the integer key column leaf in row
// group rg, with their min/max, from the file's column and offset indexes
// when it has them, else from the page headers, read from raw (nil: none
// are read) into *buf. ok is false when neither gives every page's rows,
// or the column's statistics do not order as signed integers: then the
// caller reads the whole column.
func keyPages(raw io.ReaderAt, pr *file.Reader, rg int, rgr *file.RowGroupReader, leaf int, buf *[]byte) (kc keyChunk, ok bool) {
	col := pr.MetaData().Schema.Column(leaf)
	if col.SortOrder() != schema.SortSIGNED {
		return kc, false
	}
	cc, err := rgr.MetaData().ColumnChunk(leaf)
	if err != nil || cc.CryptoMetadata() != nil {
		return kc, false
	}
	width := 8
	if col.PhysicalType() == parquet.Types.Int32 {
		width = 4
	}
	if kc.pages, ok = indexPages(pr, rg, rgr, leaf, width); ok {
		kc.indexed = true
		return kc, true
	}
	if raw == nil {
		return kc, false
	}
	kc.start = cc.DataPageOffset()
	if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < kc.start {
		kc.start = cc.DictionaryPageOffset()
	}
	n := cc.TotalCompressedSize()
	if n <= 0 || n > 1<<30 {
		return kc, false
	}
	if int64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	kc.chunk = (*buf)[:n]
	if n, err := raw.ReadAt(kc.chunk, kc.start); n < len(kc.chunk) || err != nil && err != io.EOF {
		return kc, false
	}
	if kc.pages, kc.dict, err = headerPages(kc.chunk, kc.start, width); err != nil {
		return kc, false
	}
	var rows int64
	for _, p := range kc.pages {
		rows += p.rows
	}
	return kc, rows == rgr.NumRows()
}

// indexPages lists the pages of column leaf from the file's column and
// offset indexes; ok is false when it has not both.
func indexPages(pr *file.Reader, rg int, rgr *file.RowGroupReader, leaf, width int) ([]keyPage, bool) {
	cc, err := rgr.MetaData().ColumnChunk(leaf)
	if err != nil || cc.GetOffsetIndexLocation() == nil || cc.GetColumnIndexLocation() == nil {
		return nil, false
	}
	pir := pr.GetPageIndexReader()
	if pir == nil {
		return nil, false
	}
	rpi, err := pir.RowGroup(rg)
	if err != nil || rpi == nil {
		return nil, false
	}
	oi, err := rpi.GetOffsetIndex(leaf)
	if err != nil || oi == nil {
		return nil, false
	}
	ci, err := rpi.GetColumnIndex(leaf)
	if err != nil || ci == nil {
		return nil, false
	}
	locs := oi.GetPageLocations()
	mins, maxs, nulls := ci.GetMinValues(), ci.GetMaxValues(), ci.GetNullPages()
	if len(mins) != len(locs) || len(maxs) != len(locs) || len(nulls) != len(locs) {
		return nil, false
	}
	pages := make([]keyPage, len(locs))
	for i, l := range locs {
		next := rgr.NumRows()
		if i+1 < len(locs) {
			next = locs[i+1].FirstRowIndex
		}
		p := keyPage{offset: l.Offset, size: int64(l.CompressedPageSize), first: l.FirstRowIndex, rows: next - l.FirstRowIndex}
		if p.rows < 0 {
			return nil, false
		}
		if nulls[i] {
			// Only nulls: no key matches, the page is skipped.
			p.lo, p.hi, p.stats = 1, 0, true
		} else {
			p.lo, p.hi, p.stats = decodeBound(mins[i], width), decodeBound(maxs[i], width), len(mins[i]) == width && len(maxs[i]) == width
		}
		pages[i] = p
	}
	return pages, true
}

// decodeBound decodes a plain-encoded integer statistic of width bytes.
func decodeBound(b []byte, width int) int64 {
	switch {
	case width == 4 && len(b) == 4:
		return int64(int32(binary.LittleEndian.Uint32(b)))
	case width == 8 && len(b) == 8:
		return int64(binary.LittleEndian.Uint64(b))
	}
	return 0
}

// Page types and header fields of the Parquet format (parquet.thrift)
// that headerPages reads.
const (
	pageData       = 0
	pageDictionary = 2
	pageDataV2     = 3
)

// errPageHeader is headerPages' error for a header it cannot read.
var errPageHeader = errors.New("page header")

// headerPages reads the page headers of a column chunk (chunk: its bytes,
// at file offset start) and lists its data pages with the min/max of
// their header statistics, and its dictionary page.
func headerPages(chunk []byte, start int64, width int) ([]keyPage, keyPage, error) {
	var pages []keyPage
	var dict keyPage
	var row int64
	mb := &thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(chunk)}
	proto := thrift.NewTCompactProtocolConf(mb, &thrift.TConfiguration{})
	ctx := context.Background()
	for off := int64(0); off < int64(len(chunk)); {
		mb.Buffer = bytes.NewBuffer(chunk[off:])
		h, err := readPageHeader(ctx, proto, width)
		if err != nil {
			return nil, dict, err
		}
		hlen := int64(len(chunk)) - off - int64(mb.Len())
		size := hlen + int64(h.compressed)
		if h.compressed < 0 || off+size > int64(len(chunk)) {
			return nil, dict, fmt.Errorf("%w: page of %d bytes past the chunk", errPageHeader, h.compressed)
		}
		switch h.typ {
		case pageDictionary:
			if len(pages) > 0 {
				return nil, dict, fmt.Errorf("%w: dictionary page after data pages", errPageHeader)
			}
			dict = keyPage{offset: start + off, size: size}
		case pageData, pageDataV2:
			p := h.page
			p.offset, p.size, p.first = start+off, size, row
			row += p.rows
			pages = append(pages, p)
		}
		off += size
	}
	return pages, dict, nil
}

// pageHeader is what headerPages reads of a page header.
type pageHeader struct {
	typ        int32
	compressed int32
	page       keyPage // rows and statistics of a data page
}

// readPageHeader reads one PageHeader struct.
func readPageHeader(ctx context.Context, p thrift.TProtocol, width int) (pageHeader, error) {
	var h pageHeader
	err := readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
		switch {
		case id == 1 && t == thrift.I32:
			v, err := p.ReadI32(ctx)
			h.typ = v
			return true, err
		case id == 3 && t == thrift.I32:
			v, err := p.ReadI32(ctx)
			h.compressed = v
			return true, err
		case id == 5 && t == thrift.STRUCT: // DataPageHeader
			return true, readDataPageHeader(ctx, p, width, &h.page, 1, -1, 5)
		case id == 8 && t == thrift.STRUCT: // DataPageHeaderV2
			return true, readDataPageHeader(ctx, p, width, &h.page, -1, 3, 8)
		}
		return false, nil
	})
	return h, err
}

// readDataPageHeader reads a DataPageHeader (V1: the rows are the values,
// field valuesID) or DataPageHeaderV2 (field rowsID) into pg.
func readDataPageHeader(ctx context.Context, p thrift.TProtocol, width int, pg *keyPage, valuesID, rowsID, statsID int16) error {
	return readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
		switch {
		case (id == valuesID || id == rowsID) && t == thrift.I32:
			v, err := p.ReadI32(ctx)
			pg.rows = int64(v)
			return true, err
		case id == statsID && t == thrift.STRUCT:
			return true, readStatistics(ctx, p, width, pg)
		}
		return false, nil
	})
}

// readStatistics reads a Statistics struct's min and max: min_value and
// max_value, else the deprecated min and max (signed order, as the key's).
func readStatistics(ctx context.Context, p thrift.TProtocol, width int, pg *keyPage) error {
	var lo, hi, oldLo, oldHi []byte
	err := readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
		if t != thrift.STRING {
			return false, nil
		}
		var dst *[]byte
		switch id {
		case 1:
			dst = &oldHi
		case 2:
			dst = &oldLo
		case 5:
			dst = &hi
		case 6:
			dst = &lo
		default:
			return false, nil
		}
		v, err := p.ReadBinary(ctx)
		*dst = v
		return true, err
	})
	if lo == nil && hi == nil {
		lo, hi = oldLo, oldHi
	}
	if len(lo) == width && len(hi) == width {
		pg.lo, pg.hi, pg.stats = decodeBound(lo, width), decodeBound(hi, width), true
	}
	return err
}

// readStruct reads a struct's fields, handing each to field, which reads
// it and returns true, or returns false to have it skipped.
func readStruct(ctx context.Context, p thrift.TProtocol, field func(id int16, t thrift.TType) (bool, error)) error {
	if _, err := p.ReadStructBegin(ctx); err != nil {
		return fmt.Errorf("%w: %w", errPageHeader, err)
	}
	for {
		_, t, id, err := p.ReadFieldBegin(ctx)
		if err != nil {
			return fmt.Errorf("%w: %w", errPageHeader, err)
		}
		if t == thrift.STOP {
			break
		}
		read, err := field(id, t)
		if err == nil && !read {
			err = p.Skip(ctx, t)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errPageHeader, err)
		}
		if err := p.ReadFieldEnd(ctx); err != nil {
			return fmt.Errorf("%w: %w", errPageHeader, err)
		}
	}
	return p.ReadStructEnd(ctx)
}

// wantedPages returns the row ranges of the pages that may hold a key of
// x (adjacent pages merged), and how many pages it left out; lead, when
// not nil, holds (sorted) the only values of x the pages can hold.
func wantedPages(pages []keyPage, x *KeyIndex, lead []int64) (want []rowRange, picked []keyPage, skipped int) {
	for _, p := range pages {
		if p.stats {
			any := false
			if lead != nil {
				i, _ := slices.BinarySearch(lead, p.lo)
				any = i < len(lead) && lead[i] <= p.hi
			} else {
				x.EachIntBetween(p.lo, p.hi, func(int64) bool { any = true; return false })
			}
			if !any {
				skipped++
				continue
			}
		}
		picked = append(picked, p)
		if n := len(want); n > 0 && want[n-1].first+want[n-1].rows == p.first {
			want[n-1].rows += p.rows
			continue
		}
		want = append(want, rowRange{p.first, p.rows})
	}
	return want, picked, skipped
}

// pickedReader returns a column reader of column leaf in row group rgr
// that reads the pages picked only (the dictionary page dict first, when
// the chunk has one), in order, as though they were the whole chunk,
// from the chunk's bytes kc.chunk; the caller closes it.
func pickedReader(pr *file.Reader, rgr *file.RowGroupReader, leaf int, kc keyChunk, picked []keyPage) (file.ColumnChunkReader, error) {
	cc, err := rgr.MetaData().ColumnChunk(leaf)
	if err != nil {
		return nil, err
	}
	var n int64
	all := picked
	if kc.dict.size > 0 {
		all = append([]keyPage{kc.dict}, picked...)
	}
	for _, p := range all {
		n += p.size
	}
	b := make([]byte, 0, n)
	var rows int64
	for _, p := range all {
		b = append(b, kc.chunk[p.offset-kc.start:p.offset-kc.start+p.size]...)
		rows += p.rows
	}
	props := parquet.NewReaderProperties(nil)
	stream, err := props.GetStream(bytes.NewReader(b), 0, int64(len(b)))
	if err != nil {
		return nil, err
	}
	//lint:ignore SA1019 the one public way to read pages from bytes at hand; pinned arrow-go
	pgr, err := file.NewPageReader(stream, rows, cc.Compression(), props.Allocator(), nil)
	if err != nil {
		return nil, err
	}
	return file.NewColumnReader(pr.MetaData().Schema.Column(leaf), pgr, props.Allocator(), pr.BufferPool()), nil
}
