package config

import (
	"fmt"
	pathpkg "path"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lakemerge/lakemerge/change"
)

// The keys each mapping of a job file may hold.
var (
	topFields      = []string{"raw", "warehouse", "catalog", "s3", "memory_mb", "spill_dir", "defaults", "tables"}
	s3Fields       = []string{"region", "endpoint", "path_style", "kms_key_id"}
	catalogFields  = []string{"type", "path", "region", "endpoint"}
	defaultFields  = []string{"database", "format", "buckets", "target_file_mb", "tombstone_horizon", "ignore", "dms", "debezium", "prepared", "maintenance"}
	tableFields    = []string{"name", "source", "format", "primary_key", "columns", "target", "buckets", "target_file_mb", "tombstone_horizon", "ignore", "dms", "debezium", "prepared", "maintenance"}
	maintFields    = []string{"enabled", "compact_delete_files", "compact_small_files", "small_file_mb", "rewrite_deleted_pct", "keep_snapshots", "time_travel", "orphan_age"}
	sourceFields   = []string{"schema", "table", "topic", "prefix"}
	debeziumFields = []string{"tombstones", "flattened", "single_partition", "truncate_sub_micros", "wide_decimals", "encodings"}
	targetFields   = []string{"database", "table", "format"}
	columnFields   = []string{"name", "type"}
	dmsFields      = []string{"delimiter", "null_value", "no_sup_value", "header", "include_op_for_full_load", "timestamp_column", "change_seq_column", "before_image_prefix", "before_image_suffix"}
)

// Short tags of the YAML scalars a job file uses.
const (
	nullTag  = "!!null"
	strTag   = "!!str"
	boolTag  = "!!bool"
	intTag   = "!!int"
	floatTag = "!!float"
	mergeTag = "!!merge"
)

// nameChars are the characters of a table name.
const nameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

// parser walks the nodes of a job file. It records every problem in errs
// and carries on with the next field, so that one pass finds them all.
type parser struct {
	file string
	errs Errors
	keys map[*yaml.Node]*yaml.Node // value → the key naming it, for at
	// unexpanded are the values (and their keys) whose environment
	// variables could not be filled in (ParseEnv): their problem is
	// reported once.
	unexpanded map[*yaml.Node]bool
}

// at is where a problem with the whole of value n is reported: the key
// naming n, on the line its section starts, or n itself (a list item).
func (p *parser) at(n *yaml.Node) *yaml.Node {
	if k := p.keys[n]; k != nil {
		return k
	}
	return n
}

// errorf records a problem at n's line; n may be nil (no line).
func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	if p.unexpanded[n] {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, FieldError{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// wrong records that n is not the kind of value path wants.
func (p *parser) wrong(n *yaml.Node, path, want string) {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, path, "aliases (*%s) are not supported: write the value out", n.Value)
		return
	}
	p.errorf(n, path, "want %s, got %s", want, describe(n))
}

// describe names the value n holds, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case nullTag:
		if n.Value == "" {
			return "nothing"
		}
		return n.Value
	case boolTag, intTag, floatTag:
		return n.Value
	}
	return fmt.Sprintf("%q", n.Value)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fields checks that n is a mapping holding only allowed keys, each once,
// and returns its values by key. ok is false when n is not a mapping.
func (p *parser) fields(n *yaml.Node, path string, allowed ...string) (f map[string]*yaml.Node, ok bool) {
	if n.Kind != yaml.MappingNode {
		p.wrong(n, path, "a mapping with "+strings.Join(allowed, ", "))
		return nil, false
	}
	f = make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errorf(k, path, "want a field name, got %s", describe(k))
		case k.ShortTag() == mergeTag:
			p.errorf(k, join(path, name), "merge keys are not supported: write the fields out (defaults apply to every table)")
		case !slices.Contains(allowed, name):
			if s := suggest(name, allowed); s != "" {
				p.errorf(k, join(path, name), "unknown field; did you mean %s?", s)
			} else {
				p.errorf(k, join(path, name), "unknown field (allowed: %s)", strings.Join(allowed, ", "))
			}
		case f[name] != nil:
			p.errorf(k, join(path, name), "set twice")
		default:
			f[name] = v
			p.keys[v] = k
		}
	}
	return f, true
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// str returns the text of scalar n. ok is false when n is nil (the field
// is absent; nothing is recorded) or not a string.
func (p *parser) str(n *yaml.Node, path string) (s string, ok bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == nullTag {
		p.wrong(n, path, "a string")
		return "", false
	}
	return n.Value, true
}

// optional is str for fields whose absence means a default: an empty
// string is a problem.
func (p *parser) optional(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if ok && s == "" {
		p.errorf(n, path, "empty: leave the field out for the default")
		return "", false
	}
	return s, ok
}

// required returns the text of n, the field path of mapping parent, and
// records a problem when it is absent or empty.
func (p *parser) required(n, parent *yaml.Node, path string) string {
	if n == nil {
		p.errorf(p.at(parent), path, "required")
		return ""
	}
	s, ok := p.str(n, path)
	if ok && s == "" {
		p.errorf(n, path, "required, got an empty string")
	}
	return s
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if n == nil {
		return false, false
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != boolTag || n.Decode(&b) != nil {
		p.wrong(n, path, "true or false")
		return false, false
	}
	return b, true
}

// integer returns the whole number n holds, which must be in lo..hi.
func (p *parser) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	if n == nil {
		return 0, false
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != intTag || n.Decode(&v) != nil {
		p.wrong(n, path, "a whole number")
		return 0, false
	}
	if v < lo || v > hi {
		p.errorf(n, path, "%d is out of range %d..%d", v, lo, hi)
		return 0, false
	}
	return v, true
}

// list returns the strings of a list, or of one string written alone, with
// the node of each.
func (p *parser) list(n *yaml.Node, path string) ([]string, []*yaml.Node, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() != nullTag {
		return []string{n.Value}, []*yaml.Node{n}, true
	}
	if n.Kind != yaml.SequenceNode {
		p.wrong(n, path, "a list of strings")
		return nil, nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, c := range n.Content {
		s, sok := p.str(c, fmt.Sprintf("%s[%d]", path, i))
		ok = ok && sok
		out = append(out, s)
	}
	return out, n.Content, ok
}

// location checks a raw or warehouse location, the field path of parent,
// and trims its trailing slashes.
func (p *parser) location(n, parent *yaml.Node, path string) string {
	if n == nil {
		p.errorf(p.at(parent), path, "required: a file:///absolute/path or s3://bucket/prefix location")
		return ""
	}
	s, ok := p.str(n, path)
	if !ok {
		return ""
	}
	switch {
	case strings.HasPrefix(s, "s3://"):
		if bucket, _, _ := strings.Cut(s[len("s3://"):], "/"); bucket == "" {
			p.errorf(n, path, "%q: no bucket; want s3://bucket/prefix", s)
			return ""
		}
	case strings.HasPrefix(s, "file:///"):
		if strings.Trim(s[len("file://"):], "/") == "" {
			p.errorf(n, path, "%q is the root folder; want file:///absolute/path", s)
			return ""
		}
	case strings.HasPrefix(s, "file://"):
		p.errorf(n, path, "%q: a file:// location needs an absolute path, like file:///data/raw", s)
		return ""
	default:
		p.errorf(n, path, "%q: want a file:///absolute/path or s3://bucket/prefix location", s)
		return ""
	}
	return strings.TrimRight(s, "/")
}

// job reads the top mapping n of a job file.
func (p *parser) job(n *yaml.Node) *Job {
	f, _ := p.fields(n, "", topFields...)
	job := &Job{Raw: p.location(f["raw"], n, "raw"), Warehouse: p.location(f["warehouse"], n, "warehouse")}
	job.Catalog = p.catalog(f["catalog"], n, job.Warehouse)
	if s := f["s3"]; s != nil {
		job.S3 = p.s3(s, job)
	}
	if n := f["memory_mb"]; n != nil {
		job.MemoryMB, _ = p.integer(n, "memory_mb", MinMemoryMB, MaxMemoryMB)
	}
	if n := f["spill_dir"]; n != nil {
		if s, ok := p.optional(n, "spill_dir"); ok {
			if strings.Contains(s, "://") {
				p.errorf(n, "spill_dir", "%q: want a local folder (spilled changes stay on this machine)", s)
			}
			job.SpillDir = s
		}
	}
	def, defDB, defPrep := p.defaults(f["defaults"])
	job.Tables = p.tables(f["tables"], n, def, defDB, defPrep)
	return job
}

func (p *parser) catalog(n, parent *yaml.Node, warehouse string) Catalog {
	c := Catalog{Type: "sqlite"}
	if n == nil {
		p.errorf(parent, "catalog", "required: catalog: {type: sqlite, path: catalog.db}")
		return c
	}
	f, ok := p.fields(n, "catalog", catalogFields...)
	if !ok {
		return c
	}
	if tn := f["type"]; tn != nil {
		s, ok := p.str(tn, "catalog.type")
		if !ok {
			return c
		}
		c.Type = s
	}
	c.Path, _ = p.str(f["path"], "catalog.path")
	c.Region, _ = p.str(f["region"], "catalog.region")
	c.Endpoint, _ = p.str(f["endpoint"], "catalog.endpoint")
	switch c.Type {
	case "sqlite":
		if c.Path == "" {
			at := f["path"]
			if at == nil {
				at = p.at(n)
			}
			p.errorf(at, "catalog.path", "required for the sqlite catalog")
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
			p.errorf(p.at(n), "catalog.type", "the glue catalog needs an s3:// warehouse")
		}
	default:
		p.errorf(f["type"], "catalog.type", "%q: want sqlite or glue", c.Type)
	}
	return c
}

func (p *parser) s3(n *yaml.Node, job *Job) S3 {
	var s S3
	f, ok := p.fields(n, "s3", s3Fields...)
	if !ok {
		return s
	}
	s.Region, _ = p.str(f["region"], "s3.region")
	s.Endpoint, _ = p.str(f["endpoint"], "s3.endpoint")
	s.KMSKeyID, _ = p.str(f["kms_key_id"], "s3.kms_key_id")
	s.PathStyle = s.Endpoint != ""
	if b, ok := p.boolean(f["path_style"], "s3.path_style"); ok {
		s.PathStyle = b
	}
	if e := s.Endpoint; e != "" && !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
		p.errorf(f["endpoint"], "s3.endpoint", "%q: want an http:// or https:// URL", e)
	}
	if !strings.HasPrefix(job.Raw, "s3://") && !strings.HasPrefix(job.Warehouse, "s3://") {
		p.errorf(p.at(n), "s3", "set, but neither raw nor warehouse is an s3:// location")
	}
	return s
}

// defaults returns the table every table starts from, the default target
// database ("" for the source schema) and the defaults of prepared tables.
func (p *parser) defaults(n *yaml.Node) (def Table, database string, prep PreparedDefaults) {
	def = Table{Format: FormatDMSCSV, Buckets: DefaultBuckets, TargetFileMB: DefaultTargetFileMB,
		TombstoneHorizon: DefaultTombstoneHorizon, DMS: DMS{Delimiter: ','}, Maintenance: DefaultMaintenance}
	prep = p.preparedDefaults(nil)
	if n == nil {
		return def, "", prep
	}
	f, ok := p.fields(n, "defaults", defaultFields...)
	if !ok {
		return def, "", prep
	}
	database, _ = p.optional(f["database"], "defaults.database")
	p.settings(f, "defaults", &def)
	prep = p.preparedDefaults(f["prepared"])
	return def, database, prep
}

// tables reads the tables list, the field of mapping parent, and checks
// that names and targets are unique (also among tables with problems of
// their own, so that a later run does not bring the clash to light).
// A prepared table's target must differ from every other target, base or
// prepared, whatever their formats.
func (p *parser) tables(n, parent *yaml.Node, def Table, defDB string, defPrep PreparedDefaults) []Table {
	switch {
	case n == nil:
		p.errorf(p.at(parent), "tables", "required: at least one table")
		return nil
	case n.Kind != yaml.SequenceNode:
		p.wrong(n, "tables", "a list of tables")
		return nil
	case len(n.Content) == 0:
		p.errorf(n, "tables", "required: at least one table")
		return nil
	}
	names := map[string]string{}   // name → path of the first table with it
	targets := map[Target]string{} // target → path of the first table writing it
	// database.table → path of the first table writing it, and whether
	// that is a prepared table.
	type writer struct {
		path     string
		prepared bool
	}
	tableNames := map[string]writer{}
	// preparedTarget is a prepared table's target, checked at the end.
	type preparedTarget struct {
		at         *yaml.Node
		path, name string
	}
	var prepared []preparedTarget
	var out []Table
	for i, c := range n.Content {
		path := fmt.Sprintf("tables[%d]", i)
		t, ok := p.table(c, path, def, defDB, defPrep)
		if t.Name != "" {
			if prev, dup := names[t.Name]; dup {
				p.errorf(c, path+".name", "table name %q is also used by %s", t.Name, prev)
			} else {
				names[t.Name] = path
			}
		}
		if t.Target.Database != "" && t.Target.Table != "" {
			if prev, dup := targets[t.Target]; dup {
				p.errorf(c, path+".target", "target %s.%s is also written by %s", t.Target.Database, t.Target.Table, prev)
			} else {
				targets[t.Target] = path
			}
			if _, seen := tableNames[t.Target.Database+"."+t.Target.Table]; !seen {
				tableNames[t.Target.Database+"."+t.Target.Table] = writer{path: path}
			}
		}
		if pn := lookup(c, "prepared"); pn != nil && pn.Kind == yaml.SequenceNode {
			for j, pr := range t.Prepared {
				if j < len(pn.Content) {
					at := pn.Content[j]
					if tn := lookup(at, "target"); tn != nil {
						at = p.at(tn)
					}
					prepared = append(prepared, preparedTarget{at, fmt.Sprintf("%s.prepared[%d]", path, j), pr.Target.Database + "." + pr.Target.Table})
				}
			}
		}
		if ok {
			out = append(out, t)
		}
	}
	// Prepared targets are checked after every base target is known, so
	// that a clash with a later table is found too.
	for _, pr := range prepared {
		if strings.HasPrefix(pr.name, ".") || strings.HasSuffix(pr.name, ".") {
			continue // the base table has no target yet; reported there
		}
		if prev, dup := tableNames[pr.name]; dup {
			what := "the base table of"
			if prev.prepared {
				what = "the prepared table"
			}
			p.errorf(pr.at, pr.path+".target", "target %s is also %s %s: name another table (target: {table: ...})", pr.name, what, prev.path)
			continue
		}
		tableNames[pr.name] = writer{path: pr.path, prepared: true}
	}
	return out
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
	if n := f["ignore"]; n != nil {
		globs, nodes, _ := p.list(n, join(path, "ignore"))
		for i, g := range globs {
			if nodes[i].Kind != yaml.ScalarNode {
				continue // reported by list
			}
			if _, err := pathpkg.Match(g, ""); err != nil || g == "" {
				p.errorf(nodes[i], fmt.Sprintf("%s[%d]", join(path, "ignore"), i), "%q: not a glob (want e.g. _SUCCESS, *.tmp or manifests/*)", g)
				continue
			}
			// A table's globs add to those of defaults.
			t.Ignore = append(slices.Clip(t.Ignore), g)
		}
	}
	if d := f["dms"]; d != nil {
		p.dms(d, join(path, "dms"), &t.DMS)
	}
	if d := f["debezium"]; d != nil {
		p.debezium(d, join(path, "debezium"), &t.Debezium)
	}
	if m := f["maintenance"]; m != nil {
		p.maintenance(m, join(path, "maintenance"), &t.Maintenance)
	}
}

// maintenance applies a maintenance section onto m, field by field.
func (p *parser) maintenance(n *yaml.Node, path string, m *Maintenance) {
	f, ok := p.fields(n, path, maintFields...)
	if !ok {
		return
	}
	if b, ok := p.boolean(f["enabled"], join(path, "enabled")); ok {
		m.Enabled = b
	}
	if v, ok := p.integer(f["compact_delete_files"], join(path, "compact_delete_files"), 0, 10000); ok {
		m.CompactDeleteFiles = v
	}
	if v, ok := p.integer(f["compact_small_files"], join(path, "compact_small_files"), 0, 10000); ok {
		if v == 1 {
			p.errorf(f["compact_small_files"], join(path, "compact_small_files"), "1: one small file has nothing to be merged with; want 0 (never) or 2 or more")
		} else {
			m.CompactSmallFiles = v
		}
	}
	if v, ok := p.integer(f["small_file_mb"], join(path, "small_file_mb"), 1, 4096); ok {
		m.SmallFileMB = v
	}
	if v, ok := p.integer(f["rewrite_deleted_pct"], join(path, "rewrite_deleted_pct"), 0, 100); ok {
		m.RewriteDeletedPct = v
	}
	if v, ok := p.integer(f["keep_snapshots"], join(path, "keep_snapshots"), 1, 100000); ok {
		m.KeepSnapshots = v
	}
	if d, ok := p.duration(f["time_travel"], join(path, "time_travel")); ok {
		m.TimeTravel = d
	}
	if d, ok := p.duration(f["orphan_age"], join(path, "orphan_age")); ok {
		if d < time.Hour {
			p.errorf(f["orphan_age"], join(path, "orphan_age"), "%s is shorter than 1h: a running commit's files could be deleted", d)
		} else {
			m.OrphanAge = d
		}
	}
}

// duration returns the duration n holds ("0" for none).
func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		p.errorf(n, path, "%q: want a duration like 24h or 30m (0 for none)", s)
		return 0, false
	}
	return d, true
}

func (p *parser) dms(n *yaml.Node, path string, d *DMS) {
	f, ok := p.fields(n, path, dmsFields...)
	if !ok {
		return
	}
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
			p.wrong(n, path+".null_value", "a string")
		} else {
			d.NullValue = n.Value
		}
	}
	if n := f["no_sup_value"]; n != nil {
		switch {
		case n.Kind != yaml.ScalarNode:
			p.wrong(n, path+".no_sup_value", "a string")
		case n.Value == "":
			p.errorf(n, path+".no_sup_value", "want the non-empty text DMS writes for unsupported values")
		default:
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
	for _, k := range []string{"before_image_prefix", "before_image_suffix"} {
		n := f[k]
		if n == nil {
			continue
		}
		// The text as written, like null_value: "" is a value here.
		if n.Kind != yaml.ScalarNode {
			p.wrong(n, path+"."+k, "a string")
			continue
		}
		if k == "before_image_prefix" {
			d.BeforeImagePrefix = n.Value
		} else {
			d.BeforeImageSuffix = n.Value
		}
	}
	if f["before_image_prefix"] != nil || f["before_image_suffix"] != nil {
		if d.BeforeImagePrefix == "" && d.BeforeImageSuffix == "" {
			at := f["before_image_prefix"]
			if at == nil {
				at = f["before_image_suffix"]
			}
			p.errorf(at, path+".before_image_prefix", "empty with an empty before_image_suffix: set the column-prefix of the task's add-before-image-columns rule (DMS's default is BI_)")
		}
	}
}

func (p *parser) debezium(n *yaml.Node, path string, d *Debezium) {
	f, ok := p.fields(n, path, debeziumFields...)
	if !ok {
		return
	}
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
	if s, ok := p.str(f["wide_decimals"], path+".wide_decimals"); ok {
		if s != WideDecimalsError && s != WideDecimalsString {
			p.errorf(f["wide_decimals"], path+".wide_decimals", "%q: want %s or %s", s, WideDecimalsError, WideDecimalsString)
		}
		d.WideDecimals = s
	}
	if en := f["encodings"]; en != nil {
		if en.Kind != yaml.MappingNode {
			p.wrong(en, path+".encodings", "a mapping of column: encoding")
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

// source reads a table's source into s and returns the nodes of its table
// (which the table name defaults to) and topic fields.
func (p *parser) source(n, parent *yaml.Node, path string, s *Source) (table, topic *yaml.Node) {
	if n == nil {
		p.errorf(p.at(parent), path, "required: source: {schema, table}")
		return nil, nil
	}
	f, ok := p.fields(n, path, sourceFields...)
	if !ok {
		return nil, nil
	}
	s.Schema = p.required(f["schema"], n, path+".schema")
	s.Table = p.required(f["table"], n, path+".table")
	s.Topic, _ = p.optional(f["topic"], path+".topic")
	at := n
	switch {
	case f["prefix"] != nil:
		at = f["prefix"]
		if v, ok := p.str(at, path+".prefix"); ok {
			if s.Prefix = strings.TrimLeft(v, "/"); s.Prefix == "" {
				p.errorf(at, path+".prefix", "%q: empty; leave prefix out for the default <schema>/<table>/", v)
			}
		}
	case s.Topic != "":
		s.Prefix = "topics/" + s.Topic + "/"
	case s.Schema != "" && s.Table != "":
		s.Prefix = s.Schema + "/" + s.Table + "/"
	}
	if s.Prefix != "" && !strings.HasSuffix(s.Prefix, "/") {
		s.Prefix += "/"
	}
	if slices.ContainsFunc(strings.Split(s.Prefix, "/"), func(seg string) bool { return seg == "." || seg == ".." }) {
		p.errorf(at, path+".prefix", "%q: a key prefix cannot have . or .. segments", s.Prefix)
	}
	return f["table"], f["topic"]
}

// table reads tables[i], starting from the defaults def. ok is false when
// it has problems; t is then as far as it could be read.
func (p *parser) table(n *yaml.Node, path string, def Table, defDB string, defPrep PreparedDefaults) (t Table, ok bool) {
	nerrs := len(p.errs)
	f, ok := p.fields(n, path, tableFields...)
	if !ok {
		return Table{}, false
	}
	t = def
	tableNode, topicNode := p.source(f["source"], n, path+".source", &t.Source)

	if nn := f["name"]; nn != nil {
		t.Name, _ = p.optional(nn, path+".name")
		if t.Name != "" && strings.Trim(t.Name, nameChars) != "" {
			p.errorf(nn, path+".name", "%q: use letters, digits, _ . and - only", t.Name)
		}
	} else if t.Name = t.Source.Table; t.Name != "" && strings.Trim(t.Name, nameChars) != "" {
		p.errorf(tableNode, path+".name", "%q (from source.table): use letters, digits, _ . and - only; set name", t.Name)
	}

	p.settings(f, path, &t)
	switch t.Format {
	case FormatDebezium:
		if t.Source.Topic == "" && f["source"] != nil && f["source"].Kind == yaml.MappingNode {
			p.errorf(p.at(f["source"]), path+".source.topic", "required for %s tables: the Kafka topic the sink wrote", FormatDebezium)
		}
		if f["dms"] != nil {
			p.errorf(p.at(f["dms"]), path+".dms", "only for %s tables", FormatDMSCSV)
		}
		if t.Debezium.Tombstones == "" {
			t.Debezium.Tombstones = "skip"
		}
		if t.Debezium.WideDecimals == "" {
			t.Debezium.WideDecimals = WideDecimalsError
		}
	default:
		t.Debezium = Debezium{} // defaults.debezium is for debezium-json tables
		if topicNode != nil {
			p.errorf(topicNode, path+".source.topic", "only for %s tables", FormatDebezium)
		}
		if f["debezium"] != nil {
			p.errorf(p.at(f["debezium"]), path+".debezium", "only for %s tables", FormatDebezium)
		}
	}

	var names map[string]bool
	cn := f["columns"]
	if cn != nil {
		t.Columns, names = p.columns(cn, path+".columns")
	}
	keyNames := names
	if t.Format == FormatDebezium {
		// A debezium-json table's columns type only the columns the job
		// file sets; events with a schema wrapper type the others, the key
		// among them (a key the events lack stops the table at its line).
		keyNames = nil
	}
	t.PrimaryKey = p.primaryKey(f["primary_key"], n, path+".primary_key", t.Columns, keyNames)
	if cs := t.DMS.ChangeSeqColumn; cs != "" && len(names) > 0 && !names[cs] && t.Format == FormatDMSCSV {
		if at := lookup(f["dms"], "change_seq_column"); at != nil {
			p.errorf(at, path+".dms.change_seq_column", "column %s is not among the columns", cs)
		} else {
			p.errorf(p.at(cn), path+".dms.change_seq_column", "column %s (from defaults.dms) is not among the columns", cs)
		}
	}
	if v := t.DMS.NoSupValue; v != "" && v == t.DMS.NullValue && t.Format == FormatDMSCSV {
		at := lookup(f["dms"], "no_sup_value")
		if at == nil {
			at = lookup(f["dms"], "null_value")
		}
		if at == nil {
			at = n
		}
		p.errorf(at, path+".dms.no_sup_value", "%q is also the null_value: a field could not tell NULL from a value to keep", v)
	}
	if t.Format == FormatDMSCSV && (t.DMS.BeforeImagePrefix != "" || t.DMS.BeforeImageSuffix != "") {
		t.Columns, t.DMS.BeforeImageColumns = p.beforeImages(cn, path, t)
	}
	noColumns := cn == nil || (cn.Kind == yaml.SequenceNode && len(cn.Content) == 0)
	if noColumns && !t.DMS.Header && t.Format == FormatDMSCSV {
		at := n
		if cn != nil {
			at = p.at(cn)
		}
		p.errorf(at, path+".columns", "required when the files have no header (dms.header: false)")
	}

	t.Target = Target{Database: defDB, Table: t.Source.Table, Format: TargetIceberg}
	if t.Target.Database == "" {
		t.Target.Database = t.Source.Schema
	}
	if tn := f["target"]; tn != nil {
		if tf, ok := p.fields(tn, path+".target", targetFields...); ok {
			if s, ok := p.optional(tf["database"], path+".target.database"); ok {
				t.Target.Database = s
			}
			if s, ok := p.optional(tf["table"], path+".target.table"); ok {
				t.Target.Table = s
			}
			if s, ok := p.optional(tf["format"], path+".target.format"); ok {
				if s != TargetIceberg && s != TargetDelta {
					p.errorf(p.at(tf["format"]), path+".target.format", "%q: want %s or %s", s, TargetIceberg, TargetDelta)
				}
				t.Target.Format = s
			}
		}
	}
	if pn := f["prepared"]; pn != nil {
		t.Prepared = p.prepared(pn, path+".prepared", t.Target, defPrep)
	}
	return t, len(p.errs) == nerrs
}

// beforeImages splits the before-image columns off t.Columns: a column named
// prefix+c+suffix for another listed column c. They must come last, as DMS
// writes them, typed like c; without a header every primary-key column
// needs one, since the files' layout comes from columns alone.
func (p *parser) beforeImages(cn *yaml.Node, path string, t Table) (cols []change.Column, bis []string) {
	pre, suf := t.DMS.BeforeImagePrefix, t.DMS.BeforeImageSuffix
	typeOf := make(map[string]change.Column, len(t.Columns))
	for _, c := range t.Columns {
		typeOf[c.Name] = c
	}
	baseOf := func(name string) (change.Column, bool) {
		if len(name) <= len(pre)+len(suf) || !strings.HasPrefix(name, pre) || !strings.HasSuffix(name, suf) {
			return change.Column{}, false
		}
		c, ok := typeOf[name[len(pre):len(name)-len(suf)]]
		return c, ok
	}
	node := func(i int) *yaml.Node {
		if cn != nil && cn.Kind == yaml.SequenceNode && i < len(cn.Content) {
			return cn.Content[i]
		}
		return cn
	}
	has := map[string]bool{}
	for i, c := range t.Columns {
		base, ok := baseOf(c.Name)
		if !ok {
			if len(bis) > 0 {
				p.errorf(node(i), fmt.Sprintf("%s.columns[%d]", path, i), "%s comes after before-image column %s: DMS writes the before-image columns last, list them last", c.Name, bis[len(bis)-1])
			}
			cols = append(cols, c)
			continue
		}
		if change.TypeName(base.Type) != change.TypeName(c.Type) {
			p.errorf(node(i), fmt.Sprintf("%s.columns[%d].type", path, i), "before-image column %s is %s, but %s is %s: give it the type of its column", c.Name, change.TypeName(c.Type), base.Name, change.TypeName(base.Type))
		}
		if slices.Contains(t.PrimaryKey, c.Name) {
			p.errorf(node(i), fmt.Sprintf("%s.columns[%d]", path, i), "before-image column %s cannot be in primary_key", c.Name)
		}
		bis = append(bis, c.Name)
		has[base.Name] = true
	}
	if t.DMS.Header || len(t.Columns) == 0 {
		// With a header the files name their before-image columns.
		return cols, nil
	}
	for _, k := range t.PrimaryKey {
		if _, listed := typeOf[k]; listed && !has[k] {
			p.errorf(p.at(cn), path+".columns", "no before-image column %s%s%s for primary_key column %s: without a header (dms.header: false) list every before-image column DMS writes, last, as it writes them", pre, k, suf, k)
		}
	}
	return cols, bis
}

// columns reads a table's column list. names holds every name given,
// valid or not, so that the key checks do not repeat a column's problem.
func (p *parser) columns(n *yaml.Node, path string) (cols []change.Column, names map[string]bool) {
	if n.Kind != yaml.SequenceNode {
		p.wrong(n, path, "a list of {name, type}")
		return nil, nil
	}
	names = map[string]bool{}
	for i, c := range n.Content {
		cp := fmt.Sprintf("%s[%d]", path, i)
		f, ok := p.fields(c, cp, columnFields...)
		if !ok {
			continue
		}
		var col change.Column
		valid := true
		if name := p.required(f["name"], c, cp+".name"); name == "" {
			valid = false
		} else {
			switch {
			case change.IsSystemColumn(name):
				p.errorf(f["name"], cp+".name", "%s is a column lakemerge adds itself", name)
				valid = false
			case names[name]:
				p.errorf(f["name"], cp+".name", "column %s listed twice", name)
				valid = false
			}
			names[name] = true
			col.Name = name
		}
		if tn := f["type"]; tn == nil {
			p.errorf(p.at(c), cp+".type", "required: one of %s", strings.Join(change.TypeNames(), ", "))
			valid = false
		} else if s, ok := p.str(tn, cp+".type"); !ok {
			valid = false
		} else if dt, err := change.ParseType(s); err != nil {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "decimal") {
				p.errorf(tn, cp+".type", "%q: want decimal(p,s) with precision p in 1..38 and scale s in 0..p, like decimal(10,2)", s)
			} else {
				p.errorf(tn, cp+".type", "%q: want one of %s", s, strings.Join(change.TypeNames(), ", "))
			}
			valid = false
		} else {
			col.Type = dt
		}
		if valid {
			cols = append(cols, col)
		}
	}
	return cols, names
}

// primaryKey reads the primary_key field n of table node parent. names is
// every column name given (nil for no column list).
func (p *parser) primaryKey(n, parent *yaml.Node, path string, cols []change.Column, names map[string]bool) []string {
	if n == nil {
		p.errorf(p.at(parent), path, "required: the source table's primary key column(s)")
		return nil
	}
	keys, nodes, ok := p.list(n, path)
	if !ok {
		return keys
	}
	if len(keys) == 0 {
		p.errorf(n, path, "required: at least one column")
	}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		switch {
		case k == "":
			p.errorf(nodes[i], path, "empty column name")
		case seen[k]:
			p.errorf(nodes[i], path, "column %s listed twice", k)
		case len(names) > 0 && !names[k]:
			p.errorf(nodes[i], path, "column %s is not among the columns", k)
		case isFloat(cols, k):
			p.errorf(nodes[i], path, "column %s is a float: floats cannot be keys", k)
		}
		seen[k] = true
	}
	return keys
}

// isFloat reports whether column name is a float or double one.
func isFloat(cols []change.Column, name string) bool {
	for _, c := range cols {
		if c.Name == name {
			t := change.TypeName(c.Type)
			return t == "float" || t == "double"
		}
	}
	return false
}

// suggest returns the allowed name closest to name when it is a likely
// typo (edit distance ≤ 2, and less than the name's length: "b" is no typo
// of "s3"), else "".
func suggest(name string, allowed []string) string {
	best, bestD := "", min(3, len(name))
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
