package debezium

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

// decodedRow is one output row reduced to what order tests look at.
type decodedRow struct {
	label string // the row's "v" column
	op    change.Op
	seq   []byte
}

// decodeRows decodes one file and returns its rows and truncates.
func decodeRows(t *testing.T, mem memory.Allocator, key string, gen uint32, data string, opts Options) ([]decodedRow, [][]byte) {
	t.Helper()
	name, err := ParseName(key)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(strings.NewReader(data), File{Name: name, Generation: gen}, opts, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var out []decodedRow
	err = decodetest.Drain(t, dec, batchRows(opts), func(rec arrow.RecordBatch) {
		s := rec.Schema()
		v := rec.Column(s.FieldIndices("v")[0]).(*array.String)
		op := rec.Column(s.FieldIndices(change.ColOp)[0]).(*array.Int8)
		seq := rec.Column(s.FieldIndices(change.ColSeq)[0]).(*array.Binary)
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, decodedRow{label: v.Value(i), op: change.Op(op.Value(i)), seq: bytes.Clone(seq.Value(i))})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, dec.Truncates()
}

// TestCrossPartitionOrder decodes changes of one table that Kafka spread
// over two partitions and checks that sorting all rows by _seq
// (bytes.Compare) gives the commit order, for each connector.
func TestCrossPartitionOrder(t *testing.T) {
	type event struct {
		part int    // Kafka partition
		op   string // Debezium op
		id   int
		src  string // source block
	}
	pg := func(commit, lsn uint64) string {
		return fmt.Sprintf(`{"connector":"postgresql","snapshot":"false","sequence":"[\"%d\",\"%d\"]","lsn":%d}`, commit, lsn, lsn)
	}
	my := func(file string, pos, row int) string {
		return fmt.Sprintf(`{"connector":"mysql","snapshot":"false","file":%q,"pos":%d,"row":%d}`, file, pos, row)
	}
	ms := func(commit, chg string, esn int) string {
		return fmt.Sprintf(`{"connector":"sqlserver","snapshot":"false","commit_lsn":%q,"change_lsn":%q,"event_serial_no":%d}`, commit, chg, esn)
	}
	for _, tc := range []struct {
		name   string
		events []event // in commit order
	}{
		{"postgresql", []event{
			{0, "r", 1, `{"connector":"postgresql","snapshot":"true","sequence":"[null,\"900\"]","lsn":900}`},
			{1, "r", 2, `{"connector":"postgresql","snapshot":"last","sequence":"[null,\"900\"]","lsn":900}`},
			// Two concurrent transactions: T1 (changes at 1000, 1200, commit
			// 1300) commits before T2 (change at 1100, commit 1400), so T2's
			// change has a smaller lsn than T1's second one but comes later.
			{0, "c", 3, pg(950, 1000)},
			{1, "u", 2, pg(950, 1200)},
			{1, "c", 4, pg(1300, 1100)},
			{0, "u", 1, pg(1300, 1350)},
			{1, "t", 0, pg(1400, 1450)},
			{0, "d", 3, pg(1450, 1500)},
			{1, "c", 5, pg(1450, 1510)},
			{0, "u", 1, pg(18446744073709551000, 18446744073709551615)},
		}},
		{"mysql", []event{
			{1, "r", 1, `{"connector":"mysql","snapshot":"true","file":"mysql-bin.000009","pos":154,"row":0}`},
			{0, "c", 2, my("mysql-bin.000009", 400, 0)},
			{1, "u", 1, my("mysql-bin.000009", 400, 1)},
			{0, "u", 2, my("mysql-bin.000009", 9000, 0)},
			{1, "t", 0, my("mysql-bin.000010", 4, 0)},
			{0, "d", 2, my("mysql-bin.999999", 4, 0)},
			{1, "c", 3, my("mysql-bin.1000000", 4, 0)},
		}},
		{"sqlserver", []event{
			{0, "r", 1, `{"connector":"sqlserver","snapshot":"true","commit_lsn":"00000027:00000758:0005","change_lsn":null,"event_serial_no":null}`},
			{1, "c", 2, ms("00000027:00000800:0005", "00000027:00000800:0002", 1)},
			// A primary-key change 1 → 3: d (serial 1) then c (serial 2),
			// same LSNs, different partitions.
			{1, "d", 1, ms("00000027:00000900:0004", "00000027:00000900:0002", 1)},
			{0, "c", 3, ms("00000027:00000900:0004", "00000027:00000900:0002", 2)},
			{0, "u", 2, ms("0000A027:00000001:0001", "0000A027:00000001:0000", 2)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			var files [2]strings.Builder
			var want []string
			for i, e := range tc.events {
				label := fmt.Sprintf("e%d", i)
				img := fmt.Sprintf(`{"id":%d,"v":%q}`, e.id, label)
				before, after := "null", img
				if e.op == "d" {
					before, after = img, "null"
				}
				if e.op == "t" {
					fmt.Fprintf(&files[e.part], `{"source":%s,"op":"t"}`+"\n", e.src)
				} else {
					fmt.Fprintf(&files[e.part], `{"before":%s,"after":%s,"source":%s,"op":%q}`+"\n", before, after, e.src, e.op)
				}
				want = append(want, label)
			}
			opts := Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "v", Type: arrow.BinaryTypes.String}}, Keys: []string{"id"}}
			var all []decodedRow
			// Partition 0 starts at a high offset, partition 1 at a low one:
			// offsets must not decide across partitions.
			for p, start := range []int{7000, 12} {
				key := fmt.Sprintf("topics/db.s.t/partition=%d/db.s.t+%d+%010d.json", p, p, start)
				rows, truns := decodeRows(t, mem, key, 0, files[p].String(), opts)
				all = append(all, rows...)
				for _, s := range truns {
					all = append(all, decodedRow{label: "truncate", seq: s})
				}
			}
			for i, e := range tc.events {
				if e.op == "t" {
					want[i] = "truncate"
				}
			}
			slices.SortFunc(all, func(a, b decodedRow) int { return bytes.Compare(a.seq, b.seq) })
			var got []string
			for _, r := range all {
				got = append(got, r.label)
			}
			if !slices.Equal(got, want) {
				t.Errorf("rows by _seq: %v\nwant commit order: %v", got, want)
			}
		})
	}
}

// TestGenerationOrder checks that a later generation orders after an
// earlier one whatever the positions, snapshot rows with a position by it
// (a re-snapshot is newer than the streaming before it) and snapshot rows
// without one before the streaming rows of their generation.
func TestGenerationOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	opts := Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "v", Type: arrow.BinaryTypes.String}}, Keys: []string{"id"}}
	key := "topics/t/partition=0/t+0+0000000000.json"
	g0, _ := decodeRows(t, mem, key, 0, pgLine("u", "null", `{"id":1,"v":"gen0 streaming"}`, 5000)+"\n", opts)
	incr := `{"before":null,"after":{"id":1,"v":"gen1 incremental snapshot"},"source":{"connector":"postgresql","snapshot":"incremental","lsn":null},"op":"r"}`
	snap := `{"before":null,"after":{"id":1,"v":"gen1 re-snapshot"},"source":{"connector":"postgresql","snapshot":"true","lsn":9000},"op":"r"}`
	g1, _ := decodeRows(t, mem, key, 1, incr+"\n"+pgLine("u", "null", `{"id":1,"v":"gen1 streaming"}`, 100)+"\n"+snap+"\n", opts)
	all := append(g0, g1...)
	for i := 1; i < len(all); i++ {
		if bytes.Compare(all[i-1].seq, all[i].seq) >= 0 {
			t.Errorf("%q (%x) does not order before %q (%x)", all[i-1].label, all[i-1].seq, all[i].label, all[i].seq)
		}
	}
}

// TestSeqLayout checks _seq byte for byte against change.SeqBuilder, as
// the package doc specifies.
func TestSeqLayout(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	cols := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "v", Type: arrow.BinaryTypes.String}}
	key := "topics/t/partition=3/t+3+0000000040.json"
	for _, tc := range []struct {
		name   string
		line   string
		single bool
		want   func(b *change.SeqBuilder)
	}{
		{"postgresql", `{"after":{"id":1,"v":""},"source":{"connector":"postgresql","sequence":"[\"24023104\",\"24023128\"]","lsn":24023128},"op":"u"}`, false,
			func(b *change.SeqBuilder) {
				b.Uint32(9).Byte(1).Byte(1).Uint64(24023104).Uint64(24023128).Uint64(3).Uint64(41)
			}},
		{"postgresql snapshot", `{"after":{"id":1,"v":""},"source":{"connector":"postgresql","sequence":"[null,\"24023104\"]","lsn":24023104},"op":"r"}`, false,
			func(b *change.SeqBuilder) {
				b.Uint32(9).Byte(1).Byte(1).Uint64(0).Uint64(24023104).Uint64(3).Uint64(41)
			}},
		{"postgresql incremental snapshot", `{"after":{"id":1,"v":""},"source":{"connector":"postgresql","snapshot":"incremental","lsn":null},"op":"r"}`, false,
			func(b *change.SeqBuilder) { b.Uint32(9).Byte(0).Byte(0xFF).Uint64(3).Uint64(41) }},
		{"mysql", `{"after":{"id":1,"v":""},"source":{"connector":"mysql","file":"mysql-bin.000003","pos":154,"row":2},"op":"c"}`, false,
			func(b *change.SeqBuilder) {
				b.Uint32(9).Byte(1).Byte(2).String("mysql-bin").Uint64(3).Uint64(154).Uint64(2).Uint64(3).Uint64(41)
			}},
		{"sqlserver", `{"after":{"id":1,"v":""},"source":{"connector":"sqlserver","commit_lsn":"00000027:00000758:0005","change_lsn":"00000027:00000758:0003","event_serial_no":2},"op":"u"}`, false,
			func(b *change.SeqBuilder) {
				b.Uint32(9).Byte(1).Byte(3)
				for _, c := range []byte{0, 0, 0, 0x27, 0, 0, 0x07, 0x58, 0, 5, 0, 0, 0, 0x27, 0, 0, 0x07, 0x58, 0, 3} {
					b.Byte(c)
				}
				b.Uint64(2).Uint64(3).Uint64(41)
			}},
		{"single partition", `{"after":{"id":1,"v":""},"source":{"connector":"db2"},"op":"c"}`, true,
			func(b *change.SeqBuilder) { b.Uint32(9).Byte(1).Uint64(3).Uint64(41) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, _ := decodeRows(t, mem, key, 9, "null\n"+tc.line+"\n", Options{Columns: cols, SinglePartition: tc.single})
			var b change.SeqBuilder
			tc.want(&b)
			if len(rows) != 1 || !bytes.Equal(rows[0].seq, b.Bytes()) {
				t.Fatalf("seq %x, want %x", rows[0].seq, b.Bytes())
			}
		})
	}
}
