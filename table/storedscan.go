package table

import (
	"bytes"
	"fmt"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/schema"
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
	Rows      int64 // rows whose key was decoded (those of the row groups read)
	RowGroups int   // row groups read
	Skipped   int   // row groups skipped by their key min/max or bloom filter
}

// scanBatch is how many key values ScanMatches decodes at a time.
const scanBatch = 32 << 10

// ScanMatches finds the live rows of the Parquet data file pr that hold a
// key of the changes indexed by x, a single integer key column
// (x.Ints() must be true), and reads as little of the file as that takes:
//
//   - a row group whose key min/max statistics hold no changed key is
//     skipped, and so is one whose key bloom filter (when the file has one)
//     rules out every changed key within its min/max;
//   - the key column of the other row groups is decoded into plain
//     integers, without building Arrow arrays;
//   - _seq is read for the matched rows only, skipping the values between
//     them, and whole pages through the file's offset index when it has
//     one; and not at all in a row group whose _seq statistics show every
//     value less than minSeq, the least _seq of the changes (the usual
//     case: changes newer than everything stored), whose matches come
//     with Older set instead. A nil minSeq reads every matched _seq.
//
// keyLeaf and seqLeaf are the leaf column indexes of the key (int32 or
// int64) and _seq (binary) columns; seqLeaf -1 is a file without _seq (one
// another writer wrote before lakemerge took the table over), whose rows
// are older than every change (Older, as a null _seq in Match); dead are the sorted positions of rows
// an earlier delete removed (they match nothing). The matches come in
// position order; their Seq are copies the caller may keep. A stored row
// with a null key matches nothing.
func ScanMatches(pr *file.Reader, keyLeaf, seqLeaf int, x *KeyIndex, dead []int64, minSeq []byte) ([]Match, ScanCounts, error) {
	var cnt ScanCounts
	if !x.Ints() {
		return nil, cnt, fmt.Errorf("scan matches: key is not a single integer column")
	}
	sch := pr.MetaData().Schema
	if keyLeaf < 0 || keyLeaf >= sch.NumColumns() || seqLeaf < -1 || seqLeaf >= sch.NumColumns() {
		return nil, cnt, fmt.Errorf("scan matches: column %d or %d not in file", keyLeaf, seqLeaf)
	}
	if sch.Column(keyLeaf).MaxRepetitionLevel() > 0 || (seqLeaf >= 0 && sch.Column(seqLeaf).MaxRepetitionLevel() > 0) {
		return nil, cnt, fmt.Errorf("scan matches: key or %s column is repeated", "_seq")
	}
	var out []Match
	var arena []byte
	var base int64
	for rg := 0; rg < pr.NumRowGroups(); rg++ {
		rgr := pr.RowGroup(rg)
		n := rgr.NumRows()
		skip, err := skipRowGroup(pr, rg, rgr, keyLeaf, x)
		if err != nil {
			return nil, cnt, fmt.Errorf("row group %d: %w", rg, err)
		}
		if skip {
			cnt.Skipped++
			base += n
			continue
		}
		cnt.RowGroups++
		cnt.Rows += n
		first := len(out)
		if out, err = matchKeys(rgr, keyLeaf, x, base, dead, out); err != nil {
			return nil, cnt, fmt.Errorf("row group %d: read keys: %w", rg, err)
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
	var inRange []int64
	x.EachIntBetween(lo, hi, func(k int64) bool {
		inRange = append(inRange, k)
		return true
	})
	if len(inRange) == 0 {
		return true, nil
	}
	if cc.BloomFilterOffset() <= 0 {
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

// matchKeys decodes the key column of a row group (its first row at file
// position base) and appends a Match, without Seq, for each live row
// whose key a change has.
func matchKeys(rgr *file.RowGroupReader, keyLeaf int, x *KeyIndex, base int64, dead []int64, out []Match) ([]Match, error) {
	ccr, err := rgr.Column(keyLeaf)
	if err != nil {
		return nil, err
	}
	defer ccr.Close()
	maxDef := ccr.Descriptor().MaxDefinitionLevel()
	var defs []int16
	if maxDef > 0 {
		defs = make([]int16, scanBatch)
	}
	vals := make([]int64, scanBatch)
	var v32 []int32
	read := func() (int64, int, error) {
		switch r := ccr.(type) {
		case *file.Int64ColumnChunkReader:
			return r.ReadBatch(scanBatch, vals, defs, nil)
		case *file.Int32ColumnChunkReader:
			if v32 == nil {
				v32 = make([]int32, scanBatch)
			}
			levels, n, err := r.ReadBatch(scanBatch, v32, defs, nil)
			for i := range n {
				vals[i] = int64(v32[i])
			}
			return levels, n, err
		}
		return 0, 0, fmt.Errorf("key column is %s, not an integer", ccr.Type())
	}
	row := base
	d := 0 // next dead position to compare
	for ccr.HasNext() {
		levels, n, err := read()
		if err != nil {
			return nil, err
		}
		if levels == 0 {
			break
		}
		vi := 0
		for l := range int(levels) {
			pos := row + int64(l)
			if maxDef > 0 && defs[l] < maxDef {
				continue // null key
			}
			v := vals[vi]
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
		}
		if vi != n {
			return nil, fmt.Errorf("decoded %d values for %d non-null levels", n, vi)
		}
		row += levels
	}
	if got, want := row-base, rgr.NumRows(); got != want {
		return nil, fmt.Errorf("decoded %d keys, the row group has %d rows", got, want)
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
	// Page starts from the offset index, when the file has one: a row in
	// a later page is reached by seeking, not by decoding the pages between.
	var starts []int64
	if cc, err := rgr.MetaData().ColumnChunk(seqLeaf); err == nil && cc.GetOffsetIndexLocation() != nil {
		if pir := pr.GetPageIndexReader(); pir != nil {
			if rpi, err := pir.RowGroup(rg); err == nil && rpi != nil {
				if oi, err := rpi.GetOffsetIndex(seqLeaf); err == nil && oi != nil {
					for _, pl := range oi.GetPageLocations() {
						starts = append(starts, pl.FirstRowIndex)
					}
				}
			}
		}
	}
	pageOf := func(r int64) int { return sort.Search(len(starts), func(i int) bool { return starts[i] > r }) - 1 }
	vals := make([]parquet.ByteArray, 1)
	defs := make([]int16, 1)
	var cur int64 // the next row the reader returns
	curPage := -1
	if len(starts) > 0 {
		curPage = 0
	}
	// Values are copied into arena (a _seq is tens of bytes); slices handed
	// out stay valid because a full arena is replaced, not grown in place.
	for k := range ms {
		r := ms[k].Pos - base
		if r < cur {
			return arena, fmt.Errorf("matches out of order at row %d", r)
		}
		if len(starts) > 0 {
			if p := pageOf(r); p != curPage {
				if err := br.SeekToRow(r); err != nil {
					return arena, err
				}
				cur, curPage = r, p
			}
		}
		if r > cur {
			if _, err := br.Skip(r - cur); err != nil {
				return arena, err
			}
			cur = r
		}
		levels, n, err := br.ReadBatch(1, vals, defs, nil)
		if err != nil {
			return arena, err
		}
		if levels != 1 || n != 1 {
			return arena, fmt.Errorf("row %d: no _seq value (null or past the end)", ms[k].Pos)
		}
		cur++
		v := vals[0]
		if cap(arena)-len(arena) < len(v) {
			arena = make([]byte, 0, max(64<<10, len(v)))
		}
		arena = append(arena, v...)
		ms[k].Seq = slices.Clip(arena[len(arena)-len(v):])
	}
	return arena, nil
}
