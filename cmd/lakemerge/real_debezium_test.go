package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/internal/testkit/pyrun"
)

// realSamples is the folder of the Debezium events real producers wrote
// (see its README), each with the options it decodes with and the rows an
// independent oracle read from it (expected.txt).
const realSamples = "../../formats/debezium/testdata/real"

// TestRealDebeziumSamples runs the built binary on each real sample, laid
// out as the Kafka Connect S3 sink writes it, into an Iceberg and a Delta
// table, and reads both back with pyiceberg and deltalake. The rows must
// be those of a plain reference model that applies the oracle's change
// rows of expected.txt one by one in _seq order.
//
// postgres_docs is left out: the docs' events disagree on source.sequence
// (see the samples' README), so their _seq order is not the docs' story.
func TestRealDebeziumSamples(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(realSamples, "*", "options.json"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no real samples: %v", err)
	}
	py := pythonForInterop(t)
	for _, p := range dirs {
		name := filepath.Base(filepath.Dir(p))
		if name == "postgres_docs" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runRealSample(t, filepath.Dir(p), py)
		})
	}
}

// sampleOptions is options.json: the decoder options, named as the golden
// tests name them.
type sampleOptions struct {
	Columns         [][2]string `json:"columns"`
	Keys            []string    `json:"keys"`
	SinglePartition bool        `json:"single_partition"`
	WideDecimals    string      `json:"wide_decimals"`
}

func runRealSample(t *testing.T, sample string, py *pyrun.Python) {
	var opts sampleOptions
	raw, err := os.ReadFile(filepath.Join(sample, "options.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &opts); err != nil {
		t.Fatal(err)
	}
	// The sample's values file and its keys file, if any.
	entries, err := os.ReadDir(sample)
	if err != nil {
		t.Fatal(err)
	}
	var topic, partition string
	var values, keyLines []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".json") || n == "options.json" {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(strings.TrimSuffix(n, ".json"), ".keys"), "+")
		topic, partition = strings.Join(parts[:len(parts)-2], "+"), parts[len(parts)-2]
		if parts[len(parts)-1] != "0000000000" {
			t.Fatalf("%s: samples start at offset 0", n)
		}
		b, err := os.ReadFile(filepath.Join(sample, n))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if strings.HasSuffix(n, ".keys.json") {
			keyLines = lines
		} else {
			values = lines
		}
	}
	cols, events := goldenEvents(t, filepath.Join(sample, "expected.txt"))

	// Two sink files: the lines up to the last point where the table still
	// has rows, then the rest, each absorbed by its own run, so that a
	// sample ending in deletes is still read back with its values.
	cut := len(values)
	for k := len(values) - 1; k >= 1; k-- {
		if len(referenceModel(cols, events, opts.Keys, uint64(k))) > 0 {
			cut = k
			break
		}
	}
	dir := t.TempDir()
	var job strings.Builder
	fmt.Fprintf(&job, "raw: file://%s/raw\nwarehouse: file://%s/warehouse\ncatalog: { type: sqlite, path: catalog.db }\ntables:\n", dir, dir)
	for _, format := range []string{"iceberg", "delta"} {
		fmt.Fprintf(&job, "  - name: %s\n    source: { schema: real, table: %s, topic: %s }\n    format: debezium-json\n    primary_key: [%s]\n",
			format, format, topic, strings.Join(opts.Keys, ", "))
		if len(opts.Columns) > 0 {
			job.WriteString("    columns:\n")
			for _, c := range opts.Columns {
				fmt.Fprintf(&job, "      - { name: %s, type: %q }\n", c[0], c[1])
			}
		}
		fmt.Fprintf(&job, "    target: { database: real, table: %s, format: %s }\n", format, format)
		fmt.Fprintf(&job, "    debezium: { single_partition: %t", opts.SinglePartition)
		if opts.WideDecimals != "" {
			fmt.Fprintf(&job, ", wide_decimals: %s", opts.WideDecimals)
		}
		job.WriteString(" }\n")
	}
	jobPath := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(jobPath, []byte(job.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, stage := range [][2]int{{0, cut}, {cut, len(values)}} {
		if stage[0] == stage[1] {
			continue
		}
		name := fmt.Sprintf("%s+%s+%010d", topic, partition, stage[0])
		folder := filepath.Join(dir, "raw", "topics", topic, "partition="+partition)
		write := func(file string, lines []string) {
			if err := os.MkdirAll(folder, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(folder, file), []byte(strings.Join(lines, "")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write(name+".json", values[stage[0]:stage[1]])
		if keyLines != nil {
			write(name+".keys.json", keyLines[stage[0]:stage[1]])
		}
		out, errs, code := lakemerge(t, "run", "--config", jobPath)
		var sum summary
		if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || !sum.OK || len(sum.Tables) != 2 {
			t.Fatalf("run of lines %d-%d: exit %d: %v\n%s\n%s\njob:\n%s", stage[0]+1, stage[1], code, err, out, errs, job.String())
		}
		for _, r := range sum.Tables {
			if r.Error != "" || r.Files != 1 {
				t.Fatalf("table %s: %+v", r.Table, r)
			}
		}
		want := referenceModel(cols, events, opts.Keys, uint64(stage[1]))
		if py == nil {
			continue
		}
		keys := strings.Join(opts.Keys, ",")
		readers := map[string][]string{
			"pyiceberg": {filepath.Join("..", "..", "interop", "read_iceberg.py"), "sqlite", filepath.Join(dir, "catalog.db"),
				"file://" + filepath.Join(dir, "warehouse"), "real.iceberg", keys},
			// The Delta writer names columns in lower case (Athena's
			// rule); the original names live in the column metadata.
			"deltalake": {filepath.Join("..", "..", "interop", "read_delta.py"), filepath.Join(dir, "warehouse", "real.db", "delta"), strings.ToLower(keys)},
		}
		for _, reader := range []string{"pyiceberg", "deltalake"} {
			got, err := py.CombinedOutput(readers[reader]...)
			if err != nil {
				t.Fatalf("%s read: %v\n%s", reader, err, got)
			}
			compareRows(t, fmt.Sprintf("%s after lines 1-%d", reader, stage[1]), cols, want, got, reader == "deltalake")
		}
	}
}

// col is a column of the decoded schema: its name and job-file type.
type col struct{ name, typ string }

// changeRow is one change row of a golden file.
type changeRow struct {
	op   string
	seq  []byte
	vals map[string]string // rendered values; "NULL" for null
	keep map[string]bool
}

// event is a change row or a truncate of a golden file.
type event struct {
	row *changeRow // nil for a truncate
	seq []byte
}

// offset is the Kafka offset of an event: the last field of its _seq.
func (e event) offset() uint64 { return binary.BigEndian.Uint64(e.seq[len(e.seq)-8:]) }

// goldenEvents reads the schema, change rows and truncates of a golden
// file.
func goldenEvents(t *testing.T, golden string) ([]col, []event) {
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cols []col
	var events []event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "schema: "):
			for _, c := range strings.Split(strings.TrimPrefix(line, "schema: "), ", ") {
				name, typ, _ := strings.Cut(c, " ")
				cols = append(cols, col{name, typ})
			}
		case strings.HasPrefix(line, "truncate seq="):
			seq, _, _ := strings.Cut(strings.TrimPrefix(line, "truncate seq="), " ")
			events = append(events, event{seq: unhex(t, seq)})
		case strings.HasPrefix(line, "stats: "):
		default:
			r := parseChangeRow(t, line, cols)
			events = append(events, event{row: r, seq: r.seq})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cols, events
}

// referenceModel applies the events at offsets below end one by one in
// _seq order: inserts and updates replace the key's row (columns marked
// _keep keep the previous value, else null), deletes remove it, a truncate
// removes every row written before it. It returns the surviving rows.
func referenceModel(cols []col, events []event, keys []string, end uint64) []map[string]string {
	var evs []event
	for _, e := range events {
		if e.offset() < end {
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return bytes.Compare(a.seq, b.seq) })
	type stored struct {
		vals map[string]string
		seq  []byte
	}
	table := map[string]stored{}
	for _, e := range evs {
		r := e.row
		if r == nil {
			for k, s := range table {
				if bytes.Compare(s.seq, e.seq) < 0 {
					delete(table, k)
				}
			}
			continue
		}
		var kv []string
		for _, k := range keys {
			kv = append(kv, r.vals[k])
		}
		key := strings.Join(kv, "\x00")
		if r.op == "D" {
			delete(table, key)
			continue
		}
		vals := map[string]string{}
		for _, c := range cols {
			v := r.vals[c.name]
			if r.keep[c.name] {
				v = "NULL"
				if old, ok := table[key]; ok {
					v = old.vals[c.name]
				}
			}
			vals[c.name] = v
		}
		table[key] = stored{vals: vals, seq: r.seq}
	}
	var rows []map[string]string
	for _, s := range table {
		rows = append(rows, s.vals)
	}
	return rows
}

// parseChangeRow reads "<op> seq=<hex> (<parts>) c1=v1 c2=v2 ... [_keep=[a,b]]".
func parseChangeRow(t *testing.T, line string, cols []col) *changeRow {
	r := &changeRow{vals: map[string]string{}, keep: map[string]bool{}}
	op, rest, _ := strings.Cut(line, " seq=")
	r.op = op
	seq, rest, _ := strings.Cut(rest, " (")
	r.seq = unhex(t, seq)
	_, rest, _ = strings.Cut(rest, ")")
	for _, c := range cols {
		prefix := " " + c.name + "="
		if !strings.HasPrefix(rest, prefix) {
			t.Fatalf("golden row lacks %s at %.40q", c.name, rest)
		}
		rest = rest[len(prefix):]
		var v string
		switch {
		case strings.HasPrefix(rest, "NULL"):
			v = "NULL"
		case c.typ == "string":
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("golden %s: %v", c.name, err)
			}
			v = q
		case c.typ == "timestamp":
			v = rest[:len("2006-01-02 15:04:05.000000")]
		default:
			v, _, _ = strings.Cut(rest, " ")
		}
		r.vals[c.name] = v
		rest = rest[len(v):]
	}
	// The commit time (_ts) is not stored in the tables.
	if i := strings.Index(rest, " _ts="); i >= 0 {
		rest = rest[:i]
	}
	if k, ok := strings.CutPrefix(rest, " _keep=["); ok {
		for _, n := range strings.Split(strings.TrimSuffix(k, "]"), ",") {
			r.keep[n] = true
		}
	} else if rest != "" {
		t.Fatalf("golden row ends in %q", rest)
	}
	return r
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compareRows holds a reader's JSON lines (read_iceberg.py, read_delta.py)
// to the model's rows, value by value, as each engine renders the column
// type.
func compareRows(t *testing.T, reader string, cols []col, want []map[string]string, got []byte, lower bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(want) == 0 && strings.TrimSpace(string(got)) == "" {
		return
	}
	if len(lines) != len(want) {
		t.Fatalf("%s reads %d rows, the model has %d:\n%s", reader, len(lines), len(want), got)
	}
	seen := 0
	for _, line := range lines {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			t.Fatalf("%s: %v in %s", reader, err, line)
		}
		if len(row) != len(cols) {
			t.Errorf("%s row has %d columns, want %d: %s", reader, len(row), len(cols), line)
		}
		var match map[string]string
		for _, w := range want {
			if sameRow(t, cols, w, row, lower) {
				match = w
				break
			}
		}
		if match == nil {
			t.Errorf("%s reads a row the model does not have:\n%s\nmodel:\n%v", reader, line, want)
			continue
		}
		seen++
	}
	if seen != len(want) {
		t.Errorf("%s: %d of %d rows matched", reader, seen, len(want))
	}
}

func sameRow(t *testing.T, cols []col, want map[string]string, got map[string]any, lower bool) bool {
	for _, c := range cols {
		name := c.name
		if lower {
			name = strings.ToLower(name)
		}
		if !sameValue(t, c, want[c.name], got[name]) {
			return false
		}
	}
	return true
}

// sameValue compares a golden value with what an engine printed: numbers
// as numbers, decimals as exact text, dates and timestamps in ISO form,
// binary as hex.
func sameValue(t *testing.T, c col, want string, got any) bool {
	if want == "NULL" {
		return got == nil
	}
	switch c.typ {
	case "int", "long":
		n, ok := got.(json.Number)
		return ok && n.String() == want
	case "float", "double":
		n, ok := got.(json.Number)
		if !ok {
			return false
		}
		bits := 64
		if c.typ == "float" {
			bits = 32
		}
		w, err1 := strconv.ParseFloat(want, bits)
		g, err2 := strconv.ParseFloat(n.String(), 64)
		return err1 == nil && err2 == nil && w == g
	case "boolean":
		b, ok := got.(bool)
		return ok && strconv.FormatBool(b) == want
	case "string":
		s, err := strconv.Unquote(want)
		return err == nil && got == s
	case "binary":
		return got == strings.TrimPrefix(want, "0x")
	case "date":
		return got == want
	case "timestamp":
		at, err := time.Parse("2006-01-02 15:04:05.000000", want)
		if err != nil {
			t.Fatal(err)
		}
		iso := at.Format("2006-01-02T15:04:05")
		if at.Nanosecond() != 0 {
			iso += fmt.Sprintf(".%06d", at.Nanosecond()/1000)
		}
		return got == iso
	}
	if strings.HasPrefix(c.typ, "decimal(") {
		return got == want
	}
	t.Fatalf("column %s: type %s", c.name, c.typ)
	return false
}
