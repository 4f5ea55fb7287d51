package prepared

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
)

// Mode is how a prepared table keeps its base table's changes.
type Mode string

// Modes.
const (
	// Mirror keeps the current curated row of each key that passes where;
	// a key whose new version does not pass is deleted.
	Mirror Mode = "mirror"
	// History keeps one row per version of each key (SCD type 2), with
	// the columns of HistoryColumns.
	History Mode = "history"
	// Changelog appends every net change of each run, with the columns of
	// ChangelogColumns.
	Changelog Mode = "changelog"
)

// Partition transforms (Iceberg's; Delta tables take Identity only).
const (
	Identity = "identity"
	Year     = "year"
	Month    = "month"
	Day      = "day"
	Hour     = "hour"
	Bucket   = "bucket"
	Truncate = "truncate"
)

// Definition is one prepared table as its job file defines it.
type Definition struct {
	Mode   Mode
	Format string   // table format: "iceberg" or "delta"
	Select []string // the curated columns: "expr" or "expr AS name"
	Where  string   // row filter; "" for none
	// PartitionBy are the table's partition fields over curated columns.
	PartitionBy []Partition
	SortBy      []SortKey // order of rows within files
}

// Partition is one partition field: Transform of a curated Column, with
// Param the bucket count (Bucket) or width (Truncate).
type Partition struct {
	Transform string
	Column    string
	Param     int
}

// String writes the field as a job file does: day(ts), bucket(16, id), id.
func (p Partition) String() string {
	switch p.Transform {
	case Identity:
		return p.Column
	case Bucket, Truncate:
		return fmt.Sprintf("%s(%d, %s)", p.Transform, p.Param, p.Column)
	}
	return fmt.Sprintf("%s(%s)", p.Transform, p.Column)
}

// SortKey is one sort_by entry.
type SortKey struct {
	Column     string
	Descending bool
}

// Column is a curated column as Check sees it.
type Column struct {
	Name string
	// Type is the column's type, nil when it is not known before the
	// first run (the base table's columns come from its files).
	Type arrow.DataType
	// Source is the base column the curated column is a bare reference
	// of, renamed or not; "" when it is computed.
	Source string
}

// HistoryColumns are the columns a History table adds after the curated
// ones: when the version began (the commit time of the change that made
// it), when it ended (NULL while current), whether it is current, the
// operation that made it (I or U; D for the row that records a delete, or
// a new row that fails where: the key left the table), and its order key
// (the base change's _seq: bytes that compare in commit order), which
// with the key identifies the version.
func HistoryColumns() []change.Column {
	return []change.Column{
		{Name: "valid_from", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "valid_to", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "is_current", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "op", Type: arrow.BinaryTypes.String},
		{Name: "order_key", Type: arrow.BinaryTypes.Binary},
	}
}

// ChangelogColumns are the columns a Changelog table adds after the
// curated ones: the operation (I, U or D), the change's commit time, and
// its order key (_seq: bytes that compare in commit order).
func ChangelogColumns() []change.Column {
	return []change.Column{
		{Name: "op", Type: arrow.BinaryTypes.String},
		{Name: "commit_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "order_key", Type: arrow.BinaryTypes.Binary},
	}
}

// ModeColumns are the columns mode m adds after the curated ones.
func ModeColumns(m Mode) []change.Column {
	switch m {
	case History:
		return HistoryColumns()
	case Changelog:
		return ChangelogColumns()
	}
	return nil
}

// Problem is a problem Check found: Field is "select", "partition_by" or
// "sort_by"; Index is the entry's index in it, or -1 for the field as a
// whole.
type Problem struct {
	Field string
	Index int
	Msg   string
}

// Fields of a Problem.
const (
	FieldSelect      = "select"
	FieldPartitionBy = "partition_by"
	FieldSortBy      = "sort_by"
)

// Check checks what needs the curated columns cols (in select order): a
// Mirror or History table needs every column of the base table's primary
// key among them as a bare reference (its own key); no curated column
// may have the name of a column the mode adds; partition_by and sort_by
// name curated columns, and each partition transform suits its column's
// type (when known). It returns every problem found.
func Check(def Definition, key []string, cols []Column) []Problem {
	var out []Problem
	if def.Mode == Mirror || def.Mode == History {
		for _, k := range key {
			if !slices.ContainsFunc(cols, func(c Column) bool { return c.Source == k }) {
				out = append(out, Problem{FieldSelect, -1, fmt.Sprintf("mode %s keeps rows by key: select needs primary key column %s as it is (%s, or %s AS name)", def.Mode, k, k, k)})
			}
		}
	}
	for _, mc := range ModeColumns(def.Mode) {
		for i, c := range cols {
			if strings.EqualFold(c.Name, mc.Name) {
				out = append(out, Problem{FieldSelect, i, fmt.Sprintf("column name %s is one that mode %s adds: name the column otherwise", c.Name, def.Mode)})
			}
		}
	}
	for i, p := range def.PartitionBy {
		c, msg := find(cols, p.Column)
		if msg == "" && c.Type != nil {
			msg = suits(p, c.Type)
		}
		if msg == "" && isTime(p.Transform) {
			// Iceberg refuses two time transforms of one column.
			for _, q := range def.PartitionBy[:i] {
				if q.Column == p.Column && isTime(q.Transform) {
					msg = fmt.Sprintf("%s and %s both partition %s by time, which Iceberg refuses: keep one", q, p, p.Column)
					break
				}
			}
		}
		if msg != "" {
			out = append(out, Problem{FieldPartitionBy, i, msg})
		}
	}
	for i, s := range def.SortBy {
		if _, msg := find(cols, s.Column); msg != "" {
			out = append(out, Problem{FieldSortBy, i, msg})
		}
	}
	return out
}

// find returns the curated column called name, or why there is none.
func find(cols []Column, name string) (Column, string) {
	names := make([]string, len(cols))
	for i, c := range cols {
		if c.Name == name {
			return c, ""
		}
		if strings.EqualFold(c.Name, name) {
			return Column{}, fmt.Sprintf("%s is not a curated column; did you mean %s?", name, c.Name)
		}
		names[i] = c.Name
	}
	return Column{}, fmt.Sprintf("%s is not a curated column (select names %s)", name, strings.Join(names, ", "))
}

// isTime reports whether transform is year, month, day or hour.
func isTime(transform string) bool {
	return transform == Year || transform == Month || transform == Day || transform == Hour
}

// suits reports why partition transform p cannot apply to a column of
// type t, or "".
func suits(p Partition, t arrow.DataType) string {
	id := t.ID()
	ok := true
	switch p.Transform {
	case Year, Month, Day:
		ok = id == arrow.DATE32 || id == arrow.TIMESTAMP
	case Hour:
		ok = id == arrow.TIMESTAMP
	case Bucket:
		ok = id != arrow.FLOAT32 && id != arrow.FLOAT64 && id != arrow.BOOL
	case Truncate:
		ok = id == arrow.INT32 || id == arrow.INT64 || id == arrow.DECIMAL128 || id == arrow.STRING || id == arrow.BINARY
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("%s: column %s is %s, which %s does not apply to", p, p.Column, change.TypeName(t), p.Transform)
}

// Fingerprint is a stable hash of what decides a prepared table's rows and
// layout: mode, format, select, where and partition_by (sort_by orders
// rows within files only and is left out). White space outside quotes
// does not count, any other edit does: a definition with another
// fingerprint than its table was built with has changed. The value is
// "v1:" and the hex SHA-256 of the JSON object {"mode", "format",
// "select" (list), "where", "partition_by" (list, as Partition.String
// writes them)} with every text canonical (Canonical), in that order,
// without spaces or escapes beyond JSON's own.
func Fingerprint(def Definition) string {
	doc := struct {
		Mode        Mode     `json:"mode"`
		Format      string   `json:"format"`
		Select      []string `json:"select"`
		Where       string   `json:"where"`
		PartitionBy []string `json:"partition_by"`
	}{Mode: def.Mode, Format: def.Format, Where: Canonical(def.Where), Select: []string{}, PartitionBy: []string{}}
	for _, s := range def.Select {
		doc.Select = append(doc.Select, Canonical(s))
	}
	for _, p := range def.PartitionBy {
		doc.PartitionBy = append(doc.PartitionBy, p.String())
	}
	// Plain JSON, no HTML escapes, so that the hash can be reproduced
	// outside Go (json.dumps(doc, separators=(",", ":"),
	// ensure_ascii=False) in Python).
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc) // strings only: it cannot fail
	sum := sha256.Sum256(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return "v1:" + hex.EncodeToString(sum[:])
}

// Canonical returns SQL text with each run of white space outside quotes
// ('...' strings, "..." names) turned into one space, and the ends
// trimmed: the form Fingerprint hashes, so that re-wrapping a line of the
// job file does not count as a change.
func Canonical(text string) string {
	var b strings.Builder
	var quote byte
	space := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			b.WriteByte(c)
			if c == quote {
				quote = 0
			}
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			space = true
			continue
		case c == '\'' || c == '"':
			quote = c
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}
