// Package config reads lakemerge's job file: where the raw change files
// are, where the tables go, which catalog records them, and per table the
// source, primary key, columns, target and DMS settings (see Example).
//
// Parse checks the whole file and reports every problem at once, each with
// its line and path in the file (Errors). Settings under `defaults` apply to
// every table that does not set them itself, field by field.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"gopkg.in/yaml.v3"

	"github.com/lakemerge/lakemerge/change"
)

// Job is a validated job file.
type Job struct {
	Path      string // file it was loaded from ("" for Parse)
	Raw       string // raw zone location: file:///abs/path or s3://bucket/prefix, no trailing slash
	Warehouse string // where new tables are placed, same forms
	Catalog   Catalog
	S3        S3      // how to reach S3 when raw or warehouse is s3://
	Tables    []Table // in file order, defaults merged in
}

// S3 says how to reach S3. Credentials always come from the default AWS
// chain (environment, profile, ECS task role), never from the job file.
type S3 struct {
	Region    string // default: the chain's region
	Endpoint  string // S3-compatible server or VPC endpoint; default AWS
	PathStyle bool   // bucket in the path; default true when Endpoint is set
	KMSKeyID  string // encrypt every object lakemerge writes with SSE-KMS under this key
}

// Catalog says which catalog records the tables.
type Catalog struct {
	Type     string // "sqlite" (default) or "glue"
	Path     string // sqlite: the database file; absolute after Load
	Region   string // glue: AWS region (optional)
	Endpoint string // glue: endpoint override (optional, for tests)
}

// Table is one source table merged into one target table.
type Table struct {
	Name         string // unique among tables
	Source       Source
	Format       string          // "dms-csv"
	PrimaryKey   []string        // at least one column
	Columns      []change.Column // optional when files carry a header
	Target       Target
	Buckets      int // bucket(N, first key column) partitioning; 0 = none
	TargetFileMB int // target data file size
	// TombstoneHorizon is how long a deleted key is remembered so that a
	// late change cannot bring it back.
	TombstoneHorizon time.Duration
	DMS              DMS
	Debezium         Debezium
}

// Debezium holds the settings of a debezium-json table (Debezium events
// written by the Kafka Connect S3 sink).
type Debezium struct {
	Tombstones        string            // "skip" (default) or "delete" (needs the sink's keys files)
	Flattened         bool              // events went through ExtractNewRecordState
	SinglePartition   bool              // the topic has one partition: order by offset alone
	TruncateSubMicros bool              // drop sub-microsecond digits instead of failing
	Encodings         map[string]string // column → Connect schema name or type, for events without a schema
}

// Source names the source table and where its files are.
type Source struct {
	Schema, Table string
	// Topic is the Kafka topic of a debezium-json table
	// (<topic.prefix>.<schema>.<table>).
	Topic  string
	Prefix string // key prefix under Raw; default "<schema>/<table>/" (dms-csv), "topics/<topic>/" (debezium-json); ends with "/"
}

// Target names the table written.
type Target struct {
	Database string // default: defaults.database, else the source schema
	Table    string // default: the source table
}

// DMS holds the DMS endpoint settings that shape the files.
type DMS struct {
	Delimiter            byte   // CsvDelimiter; default ','
	NullValue            string // CsvNullValue; default "" (empty unquoted field)
	NoSupValue           string // CsvNoSupValue: an unquoted field equal to it keeps the stored value; "" for none
	Header               bool   // AddColumnName
	IncludeOpForFullLoad bool   // IncludeOpForFullLoad
	TimestampColumn      string // TimestampColumnName; "" for none
	ChangeSeqColumn      string // column holding AR_H_CHANGE_SEQ; "" for none
}

// Defaults for fields a job file leaves out.
const (
	DefaultBuckets      = 16
	DefaultTargetFileMB = 128
	// DefaultTombstoneHorizon is 7 days.
	DefaultTombstoneHorizon = 7 * 24 * time.Hour
	FormatDMSCSV            = "dms-csv"
	FormatDebezium          = "debezium-json"
)

// Load reads and checks the job file at path; a relative sqlite catalog
// path is taken relative to the job file's folder.
func Load(path string) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job file: %w", err)
	}
	job, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	job.Path = path
	if job.Catalog.Path != "" && !filepath.IsAbs(job.Catalog.Path) {
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("resolve catalog path: %w", err)
		}
		job.Catalog.Path = filepath.Join(dir, job.Catalog.Path)
	}
	return job, nil
}

// Select returns the named tables in the order given, or every table when
// names is empty. Unknown names are one error listing them all.
func (j *Job) Select(names []string) ([]Table, error) {
	if len(names) == 0 {
		return slices.Clone(j.Tables), nil
	}
	var out []Table
	var unknown []string
	for _, n := range names {
		i := slices.IndexFunc(j.Tables, func(t Table) bool { return t.Name == n })
		if i < 0 {
			unknown = append(unknown, n)
			continue
		}
		out = append(out, j.Tables[i])
	}
	if len(unknown) > 0 {
		known := make([]string, len(j.Tables))
		for i, t := range j.Tables {
			known[i] = t.Name
		}
		return nil, fmt.Errorf("unknown table %s (the job file has: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}

// FieldError is one problem in a job file.
type FieldError struct {
	File string
	Line int    // 0 when the problem has no line (an empty file)
	Path string // like tables[1].dms.delimiter; "" for the whole file
	Msg  string
}

func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a job file, in file order.
type Errors []FieldError

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Parse checks a job file and returns the Job, or Errors listing every
// problem. path names the file in messages.
func Parse(data []byte, path string) (*Job, error) {
	if path == "" {
		path = "job file"
	}
	p := &parser{file: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{{File: path, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		line := 0
		if len(doc.Content) > 0 {
			line = doc.Content[0].Line
		}
		return nil, Errors{{File: path, Line: line, Msg: "a job file is a mapping with raw, warehouse, catalog, defaults and tables"}}
	}
	job := p.job(doc.Content[0])
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b FieldError) int { return a.Line - b.Line })
		return nil, p.errs
	}
	return job, nil
}

type parser struct {
	file string
	errs Errors
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, FieldError{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fields checks that n is a mapping with only the allowed keys and returns
// its values by key.
func (p *parser) fields(n *yaml.Node, path string, allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping with %s", strings.Join(allowed, ", "))
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if !slices.Contains(allowed, name) {
			msg := "unknown field"
			if s := suggest(name, allowed); s != "" {
				msg += "; did you mean " + s + "?"
			} else {
				msg += " (allowed: " + strings.Join(allowed, ", ") + ")"
			}
			p.errorf(k, join(path, name), "%s", msg)
			continue
		}
		if _, dup := out[name]; dup {
			p.errorf(k, join(path, name), "set twice")
			continue
		}
		out[name] = v
	}
	return out
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, path, "want a string")
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if n == nil {
		return false, false
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
		p.errorf(n, path, "want true or false")
		return false, false
	}
	return b, true
}

func (p *parser) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	if n == nil {
		return 0, false
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		p.errorf(n, path, "want a whole number")
		return 0, false
	}
	if v < lo || v > hi {
		p.errorf(n, path, "%d is out of range %d..%d", v, lo, hi)
		return 0, false
	}
	return v, true
}

func (p *parser) strings(n *yaml.Node, path string) ([]string, bool) {
	if n == nil {
		return nil, false
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		return []string{n.Value}, true
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list of strings")
		return nil, false
	}
	var out []string
	for i, c := range n.Content {
		s, ok := p.str(c, fmt.Sprintf("%s[%d]", path, i))
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// location checks a raw or warehouse location and trims its trailing slash.
func (p *parser) location(n *yaml.Node, path string) string {
	if n == nil {
		p.errorf(nil, path, "required")
		return ""
	}
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	switch {
	case strings.HasPrefix(s, "file:///"):
	case strings.HasPrefix(s, "file://"):
		p.errorf(n, path, "%q: a file:// location needs an absolute path, like file:///data/raw", s)
		return ""
	case strings.HasPrefix(s, "s3://") && len(s) > len("s3://"):
	default:
		p.errorf(n, path, "%q: want a file:///absolute/path or s3://bucket/prefix location", s)
		return ""
	}
	return strings.TrimRight(s, "/")
}

var (
	topFields      = []string{"raw", "warehouse", "catalog", "s3", "defaults", "tables"}
	s3Fields       = []string{"region", "endpoint", "path_style", "kms_key_id"}
	catalogFields  = []string{"type", "path", "region", "endpoint"}
	defaultFields  = []string{"database", "format", "buckets", "target_file_mb", "tombstone_horizon", "dms"}
	tableFields    = []string{"name", "source", "format", "primary_key", "columns", "target", "buckets", "target_file_mb", "tombstone_horizon", "dms", "debezium"}
	sourceFields   = []string{"schema", "table", "topic", "prefix"}
	debeziumFields = []string{"tombstones", "flattened", "single_partition", "truncate_sub_micros", "encodings"}
	targetFields   = []string{"database", "table"}
	columnFields   = []string{"name", "type"}
	dmsFields      = []string{"delimiter", "null_value", "header", "include_op_for_full_load", "timestamp_column", "change_seq_column"}
)

func (p *parser) job(n *yaml.Node) *Job {
	f := p.fields(n, "", topFields...)
	job := &Job{Raw: p.location(f["raw"], "raw"), Warehouse: p.location(f["warehouse"], "warehouse")}
	job.Catalog = p.catalog(f["catalog"], job.Warehouse)
	if n := f["s3"]; n != nil {
		sf := p.fields(n, "s3", s3Fields...)
		job.S3.Region, _ = p.str(sf["region"], "s3.region")
		job.S3.Endpoint, _ = p.str(sf["endpoint"], "s3.endpoint")
		job.S3.KMSKeyID, _ = p.str(sf["kms_key_id"], "s3.kms_key_id")
		job.S3.PathStyle = job.S3.Endpoint != ""
		if b, ok := p.boolean(sf["path_style"], "s3.path_style"); ok {
			job.S3.PathStyle = b
		}
		if e := job.S3.Endpoint; e != "" && !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			p.errorf(sf["endpoint"], "s3.endpoint", "%q: want an http:// or https:// URL", e)
		}
		if !strings.HasPrefix(job.Raw, "s3://") && !strings.HasPrefix(job.Warehouse, "s3://") {
			p.errorf(n, "s3", "set, but neither raw nor warehouse is an s3:// location")
		}
	}

	def := Table{Format: FormatDMSCSV, Buckets: DefaultBuckets, TargetFileMB: DefaultTargetFileMB,
		TombstoneHorizon: DefaultTombstoneHorizon, DMS: DMS{Delimiter: ','}}
	var defDB string
	if d := f["defaults"]; d != nil {
		df := p.fields(d, "defaults", defaultFields...)
		if s, ok := p.str(df["database"], "defaults.database"); ok {
			defDB = s
		}
		p.settings(df, "defaults", &def)
	}

	tn := f["tables"]
	if tn == nil || (tn.Kind == yaml.SequenceNode && len(tn.Content) == 0) {
		p.errorf(tn, "tables", "required: at least one table")
		return job
	}
	if tn.Kind != yaml.SequenceNode {
		p.errorf(tn, "tables", "want a list of tables")
		return job
	}
	names := map[string]string{}
	targets := map[string]string{}
	for i, c := range tn.Content {
		path := fmt.Sprintf("tables[%d]", i)
		t, ok := p.table(c, path, def, defDB)
		if !ok {
			continue
		}
		if prev, dup := names[t.Name]; dup {
			p.errorf(c, path+".name", "table name %q is also used by %s", t.Name, prev)
		}
		names[t.Name] = path
		tgt := t.Target.Database + "." + t.Target.Table
		if prev, dup := targets[tgt]; dup {
			p.errorf(c, path+".target", "target %s is also written by %s", tgt, prev)
		}
		targets[tgt] = path
		job.Tables = append(job.Tables, t)
	}
	return job
}

func (p *parser) catalog(n *yaml.Node, warehouse string) Catalog {
	c := Catalog{Type: "sqlite"}
	if n == nil {
		p.errorf(nil, "catalog", "required: catalog: {type: sqlite, path: catalog.db}")
		return c
	}
	f := p.fields(n, "catalog", catalogFields...)
	if s, ok := p.str(f["type"], "catalog.type"); ok {
		c.Type = s
	}
	c.Path, _ = p.str(f["path"], "catalog.path")
	c.Region, _ = p.str(f["region"], "catalog.region")
	c.Endpoint, _ = p.str(f["endpoint"], "catalog.endpoint")
	switch c.Type {
	case "sqlite":
		if c.Path == "" {
			p.errorf(n, "catalog.path", "required for the sqlite catalog")
		}
		for _, k := range []string{"region", "endpoint"} {
			if f[k] != nil {
				p.errorf(f[k], "catalog."+k, "only for the glue catalog")
			}
		}
	case "glue":
		if f["path"] != nil {
			p.errorf(f["path"], "catalog.path", "only for the sqlite catalog")
		}
		if strings.HasPrefix(warehouse, "file://") {
			p.errorf(n, "catalog.type", "the glue catalog needs an s3:// warehouse")
		}
	default:
		p.errorf(f["type"], "catalog.type", "%q: want sqlite or glue", c.Type)
	}
	return c
}

// settings applies the fields tables share with defaults onto t.
func (p *parser) settings(f map[string]*yaml.Node, path string, t *Table) {
	if s, ok := p.str(f["format"], join(path, "format")); ok {
		if s != FormatDMSCSV && s != FormatDebezium {
			p.errorf(f["format"], join(path, "format"), "%q: want %s or %s", s, FormatDMSCSV, FormatDebezium)
		}
		t.Format = s
	}
	if v, ok := p.integer(f["buckets"], join(path, "buckets"), 0, 1024); ok {
		t.Buckets = v
	}
	if v, ok := p.integer(f["target_file_mb"], join(path, "target_file_mb"), 1, 4096); ok {
		t.TargetFileMB = v
	}
	if n := f["tombstone_horizon"]; n != nil {
		if s, ok := p.str(n, join(path, "tombstone_horizon")); ok {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.errorf(n, join(path, "tombstone_horizon"), "%q: want a duration like 168h or 30m", s)
			case d < time.Hour:
				p.errorf(n, join(path, "tombstone_horizon"), "%s is shorter than 1h: late files would resurrect deleted rows", d)
			default:
				t.TombstoneHorizon = d
			}
		}
	}
	if d := f["dms"]; d != nil {
		p.dms(d, join(path, "dms"), &t.DMS)
	}
}

func (p *parser) dms(n *yaml.Node, path string, d *DMS) {
	f := p.fields(n, path, dmsFields...)
	if s, ok := p.str(f["delimiter"], path+".delimiter"); ok {
		switch {
		case len(s) != 1:
			p.errorf(f["delimiter"], path+".delimiter", "%q: want exactly one character (one byte)", s)
		case s == `"` || s == "\n" || s == "\r":
			p.errorf(f["delimiter"], path+".delimiter", "%q cannot be the delimiter", s)
		default:
			d.Delimiter = s[0]
		}
	}
	if n := f["null_value"]; n != nil {
		// The text as written: null_value: NULL means the four letters, not
		// YAML's null.
		if n.Kind != yaml.ScalarNode {
			p.errorf(n, path+".null_value", "want a string")
		} else {
			d.NullValue = n.Value
		}
	}
	if n := f["no_sup_value"]; n != nil {
		if n.Kind != yaml.ScalarNode || n.Value == "" {
			p.errorf(n, path+".no_sup_value", "want the non-empty text DMS writes for unsupported values")
		} else {
			d.NoSupValue = n.Value
		}
	}
	if b, ok := p.boolean(f["header"], path+".header"); ok {
		d.Header = b
	}
	if b, ok := p.boolean(f["include_op_for_full_load"], path+".include_op_for_full_load"); ok {
		d.IncludeOpForFullLoad = b
	}
	if s, ok := p.str(f["timestamp_column"], path+".timestamp_column"); ok {
		d.TimestampColumn = s
	}
	if s, ok := p.str(f["change_seq_column"], path+".change_seq_column"); ok {
		d.ChangeSeqColumn = s
	}
}

func (p *parser) table(n *yaml.Node, path string, def Table, defDB string) (Table, bool) {
	nerrs := len(p.errs)
	t := def
	t.Columns = nil
	var topicNode *yaml.Node
	f := p.fields(n, path, tableFields...)
	if n.Kind != yaml.MappingNode {
		return t, false
	}
	if sn := f["source"]; sn == nil {
		p.errorf(n, path+".source", "required: source: {schema, table}")
	} else {
		sf := p.fields(sn, path+".source", sourceFields...)
		var ok bool
		if t.Source.Schema, ok = p.str(sf["schema"], path+".source.schema"); !ok && sf["schema"] == nil {
			p.errorf(sn, path+".source.schema", "required")
		}
		if t.Source.Table, ok = p.str(sf["table"], path+".source.table"); !ok && sf["table"] == nil {
			p.errorf(sn, path+".source.table", "required")
		}
		t.Source.Prefix, _ = p.str(sf["prefix"], path+".source.prefix")
		t.Source.Topic, _ = p.str(sf["topic"], path+".source.topic")
		if t.Source.Prefix == "" && t.Source.Topic != "" {
			t.Source.Prefix = "topics/" + t.Source.Topic + "/"
		}
		if t.Source.Prefix == "" && t.Source.Schema != "" && t.Source.Table != "" {
			t.Source.Prefix = t.Source.Schema + "/" + t.Source.Table + "/"
		}
		topicNode = sf["topic"]
		t.Source.Prefix = strings.TrimLeft(t.Source.Prefix, "/")
		if t.Source.Prefix != "" && !strings.HasSuffix(t.Source.Prefix, "/") {
			t.Source.Prefix += "/"
		}
	}
	t.Name, _ = p.str(f["name"], path+".name")
	if t.Name == "" {
		t.Name = t.Source.Table
	}
	if t.Name != "" && strings.Trim(t.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
		p.errorf(f["name"], path+".name", "%q: use letters, digits, _ . and - only", t.Name)
	}
	p.settings(f, path, &t)
	if dn := f["debezium"]; dn != nil {
		p.debezium(dn, path+".debezium", &t.Debezium)
	}
	switch t.Format {
	case FormatDebezium:
		if t.Source.Topic == "" && f["source"] != nil {
			p.errorf(f["source"], path+".source.topic", "required for %s tables: the Kafka topic the sink wrote", FormatDebezium)
		}
		if f["dms"] != nil {
			p.errorf(f["dms"], path+".dms", "only for %s tables", FormatDMSCSV)
		}
	default:
		if topicNode != nil {
			p.errorf(topicNode, path+".source.topic", "only for %s tables", FormatDebezium)
		}
		if f["debezium"] != nil {
			p.errorf(f["debezium"], path+".debezium", "only for %s tables", FormatDebezium)
		}
	}

	cols := map[string]bool{}
	if cn := f["columns"]; cn != nil {
		if cn.Kind != yaml.SequenceNode {
			p.errorf(cn, path+".columns", "want a list of {name, type}")
		}
		for i, c := range cn.Content {
			cp := fmt.Sprintf("%s.columns[%d]", path, i)
			cf := p.fields(c, cp, columnFields...)
			name, ok1 := p.str(cf["name"], cp+".name")
			typ, ok2 := p.str(cf["type"], cp+".type")
			if cf["name"] == nil || cf["type"] == nil {
				p.errorf(c, cp, "want both name and type")
				continue
			}
			if !ok1 || !ok2 {
				continue
			}
			switch {
			case name == "":
				p.errorf(cf["name"], cp+".name", "empty column name")
				continue
			case change.IsSystemColumn(name):
				p.errorf(cf["name"], cp+".name", "%s is a column lakemerge adds itself", name)
				continue
			case cols[name]:
				p.errorf(cf["name"], cp+".name", "column %s listed twice", name)
				continue
			}
			dt, err := change.ParseType(typ)
			if err != nil {
				p.errorf(cf["type"], cp+".type", "%q: want one of %s", typ, strings.Join(change.TypeNames(), ", "))
				continue
			}
			cols[name] = true
			t.Columns = append(t.Columns, change.Column{Name: name, Type: dt})
		}
	}

	if kn := f["primary_key"]; kn == nil {
		p.errorf(n, path+".primary_key", "required: the source table's primary key column(s)")
	} else if keys, ok := p.strings(kn, path+".primary_key"); ok {
		if len(keys) == 0 {
			p.errorf(kn, path+".primary_key", "required: at least one column")
		}
		seen := map[string]bool{}
		for _, k := range keys {
			switch {
			case seen[k]:
				p.errorf(kn, path+".primary_key", "column %s listed twice", k)
			case len(t.Columns) > 0 && !cols[k]:
				p.errorf(kn, path+".primary_key", "column %s is not among the columns", k)
			case len(t.Columns) > 0 && isFloat(t.Columns, k):
				p.errorf(kn, path+".primary_key", "column %s is a float: floats cannot be keys", k)
			}
			seen[k] = true
		}
		t.PrimaryKey = keys
	}
	if len(t.Columns) > 0 && t.DMS.ChangeSeqColumn != "" && !cols[t.DMS.ChangeSeqColumn] {
		p.errorf(f["dms"], path+".dms.change_seq_column", "column %s is not among the columns", t.DMS.ChangeSeqColumn)
	}
	if len(t.Columns) == 0 && !t.DMS.Header && t.Format == FormatDMSCSV {
		p.errorf(n, path+".columns", "required when the files have no header (dms.header: false)")
	}

	t.Target = Target{Database: defDB, Table: t.Source.Table}
	if t.Target.Database == "" {
		t.Target.Database = t.Source.Schema
	}
	if tn := f["target"]; tn != nil {
		tf := p.fields(tn, path+".target", targetFields...)
		if s, ok := p.str(tf["database"], path+".target.database"); ok {
			t.Target.Database = s
		}
		if s, ok := p.str(tf["table"], path+".target.table"); ok {
			t.Target.Table = s
		}
	}
	return t, len(p.errs) == nerrs
}

func (p *parser) debezium(n *yaml.Node, path string, d *Debezium) {
	f := p.fields(n, path, debeziumFields...)
	if s, ok := p.str(f["tombstones"], path+".tombstones"); ok {
		if s != "skip" && s != "delete" {
			p.errorf(f["tombstones"], path+".tombstones", "%q: want skip or delete", s)
		}
		d.Tombstones = s
	}
	if b, ok := p.boolean(f["flattened"], path+".flattened"); ok {
		d.Flattened = b
	}
	if b, ok := p.boolean(f["single_partition"], path+".single_partition"); ok {
		d.SinglePartition = b
	}
	if b, ok := p.boolean(f["truncate_sub_micros"], path+".truncate_sub_micros"); ok {
		d.TruncateSubMicros = b
	}
	if en := f["encodings"]; en != nil {
		if en.Kind != yaml.MappingNode {
			p.errorf(en, path+".encodings", "want a mapping of column: encoding")
			return
		}
		d.Encodings = map[string]string{}
		for i := 0; i+1 < len(en.Content); i += 2 {
			if v, ok := p.str(en.Content[i+1], path+".encodings."+en.Content[i].Value); ok {
				d.Encodings[en.Content[i].Value] = v
			}
		}
	}
}

func isFloat(cols []change.Column, name string) bool {
	for _, c := range cols {
		if c.Name == name {
			return c.Type.ID() == arrow.FLOAT32 || c.Type.ID() == arrow.FLOAT64
		}
	}
	return false
}

// suggest returns the allowed name closest to name when it is a likely
// typo (edit distance ≤ 2), else "".
func suggest(name string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := distance(name, a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
