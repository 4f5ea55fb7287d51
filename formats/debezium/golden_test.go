package debezium

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.txt from the decoder's output")

// testOptions is the JSON form of Options in testdata/<case>/options.json.
type testOptions struct {
	Columns           [][2]string       `json:"columns"` // [name, type]
	Keys              []string          `json:"keys"`
	Tombstones        string            `json:"tombstones"`
	Flattened         bool              `json:"flattened"`
	SinglePartition   bool              `json:"single_partition"`
	Encodings         map[string]string `json:"encodings"`
	TruncateSubMicros bool              `json:"truncate_sub_micros"`
	WideDecimals      string            `json:"wide_decimals"`
	BatchRows         int               `json:"batch_rows"`
	Generation        uint32            `json:"generation"`
}

func (o testOptions) options(t testing.TB) Options {
	t.Helper()
	opts := Options{
		Keys:              o.Keys,
		Tombstones:        o.Tombstones,
		Flattened:         o.Flattened,
		SinglePartition:   o.SinglePartition,
		Encodings:         o.Encodings,
		TruncateSubMicros: o.TruncateSubMicros,
		WideDecimals:      o.WideDecimals,
		BatchRows:         o.BatchRows,
	}
	for _, c := range o.Columns {
		typ, err := change.ParseType(c[1])
		if err != nil {
			t.Fatal(err)
		}
		opts.Columns = append(opts.Columns, change.Column{Name: c[0], Type: typ})
	}
	return opts
}

// input is one file to decode, with its keys file if any.
type input struct {
	key  string
	data []byte
	keys []byte // nil: no keys file
	gen  uint32
}

// decodeAll decodes in and renders every row, the truncates and the stats;
// it checks that all batches share one schema and respect BatchRows.
func decodeAll(t testing.TB, mem memory.Allocator, in input, opts Options) (string, error) {
	t.Helper()
	name, err := ParseName(in.key)
	if err != nil {
		t.Fatalf("ParseName(%q): %v", in.key, err)
	}
	f := File{Name: name, Generation: in.gen}
	if in.keys != nil {
		f.Keys = bytes.NewReader(in.keys)
	}
	dec, err := NewDecoder(bytes.NewReader(in.data), f, opts, mem)
	if err != nil {
		return "", err
	}
	defer dec.Close()
	var sb strings.Builder
	sb.WriteString("schema: " + renderSchema(dec.Schema()) + "\n")
	batchRows := opts.BatchRows
	if batchRows <= 0 {
		batchRows = defaultBatchRows
	}
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sb.String(), err
		}
		if !rec.Schema().Equal(dec.Schema()) {
			t.Errorf("batch schema %s differs from decoder schema %s", rec.Schema(), dec.Schema())
		}
		if rec.NumRows() == 0 || rec.NumRows() > int64(batchRows) {
			t.Errorf("batch of %d rows, BatchRows %d", rec.NumRows(), batchRows)
		}
		renderRows(&sb, rec, opts.SinglePartition)
		rec.Release()
	}
	if _, err := dec.Next(); err != io.EOF {
		t.Errorf("Next after EOF: %v, want io.EOF", err)
	}
	for _, s := range dec.Truncates() {
		fmt.Fprintf(&sb, "truncate seq=%x (%s)\n", s, describeSeq(s, opts.SinglePartition))
	}
	st := dec.Stats()
	fmt.Fprintf(&sb, "stats: lines=%d inserts=%d updates=%d deletes=%d snapshot=%d tombstone_deletes=%d tombstones_skipped=%d truncates=%d schema_changes=%d heartbeats=%d transactions=%d messages=%d\n",
		st.Lines, st.Inserts, st.Updates, st.Deletes, st.Snapshot, st.TombstoneDeletes, st.TombstonesSkipped, st.Truncates, st.SchemaChanges, st.Heartbeats, st.Transactions, st.Messages)
	return sb.String(), nil
}

func renderSchema(s *arrow.Schema) string {
	var parts []string
	for _, f := range s.Fields() {
		if change.IsSystemColumn(f.Name) {
			continue
		}
		parts = append(parts, f.Name+" "+change.TypeName(f.Type))
	}
	return strings.Join(parts, ", ")
}

func renderRows(sb *strings.Builder, rec arrow.RecordBatch, single bool) {
	s := rec.Schema()
	op := rec.Column(s.FieldIndices(change.ColOp)[0]).(*array.Int8)
	seq := rec.Column(s.FieldIndices(change.ColSeq)[0]).(*array.Binary)
	keep := rec.Column(s.FieldIndices(change.ColKeep)[0]).(*array.Binary)
	var user []int
	for i, f := range s.Fields() {
		if !change.IsSystemColumn(f.Name) {
			user = append(user, i)
		}
	}
	for r := 0; r < int(rec.NumRows()); r++ {
		fmt.Fprintf(sb, "%s seq=%x (%s)", change.Op(op.Value(r)), seq.Value(r), describeSeq(seq.Value(r), single))
		for _, i := range user {
			sb.WriteString(" " + s.Field(i).Name + "=" + renderValue(rec.Column(i), r))
		}
		if !keep.IsNull(r) {
			var kept []string
			bits := keep.Value(r)
			for j, i := range user {
				if j/8 < len(bits) && bits[j/8]&(1<<(j%8)) != 0 {
					kept = append(kept, s.Field(i).Name)
				}
			}
			sb.WriteString(" _keep=[" + strings.Join(kept, ",") + "]")
		}
		sb.WriteByte('\n')
	}
}

func renderValue(a arrow.Array, r int) string {
	if a.IsNull(r) {
		return "NULL"
	}
	switch a := a.(type) {
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(r)), 10)
	case *array.Int64:
		return strconv.FormatInt(a.Value(r), 10)
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(r)), 'g', -1, 32)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(r), 'g', -1, 64)
	case *array.Decimal128:
		return a.Value(r).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(r))
	case *array.Date32:
		return a.Value(r).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		return time.UnixMicro(int64(a.Value(r))).UTC().Format("2006-01-02 15:04:05.000000")
	case *array.String:
		return strconv.Quote(a.Value(r))
	case *array.Binary:
		return "0x" + hex.EncodeToString(a.Value(r))
	}
	return fmt.Sprintf("?%s", a.DataType())
}

// describeSeq reads a _seq back into its parts, as the package doc lays
// them out, so that expected files can be checked by eye.
func describeSeq(s []byte, single bool) string {
	bad := func() string { return "unreadable" }
	u64 := func() (uint64, bool) {
		if len(s) < 8 {
			return 0, false
		}
		v := binary.BigEndian.Uint64(s)
		s = s[8:]
		return v, true
	}
	if len(s) < 5 {
		return bad()
	}
	gen, phase := binary.BigEndian.Uint32(s), s[4]
	s = s[5:]
	out := fmt.Sprintf("g=%d ph=%d", gen, phase)
	if !single {
		if len(s) < 1 {
			return bad()
		}
		tag := s[0]
		s = s[1:]
		switch tag {
		case tagPostgres:
			a, ok1 := u64()
			b, ok2 := u64()
			if !ok1 || !ok2 {
				return bad()
			}
			out += fmt.Sprintf(" pg=%d/%d", a, b)
		case tagMySQL:
			end := bytes.Index(s, []byte{0, 1})
			if end < 0 {
				return bad()
			}
			base := string(s[:end])
			s = s[end+2:]
			num, ok1 := u64()
			pos, ok2 := u64()
			row, ok3 := u64()
			if !ok1 || !ok2 || !ok3 {
				return bad()
			}
			out += fmt.Sprintf(" my=%s.%d/%d/%d", base, num, pos, row)
		case tagSQLServer:
			if len(s) < 20 {
				return bad()
			}
			lsn := func(b []byte) string {
				return fmt.Sprintf("%x:%x:%x", b[:4], b[4:8], b[8:10])
			}
			commit, chg := lsn(s[:10]), lsn(s[10:20])
			s = s[20:]
			esn, ok := u64()
			if !ok {
				return bad()
			}
			out += fmt.Sprintf(" ms=%s/%s/%d", commit, chg, esn)
		case tagNone:
			out += " pos=none"
		default:
			return bad()
		}
	}
	p, ok1 := u64()
	o, ok2 := u64()
	if !ok1 || !ok2 || len(s) != 0 {
		return bad()
	}
	return out + fmt.Sprintf(" p=%d o=%d", p, o)
}

type goldenCase struct {
	dir  string
	in   input
	opts testOptions
}

func loadGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/*/options.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	real, err := filepath.Glob("testdata/real/*/options.json")
	if err != nil || len(real) == 0 {
		t.Fatalf("no real samples: %v", err)
	}
	paths = append(paths, real...)
	var cases []goldenCase
	for _, p := range paths {
		dir := filepath.Dir(p)
		c := goldenCase{dir: dir}
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c.opts); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		c.in.gen = c.opts.Generation
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			n := e.Name()
			if n == "options.json" || n == "expected.txt" {
				continue
			}
			name, err := ParseName(n)
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			data, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case name.Kind == KindValues && c.in.key == "":
				c.in.key = "topics/" + name.Topic + fmt.Sprintf("/partition=%d/", name.Partition) + n
				c.in.data = data
			case name.Kind == KindKeys && c.in.keys == nil:
				c.in.keys = data
			default:
				t.Fatalf("%s: unexpected file %s", dir, n)
			}
		}
		if c.in.key == "" {
			t.Fatalf("%s: no values file", dir)
		}
		cases = append(cases, c)
	}
	return cases
}

func TestGolden(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(strings.TrimPrefix(filepath.ToSlash(c.dir), "testdata/"), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			got, err := decodeAll(t, mem, c.in, c.opts.options(t))
			if err != nil {
				t.Fatal(err)
			}
			exp := filepath.Join(c.dir, "expected.txt")
			// The real samples' expected.txt is the oracle's (see
			// oracle_test.go), never the decoder's.
			if *update && !strings.HasPrefix(filepath.ToSlash(c.dir), "testdata/real/") {
				if err := os.WriteFile(exp, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(exp)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("decoded rows differ from %s\ngot:\n%s\nwant:\n%s", exp, got, want)
			}
		})
	}
}

// TestGoldenBatchInvariance decodes every golden input with several batch
// sizes and demands the same rows.
func TestGoldenBatchInvariance(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(strings.TrimPrefix(filepath.ToSlash(c.dir), "testdata/"), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			var first string
			for i, n := range []int{1, 2, 3, 7, 1 << 16} {
				opts := c.opts.options(t)
				opts.BatchRows = n
				got, err := decodeAll(t, mem, c.in, opts)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = got
				} else if got != first {
					t.Errorf("BatchRows %d:\n%s\nBatchRows 1:\n%s", n, got, first)
				}
			}
		})
	}
}
