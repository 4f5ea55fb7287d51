package dmscsv

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/arrowtext"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
	"github.com/lakemerge/lakemerge/internal/testkit/golden"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.txt from the decoder's output")

// testOptions is the JSON form of Options in testdata/<case>/options.json.
type testOptions struct {
	Columns              [][2]string `json:"columns"` // [name, type]
	Header               bool        `json:"header"`
	IncludeOpForFullLoad bool        `json:"include_op_for_full_load"`
	Delimiter            string      `json:"delimiter"`
	NullValue            string      `json:"null_value"`
	NoSupValue           string      `json:"no_sup_value"`
	TimestampColumn      string      `json:"timestamp_column"`
	ChangeSeqColumn      string      `json:"change_seq_column"`
	Keys                 []string    `json:"keys"`
	BeforeImagePrefix    string      `json:"before_image_prefix"`
	BeforeImageSuffix    string      `json:"before_image_suffix"`
	BeforeImageColumns   []string    `json:"before_image_columns"`
	BatchRows            int         `json:"batch_rows"`
	Generation           uint32      `json:"generation"`
}

func (o testOptions) options(t testing.TB) Options {
	t.Helper()
	opts := Options{
		Header:               o.Header,
		IncludeOpForFullLoad: o.IncludeOpForFullLoad,
		NullValue:            o.NullValue,
		NoSupValue:           o.NoSupValue,
		TimestampColumn:      o.TimestampColumn,
		ChangeSeqColumn:      o.ChangeSeqColumn,
		Keys:                 o.Keys,
		BeforeImagePrefix:    o.BeforeImagePrefix,
		BeforeImageSuffix:    o.BeforeImageSuffix,
		BeforeImageColumns:   o.BeforeImageColumns,
		BatchRows:            o.BatchRows,
	}
	if len(o.Delimiter) > 1 {
		t.Fatalf("delimiter %q: one byte", o.Delimiter)
	}
	if o.Delimiter != "" {
		opts.Delimiter = o.Delimiter[0]
	}
	opts.Columns = decodetest.Columns(t, o.Columns)
	return opts
}

// decodeAll decodes data and renders every row after the schema, checking
// the batch contract (decodetest.Drain).
func decodeAll(t testing.TB, mem memory.Allocator, key string, gen uint32, data []byte, opts Options) (string, error) {
	t.Helper()
	return decodeRead(t, mem, bytes.NewReader(data), key, gen, opts)
}

// decodeRead is decodeAll from a reader.
func decodeRead(t testing.TB, mem memory.Allocator, r io.Reader, key string, gen uint32, opts Options) (string, error) {
	t.Helper()
	name, err := ParseName(key)
	if err != nil {
		t.Fatalf("ParseName(%q): %v", key, err)
	}
	dec, err := NewDecoder(r, File{Name: name, Generation: gen}, opts, mem)
	if err != nil {
		return "", err
	}
	defer dec.Close()
	var sb strings.Builder
	sb.WriteString("schema: " + arrowtext.Schema(dec.Schema()) + "\n")
	batchRows := opts.BatchRows
	if batchRows <= 0 {
		batchRows = defaultBatchRows
	}
	err = decodetest.Drain(t, dec, batchRows, func(rec arrow.RecordBatch) { arrowtext.Rows{}.Write(&sb, rec) })
	return sb.String(), err
}

// goldenCase is a golden case folder with its one input file, keyed as a
// DMS object of table public.orders.
type goldenCase struct {
	decodetest.Case[testOptions]
	key  string
	data []byte
}

// loadGoldenCases loads testdata/<case>, hand-written edge cases, and
// testdata/real/<case>, files real DMS tasks wrote (see
// testdata/real/README.md).
func loadGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	var cases []goldenCase
	for _, c := range decodetest.Cases[testOptions](t, "testdata/*/options.json", "testdata/real/*/options.json") {
		if len(c.Inputs) != 1 {
			t.Fatalf("%s: %d input files, want one", c.Dir, len(c.Inputs))
		}
		for n, data := range c.Inputs {
			cases = append(cases, goldenCase{Case: c, key: "raw/public/orders/" + n, data: data})
		}
	}
	return cases
}

func TestGolden(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			got, err := decodeAll(t, mem, c.key, c.Options.Generation, c.data, c.Options.options(t))
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, c.Expected(), got, *update)
		})
	}
}

// TestGoldenBatchInvariance decodes every golden input with several batch
// sizes and demands the same rows.
func TestGoldenBatchInvariance(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			decodetest.SameForBatchSizes(t, func(n int) (string, error) {
				opts := c.Options.options(t)
				opts.BatchRows = n
				return decodeAll(t, mem, c.key, c.Options.Generation, c.data, opts)
			}, 1, 2, 3, 7, 8192)
		})
	}
}

// TestSeqLayout checks the _seq bytes against a seq built part by part with
// change.SeqBuilder, as the package doc specifies.
func TestSeqLayout(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, tc := range []struct {
		key, data, seq string
		gen            uint32
	}{
		{"s/t/20240528-195141380.csv", "U,1,20240528195141380000000000000000061\nI,2,\n", "20240528195141380000000000000000061", 7},
		{"s/t/LOAD0000000A.csv", "1,\n2,\n", "", 0},
	} {
		name, err := ParseName(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "seq", Type: arrow.BinaryTypes.String}}, ChangeSeqColumn: "seq"}
		dec, err := NewDecoder(strings.NewReader(tc.data), File{Name: name, Generation: tc.gen}, opts, mem)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		seqs := rec.Column(3).(*array.Binary)
		for row := 0; row < int(rec.NumRows()); row++ {
			var b change.SeqBuilder
			b.Uint32(tc.gen)
			if name.Kind == KindCDC {
				b.Byte(1)
			} else {
				b.Byte(0)
			}
			if row == 0 {
				b.String(tc.seq)
			} else {
				b.String("")
			}
			if name.Kind == KindCDC {
				b.Uint64(uint64(name.Instant.UnixNano()))
			}
			b.String(tc.key).Uint64(uint64(row))
			if !bytes.Equal(seqs.Value(row), b.Bytes()) {
				t.Errorf("%s row %d: seq %x, want %x", tc.key, row, seqs.Value(row), b.Bytes())
			}
		}
		rec.Release()
		dec.Close()
	}
}

// TestSeqOrder checks that seqs of LOAD rows sort before CDC rows, a later
// generation after an earlier one, and rows in file order.
func TestSeqOrder(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	seqOf := func(key string, gen uint32, data string) [][]byte {
		name, err := ParseName(key)
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}}
		dec, err := NewDecoder(strings.NewReader(data), File{Name: name, Generation: gen}, opts, mem)
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		var out [][]byte
		for {
			rec, err := dec.Next()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			col := rec.Column(2).(*array.Binary)
			for i := 0; i < col.Len(); i++ {
				out = append(out, bytes.Clone(col.Value(i)))
			}
			rec.Release()
		}
	}
	var all [][]byte
	all = append(all, seqOf("t/LOAD00000001.csv", 0, "1\n2\n")...)
	all = append(all, seqOf("t/LOAD00000002.csv", 0, "3\n")...)
	all = append(all, seqOf("t/20240101-000000000.csv", 0, "U,1\nD,2\n")...)
	all = append(all, seqOf("t/20240101-000000001.csv", 0, "U,1\n")...)
	all = append(all, seqOf("t/LOAD00000001.csv", 1, "1\n")...)
	all = append(all, seqOf("t/20231231-000000000.csv", 1, "U,1\n")...)
	for i := 1; i < len(all); i++ {
		if change.CompareSeq(all[i-1], all[i]) >= 0 {
			t.Errorf("seq %d (%x) not before seq %d (%x)", i-1, all[i-1], i, all[i])
		}
	}
}

// TestErrors checks that bad input stops with a MalformedError naming the
// file, the line where the bad record starts and the column.
func TestErrors(t *testing.T) {
	ordersCols := [][2]string{{"order_id", "int"}, {"customer_id", "string"}, {"shipped_date", "date"}, {"freight", "decimal(10,2)"}, {"note", "string"}}
	headerOpts := testOptions{Columns: ordersCols, Header: true, IncludeOpForFullLoad: true, TimestampColumn: "dms_ts", ChangeSeqColumn: "change_seq"}
	const hdr = "Op,dms_ts,order_id,customer_id,shipped_date,freight,note,change_seq\n"
	for _, tc := range []struct {
		name   string
		key    string
		opts   testOptions
		data   string
		line   int64
		column string
		reason string // substring
	}{
		{"too few fields", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,1996-07-16,1.00,x\n2,b,1996-07-16,1.00\n", 2, "", "4 fields, want 5"},
		{"too many fields", "20240528-195141380.csv", testOptions{Columns: ordersCols}, "I,1,a,1996-07-16,1.00,x\nU,1,a,1996-07-16,1.00,x,y\n", 2, "", "7 fields, want 6"},
		{"load row in cdc file", "20240528-195141380.csv", testOptions{Columns: ordersCols}, "1,a,1996-07-16,1.00,x\n", 1, "", "5 fields, want 6"},
		{"bad op", "20240528-195141380.csv", headerOpts, hdr + "X,2024-05-28 19:51:41.388146,1,a,,1.00,,1\n", 2, "Op", `operation "X"`},
		{"empty op", "20240528-195141380.csv", headerOpts, hdr + ",2024-05-28 19:51:41.388146,1,a,,1.00,,1\n", 2, "Op", "not I, U or D"},
		{"bad decimal", "20240528-195141380.csv", headerOpts, hdr + "I,2024-05-28 19:51:41,1,a,,1.00,,1\nU,2024-05-28 19:51:41,1,a,,1.2.3,,2\n", 3, "freight", "not a decimal"},
		{"decimal scale", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,,1.005,x\n", 1, "freight", "fraction digits"},
		{"decimal precision", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,,123456789.00,x\n", 1, "freight", "precision"},
		{"decimal wider than 38 digits", "LOAD00000001.csv", testOptions{Columns: [][2]string{{"id", "int"}, {"n", "decimal(38,30)"}}}, "1,12345678901234567890123456789012345.123456789012345678901234567890\n", 1, "n", `"12345678901234567890123456789012345.123456789012345678901234567890": more digits than the precision allows for decimal(38,30); the type comes from columns`},
		{"NULL without null_value", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,NULL,1.00,x\n", 1, "shipped_date", "set dms.null_value"},
		{"bad date", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,1996-02-30,1.00,x\n", 1, "shipped_date", "not a date"},
		{"bad int", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "\"1 \",a,,1.00,x\n", 1, "order_id", "not an integer"},
		{"int overflow", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "2147483648,a,,1.00,x\n", 1, "order_id", "out of range"},
		{"quoted empty int", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "\"\",a,,1.00,x\n", 1, "order_id", "not an integer"},
		{"bad timestamp", "20240528-195141380.csv", headerOpts, hdr + "I,2024-05-28 25:51:41,1,a,,1.00,,1\n", 2, "dms_ts", "not a timestamp"},
		{"bad change seq", "20240528-195141380.csv", headerOpts, hdr + "I,2024-05-28 19:51:41,1,a,,1.00,,12a\n", 2, "change_seq", "not all digits"},
		{"unterminated quote", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,,1.00,x\n2,a,,1.00,\"open\nstill open\n", 2, "", "not terminated"},
		{"bare quote", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,,1.00,x\n2,a\"b,,1.00,x\n", 2, "", "quote inside an unquoted field"},
		{"bare quote in field", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a\"b,,1.00,x\n", 1, "", "quote inside an unquoted field"},
		{"text after quote", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,\"a\nb\"c,,1.00,x\n", 1, "", "after the closing quote"},
		{"line after multiline record", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,\"a\nb\n\",,1.00,x\n2,b,,1.00\n", 4, "", "4 fields, want 5"},
		{"bad utf8", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,\xff,,1.00,x\n", 1, "customer_id", "UTF-8"},
		{"byte order mark before header", "20240528-195141380.csv", headerOpts, "\ufeff" + hdr, 1, "", "starts with a UTF-8 byte order mark"},
		{"byte order mark before row", "20240528-195141380.csv", testOptions{Columns: ordersCols}, "\ufeffI,1,a,,1.00,x\n", 1, "", "starts with a UTF-8 byte order mark"},
		{"byte order mark in gzip", "LOAD00000001.csv.gz", testOptions{Columns: ordersCols}, string(decodetest.Gzip(t, "\ufeff1,a,,1.00,x\n")), 1, "", "starts with a UTF-8 byte order mark"},
		{"header without Op", "20240528-195141380.csv", headerOpts, "dms_ts,order_id\n", 1, "", "header does not start with Op"},
		{"header duplicate", "20240528-195141380.csv", headerOpts, "Op,a,a,change_seq\n", 1, "", "twice"},
		{"header without change seq", "20240528-195141380.csv", headerOpts, "Op,dms_ts,order_id\n", 1, "", "no column \"change_seq\" (dms.change_seq_column)"},
		{"header Op without IncludeOp", "LOAD00000001.csv", testOptions{Header: true}, "Op,a\n", 1, "", "dms.include_op_for_full_load is false"},
		{"crlf and bad field count", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,,1.00,x\r\n2,a,,1.00,x,\r\n", 2, "", "6 fields, want 5"},
		{"blank line", "LOAD00000001.csv", testOptions{Columns: ordersCols}, "1,a,,1.00,x\n\n", 2, "", "1 fields, want 5"},
		{"gzip corrupt", "LOAD00000001.csv.gz", testOptions{Columns: ordersCols}, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xffgarbage", 1, "", "gzip"},
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

// TestStickyError checks that after an error every Next returns it and no
// row past the bad record is returned.
func TestStickyError(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	name, _ := ParseName("t/LOAD00000001.csv")
	opts := Options{Columns: []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, BatchRows: 2}
	dec, err := NewDecoder(strings.NewReader("1\n2\nx\n4\n"), File{Name: name}, opts, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	rec, err := dec.Next()
	if err != nil || rec.NumRows() != 2 {
		t.Fatalf("first batch: %v", err)
	}
	rec.Release()
	_, err1 := dec.Next()
	_, err2 := dec.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v, want the same error twice", err1, err2)
	}
}

func TestOptionErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	name, _ := ParseName("t/LOAD00000001.csv")
	i32 := arrow.PrimitiveTypes.Int32
	for _, opts := range []Options{
		{},
		{Columns: []change.Column{{Name: "a", Type: i32}, {Name: "a", Type: i32}}},
		{Columns: []change.Column{{Name: "_op", Type: i32}}},
		{Columns: []change.Column{{Name: "a", Type: i32}}, ChangeSeqColumn: "a"},
		{Columns: []change.Column{{Name: "a", Type: i32}}, ChangeSeqColumn: "b"},
		{Columns: []change.Column{{Name: "a", Type: i32}}, TimestampColumn: "a"},
		{Columns: []change.Column{{Name: "a", Type: i32}}, Delimiter: '"'},
	} {
		dec, err := NewDecoder(strings.NewReader("1\n"), File{Name: name}, opts, mem)
		if err == nil {
			dec.Close()
			t.Errorf("options %+v: no error", opts)
		}
	}
}
