package table

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/lakemerge/lakemerge/change"
)

// Match is a live stored row that holds a changed key: the change row
// with that key, the row's position in its data file and its _seq.
type Match struct {
	Change int
	Pos    int64
	// Seq is the row's _seq, unless Older is set: then it was not read
	// (nil), because the statistics of its row group show that every
	// _seq in it is less than every change's.
	Seq   []byte
	Older bool
}

// ScanCounts counts what ScanMatches read of a file.
type ScanCounts struct {
	Rows      int64 // rows whose key was decoded (those of the pages read)
	RowGroups int   // row groups read
	Skipped   int   // row groups skipped by their key min/max or bloom filter
	// PagesSkipped counts the key column's pages, in the row groups read,
	// whose min/max rule out every changed key: their rows are not decoded.
	PagesSkipped int
}

// scanBatch is how many key values ScanMatches decodes at a time.
const scanBatch = 32 << 10

// ErrKeyTypes is ScanMatches' error for a key it cannot read from the
// file's columns (a key that is not an integer first column, or another
// key column of a physical type that does not encode as the changes'
// does); the caller reads the key columns whole instead (Probe).
var ErrKeyTypes = errors.New("key columns cannot be scanned")

// ScanMatches finds the live rows of the Parquet data file pr that hold a
// key of the changes indexed by x, and reads as little of the file as
// that takes. The key is a single integer column, or several columns
// whose first is an integer (x.Lead() is not nil); keyLeaves are the leaf
// column indexes of the key columns, in key order:
//
//   - a row group whose first key column's min/max statistics hold no
//     changed value of that column is skipped, and so is one whose bloom
//     filter on it (when the file has one) rules out every such value
//     within its min/max;
//   - in the other row groups, the pages of the first key column whose
//     min/max hold no changed value of that column are skipped: their
//     min/max come from the file's column index, else (ScanMatchesAt) from
//     the statistics in the page headers (a file with neither reads every
//     page);
//   - the first key column of the other pages is decoded into plain
//     integers, without building Arrow arrays; a row whose value no
//     change has in its first column is not looked at further;
//   - for a key of several columns, the other key columns are read for
//     the rows left only (skipping the values between them, and whole
//     pages through the file's offset index when it has one), and a row
//     matches when its whole key is a changed key;
//   - _seq is read for the matched rows only, the same way, and not at
//     all in a row group whose _seq statistics show every value less
//     than minSeq, the least _seq of the changes (the usual case: changes
//     newer than everything stored), whose matches come with Older set
//     instead. A nil minSeq reads every matched _seq.
//
// seqLeaf is the leaf column index of _seq (binary); -1 is a file without
// _seq (one another writer wrote before lakemerge took the table over),
// whose rows are older than every change (Older, as a null _seq in Match); dead are the sorted positions of rows
// an earlier delete removed (they match nothing). The matches come in
// position order; their Seq are copies the caller may keep. A stored row
// with a null key column matches nothing. A key column of a physical type
// that does not encode as the changes' is ErrKeyTypes.
func ScanMatches(pr *file.Reader, keyLeaves []int, seqLeaf int, x *KeyIndex, dead []int64, minSeq []byte) ([]Match, ScanCounts, error) {
	return ScanMatchesAt(PagePruning{}, pr, keyLeaves, seqLeaf, x, dead, minSeq)
}

// PagePruning is what ScanMatchesAt prunes the first key column's pages
// with, beyond a file's column index. The zero value is ScanMatches'.
type PagePruning struct {
	// Raw holds the file's bytes (the source pr reads). In a file without
	// a column index (Iceberg data files: iceberg-go's writer writes none)
	// the first key column's page headers are read from it, one read of
	// the column chunk, and its pages pruned by the statistics they carry.
	Raw io.ReaderAt
	// Lead, when not nil, holds (sorted) every first-key-column value of
	// the changes that the file can hold — those of its key bucket, when
	// the table is partitioned by a bucket of that column — and a page is
	// decoded only when its min/max holds one of them. Without it, every
	// changed value counts: a page's key range then holds changed keys of
	// other buckets too.
	Lead []int64
}

// ScanMatchesAt is ScanMatches, pruning the first key column's pages
// with pp too.
func ScanMatchesAt(pp PagePruning, pr *file.Reader, keyLeaves []int, seqLeaf int, x *KeyIndex, dead []int64, minSeq []byte) ([]Match, ScanCounts, error) {
	var cnt ScanCounts
	lead := x.Lead()
	if lead == nil || len(keyLeaves) != len(x.keys) {
		return nil, cnt, fmt.Errorf("scan matches: %w: not an integer first column", ErrKeyTypes)
	}
	sch := pr.MetaData().Schema
	for i, leaf := range append(slices.Clone(keyLeaves), seqLeaf) {
		if leaf < 0 && (i < len(keyLeaves) || leaf < -1) || leaf >= sch.NumColumns() {
			return nil, cnt, fmt.Errorf("scan matches: column %d not in file", leaf)
		}
		if leaf >= 0 && sch.Column(leaf).MaxRepetitionLevel() > 0 {
			return nil, cnt, fmt.Errorf("scan matches: key or %s column is repeated", "_seq")
		}
	}
	for i, leaf := range keyLeaves[1:] {
		if !encodesAs(sch.Column(leaf).PhysicalType(), x.rest[i]) {
			return nil, cnt, fmt.Errorf("scan matches: %w: column %s is %s", ErrKeyTypes, sch.Column(leaf).Name(), sch.Column(leaf).PhysicalType())
		}
	}
	var out []Match
	var leads []int64 // the first key column's value of each match, for a key of several columns
	var arena, chunk []byte
	var base int64
	for rg := 0; rg < pr.NumRowGroups(); rg++ {
		rgr := pr.RowGroup(rg)
		n := rgr.NumRows()
		skip, err := skipRowGroup(pr, rg, rgr, keyLeaves[0], lead)
		if err != nil {
			return nil, cnt, fmt.Errorf("row group %d: %w", rg, err)
		}
		if skip {
			cnt.Skipped++
			base += n
			continue
		}
		cnt.RowGroups++
		first := len(out)
		var vals *[]int64
		if lead != x {
			leads, vals = leads[:0], &leads
		}
		if out, err = scanKeys(pp, pr, rg, rgr, keyLeaves[0], lead, base, dead, out, vals, &cnt, &chunk); err != nil {
			return nil, cnt, fmt.Errorf("row group %d: read keys: %w", rg, err)
		}
		if lead != x {
			kept, err := matchRest(pr, rg, rgr, keyLeaves, x, base, out[first:], leads)
			if err != nil {
				return nil, cnt, fmt.Errorf("row group %d: read keys: %w", rg, err)
			}
			out = out[:first+kept]
		}
		if len(out) > first && (seqLeaf < 0 || seqsBelow(pr, rgr, seqLeaf, minSeq)) {
			for k := first; k < len(out); k++ {
				out[k].Older = true
			}
		} else if arena, err = readSeqs(pr, rg, rgr, seqLeaf, base, out[first:], arena); err != nil {
			return nil, cnt, fmt.Errorf("row group %d: read _seq: %w", rg, err)
		}
		base += n
	}
	return out, cnt, nil
}

// encodesAs reports whether the values of a Parquet column of physical
// type t encode (change.KeyEncoder) as a key part of kind k does.
func encodesAs(t parquet.Type, k keyPart) bool {
	switch k {
	case partInt:
		return t == parquet.Types.Int32 || t == parquet.Types.Int64
	case partDate:
		return t == parquet.Types.Int32
	case partBytes:
		return t == parquet.Types.ByteArray
	}
	return false
}

// matchRest reads the key columns after the first (keyLeaves[1:]) of the
// rows ms of a row group whose first row is at file position base, whose
// first key column values are leads, and keeps, in place and in order,
// the rows whose whole key is a changed key (x.enc), setting their
// Change. It returns how many it kept.
func matchRest(pr *file.Reader, rg int, rgr *file.RowGroupReader, keyLeaves []int, x *KeyIndex, base int64, ms []Match, leads []int64) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	parts := make([]func(dst []byte, r int64) ([]byte, bool, error), len(keyLeaves)-1)
	for i, leaf := range keyLeaves[1:] {
		ccr, err := rgr.Column(leaf)
		if err != nil {
			return 0, err
		}
		defer ccr.Close()
		starts := pageStarts(pr, rg, rgr, leaf)
		switch r := ccr.(type) {
		case *file.Int32ColumnChunkReader:
			c := newCursor[int32](r, starts)
			date := x.rest[i] == partDate
			parts[i] = func(dst []byte, row int64) ([]byte, bool, error) {
				v, ok, err := c.at(row)
				if !ok || err != nil {
					return dst, false, err
				}
				if date {
					return change.AppendKeyDate(dst, v), true, nil
				}
				return change.AppendKeyInt(dst, int64(v)), true, nil
			}
		case *file.Int64ColumnChunkReader:
			c := newCursor[int64](r, starts)
			parts[i] = func(dst []byte, row int64) ([]byte, bool, error) {
				v, ok, err := c.at(row)
				if !ok || err != nil {
					return dst, false, err
				}
				return change.AppendKeyInt(dst, v), true, nil
			}
		case *file.ByteArrayColumnChunkReader:
			c := newCursor[parquet.ByteArray](r, starts)
			parts[i] = func(dst []byte, row int64) ([]byte, bool, error) {
				v, ok, err := c.at(row)
				if !ok || err != nil {
					return dst, false, err
				}
				return change.AppendKeyBytes(dst, v), true, nil
			}
		default:
			return 0, fmt.Errorf("%w: column %d is %s", ErrKeyTypes, leaf, ccr.Type())
		}
	}
	var kb []byte
	kept := 0
next:
	for k, m := range ms {
		kb = change.AppendKeyInt(append(kb[:0], 1), leads[k])
		for _, part := range parts {
			var ok bool
			var err error
			if kb, ok, err = part(append(kb, 1), m.Pos-base); err != nil {
				return 0, fmt.Errorf("row %d: %w", m.Pos, err)
			} else if !ok {
				continue next // a null key column matches nothing
			}
		}
		if i, ok := x.lookupEncoded(kb); ok {
			m.Change = i
			ms[kept] = m
			kept++
		}
	}
	return kept, nil
}

// seqsBelow reports whether the _seq statistics of a row group show every
// value less than minSeq (compared as change.CompareSeq does: unsigned
// bytes, which is the column's sort order only when it is unsigned).
func seqsBelow(pr *file.Reader, rgr *file.RowGroupReader, seqLeaf int, minSeq []byte) bool {
	if minSeq == nil || pr.MetaData().Schema.Column(seqLeaf).SortOrder() != schema.SortUNSIGNED {
		return false
	}
	cc, err := rgr.MetaData().ColumnChunk(seqLeaf)
	if err != nil {
		return false
	}
	if set, err := cc.StatsSet(); err != nil || !set {
		return false
	}
	st, err := cc.Statistics()
	if err != nil || st == nil || !st.HasMinMax() {
		return false
	}
	bs, ok := st.(*metadata.ByteArrayStatistics)
	return ok && bytes.Compare(bs.Max(), minSeq) < 0
}

// skipRowGroup reports whether row group rg cannot hold a changed key, by
// its key statistics and bloom filter.
func skipRowGroup(pr *file.Reader, rg int, rgr *file.RowGroupReader, keyLeaf int, x *KeyIndex) (bool, error) {
	cc, err := rgr.MetaData().ColumnChunk(keyLeaf)
	if err != nil {
		return false, err
	}
	if set, err := cc.StatsSet(); err != nil || !set {
		return false, nil // no statistics: read it
	}
	st, err := cc.Statistics()
	if err != nil || st == nil || !st.HasMinMax() {
		return false, nil
	}
	var lo, hi int64
	switch s := st.(type) {
	case *metadata.Int64Statistics:
		lo, hi = s.Min(), s.Max()
	case *metadata.Int32Statistics:
		lo, hi = int64(s.Min()), int64(s.Max())
	default:
		return false, nil
	}
	// Without a bloom filter the first changed key within min/max decides;
	// with one, every such key is checked against it.
	bloom := cc.BloomFilterOffset() > 0
	var inRange []int64
	any := false
	x.EachIntBetween(lo, hi, func(k int64) bool {
		any = true
		inRange = append(inRange, k)
		return bloom
	})
	if !any {
		return true, nil
	}
	if !bloom {
		return false, nil
	}
	bfr, err := pr.GetBloomFilterReader().RowGroup(rg)
	if err != nil {
		return false, err
	}
	bf, err := bfr.GetColumnBloomFilter(keyLeaf)
	if err != nil || bf == nil {
		return false, err
	}
	h := bf.Hasher()
	i32 := cc.Type() == parquet.Types.Int32
	for _, k := range inRange {
		var hash uint64
		if i32 {
			hash = metadata.GetHash(h, int32(k))
		} else {
			hash = metadata.GetHash(h, k)
		}
		if bf.CheckHash(hash) {
			return false, nil
		}
	}
	return true, nil
}

// scanKeys appends a Match, without Seq, for each live row of row group
// rg (its first row at file position base) whose first key column value
// (an integer, column keyLeaf) x has; with vals set it also appends each
// such row's value to *vals. It decodes the pages of that column whose
// min/max may hold a changed value (keyPages and pp; all of them when it
// cannot tell), and counts what it decoded and skipped in cnt. buf is a buffer
// for the column chunk's bytes, reused from row group to row group.
func scanKeys(pp PagePruning, pr *file.Reader, rg int, rgr *file.RowGroupReader, keyLeaf int, x *KeyIndex, base int64, dead []int64, out []Match, vals *[]int64, cnt *ScanCounts, buf *[]byte) ([]Match, error) {
	want := []rowRange{{0, rgr.NumRows()}}
	kc, ok := keyPages(pp.Raw, pr, rg, rgr, keyLeaf, buf)
	var picked []keyPage
	if ok {
		var skipped int
		if want, picked, skipped = wantedPages(kc.pages, x, pp.Lead); skipped == 0 {
			ok, want = false, []rowRange{{0, rgr.NumRows()}}
		}
		cnt.PagesSkipped += skipped
	}
	for _, r := range want {
		cnt.Rows += r.rows
	}
	if len(want) == 0 {
		return out, nil
	}
	var ccr file.ColumnChunkReader
	var err error
	if ok && !kc.indexed {
		ccr, err = pickedReader(pr, rgr, keyLeaf, kc, picked)
	} else {
		ccr, err = rgr.Column(keyLeaf)
	}
	if err != nil {
		return nil, err
	}
	defer ccr.Close()
	// With the offset index the reader seeks to each wanted range; a
	// reader of the picked pages holds them back to back.
	return matchKeys(ccr, want, ok && kc.indexed, x, base, dead, out, vals)
}

// matchKeys decodes the rows want of an integer key column ccr (of a row
// group whose first row is at file position base) and appends a Match,
// without Seq, for each live row whose key x has; with vals set it also
// appends each such row's key to *vals. With seek the reader seeks to the
// first row of each range; without, it reads them one after another.
func matchKeys(ccr file.ColumnChunkReader, want []rowRange, seek bool, x *KeyIndex, base int64, dead []int64, out []Match, vals *[]int64) ([]Match, error) {
	maxDef := ccr.Descriptor().MaxDefinitionLevel()
	var defs []int16
	if maxDef > 0 {
		defs = make([]int16, scanBatch)
	}
	decoded := make([]int64, scanBatch)
	var v32 []int32
	read := func(batch int64) (int64, int, error) {
		switch r := ccr.(type) {
		case *file.Int64ColumnChunkReader:
			return r.ReadBatch(batch, decoded, defs, nil)
		case *file.Int32ColumnChunkReader:
			if v32 == nil {
				v32 = make([]int32, scanBatch)
			}
			levels, n, err := r.ReadBatch(batch, v32, defs, nil)
			for i := range n {
				decoded[i] = int64(v32[i])
			}
			return levels, n, err
		}
		return 0, 0, fmt.Errorf("key column is %s, not an integer", ccr.Type())
	}
	d := 0 // next dead position to compare
	for _, r := range want {
		if seek {
			if err := ccr.SeekToRow(r.first); err != nil {
				return nil, fmt.Errorf("seek to row %d: %w", r.first, err)
			}
		}
		row := base + r.first
		for end := row + r.rows; row < end; {
			levels, n, err := read(min(scanBatch, end-row))
			if err != nil {
				return nil, err
			}
			if levels == 0 {
				return nil, fmt.Errorf("decoded %d keys of rows %d…%d", row-base-r.first, r.first, r.first+r.rows)
			}
			vi := 0
			for l := range int(levels) {
				pos := row + int64(l)
				if maxDef > 0 && defs[l] < maxDef {
					continue // null key
				}
				v := decoded[vi]
				vi++
				i, ok := x.LookupInt(v)
				if !ok {
					continue
				}
				for d < len(dead) && dead[d] < pos {
					d++
				}
				if d < len(dead) && dead[d] == pos {
					continue
				}
				out = append(out, Match{Change: i, Pos: pos})
				if vals != nil {
					*vals = append(*vals, v)
				}
			}
			if vi != n {
				return nil, fmt.Errorf("decoded %d values for %d non-null levels", n, vi)
			}
			row += levels
		}
	}
	return out, nil
}

// readSeqs reads the _seq of the matched rows ms of a row group whose
// first row is at file position base, copying each into arena.
func readSeqs(pr *file.Reader, rg int, rgr *file.RowGroupReader, seqLeaf int, base int64, ms []Match, arena []byte) ([]byte, error) {
	if len(ms) == 0 {
		return arena, nil
	}
	ccr, err := rgr.Column(seqLeaf)
	if err != nil {
		return arena, err
	}
	defer ccr.Close()
	br, ok := ccr.(*file.ByteArrayColumnChunkReader)
	if !ok {
		return arena, fmt.Errorf("column is %s, not binary", ccr.Type())
	}
	c := newCursor[parquet.ByteArray](br, pageStarts(pr, rg, rgr, seqLeaf))
	// Values are copied into arena (a _seq is tens of bytes); slices handed
	// out stay valid because a full arena is replaced, not grown in place.
	for k := range ms {
		v, ok, err := c.at(ms[k].Pos - base)
		if err != nil {
			return arena, err
		}
		if !ok {
			return arena, fmt.Errorf("row %d: no _seq value (null or past the end)", ms[k].Pos)
		}
		if cap(arena)-len(arena) < len(v) {
			arena = make([]byte, 0, max(64<<10, len(v)))
		}
		arena = append(arena, v...)
		ms[k].Seq = slices.Clip(arena[len(arena)-len(v):])
	}
	return arena, nil
}

// pageStarts returns the first row of each page of column leaf in row
// group rg, from the file's offset index; nil when it has none.
func pageStarts(pr *file.Reader, rg int, rgr *file.RowGroupReader, leaf int) []int64 {
	cc, err := rgr.MetaData().ColumnChunk(leaf)
	if err != nil || cc.GetOffsetIndexLocation() == nil {
		return nil
	}
	pir := pr.GetPageIndexReader()
	if pir == nil {
		return nil
	}
	rpi, err := pir.RowGroup(rg)
	if err != nil || rpi == nil {
		return nil
	}
	oi, err := rpi.GetOffsetIndex(leaf)
	if err != nil || oi == nil {
		return nil
	}
	var starts []int64
	for _, pl := range oi.GetPageLocations() {
		starts = append(starts, pl.FirstRowIndex)
	}
	return starts
}

// columnReader is a typed column chunk reader of the Parquet file package
// (file.Int32ColumnChunkReader, …) as cursor uses it.
type columnReader[T any] interface {
	ReadBatch(batchSize int64, values []T, defLvls, repLvls []int16) (int64, int, error)
	seeker
}

// seeker moves a column chunk reader of the Parquet file package forward
// without decoding what it passes: past values (Skip) or to a row of
// another page, found by the offset index (SeekToRow).
type seeker interface {
	Skip(nvalues int64) (int64, error)
	SeekToRow(rowIdx int64) error
}

// pagePos is where a column chunk reader of a row group stands: cur, the
// next row it returns, and page, the page of cur (-1 without an offset
// index). starts are the first row of each page, from the offset index
// (nil without one).
type pagePos struct {
	starts []int64
	cur    int64
	page   int
}

func newPagePos(starts []int64) pagePos {
	p := pagePos{starts: starts, page: -1}
	if len(starts) > 0 {
		p.page = 0
	}
	return p
}

// moveTo brings r from cur to row (not below cur): by seeking when row is
// in another page than cur (the pages between are not decoded), and by
// skipping the values between when there are more than gap of them (the
// caller decodes through fewer).
func (p *pagePos) moveTo(r seeker, row, gap int64) error {
	if len(p.starts) > 0 {
		if pg := p.pageOf(row); pg != p.page {
			if err := r.SeekToRow(row); err != nil {
				return err
			}
			p.cur, p.page = row, pg
		}
	}
	if row-p.cur > gap {
		if _, err := r.Skip(row - p.cur); err != nil {
			return err
		}
		p.cur = row
	}
	return nil
}

// advance records that r returned n rows.
func (p *pagePos) advance(n int64) {
	p.cur += n
	if len(p.starts) > 0 {
		p.page = p.pageOf(p.cur)
	}
}

// pageOf returns the page of row r, by the offset index.
func (p *pagePos) pageOf(r int64) int {
	return sort.Search(len(p.starts), func(i int) bool { return p.starts[i] > r }) - 1
}

// cursor reads the values of one flat column of a row group at
// increasing rows: a row in a later page (starts: the first row of each
// page, from the offset index; nil without one) is reached by seeking,
// not by decoding the pages between, and the values between two rows of
// one page are skipped.
type cursor[T any] struct {
	r    columnReader[T]
	pos  pagePos
	vals []T
	defs []int16
}

func newCursor[T any](r columnReader[T], starts []int64) *cursor[T] {
	return &cursor[T]{r: r, pos: newPagePos(starts), vals: make([]T, 1), defs: make([]int16, 1)}
}

// at returns the value of row r (relative to the row group; not below the
// rows read before); ok is false when it is null. The value is valid
// until the next call.
func (c *cursor[T]) at(r int64) (v T, ok bool, err error) {
	if r < c.pos.cur {
		return v, false, fmt.Errorf("rows out of order at row %d", r)
	}
	if err := c.pos.moveTo(c.r, r, 0); err != nil {
		return v, false, err
	}
	levels, n, err := c.r.ReadBatch(1, c.vals, c.defs, nil)
	if err != nil {
		return v, false, err
	}
	if levels != 1 {
		return v, false, fmt.Errorf("row %d: past the end", r)
	}
	c.pos.advance(1)
	if n != 1 {
		return v, false, nil
	}
	return c.vals[0], true, nil
}
