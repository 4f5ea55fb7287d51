// Package interop_test reads the tables lakemerge writes with engines
// nobody here wrote. This file plays Athena: Athena (engine v3) is built on
// Trino, and scripts/trino.sh starts Trino 476 with its Iceberg and Delta
// Lake connectors next to the tests, on a file metastore (lakemerge's local
// default) and on the Glue and S3 APIs of the moto server.
package interop_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	objlocal "github.com/lakemerge/lakemerge/objstore/local"

	"github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/catalog/glue"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/internal/testkit/trino"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
)

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// The table of the scenario: every lakemerge type, changed over twelve
// runs. Values are kept as canonical text per column (see canon); a
// missing column is NULL.
type kind int

const (
	kInt kind = iota
	kFloat
	kDecimal
	kString
	kBool
	kDate
	kTimestamp
	kBinary
)

type col struct {
	name  string
	kind  kind
	scale int // decimals
}

var tableCols = []col{
	{"id", kInt, 0}, {"name", kString, 0}, {"qty", kInt, 0}, {"ratio", kFloat, 0}, {"price", kDecimal, 2},
	{"big", kDecimal, 9}, {"flag", kBool, 0}, {"born", kDate, 0}, {"at", kTimestamp, 0}, {"data", kBinary, 0},
	{"note", kString, 0},
}

// row is one change: op and the values of the columns it carries (nil for
// an explicit NULL), in DMS text.
type row struct {
	op   string
	vals map[string]*string
}

func s(v string) *string { return &v }

// scenario returns the runs: each run's file name, whether the note column
// exists yet, whether the widened types are configured, and its changes.
type run struct {
	file    string
	note    bool
	wide    bool
	changes []row
}

func r(op string, kv ...any) row {
	x := row{op: op, vals: map[string]*string{}}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			x.vals[kv[i].(string)] = nil
			continue
		}
		x.vals[kv[i].(string)] = s(kv[i+1].(string))
	}
	return x
}

func scenario() []run {
	full := func(op, id, name, qty, ratio, price, bigv, flag, born, at, data string) row {
		return r(op, "id", id, "name", name, "qty", qty, "ratio", ratio, "price", price, "big", bigv, "flag", flag, "born", born, "at", at, "data", data)
	}
	runs := []run{
		{file: "LOAD00000001.csv", changes: []row{
			full("I", "1", "plain", "10", "0.5", "1.50", "0.000000001", "true", "2024-02-29", "2024-01-02 03:04:05.054736", "00ff10"),
			full("I", "2", "Zoë \"quoted\", with comma", "-2147483648", "-0.75", "-99999999.99", "-99999999999999999999999999999.999999999", "false", "1899-12-31", "1899-12-31 23:59:59.999999", ""),
			full("I", "3", "line one\nline two", "2147483647", "1.25", "99999999.99", "99999999999999999999999999999.999999999", "true", "1969-12-31", "1969-12-31 23:59:59.054736", "deadbeef"),
			full("I", "4", "日本語 ✓ emoji 🎉", "0", "0", "0.00", "1.000000000", "false", "1970-01-01", "1970-01-01 00:00:00.000001", "00"),
			full("I", "5", "", "7", "3.5", "0.01", "-0.000000001", "true", "1850-06-15", "1850-06-15 12:00:00.000000", "0102"),
			r("I", "id", "6", "name", "nulls", "qty", nil, "ratio", nil, "price", nil, "big", nil, "flag", nil, "born", nil, "at", nil, "data", nil),
			full("I", "7", "'single' and \\backslash", "-1", "-1.5", "-0.01", "12345678901234567890.123456789", "false", "2000-01-01", "2000-01-01 00:00:00.500000", "ff"),
			full("I", "8", "to delete", "8", "8", "8.00", "8.000000000", "true", "2038-01-19", "2038-01-19 03:14:07.999999", "08"),
		}},
		{file: "20240102-000001000.csv", changes: []row{
			full("U", "2", "updated \"twice\"\nnew line", "-2147483647", "-0.25", "-1.00", "-1.000000000", "true", "1899-01-01", "1899-01-01 00:00:00.000001", "ab"),
			r("D", "id", "3"),
			full("I", "9", "nine", "9", "9", "9.00", "9.000000000", "false", "1999-12-31", "1999-12-31 23:59:59.999999", "09"),
			r("D", "id", "8"),
		}},
		{file: "20240102-000002000.csv", note: true, changes: []row{
			r("U", "id", "1", "name", "plain", "qty", "11", "ratio", "0.5", "price", "1.50", "big", "0.000000001", "flag", "true", "born", "2024-02-29", "at", "2024-01-02 03:04:05.054736", "data", "00ff10", "note", "ünïcödé note, \"added\""),
			full("I", "3", "re-inserted", "33", "3.25", "3.33", "3.000000000", "true", "1969-12-31", "1969-12-31 23:59:59.054736", "0303"),
			r("I", "id", "10", "name", "ten", "qty", "10", "note", "line\nbreak"),
		}},
		// The widening run: int → long (key and qty), float → double,
		// decimal(10,2) → decimal(12,2); stored narrow rows change.
		{file: "20240102-000003000.csv", note: true, wide: true, changes: []row{
			r("U", "id", "4", "name", "widened", "qty", "9223372036854775807", "ratio", "1e+300", "price", "9999999999.99", "big", "1.000000000", "flag", "false", "born", "1970-01-01", "at", "1970-01-01 00:00:00.000001", "data", "00", "note", nil),
			r("I", "id", "3000000000", "name", "big key", "qty", "-9223372036854775808", "ratio", "-2.5e-300", "price", "-9999999999.99", "note", "wide"),
			r("D", "id", "5"),
		}},
	}
	// Eight more small runs, so that the Delta log passes its checkpoint
	// (every 10 versions) and both tables have a longer history.
	for i := 0; i < 8; i++ {
		id := []string{"1", "2", "3000000000", "7"}[i%4]
		runs = append(runs, run{file: fmt.Sprintf("20240102-0000%02d000.csv", 4+i), note: true, wide: true, changes: []row{
			r("U", "id", id, "name", fmt.Sprintf("run %d", 5+i), "qty", strconv.Itoa(100+i), "note", fmt.Sprintf("run %d", 5+i)),
		}})
	}
	return runs
}

// csvField writes a DMS CSV field: NULL as an empty unquoted field,
// anything else quoted (DMS quotes with "" escapes).
func csvField(v *string) string {
	if v == nil {
		return ""
	}
	return `"` + strings.ReplaceAll(*v, `"`, `""`) + `"`
}

func (ru run) csv() []byte {
	var b strings.Builder
	names := []string{"Op"}
	for _, c := range tableCols {
		if c.name != "note" || ru.note {
			names = append(names, c.name)
		}
	}
	b.WriteString(strings.Join(names, ",") + "\n")
	for _, ch := range ru.changes {
		fields := []string{ch.op}
		for _, n := range names[1:] {
			fields = append(fields, csvField(ch.vals[n]))
		}
		b.WriteString(strings.Join(fields, ",") + "\n")
	}
	return []byte(b.String())
}

// model applies the runs' changes: the expected table, by id. A change
// sets every column of its header; a column it does not carry is NULL.
type model map[string]map[string]*string

func (m model) apply(ru run) {
	for _, ch := range ru.changes {
		id := *ch.vals["id"]
		if ch.op == "D" {
			delete(m, id)
			continue
		}
		vals := map[string]*string{}
		for _, c := range tableCols {
			if v, ok := ch.vals[c.name]; ok && v != nil {
				vals[c.name] = canonText(c, *v)
			}
		}
		m[id] = vals
	}
}

// lines renders the model as sorted JSON lines, the form every reader's
// rows are brought into.
func (m model) lines(withNote bool) []string {
	var out []string
	for _, vals := range m {
		out = append(out, jsonLine(vals, withNote))
	}
	sortByID(out)
	return out
}

func jsonLine(vals map[string]*string, withNote bool) string {
	obj := map[string]*string{}
	for _, c := range tableCols {
		if c.name == "note" && !withNote {
			continue
		}
		obj[c.name] = vals[c.name]
	}
	b, _ := json.Marshal(obj)
	return string(b)
}

func sortByID(lines []string) {
	id := func(l string) int64 {
		var o struct{ ID string }
		_ = json.Unmarshal([]byte(l), &o)
		n, _ := strconv.ParseInt(o.ID, 10, 64)
		return n
	}
	slices.SortFunc(lines, func(a, b string) int { return int(min(max(id(a)-id(b), -1), 1)) })
}

// canonText is the canonical text of a value given as text (DMS input,
// Trino's or Python's rendering).
func canonText(c col, v string) *string {
	switch c.kind {
	case kFloat:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return s("bad float " + v)
		}
		return s(strconv.FormatFloat(f, 'g', -1, 64))
	case kDecimal:
		q, ok := new(big.Rat).SetString(v)
		if !ok {
			return s("bad decimal " + v)
		}
		return s(q.FloatString(c.scale))
	case kTimestamp:
		for _, layout := range []string{"2006-01-02 15:04:05.999999", "2006-01-02T15:04:05.999999"} {
			if ts, err := time.Parse(layout, v); err == nil {
				return s(ts.Format("2006-01-02 15:04:05.000000"))
			}
		}
		return s("bad timestamp " + v)
	case kBinary:
		return s(strings.ToLower(v))
	case kBool:
		b, _ := strconv.ParseBool(v)
		return s(strconv.FormatBool(b))
	}
	return &v
}

// canonRow brings one row of any reader (values as decoded from JSON) into
// the model's form; binary arrives as hex (Python) or base64 (Trino).
func canonRow(t *testing.T, obj map[string]any, base64Binary bool) map[string]*string {
	t.Helper()
	out := map[string]*string{}
	for _, c := range tableCols {
		v, ok := obj[c.name]
		if !ok || v == nil {
			continue
		}
		var text string
		switch x := v.(type) {
		case string:
			text = x
		case json.Number:
			text = x.String()
		case bool:
			text = strconv.FormatBool(x)
		case float64:
			text = strconv.FormatFloat(x, 'g', -1, 64)
		default:
			t.Fatalf("column %s: unexpected value %#v", c.name, v)
		}
		if c.kind == kBinary && base64Binary {
			b, err := base64.StdEncoding.DecodeString(text)
			if err != nil {
				t.Fatalf("column %s: %v", c.name, err)
			}
			text = hex.EncodeToString(b)
		}
		out[c.name] = canonText(c, text)
	}
	return out
}

// trinoLines runs SELECT * on a table and returns its rows as model lines,
// and the column types Trino gives.
func trinoLines(t *testing.T, url, table string, withNote bool) ([]string, map[string]string) {
	t.Helper()
	res := trino.Query(t, url, "SELECT * FROM "+table)
	types := map[string]string{}
	for i, n := range res.Cols {
		types[n] = res.Types[i]
	}
	var out []string
	for _, rw := range res.Rows {
		obj := map[string]any{}
		for i, n := range res.Cols {
			obj[n] = rw[i]
		}
		out = append(out, jsonLine(canonRow(t, obj, true), withNote))
	}
	sortByID(out)
	return out, types
}

// pythonOut runs an interop reader script and returns its stdout.
func pythonOut(t *testing.T, args ...string) string {
	t.Helper()
	py := testenv.Python(t)
	cmd := exec.CommandContext(t.Context(), py, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// pythonLines runs an interop reader script and returns its rows as model
// lines.
func pythonLines(t *testing.T, withNote bool, args ...string) []string {
	t.Helper()
	out := pythonOut(t, args...)
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("%v: line %q: %v", args, sc.Text(), err)
		}
		lines = append(lines, jsonLine(canonRow(t, obj, false), withNote))
	}
	sortByID(lines)
	return lines
}

func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		g, w := "", ""
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			fmt.Fprintf(&b, "row %d\n  got:  %s\n  want: %s\n", i, g, w)
		}
	}
	t.Errorf("%s differs from the expected rows:\n%s", what, b.String())
}

// lakemergeBinary builds the CLI once per test binary.
func lakemergeBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lakemerge")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/lakemerge").CombinedOutput()
	if err != nil {
		t.Fatalf("build lakemerge: %v\n%s", err, out)
	}
	return bin
}

// jobYAML is the job file of the scenario: one source table, written to an
// Iceberg and a Delta target.
func jobYAML(raw, warehouse, catalog, db string, wide bool) string {
	intT, longT, floatT, priceT := "int", "int", "float", "decimal(10,2)"
	if wide {
		intT, longT, floatT, priceT = "long", "long", "double", "decimal(12,2)"
	}
	cols := fmt.Sprintf(`    columns:
      - { name: id, type: %s }
      - { name: name, type: string }
      - { name: qty, type: %s }
      - { name: ratio, type: %s }
      - { name: price, type: "%s" }
      - { name: big, type: "decimal(38,9)" }
      - { name: flag, type: boolean }
      - { name: born, type: date }
      - { name: at, type: timestamp }
      - { name: data, type: binary }
      - { name: note, type: string }
    dms: { header: true, include_op_for_full_load: true }
`, intT, longT, floatT, priceT)
	var b strings.Builder
	fmt.Fprintf(&b, "raw: %s\nwarehouse: %s\n%sdefaults: { database: %s, buckets: 4 }\ntables:\n", raw, warehouse, catalog, db)
	for _, f := range []string{"iceberg", "delta"} {
		fmt.Fprintf(&b, "  - name: items_%s\n    source: { schema: public, table: items }\n    primary_key: [id]\n%s    target: { table: items_%s, format: %s }\n", f, cols, f, f)
	}
	return b.String()
}

// lakemergeRun runs the built binary on a job file, as a scheduler would,
// and checks the outcome it reports.
func lakemergeRun(t *testing.T, bin, job string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, "run", "--config", job)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var sum struct {
		OK     bool
		Tables []struct {
			Table    string
			Error    string
			Warnings []string
		}
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &sum); err != nil || jerr != nil || !sum.OK || len(sum.Tables) != 2 {
		t.Fatalf("lakemerge run: %v %v\nstdout: %s\nstderr: %s", err, jerr, stdout.String(), tail(stderr.String(), 3000))
	}
	for _, tb := range sum.Tables {
		if tb.Error != "" || len(tb.Warnings) > 0 {
			t.Fatalf("table %s: error %q warnings %q", tb.Table, tb.Error, tb.Warnings)
		}
	}
}

// athena is one place the scenario's tables live and how each engine
// reaches them.
type athena struct {
	url, bin, rawDir, db string
	job                  func(wide bool) string
	// trinoTables returns the Trino names of the Iceberg and Delta tables
	// at check point ck (local tables are registered anew at each).
	trinoTables func(ck string) (ice, delta string)
	pyIceberg   []string        // read_iceberg.py arguments before KEY
	pyDelta     func() []string // read_delta.py arguments
	deltaFiles  func() []string // read_delta.py --files arguments
	duckIceberg func() string   // metadata file for DuckDB's iceberg_scan; "" for none
	icebergMeta func() icebergState
	deltaLog    func() []string // names in _delta_log
}

// icebergState is what the table's own metadata says, read through
// iceberg-go: snapshots (id, parent, operation) oldest first, the snapshot
// log, and the live files (content, path, records).
type icebergState struct {
	snapshots []string
	history   []string
	files     []string
}

func (a *athena) play(t *testing.T) {
	model := model{}
	runs := scenario()
	jobPath := filepath.Join(t.TempDir(), "job.yaml")
	for i, ru := range runs {
		if err := os.MkdirAll(filepath.Join(a.rawDir, "public", "items"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.rawDir, "public", "items", ru.file), ru.csv(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(jobPath, []byte(a.job(ru.wide)), 0o644); err != nil {
			t.Fatal(err)
		}
		lakemergeRun(t, a.bin, jobPath)
		model.apply(ru)
		if i == 2 || i == len(runs)-1 {
			a.check(t, fmt.Sprintf("r%d", i+1), model, i == len(runs)-1)
		}
	}
}

// check compares every engine's rows with the model, and at the end the
// types and metadata tables Trino shows.
func (a *athena) check(t *testing.T, ck string, m model, final bool) {
	t.Helper()
	want := m.lines(true)
	ice, delta := a.trinoTables(ck)
	for _, tb := range []string{ice, delta} {
		got, types := trinoLines(t, a.url, tb, true)
		diffLines(t, "Trino "+tb+" after "+ck, got, want)
		want := map[string]string{"id": "integer", "qty": "integer", "ratio": "real", "price": "decimal(10, 2)",
			"big": "decimal(38, 9)", "at": "timestamp(6)", "born": "date", "data": "varbinary", "flag": "boolean", "name": "varchar", "note": "varchar"}
		if final { // widened
			want["id"], want["qty"], want["ratio"], want["price"] = "bigint", "bigint", "double", "decimal(12, 2)"
		}
		for c, typ := range want {
			if types[c] != typ {
				t.Errorf("Trino %s: column %s is %s, want %s", tb, c, types[c], typ)
			}
		}
		// A timestamp with microseconds found by value: the data file's
		// max stat is truncated to milliseconds and must not prune it.
		for at, id := range map[string]string{"1999-12-31 23:59:59.999999": "9", "1969-12-31 23:59:59.054736": "3"} {
			res := trino.Query(t, a.url, fmt.Sprintf("SELECT id FROM %s WHERE at = TIMESTAMP '%s'", tb, at))
			if len(res.Rows) != 1 || fmt.Sprint(res.Rows[0][0]) != id {
				t.Errorf("Trino %s: WHERE at = %s gives %v, want id %s", tb, at, res.Rows, id)
			}
		}
	}
	diffLines(t, "pyiceberg after "+ck, pythonLines(t, true, append(slices.Clone(a.pyIceberg), "id")...), want)
	diffLines(t, "deltalake after "+ck, pythonLines(t, true, a.pyDelta()...), want)
	if md := a.duckIceberg(); md != "" {
		diffLines(t, "DuckDB iceberg_scan after "+ck, pythonLines(t, true, "read_iceberg.py", "--duckdb", md, "id"), want)
	}
	if !final {
		return
	}
	// Iceberg metadata tables against the table's metadata.
	st := a.icebergMeta()
	var got []string
	for _, rw := range trino.Query(t, a.url, `SELECT snapshot_id, parent_id, operation FROM `+metaTable(ice, "snapshots")+` ORDER BY committed_at, snapshot_id`).Rows {
		got = append(got, joinRow(rw))
	}
	if !slices.Equal(got, st.snapshots) {
		t.Errorf("Trino $snapshots %v, metadata %v", got, st.snapshots)
	}
	got = nil
	for _, rw := range trino.Query(t, a.url, `SELECT snapshot_id FROM `+metaTable(ice, "history")+` ORDER BY made_current_at, snapshot_id`).Rows {
		got = append(got, joinRow(rw))
	}
	if !slices.Equal(got, st.history) {
		t.Errorf("Trino $history %v, metadata log %v", got, st.history)
	}
	got = nil
	for _, rw := range trino.Query(t, a.url, `SELECT content, file_path, record_count FROM `+metaTable(ice, "files")).Rows {
		got = append(got, joinRow(rw))
	}
	slices.Sort(got)
	if !slices.Equal(got, st.files) {
		t.Errorf("Trino $files:\n%s\nmetadata:\n%s", strings.Join(got, "\n"), strings.Join(st.files, "\n"))
	}
	// Delta: one history entry per log entry (every run is a MERGE), the
	// log checkpointed, and the protocol Trino sees.
	var versions []string
	for _, n := range a.deltaLog() {
		if v, ok := strings.CutSuffix(n, ".json"); ok && len(v) == 20 {
			i, _ := strconv.Atoi(v)
			versions = append(versions, fmt.Sprint(i, " MERGE"))
		}
	}
	got = nil
	for _, rw := range trino.Query(t, a.url, `SELECT version, operation FROM `+metaTable(delta, "history")+` ORDER BY version`).Rows {
		got = append(got, joinRow(rw))
	}
	if len(versions) != len(scenario()) || !slices.Equal(got, versions) {
		t.Errorf("Trino $history %v, _delta_log %v", got, versions)
	}
	if !slices.Contains(a.deltaLog(), "00000000000000000010.checkpoint.parquet") {
		t.Errorf("no checkpoint at version 10 in _delta_log: %v", a.deltaLog())
	}
	// The files Trino reads rows from are the log's live files, with
	// their record counts (Trino 476 has no $files table for Delta).
	got = nil
	for _, rw := range trino.Query(t, a.url, `SELECT "$path", count(*) FROM `+delta+` GROUP BY 1`).Rows {
		got = append(got, path.Base(fmt.Sprint(rw[0]))+" "+fmt.Sprint(rw[1]))
	}
	slices.Sort(got)
	var live []string
	for _, l := range strings.Split(strings.TrimSpace(pythonOut(t, a.deltaFiles()...)), "\n") {
		if l != "" && !strings.HasSuffix(l, " 0") {
			live = append(live, l)
		}
	}
	if !slices.Equal(got, live) {
		t.Errorf("Trino reads rows from\n%s\nthe log's live files are (deltalake)\n%s", strings.Join(got, "\n"), strings.Join(live, "\n"))
	}
	props := map[string]string{}
	for _, rw := range trino.Query(t, a.url, `SELECT key, value FROM `+metaTable(delta, "properties")).Rows {
		props[fmt.Sprint(rw[0])] = fmt.Sprint(rw[1])
	}
	if props["delta.minReaderVersion"] != "3" || props["delta.minWriterVersion"] != "7" || props["delta.feature.timestampNtz"] != "supported" {
		t.Errorf("Trino $properties of %s: %v", delta, props)
	}
}

// joinRow renders a result row as its values' text joined by spaces (NULL
// as <nil>).
func joinRow(rw []any) string {
	parts := make([]string, len(rw))
	for i, v := range rw {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, " ")
}

// metaTable names a metadata table of catalog.schema.table.
func metaTable(table, name string) string {
	i := strings.LastIndex(table, ".")
	return table[:i+1] + `"` + table[i+1:] + "$" + name + `"`
}

// icebergStateOf reads what an Iceberg table's metadata holds, through
// iceberg-go.
func icebergStateOf(t *testing.T, tbl *icetable.Table) icebergState {
	t.Helper()
	var st icebergState
	snaps := tbl.Metadata().Snapshots()
	slices.SortStableFunc(snaps, func(a, b icetable.Snapshot) int { return int(a.TimestampMs - b.TimestampMs) })
	for _, sn := range snaps {
		parent := "<nil>"
		if sn.ParentSnapshotID != nil {
			parent = strconv.FormatInt(*sn.ParentSnapshotID, 10)
		}
		op := ""
		if sn.Summary != nil {
			op = string(sn.Summary.Operation)
		}
		st.snapshots = append(st.snapshots, fmt.Sprintf("%d %s %s", sn.SnapshotID, parent, op))
	}
	for l := range tbl.Metadata().SnapshotLogs() {
		st.history = append(st.history, strconv.FormatInt(l.SnapshotID, 10))
	}
	tasks, err := tbl.Scan().PlanFiles(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	add := func(f iceberg.DataFile) {
		line := fmt.Sprintf("%d %s %d", f.ContentType(), f.FilePath(), f.Count())
		if !seen[line] {
			seen[line] = true
			st.files = append(st.files, line)
		}
	}
	for _, task := range tasks {
		add(task.File)
		for _, d := range task.DeleteFiles {
			add(d)
		}
	}
	slices.Sort(st.files)
	return st
}

func TestMain(m *testing.M) {
	wire.RegisterFileIO()
	os.Exit(m.Run())
}

// TestTrinoReadsLocalTables: lakemerge's embedded default (file:// tables,
// SQLite catalog) written over twelve runs — inserts, updates, deletes, a
// re-insert, an added column, widened key and non-key columns, edge values
// — reads the same in Trino (tables registered in a file metastore with
// register_table), pyiceberg, deltalake and DuckDB, and equal to the
// expected rows.
func TestTrinoReadsLocalTables(t *testing.T) {
	url := trino.URL(t)
	dir := t.TempDir()
	schema := fmt.Sprintf("lm_local_%d", time.Now().UnixNano())
	a := &athena{url: url, bin: lakemergeBinary(t), rawDir: filepath.Join(dir, "raw"), db: "trino"}
	wh := filepath.Join(dir, "warehouse")
	catPath := filepath.Join(dir, "catalog.db")
	a.job = func(wide bool) string {
		return jobYAML("file://"+a.rawDir, "file://"+wh, "catalog: { type: sqlite, path: "+catPath+" }\n", a.db, wide)
	}
	loadIceberg := func() *icetable.Table {
		t.Helper()
		cat := openLocalCatalog(t, catPath, wh)
		defer cat.Close()
		tbl, err := cat.LoadTable(t.Context(), icetable.Identifier{a.db, "items_iceberg"})
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	deltaDir := filepath.Join(wh, a.db+".db", "items_delta")
	for _, c := range []string{"iceberg_local", "delta_local"} {
		trino.Query(t, url, "CREATE SCHEMA "+c+"."+schema)
	}
	a.trinoTables = func(ck string) (string, string) {
		tbl := loadIceberg()
		ice, delta := "iceberg_local."+schema+".items_iceberg_"+ck, "delta_local."+schema+".items_delta_"+ck
		trino.Query(t, url, fmt.Sprintf("CALL iceberg_local.system.register_table(schema_name => '%s', table_name => 'items_iceberg_%s', table_location => '%s', metadata_file_name => '%s')",
			schema, ck, tbl.Location(), filepath.Base(tbl.MetadataLocation())))
		trino.Query(t, url, fmt.Sprintf("CALL delta_local.system.register_table(schema_name => '%s', table_name => 'items_delta_%s', table_location => 'file://%s')",
			schema, ck, deltaDir))
		return ice, delta
	}
	a.pyIceberg = []string{"read_iceberg.py", "sqlite", catPath, "file://" + wh, a.db + ".items_iceberg"}
	a.pyDelta = func() []string { return []string{"read_delta.py", deltaDir, "id"} }
	a.deltaFiles = func() []string { return []string{"read_delta.py", "--files", deltaDir} }
	a.duckIceberg = func() string { return strings.TrimPrefix(loadIceberg().MetadataLocation(), "file://") }
	a.icebergMeta = func() icebergState { return icebergStateOf(t, loadIceberg()) }
	a.deltaLog = func() []string {
		es, err := os.ReadDir(filepath.Join(deltaDir, "_delta_log"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	a.play(t)
}

// TestTrinoReadsGlueTables: the same scenario with the warehouse on S3 and
// the tables in the Glue catalog (the moto server's APIs), read by Trino
// through its Glue metastore and native S3 file system as Athena would:
// Iceberg tables by their Glue entries, Delta tables by the storage
// descriptor lakemerge registers (SerDe path).
func TestTrinoReadsGlueTables(t *testing.T) {
	url := trino.URL(t)
	ep := testenv.AWS(t)
	ctx := t.Context()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true })
	suffix := time.Now().UnixNano()
	bucket := fmt.Sprintf("lm-trino-%d", suffix)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := &athena{url: url, bin: lakemergeBinary(t), rawDir: filepath.Join(dir, "raw"), db: fmt.Sprintf("trino_%d", suffix)}
	wh := "s3://" + bucket + "/lake"
	a.job = func(wide bool) string {
		return jobYAML("file://"+a.rawDir, wh, "catalog: { type: glue, endpoint: "+ep+" }\ns3: { endpoint: "+ep+" }\n", a.db, wide)
	}
	a.trinoTables = func(string) (string, string) {
		return "iceberg_glue." + a.db + ".items_iceberg", "delta_glue." + a.db + ".items_delta"
	}
	a.pyIceberg = []string{"read_iceberg.py", "glue", ep, a.db + ".items_iceberg"}
	deltaKey := "lake/" + a.db + ".db/items_delta/"
	a.pyDelta = func() []string { return []string{"read_delta.py", "s3://" + bucket + "/" + deltaKey, "id", ep} }
	a.deltaFiles = func() []string { return []string{"read_delta.py", "--files", "s3://" + bucket + "/" + deltaKey, ep} }
	a.duckIceberg = func() string { return "" } // DuckDB would need its httpfs extension for S3
	a.icebergMeta = func() icebergState {
		gc, err := glue.Open(cfg, glue.Options{Warehouse: wh, Endpoint: ep})
		if err != nil {
			t.Fatal(err)
		}
		bucketName, prefix, err := objs3.ParseURL(wh)
		if err != nil {
			t.Fatal(err)
		}
		cat, err := wire.WarehouseCatalog(gc, objs3.New(cfg, bucketName, prefix, objs3.Options{Endpoint: ep, PathStyle: true}), wh)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := cat.LoadTable(ctx, icetable.Identifier{a.db, "items_iceberg"})
		if err != nil {
			t.Fatal(err)
		}
		return icebergStateOf(t, tbl)
	}
	a.deltaLog = func() []string {
		out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(deltaKey + "_delta_log/"), Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range out.Contents {
			names = append(names, strings.TrimPrefix(aws.ToString(o.Key), deltaKey+"_delta_log/"))
		}
		return names
	}
	a.play(t)
}

// openLocalCatalog opens the SQLite catalog at path with its tables' files
// reached through a folder store on warehouse, as the binary does.
func openLocalCatalog(t *testing.T, path, warehouse string) wire.Catalog {
	t.Helper()
	lc, err := local.Open(path, "file://"+warehouse, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := objlocal.New(warehouse)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := wire.WarehouseCatalog(lc, st, "file://"+warehouse)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}
