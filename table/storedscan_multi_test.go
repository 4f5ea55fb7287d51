package table

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
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

// multiKeyRows is a stored file (or a change set) of a key of several
// columns: id (int64) and a second column of type second, with _seq.
// Row i has id ids[i] and second value subs[i] (nil: null), rendered in
// the column's type by multiValue.
type multiKeyRows struct {
	ids  []int64
	subs []*int64
	seqs [][]byte
}

// multiValue appends sub to the builder of the second key column.
func multiValue(b array.Builder, sub *int64) {
	if sub == nil {
		b.AppendNull()
		return
	}
	v := *sub
	switch b := b.(type) {
	case *array.BinaryBuilder:
		// Order keys as a history writes them: bytes with zeros inside.
		b.Append([]byte{0, byte(v >> 8), 0, byte(v)})
	case *array.StringBuilder:
		b.Append(fmt.Sprintf("v%03d", v))
	case *array.Int32Builder:
		b.Append(int32(v) - 50)
	case *array.Int64Builder:
		b.Append(v - 50)
	case *array.Date32Builder:
		b.Append(arrow.Date32(v + 19000))
	}
}

// record builds the rows as a batch of id, sub (of type second) and, with
// seq set, _seq; the caller releases it.
func (m multiKeyRows) record(mem memory.Allocator, second arrow.DataType, seq bool) arrow.RecordBatch {
	fields := []arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "sub", Type: second, Nullable: true}}
	if seq {
		fields = append(fields, arrow.Field{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary})
	}
	b := array.NewRecordBuilder(mem, arrow.NewSchema(fields, nil))
	defer b.Release()
	for i, id := range m.ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		multiValue(b.Field(1), m.subs[i])
		if seq {
			b.Field(2).(*array.BinaryBuilder).Append(m.seqs[i])
		}
	}
	return b.NewRecordBatch()
}

// writeMulti encodes the stored rows as Parquet (columns note, id, sub,
// _seq) with the writer properties props.
func writeMulti(t *testing.T, mem memory.Allocator, m multiKeyRows, second arrow.DataType, props ...parquet.WriterProperty) []byte {
	t.Helper()
	keys := m.record(mem, second, true)
	defer keys.Release()
	nb := array.NewStringBuilder(mem)
	defer nb.Release()
	for i := range m.ids {
		nb.Append(fmt.Sprint("row ", i))
	}
	note := nb.NewArray()
	defer note.Release()
	sch := arrow.NewSchema(append([]arrow.Field{{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true}}, keys.Schema().Fields()...), nil)
	rec := array.NewRecordBatch(sch, append([]arrow.Array{note}, keys.Columns()...), keys.NumRows())
	defer rec.Release()
	var buf bytes.Buffer
	wmem := memory.NewGoAllocator() // see storedFile.write
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

// fullScanMatches is the unpruned path: every row of the file read
// (pqarrow) and its whole key looked up (KeyIndex.Probe, by encoding), the
// rows at dead left out.
func fullScanMatches(t *testing.T, mem memory.Allocator, raw []byte, x *KeyIndex, dead []int64) []Match {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1 << 20}, mem)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, -1)
	defer tr.Release()
	var want []Match
	var base int64
	for tr.Next() {
		rec := tr.RecordBatch()
		probe, err := x.Probe(rec)
		if err != nil {
			t.Fatal(err)
		}
		seqs := rec.Column(rec.Schema().FieldIndices(change.ColSeq)[0]).(*array.Binary)
		for r := range int(rec.NumRows()) {
			pos := base + int64(r)
			if i, ok := probe(r); ok && !slices.Contains(dead, pos) {
				want = append(want, Match{Change: i, Pos: pos, Seq: slices.Clone(seqs.Value(r))})
			}
		}
		base += rec.NumRows()
	}
	return want
}

// TestScanMatchesSeveralKeyColumns: for a key of several columns whose
// first is an integer (a history's key and order_key), ScanMatches finds
// exactly the rows the unpruned path finds — every row read, its whole
// key looked up by its encoding — whatever the second column's type
// (binary with zero bytes, string, int, long, date), the layout (one or
// many row groups, small pages, page index, bloom filter on the first
// column), with keys spread over many row groups, deleted rows, null
// second values, changes whose first column is stored but whose whole key
// is not (absent keys), and changes of ids stored nowhere.
func TestScanMatchesSeveralKeyColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(7, 8))
	// Stored: ids 0, 3, 6, … each with one to four versions (sub 0, 1, …),
	// some with a null sub; sorted by id, or shuffled.
	var sorted multiKeyRows
	for id := int64(0); len(sorted.ids) < 4000; id += 3 {
		for v := range int64(1 + id%4) {
			sub := &v
			if id%101 == 7 && v == 0 {
				sub = nil
			}
			sorted.ids = append(sorted.ids, id)
			sorted.subs = append(sorted.subs, sub)
			sorted.seqs = append(sorted.seqs, fmt.Appendf(nil, "seq-%06d", len(sorted.ids)))
		}
	}
	n := len(sorted.ids)
	shuffled := multiKeyRows{slices.Clone(sorted.ids), slices.Clone(sorted.subs), slices.Clone(sorted.seqs)}
	rng.Shuffle(n, func(i, j int) {
		shuffled.ids[i], shuffled.ids[j] = shuffled.ids[j], shuffled.ids[i]
		shuffled.subs[i], shuffled.subs[j] = shuffled.subs[j], shuffled.subs[i]
		shuffled.seqs[i], shuffled.seqs[j] = shuffled.seqs[j], shuffled.seqs[i]
	})
	// Changes: stored keys spread over the file, stored ids with a sub
	// they lack (absent keys), ids stored nowhere; in random order.
	var changes multiKeyRows
	seen := map[[2]int64]bool{}
	add := func(id, sub int64) {
		if !seen[[2]int64{id, sub}] {
			seen[[2]int64{id, sub}] = true
			changes.ids, changes.subs = append(changes.ids, id), append(changes.subs, &sub)
		}
	}
	for range 400 {
		i := rng.IntN(n)
		if sorted.subs[i] != nil {
			add(sorted.ids[i], *sorted.subs[i])
		}
	}
	for range 100 {
		add(3*rng.Int64N(int64(n)/2), 7) // a stored id (or past the end), sub 7: no row has it
		add(3*rng.Int64N(int64(n)/2)+1, 0)
	}
	add(-3, 0)
	deadSets := map[string][]int64{"none": nil, "some": {0, 1, 2, 700, 701, 2500, int64(n - 1)}}
	layouts := map[string][]parquet.WriterProperty{
		"one-group": nil,
		"groups": {parquet.WithMaxRowGroupLength(500), parquet.WithDataPageSize(1 << 10),
			parquet.WithBatchSize(40), parquet.WithDictionaryDefault(false)},
		"groups-pageindex-bloom": {parquet.WithMaxRowGroupLength(500), parquet.WithDataPageSize(1 << 10),
			parquet.WithBatchSize(40), parquet.WithPageIndexEnabled(true), parquet.WithBloomFilterEnabledFor("id", true)},
		"groups-small-pages": {parquet.WithMaxRowGroupLength(500), parquet.WithDataPageSize(64),
			parquet.WithBatchSize(40)},
	}
	seconds := []arrow.DataType{arrow.BinaryTypes.Binary, arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32,
		arrow.PrimitiveTypes.Int64, arrow.FixedWidthTypes.Date32}
	for fname, f := range map[string]multiKeyRows{"sorted": sorted, "shuffled": shuffled} {
		for lname, props := range layouts {
			for _, second := range seconds {
				raw := writeMulti(t, mem, f, second, props...)
				for dname, dead := range deadSets {
					t.Run(fmt.Sprintf("%s/%s/%s/dead-%s", fname, lname, second, dname), func(t *testing.T) {
						rec := changes.record(mem, second, false)
						defer rec.Release()
						x, err := NewKeyIndex(rec, []string{"id", "sub"})
						if err != nil {
							t.Fatal(err)
						}
						if x.Lead() == nil {
							t.Fatal("no lead index for an integer first column")
						}
						want := fullScanMatches(t, mem, raw, x, dead)
						if len(want) < 100 {
							t.Fatalf("the reference found %d matches: the test does not test", len(want))
						}
						for _, src := range []io.ReaderAt{nil, bytes.NewReader(raw)} {
							pr, err := file.NewParquetReader(bytes.NewReader(raw))
							if err != nil {
								t.Fatal(err)
							}
							defer pr.Close()
							got, cnt, err := ScanMatchesAt(PagePruning{Raw: src}, pr, []int{1, 2}, 3, x, dead, nil)
							if err != nil {
								t.Fatal(err)
							}
							if fmt.Sprint(got) != fmt.Sprint(want) {
								t.Fatalf("raw %v: %d matches, want %d:\n got %s\nwant %s", src != nil, len(got), len(want), short(got), short(want))
							}
							if cnt.RowGroups+cnt.Skipped != pr.NumRowGroups() || cnt.Rows > int64(n) {
								t.Fatalf("counts %+v for %d row groups", cnt, pr.NumRowGroups())
							}
						}
					})
				}
			}
		}
	}
}

// TestScanMatchesSeveralKeyColumnsSkips counts what a scan on a key of
// two columns reads of a key-sorted file: changes of ids within one row
// group read that row group only, ids in no row group's range read none,
// and a whole key whose id is stored but whose second column is not
// matches nothing.
func TestScanMatchesSeveralKeyColumnsSkips(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var f multiKeyRows
	for i := range int64(1000) {
		sub := i % 2
		f.ids, f.subs = append(f.ids, i/2), append(f.subs, &sub) // ids 0…499, two versions each
		f.seqs = append(f.seqs, []byte{byte(i)})
	}
	raw := writeMulti(t, mem, f, arrow.BinaryTypes.Binary, parquet.WithMaxRowGroupLength(100))
	one, zero, five := int64(1), int64(0), int64(5)
	cases := []struct {
		name          string
		changes       multiKeyRows
		groups, found int
	}{
		{"one group", multiKeyRows{ids: []int64{200, 249, 230}, subs: []*int64{&zero, &one, &one}}, 1, 3},
		{"two groups", multiKeyRows{ids: []int64{0, 499}, subs: []*int64{&zero, &one}}, 2, 2},
		{"no group's range", multiKeyRows{ids: []int64{-1, 500}, subs: []*int64{&zero, &zero}}, 0, 0},
		{"stored id, absent version", multiKeyRows{ids: []int64{300}, subs: []*int64{&five}}, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := c.changes.record(mem, arrow.BinaryTypes.Binary, false)
			defer rec.Release()
			x, err := NewKeyIndex(rec, []string{"id", "sub"})
			if err != nil {
				t.Fatal(err)
			}
			pr, err := file.NewParquetReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			got, cnt, err := ScanMatches(pr, []int{1, 2}, 3, x, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cnt.RowGroups != c.groups || cnt.Skipped != pr.NumRowGroups()-c.groups || cnt.Rows != int64(100*c.groups) || len(got) != c.found {
				t.Errorf("counts %+v and %d matches, want %d row groups read of %d and %d matches", cnt, len(got), c.groups, pr.NumRowGroups(), c.found)
			}
		})
	}
}

// TestScanMatchesKeyTypes: a key ScanMatches cannot read from the file
// (a second column stored as another physical type than the changes'
// encoding needs) is ErrKeyTypes, which the writers answer by reading the
// key columns whole.
func TestScanMatchesKeyTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	zero := int64(0)
	f := multiKeyRows{ids: []int64{1}, subs: []*int64{&zero}, seqs: [][]byte{{1}}}
	raw := writeMulti(t, mem, f, arrow.PrimitiveTypes.Int64)
	rec := f.record(mem, arrow.BinaryTypes.String, false)
	defer rec.Release()
	x, err := NewKeyIndex(rec, []string{"id", "sub"})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := file.NewParquetReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if _, _, err := ScanMatches(pr, []int{1, 2}, 3, x, nil, nil); !errors.Is(err, ErrKeyTypes) {
		t.Errorf("err %v, want ErrKeyTypes", err)
	}
}
