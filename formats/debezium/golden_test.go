package debezium

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/internal/testkit/arrowtext"
	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
	"github.com/lakemerge/lakemerge/internal/testkit/golden"
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
	opts.Columns = decodetest.Columns(t, o.Columns)
	return opts
}

// input is one file to decode, with its keys file if any.
type input struct {
	key  string
	data []byte
	keys []byte // nil: no keys file
	gen  uint32
}

// decodeAll decodes in and renders every row, the truncates and the stats,
// checking the batch contract (decodetest.Drain).
func decodeAll(t testing.TB, mem memory.Allocator, in input, opts Options) (string, error) {
	t.Helper()
	return decodeSplit(t, mem, in, opts, func(r io.Reader) io.Reader { return r })
}

// batchRows is the batch size of a decoder with opts.
func batchRows(opts Options) int {
	if opts.BatchRows <= 0 {
		return defaultBatchRows
	}
	return opts.BatchRows
}

// decodeSplit is decodeAll with the values and keys readers wrapped.
func decodeSplit(t testing.TB, mem memory.Allocator, in input, opts Options, wrap func(io.Reader) io.Reader) (string, error) {
	t.Helper()
	name, err := ParseName(in.key)
	if err != nil {
		t.Fatalf("ParseName(%q): %v", in.key, err)
	}
	f := File{Name: name, Generation: in.gen}
	if in.keys != nil {
		f.Keys = wrap(bytes.NewReader(in.keys))
	}
	dec, err := NewDecoder(wrap(bytes.NewReader(in.data)), f, opts, mem)
	if err != nil {
		return "", err
	}
	defer dec.Close()
	var sb strings.Builder
	sb.WriteString("schema: " + arrowtext.Schema(dec.Schema()) + "\n")
	rows := arrowtext.Rows{Seq: func(s []byte) string { return describeSeq(s, opts.SinglePartition) }, KeepNames: true}
	if err := decodetest.Drain(t, dec, batchRows(opts), func(rec arrow.RecordBatch) { rows.Write(&sb, rec) }); err != nil {
		return sb.String(), err
	}
	for _, s := range dec.Truncates() {
		fmt.Fprintf(&sb, "truncate seq=%x (%s)\n", s, describeSeq(s, opts.SinglePartition))
	}
	st := dec.Stats()
	fmt.Fprintf(&sb, "stats: lines=%d inserts=%d updates=%d deletes=%d snapshot=%d tombstone_deletes=%d tombstones_skipped=%d truncates=%d schema_changes=%d heartbeats=%d transactions=%d messages=%d\n",
		st.Lines, st.Inserts, st.Updates, st.Deletes, st.Snapshot, st.TombstoneDeletes, st.TombstonesSkipped, st.Truncates, st.SchemaChanges, st.Heartbeats, st.Transactions, st.Messages)
	return sb.String(), nil
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

// goldenCase is a golden case folder with its values file (keyed as the
// sink writes it) and the keys file beside it, if any.
type goldenCase struct {
	decodetest.Case[testOptions]
	in input
}

// loadGoldenCases loads testdata/<case>, invented edge cases, and
// testdata/real/<case>, files real connectors wrote (see
// testdata/real/README.md).
func loadGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	var cases []goldenCase
	for _, c := range decodetest.Cases[testOptions](t, "testdata/*/options.json", "testdata/real/*/options.json") {
		gc := goldenCase{Case: c, in: input{gen: c.Options.Generation}}
		for n, data := range c.Inputs {
			name, err := ParseName(n)
			if err != nil {
				t.Fatalf("%s: %v", c.Dir, err)
			}
			switch {
			case name.Kind == KindValues && gc.in.key == "":
				gc.in.key = "topics/" + name.Topic + fmt.Sprintf("/partition=%d/", name.Partition) + n
				gc.in.data = data
			case name.Kind == KindKeys && gc.in.keys == nil:
				gc.in.keys = data
			default:
				t.Fatalf("%s: unexpected file %s", c.Dir, n)
			}
		}
		if gc.in.key == "" {
			t.Fatalf("%s: no values file", c.Dir)
		}
		cases = append(cases, gc)
	}
	return cases
}

func TestGolden(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			got, err := decodeAll(t, mem, c.in, c.Options.options(t))
			if err != nil {
				t.Fatal(err)
			}
			// The real samples' expected.txt is the oracle's (see
			// oracle_test.go), never the decoder's.
			golden.Check(t, c.Expected(), got, *update && !strings.HasPrefix(c.Name, "real/"))
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
				return decodeAll(t, mem, c.in, opts)
			}, 1, 2, 3, 7, 1<<16)
		})
	}
}
