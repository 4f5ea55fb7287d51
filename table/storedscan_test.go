package table

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/lakemerge/lakemerge/change"
)

// storedFile is a data file as the scan sees it: a key (nil: null) and a
// _seq per row.
type storedFile struct {
	keys []*int64
	seqs [][]byte
}

// write encodes f as Parquet with key column type keyType and the
// writer properties props; the caller releases nothing (bytes only).
func (f storedFile) write(t *testing.T, mem memory.Allocator, keyType arrow.DataType, props ...parquet.WriterProperty) []byte {
	t.Helper()
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "id", Type: keyType, Nullable: true},
		{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary},
	}, nil)
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for i, k := range f.keys {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprint("row ", i))
		switch kb := b.Field(1).(type) {
		case *array.Int64Builder:
			if k == nil {
				kb.AppendNull()
			} else {
				kb.Append(*k)
			}
		case *array.Int32Builder:
			if k == nil {
				kb.AppendNull()
			} else {
				kb.Append(int32(*k))
			}
		}
		b.Field(2).(*array.BinaryBuilder).Append(f.seqs[i])
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	// The Parquet writer gets an allocator of its own: arrow-go v18.8.0
	// returns the buffers of bloom filters it wrote to the allocator only
	// when the garbage collector finalizes them.
	var buf bytes.Buffer
	wmem := memory.NewGoAllocator()
	props = append([]parquet.WriterProperty{parquet.WithAllocator(wmem), parquet.WithCompression(compress.Codecs.Zstd), parquet.WithStats(true)}, props...)
	w, err := pqarrow.NewFileWriter(sch, &buf, parquet.NewWriterProperties(props...), pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(wmem)))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestScanMatchesAgreesWithFullScan: ScanMatches finds exactly the live
// rows a plain scan of every row finds — the change row, position and
// _seq of each row whose key a change has — whatever the layout: key-
// sorted or not, one or many row groups and pages, with and without page
// index and key bloom filter, int32 and int64 key columns, null keys,
// deleted positions, and changed keys equal to a row group's min or max
// (where pruning must not skip), just outside them, and in the gaps
// between stored keys (where it may).
func TestScanMatchesAgreesWithFullScan(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	const rows = 5000
	// Stored keys: even numbers 0, 2, 4, ... (the odd ones are gaps), some
	// rows with a null key.
	sorted := storedFile{}
	for i := range rows {
		var k *int64
		if i%97 != 5 {
			v := int64(2 * i)
			k = &v
		}
		sorted.keys = append(sorted.keys, k)
		sorted.seqs = append(sorted.seqs, []byte(fmt.Sprintf("seq-%06d-%s", i, bytes.Repeat([]byte{'x'}, i%40))))
	}
	shuffled := storedFile{keys: slices.Clone(sorted.keys), seqs: slices.Clone(sorted.seqs)}
	rng.Shuffle(rows, func(i, j int) {
		shuffled.keys[i], shuffled.keys[j] = shuffled.keys[j], shuffled.keys[i]
		shuffled.seqs[i], shuffled.seqs[j] = shuffled.seqs[j], shuffled.seqs[i]
	})
	const rgRows = 700 // row groups of rows [0,700), [700,1400), ...
	// Changed keys: the first and last key of every row group (the
	// bounds), keys just below and above each, some random stored and gap
	// keys, and keys beyond the file's range.
	changeSets := map[string][]int64{}
	var bounds []int64
	for lo := 0; lo < rows; lo += rgRows {
		hi := min(lo+rgRows, rows) - 1
		bounds = append(bounds, int64(2*lo), int64(2*hi), int64(2*lo-1), int64(2*hi+1))
	}
	changeSets["bounds"] = bounds
	var mixed []int64
	for range 300 {
		mixed = append(mixed, rng.Int64N(2*rows+200)-100)
	}
	changeSets["mixed-dense"] = mixed
	changeSets["sparse"] = append(slices.Clone(mixed), 1<<50, -(1 << 50)) // a span too wide for the bitset
	changeSets["gaps-only"] = []int64{1, 3, 2*rgRows + 1, 2*rows + 7}
	changeSets["one-max"] = []int64{2 * (rgRows - 1)} // the max of the first row group only
	changeSets["one-min"] = []int64{2 * rgRows}       // the min of the second row group only
	// Pages of the "groups" layouts hold 50 rows (a write batch): the keys
	// of the first and last row of every page and the gaps next to them.
	var pageBounds []int64
	for r := 0; r < rows; r += 50 {
		pageBounds = append(pageBounds, int64(2*r), int64(2*r-1), int64(2*(r+49)), int64(2*(r+49)+1))
	}
	changeSets["page-bounds"] = pageBounds
	deadSets := map[string][]int64{"none": nil, "some": {0, 1, 699, 700, 701, 2500, 4999}}
	// The changes' least _seq: none (read every matched _seq), above every
	// stored one (read none), within them (row groups of a sorted file
	// below it are not read; others are), and equal to a stored one (that
	// row group must be read: equal is stale).
	minSeqs := map[string][]byte{"none": nil, "above": []byte("seq-999999"), "within": []byte("seq-002100"),
		"equal": sorted.seqs[2*rgRows-1]}

	layouts := map[string][]parquet.WriterProperty{
		"one-group": nil,
		// Pages are cut after a write batch exceeds the page size: small
		// batches make pages of tens of rows.
		"groups": {parquet.WithMaxRowGroupLength(rgRows), parquet.WithDataPageSize(2 << 10),
			parquet.WithBatchSize(50), parquet.WithDictionaryDefault(false)},
		"groups-pageindex": {parquet.WithMaxRowGroupLength(rgRows), parquet.WithDataPageSize(2 << 10),
			parquet.WithBatchSize(50), parquet.WithPageIndexEnabled(true)},
		"groups-pageindex-bloom": {parquet.WithMaxRowGroupLength(rgRows), parquet.WithDataPageSize(1 << 10),
			parquet.WithBatchSize(30), parquet.WithPageIndexEnabled(true), parquet.WithBloomFilterEnabledFor("id", true)},
		// Without a page index (as iceberg-go writes): the page headers
		// carry the statistics; with a dictionary page before the data
		// pages, and with data pages v2.
		"groups-dict": {parquet.WithMaxRowGroupLength(rgRows), parquet.WithDataPageSize(64),
			parquet.WithBatchSize(50), parquet.WithDictionaryDefault(true)},
		"groups-v2": {parquet.WithMaxRowGroupLength(rgRows), parquet.WithDataPageSize(64),
			parquet.WithBatchSize(50), parquet.WithDictionaryDefault(false), parquet.WithDataPageVersion(parquet.DataPageV2)},
	}
	for fname, f := range map[string]storedFile{"sorted": sorted, "shuffled": shuffled} {
		for lname, props := range layouts {
			for _, kt := range []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32} {
				raw := f.write(t, mem, kt, props...)
				for cname, ks := range changeSets {
					ks = uniq(ks)
					for dname, dead := range deadSets {
						for mname, minSeq := range minSeqs {
							name := fmt.Sprintf("%s/%s/%s/%s/dead-%s/minseq-%s", fname, lname, kt, cname, dname, mname)
							t.Run(name, func(t *testing.T) {
								checkScan(t, mem, raw, f, ks, dead, minSeq)
							})
						}
					}
				}
			}
		}
	}
}

func uniq(ks []int64) []int64 {
	ks = slices.Clone(ks)
	slices.Sort(ks)
	return slices.Compact(ks)
}

func checkScan(t *testing.T, mem memory.Allocator, raw []byte, f storedFile, keys []int64, dead []int64, minSeq []byte) {
	t.Helper()
	b := array.NewInt64Builder(mem)
	defer b.Release()
	// The changes in an order of their own, so change rows differ from
	// key order.
	order := slices.Clone(keys)
	slices.Reverse(order)
	b.AppendValues(order, nil)
	col := b.NewArray()
	defer col.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, int64(len(order)))
	defer rec.Release()
	x, err := NewKeyIndex(rec, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	// Without the file's bytes (pages pruned by the column index only),
	// with them (by the page headers' statistics too), and with the
	// changed keys as the values the file can hold.
	for _, pp := range []PagePruning{{}, {Raw: bytes.NewReader(raw)}, {Raw: bytes.NewReader(raw), Lead: uniq(keys)}} {
		checkScanFrom(t, raw, pp, f, order, dead, minSeq, x)
	}
}

func checkScanFrom(t *testing.T, raw []byte, pp PagePruning, f storedFile, order []int64, dead []int64, minSeq []byte, x *KeyIndex) {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	got, cnt, err := ScanMatchesAt(pp, pr, []int{1}, 2, x, dead, minSeq)
	if err != nil {
		t.Fatal(err)
	}
	older := 0
	for _, m := range got {
		if m.Older {
			older++
		}
	}
	if minSeq == nil && older > 0 {
		t.Fatalf("%d matches Older without a minSeq", older)
	}
	if string(minSeq) == "seq-999999" && older != len(got) {
		t.Fatalf("%d of %d matches Older with minSeq above every stored _seq", older, len(got))
	}
	// The reference: every row, one by one.
	var want []Match
	for pos, k := range f.keys {
		if k == nil || slices.Contains(dead, int64(pos)) {
			continue
		}
		if i := slices.Index(order, *k); i >= 0 {
			want = append(want, Match{Change: i, Pos: int64(pos), Seq: f.seqs[pos]})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("raw %v, lead %v: %d matches, want %d (got %v, want %v)", pp.Raw != nil, pp.Lead != nil, len(got), len(want), short(got), short(want))
	}
	for i := range got {
		if got[i].Older {
			// Not read: it must really be below every change's _seq.
			if bytes.Compare(want[i].Seq, minSeq) >= 0 || got[i].Seq != nil {
				t.Fatalf("match %d at %d: Older, but its _seq %q is not below %q", i, got[i].Pos, want[i].Seq, minSeq)
			}
			got[i].Seq = want[i].Seq
		}
		if got[i].Change != want[i].Change || got[i].Pos != want[i].Pos || !bytes.Equal(got[i].Seq, want[i].Seq) {
			t.Fatalf("match %d: %d@%d %q, want %d@%d %q", i, got[i].Change, got[i].Pos, got[i].Seq, want[i].Change, want[i].Pos, want[i].Seq)
		}
	}
	if cnt.Rows > int64(len(f.keys)) || cnt.RowGroups+cnt.Skipped != pr.NumRowGroups() {
		t.Fatalf("counts %+v for %d rows in %d row groups", cnt, len(f.keys), pr.NumRowGroups())
	}
}

func short(ms []Match) string {
	var b bytes.Buffer
	for i, m := range ms {
		if i == 8 {
			b.WriteString("…")
			break
		}
		fmt.Fprintf(&b, "%d@%d ", m.Change, m.Pos)
	}
	return b.String()
}

// TestScanMatchesSkipsRowGroups: on a key-sorted file, a change set
// within one row group reads that row group only, and one that falls in
// no row group's range reads none; with a key bloom filter, a change set
// of keys in a row group's range but absent from it (gaps) reads none.
func TestScanMatchesSkipsRowGroups(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var f storedFile
	for i := range 1000 {
		v := int64(2 * i)
		f.keys = append(f.keys, &v)
		f.seqs = append(f.seqs, []byte{byte(i)})
	}
	plain := f.write(t, mem, arrow.PrimitiveTypes.Int64, parquet.WithMaxRowGroupLength(100))
	bloom := f.write(t, mem, arrow.PrimitiveTypes.Int64, parquet.WithMaxRowGroupLength(100), parquet.WithBloomFilterEnabledFor("id", true))
	cases := []struct {
		name   string
		raw    []byte
		keys   []int64
		groups int
	}{
		{"one group, its min and max", plain, []int64{400, 598}, 1},
		{"below and above every group", plain, []int64{-5, 2001}, 0},
		{"gaps without a bloom filter", plain, []int64{401, 403}, 1},
		{"gaps with a bloom filter", bloom, []int64{401, 403, 1001}, 0},
		{"a stored key with a bloom filter", bloom, []int64{401, 1000}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, pr := intKeyIndex(t, mem, c.keys), openRaw(t, c.raw)
			_, cnt, err := ScanMatches(pr, []int{1}, 2, x, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cnt.RowGroups != c.groups || cnt.Skipped != pr.NumRowGroups()-c.groups || cnt.Rows != int64(100*c.groups) {
				t.Errorf("counts %+v, want %d row groups read of %d", cnt, c.groups, pr.NumRowGroups())
			}
		})
	}
}

// TestScanMatchesSkipsPages counts what a scan reads of a key-sorted
// file of one row group in pages of 100 rows: keys within one page decode
// that page only (its min/max from the column index, or from the page
// headers when the file's bytes are at hand), keys in two pages decode
// those two, and keys in the gaps between pages none; a file without a
// column index, scanned without its bytes, decodes every page.
func TestScanMatchesSkipsPages(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var f storedFile
	for i := range 1000 {
		v := int64(10 * i) // pages of rows [0,100), [100,200), …: keys [0,990], [1000,1990], …
		f.keys = append(f.keys, &v)
		f.seqs = append(f.seqs, []byte{byte(i)})
	}
	pages := []parquet.WriterProperty{parquet.WithDataPageSize(64), parquet.WithBatchSize(100)}
	files := map[string][]byte{
		"headers":         f.write(t, mem, arrow.PrimitiveTypes.Int64, pages...),
		"headers-dict":    f.write(t, mem, arrow.PrimitiveTypes.Int64, append(pages, parquet.WithDictionaryDefault(true))...),
		"headers-int32":   f.write(t, mem, arrow.PrimitiveTypes.Int32, append(pages, parquet.WithDictionaryDefault(false))...),
		"column-index":    f.write(t, mem, arrow.PrimitiveTypes.Int64, append(pages, parquet.WithPageIndexEnabled(true))...),
		"column-index-v2": f.write(t, mem, arrow.PrimitiveTypes.Int64, append(pages, parquet.WithPageIndexEnabled(true), parquet.WithDataPageVersion(parquet.DataPageV2))...),
	}
	cases := []struct {
		name    string
		keys    []int64
		pages   int // decoded
		matches int
	}{
		{"one page, its min and max", []int64{3000, 3990, 3500}, 1, 3},
		{"two pages", []int64{0, 9990}, 2, 2},
		{"between pages", []int64{995, 5995}, 0, 0},
		{"every page", []int64{5, 1005, 2005, 3005, 4005, 5005, 6005, 7005, 8005, 9005}, 10, 0},
		// Keys another file holds (of another key bucket) in every page's
		// range; the file can hold 3000 and 3005 only (PagePruning.Lead).
		{"lead: one page", []int64{5, 1005, 2005, 3000, 3005, 4005, 5005, 6005, 7005, 8005, 9005}, 1, 1},
	}
	for fname, raw := range files {
		for _, withRaw := range []bool{false, true} {
			for _, c := range cases {
				t.Run(fmt.Sprintf("%s/raw-%v/%s", fname, withRaw, c.name), func(t *testing.T) {
					x, pr := intKeyIndex(t, mem, c.keys), openRaw(t, raw)
					var src io.ReaderAt
					if withRaw {
						src = bytes.NewReader(raw)
					}
					pp := PagePruning{Raw: src}
					if strings.HasPrefix(c.name, "lead:") {
						pp.Lead = []int64{3000, 3005}
					}
					got, cnt, err := ScanMatchesAt(pp, pr, []int{1}, 2, x, nil, nil)
					if err != nil {
						t.Fatal(err)
					}
					pages, skipped := c.pages, 10-c.pages
					if !withRaw && !strings.HasPrefix(fname, "column-index") || skipped == 0 {
						pages, skipped = 10, 0 // every page decoded
					}
					if cnt.RowGroups != 1 || cnt.Rows != int64(100*pages) || cnt.PagesSkipped != skipped || len(got) != c.matches {
						t.Errorf("counts %+v, %d matches; want %d rows decoded, %d pages skipped, %d matches", cnt, len(got), 100*pages, skipped, c.matches)
					}
					for _, m := range got {
						if *f.keys[m.Pos] != c.keys[m.Change] {
							t.Errorf("match at %d holds key %d, not change %d's %d", m.Pos, *f.keys[m.Pos], m.Change, c.keys[m.Change])
						}
					}
				})
			}
		}
	}
}

// intKeyIndex indexes changes of the int64 key column id holding keys,
// in that order (change i has keys[i]).
func intKeyIndex(t *testing.T, mem memory.Allocator, keys []int64) *KeyIndex {
	t.Helper()
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(keys, nil)
	col := b.NewArray()
	defer col.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, int64(len(keys)))
	defer rec.Release()
	x, err := NewKeyIndex(rec, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// openRaw opens the Parquet file raw, closed when t ends.
func openRaw(t *testing.T, raw []byte) *file.Reader {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	return pr
}

// TestScanMatchesWithoutSeqColumn: a file without _seq (seqLeaf -1, one
// another writer wrote) matches by key as any other, every match Older.
func TestScanMatchesWithoutSeqColumn(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var f storedFile
	for i := range 300 {
		v := int64(i)
		f.keys = append(f.keys, &v)
		f.seqs = append(f.seqs, []byte{1})
	}
	raw := f.write(t, mem, arrow.PrimitiveTypes.Int64, parquet.WithMaxRowGroupLength(100))
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues([]int64{299, 5, 150, 1000}, nil)
	col := b.NewArray()
	defer col.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, 4)
	defer rec.Release()
	x, err := NewKeyIndex(rec, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := file.NewParquetReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	got, _, err := ScanMatches(pr, []int{1}, -1, x, []int64{150}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Match{{Change: 1, Pos: 5, Older: true}, {Change: 0, Pos: 299, Older: true}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("matches %v, want %v", got, want)
	}
}
