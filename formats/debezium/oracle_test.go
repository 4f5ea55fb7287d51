package debezium

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/golden"
)

// The oracle is a second, plain reading of the real samples under
// testdata/real, written from Kafka's JsonConverter, Debezium's type
// documentation and the package doc with encoding/json, math/big and time.
// It shares nothing with the decoder but change.SeqBuilder and the golden
// text layout, and it knows only what the real samples hold: envelopes with
// or without a schema wrapper, one wrapper schema per file, no tombstones.
// Each sample's expected.txt is the oracle's output (rewrite it with
// -update-real); TestGolden then holds the decoder to it.

var updateReal = flag.Bool("update-real", false, "rewrite testdata/real/*/expected.txt from the oracle")

func TestRealSamplesOracle(t *testing.T) {
	dirs, err := filepath.Glob("testdata/real/*/options.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no real samples: %v", err)
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			// The update flag here is -update-real.
			golden.Check(t, filepath.Join(dir, "expected.txt"), oracleDecode(t, dir), *updateReal)
		})
	}
}

// omember is one omember of a JSON object, in file order.
type omember struct {
	key string
	val json.RawMessage
}

// objectOf reads a JSON object keeping its members' order; ok is false
// for null.
func objectOf(t testing.TB, raw json.RawMessage) (ms []omember, ok bool) {
	t.Helper()
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("oracle: %.60s is not an object", raw)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, omember{key: k.(string), val: v})
	}
	return ms, true
}

func get(ms []omember, key string) (json.RawMessage, bool) {
	for _, m := range ms {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

func isNull(raw json.RawMessage) bool { return raw == nil || string(raw) == "null" }

func str(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("oracle: %s is not a string", raw)
	}
	return s
}

func integer(t testing.TB, raw json.RawMessage) *big.Int {
	t.Helper()
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		text = str(t, raw)
	}
	n, ok := new(big.Int).SetString(text, 10)
	if !ok {
		t.Fatalf("oracle: %s is not an integer", raw)
	}
	return n
}

// ocol is a column as the oracle types it: its job-file type name and how
// its values are read.
type ocol struct {
	name, typ, how string
	scale          int // decimal columns: the column's scale; "decimal" how: the events' scale
}

// naturalType is the column type and reading of a wrapper field, from the
// type table of the package doc; wide is "" or why no decimal fits.
func naturalType(typ, name string, params map[string]string) (col, how string, scale int, wide bool) {
	switch name {
	case "org.apache.kafka.connect.data.Decimal":
		s, _ := strconv.Atoi(params["scale"])
		p := 38
		if v, ok := params["connect.decimal.precision"]; ok {
			p, _ = strconv.Atoi(v)
		}
		if s < 0 || p > 38 || s > 38 {
			return "", "decimal", s, true
		}
		return fmt.Sprintf("decimal(%d,%d)", max(p, s), s), "decimal", s, false
	case "io.debezium.data.VariableScaleDecimal":
		return "", "vsd", 0, true
	case "io.debezium.time.Date", "org.apache.kafka.connect.data.Date":
		return "date", "days", 0, false
	case "io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp":
		return "timestamp", "millis", 0, false
	case "io.debezium.time.MicroTimestamp":
		return "timestamp", "micros", 0, false
	case "io.debezium.time.ZonedTimestamp":
		return "timestamp", "zoned", 0, false
	case "io.debezium.time.Time", "org.apache.kafka.connect.data.Time":
		return "long", "time-ms", 0, false
	case "io.debezium.time.MicroTime":
		return "long", "time-us", 0, false
	}
	switch typ {
	case "int8", "int16", "int32":
		return "int", "int", 0, false
	case "int64":
		return "long", "int", 0, false
	case "float":
		return "float", "float32", 0, false
	case "double":
		return "double", "float64", 0, false
	case "boolean":
		return "boolean", "bool", 0, false
	case "string":
		return "string", "string", 0, false
	case "bytes":
		return "binary", "bytes", 0, false
	case "struct", "array", "map":
		return "string", "json", 0, false
	}
	panic("oracle: Connect type " + typ)
}

// orow is one change row as the oracle reads it.
type orow struct {
	op    change.Op
	seq   []byte
	desc  string
	vals  map[string]string
	keep  map[string]bool
	order []string // members of the image, in order
	ts    string   // _ts: source.ts_ms, "" for none
}

type oracle struct {
	t        testing.TB
	opts     testOptions
	declared map[string]string
	cols     []*ocol
	byName   map[string]*ocol
	typed    bool // the wrapper schema has been read
	rows     []orow
	truns    []string
	stats    Stats
	part     uint64
	start    uint64
}

func oracleDecode(t *testing.T, dir string) string {
	raw, err := os.ReadFile(filepath.Join(dir, "options.json"))
	if err != nil {
		t.Fatal(err)
	}
	o := &oracle{t: t, declared: map[string]string{}, byName: map[string]*ocol{}}
	if err := json.Unmarshal(raw, &o.opts); err != nil {
		t.Fatal(err)
	}
	for _, c := range o.opts.Columns {
		o.declared[c[0]] = c[1]
		o.add(&ocol{name: c[0], typ: c[1], how: plainHow(c[1])})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".json") && !strings.HasSuffix(n, ".keys.json") && n != "options.json" {
			// <topic>+<partition>+<offset>.json
			parts := strings.Split(strings.TrimSuffix(n, ".json"), "+")
			p, _ := strconv.ParseUint(parts[len(parts)-2], 10, 64)
			s, _ := strconv.ParseUint(parts[len(parts)-1], 10, 64)
			o.part, o.start = p, s
			if data, err = os.ReadFile(filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	lines := strings.Split(strings.TrimRight(string(data), " \t\r\n"), "\n")
	for i, line := range lines {
		o.line(i, json.RawMessage(line))
	}
	for _, k := range o.opts.Keys {
		if o.byName[k] == nil {
			o.add(&ocol{name: k, typ: "string", how: "json"})
		}
	}
	return o.render()
}

// plainHow is how a declared column is read from lines without a wrapper.
func plainHow(typ string) string {
	switch {
	case typ == "int" || typ == "long":
		return "int"
	case typ == "string":
		return "json"
	case typ == "timestamp":
		return "micros"
	case typ == "date":
		return "days"
	}
	return "" // not in the real samples' plain lines
}

func (o *oracle) add(c *ocol) {
	o.cols = append(o.cols, c)
	o.byName[c.name] = c
}

func (o *oracle) line(i int, raw json.RawMessage) {
	t := o.t
	o.stats.Lines++
	ms, _ := objectOf(t, raw)
	payload, schema := raw, json.RawMessage(nil)
	if len(ms) == 2 && ms[0].key == "schema" && ms[1].key == "payload" {
		payload, schema = ms[1].val, ms[0].val
	}
	p, ok := objectOf(t, payload)
	if !ok {
		t.Fatal("oracle: tombstones are not in the real samples")
	}
	if schema != nil && !o.typed {
		o.readSchema(schema)
	}
	opRaw, _ := get(p, "op")
	op := str(t, opRaw)
	if op == "m" {
		o.stats.Messages++
		return
	}
	src, _ := get(p, "source")
	srcMs, _ := objectOf(t, src)
	pos, posDesc, none := o.position(srcMs, op == "r")
	phase := 1
	if none {
		phase = 0
	}
	var sb change.SeqBuilder
	sb.Uint32(uint32(o.opts.Generation)).Byte(byte(phase))
	seq := append(append([]byte(nil), sb.Bytes()...), pos...)
	sb.Reset()
	sb.Uint64(o.part).Uint64(o.start + uint64(i))
	seq = append(seq, sb.Bytes()...)
	desc := fmt.Sprintf("g=%d ph=%d%s p=%d o=%d", o.opts.Generation, phase, posDesc, o.part, o.start+uint64(i))
	var image json.RawMessage
	r := orow{seq: seq, desc: desc, vals: map[string]string{}, keep: map[string]bool{}}
	// _ts is source.ts_ms (0, a snapshot read of some connectors, is
	// none), rendered as the golden layout renders a timestamp.
	if tsRaw, ok := get(srcMs, "ts_ms"); ok && string(tsRaw) != "null" && string(tsRaw) != "0" {
		r.ts = time.UnixMilli(integer(t, tsRaw).Int64()).UTC().Format("2006-01-02 15:04:05.000000")
	}
	switch op {
	case "t":
		o.stats.Truncates++
		o.truns = append(o.truns, fmt.Sprintf("truncate seq=%x (%s)", seq, desc))
		return
	case "c", "r":
		r.op, image = change.OpInsert, mustGet(t, p, "after")
		o.stats.Inserts++
		if op == "r" {
			o.stats.Snapshot++
		}
	case "u":
		r.op, image = change.OpUpdate, mustGet(t, p, "after")
		o.stats.Updates++
	case "d":
		r.op, image = change.OpDelete, mustGet(t, p, "before")
		o.stats.Deletes++
	default:
		t.Fatalf("oracle: op %q", op)
	}
	img, _ := objectOf(t, image)
	for _, m := range img {
		c := o.byName[m.key]
		if c == nil {
			if o.typed {
				t.Fatalf("oracle: %s is not in the wrapper", m.key)
			}
			c = &ocol{name: m.key, typ: "string", how: "json"}
			o.add(c)
		}
		r.order = append(r.order, m.key)
		if !isNull(m.val) && (string(m.val) == `"__debezium_unavailable_value"`) {
			r.keep[m.key] = true
			continue
		}
		r.vals[m.key] = o.value(c, m.val)
	}
	if r.op != change.OpDelete {
		for _, c := range o.cols {
			if _, ok := get(img, c.name); !ok {
				r.keep[c.name] = true
			}
		}
	}
	o.rows = append(o.rows, r)
}

func mustGet(t testing.TB, ms []omember, key string) json.RawMessage {
	v, ok := get(ms, key)
	if !ok || isNull(v) {
		t.Fatalf("oracle: no %s", key)
	}
	return v
}

func (o *oracle) readSchema(schema json.RawMessage) {
	t := o.t
	var s struct {
		Fields []struct {
			Field  string `json:"field"`
			Fields []struct {
				Field  string            `json:"field"`
				Type   string            `json:"type"`
				Name   string            `json:"name"`
				Params map[string]string `json:"parameters"`
			} `json:"fields"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatal(err)
	}
	for _, env := range s.Fields {
		if env.Field != "after" {
			continue
		}
		for _, f := range env.Fields {
			typ, how, scale, wide := naturalType(f.Type, f.Name, f.Params)
			if d, ok := o.declared[f.Field]; ok {
				// A declared type wins where the values fit it.
				c := o.byName[f.Field]
				c.how, c.scale = how, scale
				switch {
				case d == typ:
				case strings.HasPrefix(d, "decimal(") && (how == "decimal" || how == "vsd"):
					c.how = "decimal-rescale:" + how
				case d == "string" && (how == "decimal" || how == "vsd"):
				case d == "long" && typ == "int":
				case d == "binary" && strings.HasPrefix(f.Name, "io.debezium.data.geometry.") && f.Name != "io.debezium.data.geometry.Circle" && f.Name != "io.debezium.data.geometry.Line":
					c.how = "wkb"
				case d == "long" && f.Type == "int64", d == "int" && f.Type == "int32":
					c.how = "int" // the number the event carries
				case d == "string" && f.Type == "string":
					c.how = "string"
				default:
					t.Fatalf("oracle: %s (%s %s) declared %s", f.Field, f.Type, f.Name, d)
				}
				continue
			}
			if wide {
				if o.opts.WideDecimals != "string" {
					t.Fatalf("oracle: %s needs wide_decimals: string", f.Field)
				}
				typ = "string"
			}
			o.add(&ocol{name: f.Field, typ: typ, how: how, scale: scale})
		}
	}
	o.typed = true
}

// position reads the connector's source position: the bytes of _seq's
// position part, its description and whether it is a snapshot row without
// one.
func (o *oracle) position(src []omember, snapshot bool) (pos []byte, desc string, none bool) {
	t := o.t
	if o.opts.SinglePartition {
		return nil, "", false
	}
	var sb change.SeqBuilder
	conn := ""
	if c, ok := get(src, "connector"); ok {
		conn = str(t, c)
	} else if _, ok := get(src, "file"); ok {
		conn = "mysql"
	}
	switch conn {
	case "postgresql":
		var commit, lsn *big.Int
		if l, ok := get(src, "lsn"); ok && !isNull(l) {
			lsn = integer(t, l)
		}
		commit = big.NewInt(0)
		if s, ok := get(src, "sequence"); ok && !isNull(s) {
			var parts []*string
			if err := json.Unmarshal([]byte(str(t, s)), &parts); err != nil || len(parts) != 2 {
				t.Fatalf("oracle: sequence %s", s)
			}
			if parts[0] != nil {
				commit, _ = new(big.Int).SetString(*parts[0], 10)
			}
			if parts[1] != nil {
				lsn, _ = new(big.Int).SetString(*parts[1], 10)
			}
		}
		if lsn == nil {
			t.Fatal("oracle: no lsn")
		}
		sb.Byte(1).Uint64(commit.Uint64()).Uint64(lsn.Uint64())
		return sb.Bytes(), fmt.Sprintf(" pg=%s/%s", commit, lsn), false
	case "mysql":
		file := str(t, mustGet(t, src, "file"))
		if file == "" && snapshot {
			return []byte{0xFF}, " pos=none", true
		}
		dot := strings.LastIndexByte(file, '.')
		num, err := strconv.ParseUint(file[dot+1:], 10, 64)
		if err != nil {
			t.Fatalf("oracle: binlog %q", file)
		}
		p := integer(t, mustGet(t, src, "pos")).Uint64()
		row := uint64(0)
		if r, ok := get(src, "row"); ok && !isNull(r) {
			row = integer(t, r).Uint64()
		}
		sb.Byte(2).String(file[:dot]).Uint64(num).Uint64(p).Uint64(row)
		return sb.Bytes(), fmt.Sprintf(" my=%s.%d/%d/%d", file[:dot], num, p, row), false
	case "sqlserver":
		lsn := func(key string) []byte {
			s := strings.ReplaceAll(str(t, mustGet(t, src, key)), ":", "")
			b, err := hex.DecodeString(s)
			if err != nil || len(b) != 10 {
				t.Fatalf("oracle: %s %q", key, s)
			}
			return b
		}
		commit, chg := lsn("commit_lsn"), lsn("change_lsn")
		esn := integer(t, mustGet(t, src, "event_serial_no")).Uint64()
		sb.Byte(3)
		for _, c := range append(append([]byte(nil), commit...), chg...) {
			sb.Byte(c)
		}
		sb.Uint64(esn)
		f := func(b []byte) string { return fmt.Sprintf("%x:%x:%x", b[:4], b[4:8], b[8:]) }
		return sb.Bytes(), fmt.Sprintf(" ms=%s/%s/%d", f(commit), f(chg), esn), false
	}
	t.Fatalf("oracle: connector %q", conn)
	return nil, "", false
}

// value renders one non-null value of column c as the golden files show it.
func (o *oracle) value(c *ocol, raw json.RawMessage) string {
	t := o.t
	if isNull(raw) {
		return "NULL"
	}
	how := c.how
	rescale := strings.HasPrefix(how, "decimal-rescale:")
	how = strings.TrimPrefix(how, "decimal-rescale:")
	switch how {
	case "int":
		return integer(t, raw).String()
	case "float32", "float64":
		bits := 64
		if how == "float32" {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(raw), bits)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatFloat(f, 'g', -1, bits)
	case "bool":
		return string(raw)
	case "string":
		return strconv.Quote(str(t, raw))
	case "json":
		if raw[0] == '"' {
			return strconv.Quote(str(t, raw))
		}
		return strconv.Quote(string(raw))
	case "bytes":
		b, err := base64.StdEncoding.DecodeString(str(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		return "0x" + hex.EncodeToString(b)
	case "decimal", "vsd":
		var unscaled *big.Int
		scale := c.scale
		switch {
		case how == "decimal" && raw[0] != '"': // decimal.format=NUMERIC
			r, ok := new(big.Rat).SetString(string(raw))
			if !ok {
				t.Fatalf("oracle: column %s: decimal %s", c.name, raw)
			}
			r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
			if !r.IsInt() {
				t.Fatalf("oracle: column %s: %s has more digits than scale %d", c.name, raw, scale)
			}
			unscaled = r.Num()
		case how == "decimal":
			unscaled = twos(t, str(t, raw))
		default:
			ms, _ := objectOf(t, raw)
			scale = int(integer(t, mustGet(t, ms, "scale")).Int64())
			unscaled = twos(t, str(t, mustGet(t, ms, "value")))
		}
		r := new(big.Rat).SetFrac(unscaled, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		if rescale || c.typ != "string" {
			var p, s int
			if _, err := fmt.Sscanf(c.typ, "decimal(%d,%d)", &p, &s); err != nil {
				t.Fatal(err)
			}
			exact := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s)), nil)))
			if !exact.IsInt() || len(new(big.Int).Abs(exact.Num()).String()) > p {
				t.Fatalf("oracle: %s does not fit %s", r.FloatString(scale), c.typ)
			}
			return r.FloatString(s)
		}
		return strconv.Quote(r.FloatString(scale))
	case "days":
		return time.Unix(integer(t, raw).Int64()*86400, 0).UTC().Format("2006-01-02")
	case "millis", "micros", "zoned":
		var at time.Time
		switch how {
		case "millis":
			at = time.UnixMilli(integer(t, raw).Int64())
		case "micros":
			at = time.UnixMicro(integer(t, raw).Int64())
		default:
			var err error
			if at, err = time.Parse(time.RFC3339Nano, str(t, raw)); err != nil {
				t.Fatal(err)
			}
		}
		return at.UTC().Format("2006-01-02 15:04:05.000000")
	case "wkb":
		ms, _ := objectOf(t, raw)
		b, err := base64.StdEncoding.DecodeString(str(t, mustGet(t, ms, "wkb")))
		if err != nil {
			t.Fatal(err)
		}
		return "0x" + hex.EncodeToString(b)
	case "time-ms":
		return new(big.Int).Mul(integer(t, raw), big.NewInt(1000)).String()
	case "time-us":
		return integer(t, raw).String()
	}
	t.Fatalf("oracle: column %s read as %q", c.name, how)
	return ""
}

// twos reads base64 of a big-endian two's-complement integer.
func twos(t testing.TB, s string) *big.Int {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		t.Fatalf("oracle: decimal %q", s)
	}
	n := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

func (o *oracle) render() string {
	var sb strings.Builder
	var types []string
	for _, c := range o.cols {
		types = append(types, c.name+" "+c.typ)
	}
	sb.WriteString("schema: " + strings.Join(types, ", ") + "\n")
	for _, r := range o.rows {
		fmt.Fprintf(&sb, "%s seq=%x (%s)", r.op, r.seq, r.desc)
		var kept []string
		for _, c := range o.cols {
			v, ok := r.vals[c.name]
			if !ok {
				v = "NULL"
			}
			sb.WriteString(" " + c.name + "=" + v)
			if r.keep[c.name] {
				kept = append(kept, c.name)
			}
		}
		if len(kept) > 0 {
			sb.WriteString(" _keep=[" + strings.Join(kept, ",") + "]")
		}
		if r.ts != "" {
			sb.WriteString(" _ts=" + r.ts)
		}
		sb.WriteByte('\n')
	}
	for _, s := range o.truns {
		sb.WriteString(s + "\n")
	}
	st := o.stats
	fmt.Fprintf(&sb, "stats: lines=%d inserts=%d updates=%d deletes=%d snapshot=%d tombstone_deletes=%d tombstones_skipped=%d truncates=%d schema_changes=%d heartbeats=%d transactions=%d messages=%d\n",
		st.Lines, st.Inserts, st.Updates, st.Deletes, st.Snapshot, st.TombstoneDeletes, st.TombstonesSkipped, st.Truncates, st.SchemaChanges, st.Heartbeats, st.Transactions, st.Messages)
	return sb.String()
}
