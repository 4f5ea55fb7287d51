package change

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestSeqOrder(t *testing.T) {
	type parts struct {
		gen  uint32
		text string
		row  uint64
	}
	in := []parts{
		{0, "", 0}, {0, "", 1}, {0, "a", 0}, {0, "a\x00", 0}, {0, "a\x00b", 0}, {0, "ab", 0},
		{0, "b", math.MaxUint64}, {1, "", 0}, {1, "\x00", 0}, {2, "", 0},
	}
	var seqs [][]byte
	for _, p := range in {
		var b SeqBuilder
		seqs = append(seqs, bytes.Clone(b.Uint32(p.gen).String(p.text).Uint64(p.row).Bytes()))
	}
	for i := 1; i < len(seqs); i++ {
		if CompareSeq(seqs[i-1], seqs[i]) >= 0 {
			t.Errorf("seq %d (%+v) does not sort before seq %d (%+v)", i-1, in[i-1], i, in[i])
		}
	}
}

func TestKeyEncoderOrderAndWidening(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String},
		{Name: "w", Type: arrow.PrimitiveTypes.Int64},
		{Name: "d", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	a := rb.Field(0).(*array.Int32Builder)
	b := rb.Field(1).(*array.StringBuilder)
	w := rb.Field(2).(*array.Int64Builder)
	d := rb.Field(3).(*array.Decimal128Builder)
	// rows in ascending key order (a, b)
	a.AppendNull()
	a.AppendValues([]int32{math.MinInt32, -1, 0, 0, 0, 7}, nil)
	b.AppendValues([]string{"z", "z", "z", "", "a", "a\x00", "a"}, nil)
	w.AppendValues([]int64{0, math.MinInt32, -1, 0, 0, 0, 7}, nil)
	for _, v := range []int64{-5, -1, 0, 1, 2, 3, 4} {
		d.Append(decimal128.FromI64(v))
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	ab, err := NewKeyEncoder(rec, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for r := 0; r < int(rec.NumRows()); r++ {
		keys = append(keys, ab.Append(nil, r))
	}
	if !slices.IsSortedFunc(keys, bytes.Compare) {
		t.Errorf("keys not in column order: %x", keys)
	}
	if !ab.HasNull(0) || ab.HasNull(1) {
		t.Error("HasNull wrong")
	}
	// An int column and a long column with equal values encode equally, so a
	// key widened from int to long still matches rows written before.
	ka, _ := NewKeyEncoder(rec, []string{"a"})
	kw, _ := NewKeyEncoder(rec, []string{"w"})
	for r := 1; r < int(rec.NumRows()); r++ {
		if !bytes.Equal(ka.Append(nil, r), kw.Append(nil, r)) {
			t.Errorf("row %d: int and long keys encode differently", r)
		}
	}
	kd, _ := NewKeyEncoder(rec, []string{"d"})
	var dk [][]byte
	for r := 0; r < int(rec.NumRows()); r++ {
		dk = append(dk, kd.Append(nil, r))
	}
	if !slices.IsSortedFunc(dk, bytes.Compare) {
		t.Error("decimal keys out of order")
	}
}

func TestKeyEncoderRejectsFloat(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "f", Type: arrow.PrimitiveTypes.Float64}}, nil))
	defer rb.Release()
	rec := rb.NewRecordBatch()
	defer rec.Release()
	if _, err := NewKeyEncoder(rec, []string{"f"}); err == nil || !strings.Contains(err.Error(), "floating") {
		t.Fatalf("float key accepted: %v", err)
	}
	if _, err := NewKeyEncoder(rec, []string{"missing"}); err == nil {
		t.Fatal("missing key column accepted")
	}
}

func TestParseTypeRoundTrip(t *testing.T) {
	for _, name := range []string{"int", "long", "float", "double", "boolean", "string", "binary", "date", "timestamp", "decimal(10,2)", "decimal(38,0)"} {
		dt, err := ParseType(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := TypeName(dt); got != name {
			t.Errorf("TypeName(ParseType(%q)) = %q", name, got)
		}
	}
	for _, bad := range []string{"", "varchar", "decimal(39,2)", "decimal(5,6)", "decimal(10)", "decimal(a,b)"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) accepted", bad)
		}
	}
}

func TestWiden(t *testing.T) {
	i32, i64 := arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64
	d102, d122, d123 := &arrow.Decimal128Type{Precision: 10, Scale: 2}, &arrow.Decimal128Type{Precision: 12, Scale: 2}, &arrow.Decimal128Type{Precision: 12, Scale: 3}
	cases := []struct {
		from, to, want arrow.DataType
	}{
		{i32, i64, i64}, {i64, i32, i64}, {arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float64},
		{d102, d122, d122}, {d122, d102, d122}, {d102, d123, nil}, {arrow.BinaryTypes.String, i32, nil}, {i32, arrow.BinaryTypes.String, nil},
	}
	for _, c := range cases {
		got, err := Widen(c.from, c.to)
		if c.want == nil {
			if err == nil {
				t.Errorf("Widen(%s, %s) accepted", c.from, c.to)
			}
			continue
		}
		if err != nil || !arrow.TypeEqual(got, c.want) {
			t.Errorf("Widen(%s, %s) = %v, %v; want %s", c.from, c.to, got, err, c.want)
		}
	}
}

func TestMalformedError(t *testing.T) {
	err := error(&MalformedError{File: "a/LOAD00000001.csv", Line: 17, Column: "freight", Reason: "bad decimal"})
	if !errors.Is(err, ErrMalformed) {
		t.Fatal("not ErrMalformed")
	}
	if got, want := err.Error(), "a/LOAD00000001.csv line 17 column freight: bad decimal"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// TestExtendColumns: a column more has is widened or appended; a type
// change that is not a widening names the column.
func TestExtendColumns(t *testing.T) {
	cols := []Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "note", Type: arrow.BinaryTypes.String}}
	got, err := ExtendColumns(cols, []Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "qty", Type: arrow.PrimitiveTypes.Int32}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Type.ID() != arrow.INT64 || got[1].Name != "note" || got[2].Name != "qty" {
		t.Fatalf("got %v", got)
	}
	if _, err := ExtendColumns(got, []Column{{Name: "note", Type: arrow.PrimitiveTypes.Int64}}); err == nil || !strings.Contains(err.Error(), "column note") {
		t.Fatalf("narrowing: %v", err)
	}
}
