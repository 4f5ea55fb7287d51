package dmscsv

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

var biCols = [][2]string{{"a", "int"}, {"b", "string"}, {"v", "string"}}

func biOptions(header bool) testOptions {
	o := testOptions{Columns: biCols, Keys: []string{"a", "b"}, BeforeImagePrefix: "BI_", Header: header}
	if !header {
		o.BeforeImageColumns = []string{"BI_a", "BI_b"}
	}
	return o
}

// TestBeforeImageErrors checks that before-image columns that cannot be
// read stop the file with the line, column and reason.
func TestBeforeImageErrors(t *testing.T) {
	const hdr = "Op,a,b,v,BI_a,BI_b\n"
	for _, tc := range []struct {
		name, key, data string
		opts            testOptions
		line            int64
		column, reason  string
	}{
		{"partly empty", "20240528-195141380.csv", "U,1,x,v,1,\n", biOptions(false), 1, "", "partly empty"},
		{"key differs in an I row", "20240528-195141380.csv", "I,1,x,v,1,x\nI,2,x,v,1,x\n", biOptions(false), 2, "BI_a", "only U rows change keys"},
		{"key differs in a D row", "20240528-195141380.csv", hdr + "D,2,x,,1,x\n", biOptions(true), 2, "BI_a", "only U rows change keys"},
		{"bad before-image value", "20240528-195141380.csv", "U,1,x,v,one,x\n", biOptions(false), 1, "BI_a", "not an integer"},
		{"header without before image", "20240528-195141380.csv", "Op,a,b,v,BI_a\n", biOptions(true), 1, "", `no before-image column "BI_b" for primary_key column "b"`},
		{"header without key", "20240528-195141380.csv", "Op,a,v,BI_a\n", biOptions(true), 1, "", `no primary_key column "b"`},
		{"field count names the keys", "20240528-195141380.csv", "U,1,x,v\n", biOptions(false), 1, "", "want 6 (Op, 3 columns, 2 before-image columns)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			key := "raw/public/orders/" + tc.key
			_, err := decodeAll(t, mem, key, 0, []byte(tc.data), tc.opts.options(t))
			decodetest.Malformed(t, err, key, tc.line, tc.column, tc.reason)
		})
	}
}

// TestBeforeImageLoadWithoutColumns: a full-load file needs no before-image
// columns (a full load changes no keys), a CDC file does.
func TestBeforeImageLoadWithoutColumns(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	got, err := decodeAll(t, mem, "t/LOAD00000001.csv", 0, []byte("a,b,v\n1,x,y\n"), biOptions(true).options(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "a=1 b=\"x\" v=\"y\"") {
		t.Errorf("rows:\n%s", got)
	}
}

func TestBeforeImageOptionErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	name, _ := ParseName("t/20240528-195141380.csv")
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Columns: []change.Column{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, BeforeImagePrefix: "BI_"}, "needs the primary_key"},
		{Options{Columns: []change.Column{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, Keys: []string{"a"}, BeforeImagePrefix: "BI_"}, `no before-image column "BI_a"`},
		{Options{Columns: []change.Column{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, Keys: []string{"a"}, BeforeImagePrefix: "BI_", BeforeImageColumns: []string{"BI_x"}}, `"BI_x" is not BI_<column> of a column in columns`},
		{Options{Columns: []change.Column{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, Keys: []string{"a"}, BeforeImageColumns: []string{"BI_a"}}, "neither dms.before_image_prefix"},
	} {
		dec, err := NewDecoder(strings.NewReader("U,1,1\n"), File{Name: name}, tc.opts, mem)
		if err == nil {
			dec.Close()
			t.Errorf("options %+v: no error", tc.opts)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("options %+v: error %q, want it to contain %q", tc.opts, err, tc.want)
		}
	}
}

// TestBeforeImageSeqOrder checks the _seq of a key change: the delete of the
// old key sorts after the row before it, then the row itself, then the next
// row, with nothing between the delete and its row.
func TestBeforeImageSeqOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	name, _ := ParseName("t/20240528-195141380.csv")
	opts := biOptions(false).options(t)
	opts.BatchRows = 1
	dec, err := NewDecoder(strings.NewReader("I,1,x,v,,\nU,2,x,v,1,x\nU,2,y,v,2,x\nU,2,z,v,,\n"), File{Name: name}, opts, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var seqs [][]byte
	var ops []change.Op
	err = decodetest.Drain(t, dec, 1, func(rec arrow.RecordBatch) {
		s := rec.Column(rec.Schema().FieldIndices(change.ColSeq)[0]).(*array.Binary)
		o := rec.Column(rec.Schema().FieldIndices(change.ColOp)[0]).(*array.Int8)
		for i := 0; i < s.Len(); i++ {
			seqs = append(seqs, bytes.Clone(s.Value(i)))
			ops = append(ops, change.Op(o.Value(i)))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	wantOps := []change.Op{change.OpInsert, change.OpDelete, change.OpUpdate, change.OpDelete, change.OpUpdate, change.OpUpdate}
	if len(ops) != len(wantOps) {
		t.Fatalf("ops %v, want %v", ops, wantOps)
	}
	for i := range ops {
		if ops[i] != wantOps[i] {
			t.Fatalf("ops %v, want %v", ops, wantOps)
		}
		if i > 0 && change.CompareSeq(seqs[i-1], seqs[i]) >= 0 {
			t.Errorf("seq %d (%x) not before seq %d (%x)", i-1, seqs[i-1], i, seqs[i])
		}
	}
	// The delete has the seq a plain row at its position would have; its
	// row has that seq and the byte 1.
	for _, i := range []int{1, 3} {
		if !bytes.Equal(append(bytes.Clone(seqs[i]), 1), seqs[i+1]) {
			t.Errorf("row seq %x is not the delete's %x and 01", seqs[i+1], seqs[i])
		}
	}
}

// TestBeforeImageLoadWithoutHeader: without a header, a full-load record
// may have the before-image columns (empty) or end before them; a CDC
// record must have them.
func TestBeforeImageLoadWithoutHeader(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	got, err := decodeAll(t, mem, "t/LOAD00000001.csv", 0, []byte("1,x,y\n2,x,y,,\n"), biOptions(false).options(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "a=1 b=\"x\" v=\"y\"") || !strings.Contains(got, "a=2 b=\"x\" v=\"y\"") {
		t.Errorf("rows:\n%s", got)
	}
	if _, err := decodeAll(t, mem, "t/20240528-195141380.csv", 0, []byte("I,1,x,y\n"), biOptions(false).options(t)); err == nil {
		t.Error("a CDC record without before-image columns was accepted")
	}
}
