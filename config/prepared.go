package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Prepared is one prepared table of a base table (tables[].prepared[]): the
// base table's rows curated by SQL — columns chosen, renamed, typed, masked
// or derived by Select, rows filtered by Where — kept as the current row per
// key (mirror), every version of a key (history) or every change
// (changelog).
//
// The package checks the section's shape only. The SQL, and the names that
// partition_by and sort_by use, are checked against the base table's
// columns by cmd, which reports problems at the lines kept here.
type Prepared struct {
	// Target is the prepared table. Database defaults to
	// defaults.prepared.database, else DefaultPreparedDatabase; Table to
	// the base table's target table; Format to the base table's.
	Target Target
	Mode   string // ModeMirror, ModeHistory or ModeChangelog; required
	// Select lists the curated columns in order, each an SQL expression
	// over the base row: "expr" or "expr AS name" (a bare column keeps its
	// name). At least one.
	Select []Expr
	Where  Expr // row filter; SQL is "" when there is none
	// PartitionBy are the prepared table's partition fields, over curated
	// columns; identity only for Delta tables.
	PartitionBy []PartitionField
	SortBy      []SortField // order of rows within files; none: unsorted
	// OnChange is what a run does when the definition differs from the one
	// the table was built with: OnChangeStop (default) or OnChangeRebuild.
	OnChange string
	// Line is where the entry starts; SelectLine where its select list is
	// (for problems with the list as a whole).
	Line, SelectLine int
}

// Expr is an SQL expression of a job file and the line it is on.
type Expr struct {
	SQL  string
	Line int
}

// PartitionField is one entry of partition_by: a partition transform of
// a curated column.
type PartitionField struct {
	Transform string // one of the Partition* constants
	Column    string // a curated column
	// Param is the bucket count (bucket) or the width (truncate); 0 for
	// the others.
	Param int
	Line  int
}

// SortField is one entry of sort_by: a curated column and its direction.
type SortField struct {
	Column     string
	Descending bool
	Line       int
}

// PreparedDefaults are the settings under defaults.prepared.
type PreparedDefaults struct {
	Database string // default target database of prepared tables
	OnChange string // default on_change
}

// Modes of a prepared table.
const (
	// ModeMirror keeps the current curated row of each key that passes
	// where; a key whose new version no longer passes is deleted.
	ModeMirror = "mirror"
	// ModeHistory keeps one row per version of each key (SCD type 2).
	ModeHistory = "history"
	// ModeChangelog appends every net change of each run.
	ModeChangelog = "changelog"
)

// What a run does with a prepared table whose definition changed.
const (
	OnChangeStop    = "stop"    // stop the table, naming the command that rebuilds it
	OnChangeRebuild = "rebuild" // rebuild the prepared table from its base table
)

// Partition transforms of partition_by.
const (
	PartitionIdentity = "identity"
	PartitionYear     = "year"
	PartitionMonth    = "month"
	PartitionDay      = "day"
	PartitionHour     = "hour"
	PartitionBucket   = "bucket"
	PartitionTruncate = "truncate"
)

// DefaultPreparedDatabase is the target database of prepared tables when
// neither the table nor defaults.prepared names one.
const DefaultPreparedDatabase = "prepared"

var (
	preparedFields         = []string{"target", "mode", "select", "where", "partition_by", "sort_by", "on_change"}
	preparedDefaultsFields = []string{"database", "on_change"}
)

// preparedDefaults reads defaults.prepared.
func (p *parser) preparedDefaults(n *yaml.Node) PreparedDefaults {
	d := PreparedDefaults{Database: DefaultPreparedDatabase, OnChange: OnChangeStop}
	if n == nil {
		return d
	}
	f, ok := p.fields(n, "defaults.prepared", preparedDefaultsFields...)
	if !ok {
		return d
	}
	if s, ok := p.optional(f["database"], "defaults.prepared.database"); ok {
		d.Database = s
	}
	if s, ok := p.onChange(f["on_change"], "defaults.prepared.on_change"); ok {
		d.OnChange = s
	}
	return d
}

func (p *parser) onChange(n *yaml.Node, path string) (string, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return "", false
	}
	if s != OnChangeStop && s != OnChangeRebuild {
		p.errorf(n, path, "%q: want %s or %s", s, OnChangeStop, OnChangeRebuild)
		return "", false
	}
	return s, true
}

// prepared reads a table's prepared list, the field of the table at path
// whose target is base.
func (p *parser) prepared(n *yaml.Node, path string, base Target, def PreparedDefaults) []Prepared {
	if n.Kind != yaml.SequenceNode {
		p.wrong(n, path, "a list of prepared tables, each with target, mode and select")
		return nil
	}
	var out []Prepared
	for i, c := range n.Content {
		out = append(out, p.preparedTable(c, fmt.Sprintf("%s[%d]", path, i), base, def))
	}
	return out
}

func (p *parser) preparedTable(n *yaml.Node, path string, base Target, def PreparedDefaults) Prepared {
	pr := Prepared{
		Target:   Target{Database: def.Database, Table: base.Table, Format: base.Format},
		OnChange: def.OnChange,
		Line:     n.Line,
	}
	f, ok := p.fields(n, path, preparedFields...)
	if !ok {
		return pr
	}
	if tn := f["target"]; tn != nil {
		if tf, ok := p.fields(tn, path+".target", targetFields...); ok {
			if s, ok := p.optional(tf["database"], path+".target.database"); ok {
				pr.Target.Database = s
			}
			if s, ok := p.optional(tf["table"], path+".target.table"); ok {
				pr.Target.Table = s
			}
			if s, ok := p.optional(tf["format"], path+".target.format"); ok {
				if s != TargetIceberg && s != TargetDelta {
					p.errorf(tf["format"], path+".target.format", "%q: want %s or %s", s, TargetIceberg, TargetDelta)
				}
				pr.Target.Format = s
			}
		}
	}
	switch mn := f["mode"]; {
	case mn == nil:
		p.errorf(p.at(n), path+".mode", "required: %s, %s or %s", ModeMirror, ModeHistory, ModeChangelog)
	default:
		if s, ok := p.str(mn, path+".mode"); ok {
			if s != ModeMirror && s != ModeHistory && s != ModeChangelog {
				p.errorf(mn, path+".mode", "%q: want %s (the current row per key), %s (every version of a key) or %s (every change)", s, ModeMirror, ModeHistory, ModeChangelog)
			}
			pr.Mode = s
		}
	}
	pr.Select, pr.SelectLine = p.selectList(f["select"], n, path+".select")
	if wn := f["where"]; wn != nil {
		if s, ok := p.str(wn, path+".where"); ok {
			if strings.TrimSpace(s) == "" {
				p.errorf(wn, path+".where", "empty: leave where out to keep every row")
			} else {
				pr.Where = Expr{SQL: s, Line: wn.Line}
			}
		}
	}
	if pn := f["partition_by"]; pn != nil {
		pr.PartitionBy = p.partitionBy(pn, path+".partition_by", pr.Target.Format)
	}
	if sn := f["sort_by"]; sn != nil {
		pr.SortBy = p.sortBy(sn, path+".sort_by")
	}
	if on := f["on_change"]; on != nil {
		if s, ok := p.onChange(on, path+".on_change"); ok {
			pr.OnChange = s
		}
	}
	return pr
}

// selectList reads select, the field of mapping parent, and returns its
// expressions and the line of the list.
func (p *parser) selectList(n, parent *yaml.Node, path string) ([]Expr, int) {
	if n == nil {
		p.errorf(p.at(parent), path, "required: the curated columns, each an SQL expression (\"expr AS name\")")
		return nil, 0
	}
	line := p.at(n).Line
	if n.Kind != yaml.SequenceNode {
		p.wrong(n, path, "a list of SQL expressions")
		return nil, line
	}
	if len(n.Content) == 0 {
		p.errorf(n, path, "required: at least one column")
		return nil, line
	}
	var out []Expr
	for i, c := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		s, ok := p.str(c, ip)
		switch {
		case !ok:
		case strings.TrimSpace(s) == "":
			p.errorf(c, ip, "empty: want an SQL expression")
		default:
			out = append(out, Expr{SQL: s, Line: c.Line})
		}
	}
	return out, line
}

func (p *parser) partitionBy(n *yaml.Node, path, format string) []PartitionField {
	items, nodes, ok := p.list(n, path)
	if !ok {
		return nil
	}
	var out []PartitionField
	seen := map[PartitionField]int{}
	for i, s := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		pf, err := ParsePartition(s)
		if err != nil {
			p.errorf(nodes[i], ip, "%s", err)
			continue
		}
		if format == TargetDelta && pf.Transform != PartitionIdentity {
			p.errorf(nodes[i], ip, "%q: Delta tables are partitioned by columns only: derive the column in select (like CAST(updated_at AS DATE) AS updated_date) and partition by it", s)
			continue
		}
		if prev, dup := seen[pf]; dup {
			p.errorf(nodes[i], ip, "%q repeats %s[%d]", s, path, prev)
			continue
		}
		seen[pf] = i
		pf.Line = nodes[i].Line
		out = append(out, pf)
	}
	return out
}

func (p *parser) sortBy(n *yaml.Node, path string) []SortField {
	items, nodes, ok := p.list(n, path)
	if !ok {
		return nil
	}
	var out []SortField
	seen := map[string]int{}
	for i, s := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		words := strings.Fields(s)
		var sf SortField
		switch {
		case len(words) == 1:
		case len(words) == 2 && strings.EqualFold(words[1], "asc"):
		case len(words) == 2 && strings.EqualFold(words[1], "desc"):
			sf.Descending = true
		default:
			p.errorf(nodes[i], ip, "%q: want a curated column, optionally followed by asc or desc", s)
			continue
		}
		col, err := partitionColumn(words[0])
		if err != nil {
			p.errorf(nodes[i], ip, "%q: %s", s, err)
			continue
		}
		if prev, dup := seen[col]; dup {
			p.errorf(nodes[i], ip, "column %s is also sort_by[%d]", col, prev)
			continue
		}
		seen[col] = i
		sf.Column, sf.Line = col, nodes[i].Line
		out = append(out, sf)
	}
	return out
}

// ParsePartition reads one partition_by entry: a column (identity), or
// year(col), month(col), day(col), hour(col), identity(col), bucket(N, col)
// or truncate(W, col), as Athena writes Iceberg partition transforms.
// Transform names are case-insensitive; the column may be double-quoted.
func ParsePartition(s string) (PartitionField, error) {
	s = strings.TrimSpace(s)
	name, rest, call := strings.Cut(s, "(")
	if !call {
		col, err := partitionColumn(s)
		if err != nil {
			return PartitionField{}, fmt.Errorf("%q: %s", s, err)
		}
		return PartitionField{Transform: PartitionIdentity, Column: col}, nil
	}
	bad := func(why string) (PartitionField, error) {
		return PartitionField{}, fmt.Errorf("%q: %s; want a column, year(col), month(col), day(col), hour(col), bucket(N, col) or truncate(W, col)", s, why)
	}
	args, ok := strings.CutSuffix(rest, ")")
	if !ok {
		return bad("no closing parenthesis (in a [...] list, quote an entry with a comma: \"bucket(16, id)\")")
	}
	parts := strings.Split(args, ",")
	pf := PartitionField{Transform: strings.ToLower(strings.TrimSpace(name))}
	switch pf.Transform {
	case PartitionIdentity, PartitionYear, PartitionMonth, PartitionDay, PartitionHour:
		if len(parts) != 1 {
			return bad(pf.Transform + " takes one column")
		}
	case PartitionBucket, PartitionTruncate:
		if len(parts) != 2 {
			return bad(pf.Transform + " takes a number and a column")
		}
		v, err := strconv.Atoi(strings.TrimSpace(parts[0]))
		hi := 1024
		if pf.Transform == PartitionTruncate {
			hi = 1 << 20
		}
		if err != nil || v < 1 || v > hi {
			return bad(fmt.Sprintf("%s's number must be a whole number in 1..%d", pf.Transform, hi))
		}
		pf.Param = v
		parts = parts[1:]
	default:
		return bad(fmt.Sprintf("unknown transform %q", strings.TrimSpace(name)))
	}
	col, err := partitionColumn(parts[0])
	if err != nil {
		return bad(err.Error())
	}
	pf.Column = col
	return pf, nil
}

// partitionColumn reads a curated column name: letters, digits and _, or
// any text in double quotes ("" for a quote).
func partitionColumn(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		name := strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
		if name == "" || strings.Contains(strings.ReplaceAll(s[1:len(s)-1], `""`, ""), `"`) {
			return "", fmt.Errorf("not a column name")
		}
		return name, nil
	}
	if s == "" {
		return "", fmt.Errorf("no column name")
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", fmt.Errorf("not a column name (letters, digits and _, or a name in double quotes)")
		}
	}
	return s, nil
}
