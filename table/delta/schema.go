package delta

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
)

// ErrUnsupported is matched by the errors of tables lakemerge refuses to
// read or write: a protocol or table feature it does not implement,
// partition columns, append-only tables, column invariants, column types
// outside its set.
var ErrUnsupported = errors.New("unsupported delta table")

// nameKey is the schema field metadata key that keeps a column's lakemerge
// name when its Delta name (the lower-cased name) differs.
const nameKey = "lakemerge.name"

// column is one column of a table: its lakemerge name and Arrow type, and
// its Delta (and Parquet) name.
type column struct {
	name string         // lakemerge name, as in change batches
	phys string         // Delta and Parquet name: name lower-cased
	typ  arrow.DataType // lakemerge (change) type
	// utc marks a timestamp column of Delta type timestamp (UTC instants,
	// as tables created before timestamp_ntz have them); lakemerge's new
	// timestamp columns are timestamp_ntz.
	utc bool
}

// seqColumn is the system column every data file carries.
var seqColumn = column{name: change.ColSeq, phys: change.ColSeq, typ: arrow.BinaryTypes.Binary}

// forbidden are the characters Spark refuses in column names without
// column mapping.
const forbidden = " ,;{}()\n\t="

// checkName reports whether name can be a Delta column name.
func checkName(name string) error {
	if name == "" {
		return errors.New("empty column name")
	}
	if i := strings.IndexAny(name, forbidden); i >= 0 {
		return fmt.Errorf("column %q: Delta column names cannot hold %q", name, name[i])
	}
	return nil
}

// deltaType is the Delta schema type name of a lakemerge column type, as a
// new column gets it: a timestamp (no zone) is timestamp_ntz.
func deltaType(t arrow.DataType) (string, error) {
	switch t.ID() {
	case arrow.INT32:
		return "integer", nil
	case arrow.INT64:
		return "long", nil
	case arrow.FLOAT32:
		return "float", nil
	case arrow.FLOAT64:
		return "double", nil
	case arrow.BOOL:
		return "boolean", nil
	case arrow.STRING:
		return "string", nil
	case arrow.BINARY:
		return "binary", nil
	case arrow.DATE32:
		return "date", nil
	case arrow.TIMESTAMP:
		if t.(*arrow.TimestampType).Unit == arrow.Microsecond {
			return "timestamp_ntz", nil
		}
	case arrow.DECIMAL128:
		d := t.(*arrow.Decimal128Type)
		if d.Precision >= 1 && d.Precision <= 38 {
			return fmt.Sprintf("decimal(%d,%d)", d.Precision, d.Scale), nil
		}
	}
	return "", fmt.Errorf("type %s has no Delta type lakemerge writes", t)
}

// columnType is the Delta schema type name of column c.
func columnType(c column) (string, error) {
	if c.utc && c.typ.ID() == arrow.TIMESTAMP {
		return "timestamp", nil
	}
	return deltaType(c.typ)
}

// arrowType is the lakemerge type of a Delta primitive type name. Delta's
// names are job-file type names (change.ParseType) but for timestamp_ntz,
// which is lakemerge's timestamp too; the aliases a job file may use
// (bigint, bool, ...) are not Delta's and are refused.
func arrowType(name string) (arrow.DataType, error) {
	unsupported := fmt.Errorf("%w: Delta type %s is not one lakemerge writes", ErrUnsupported, name)
	switch {
	case name == "timestamp_ntz":
		name = "timestamp"
	case strings.HasPrefix(name, "decimal("):
	case !slices.Contains([]string{"integer", "long", "float", "double", "boolean", "string", "binary", "date", "timestamp"}, name):
		return nil, unsupported
	}
	t, err := change.ParseType(name)
	if err != nil {
		return nil, unsupported
	}
	return t, nil
}

// schemaField is one field of Delta's schema serialization.
type schemaField struct {
	Name     string          `json:"name"`
	Type     json.RawMessage `json:"type"`
	Nullable bool            `json:"nullable"`
	Metadata map[string]any  `json:"metadata"`
}

type schemaStruct struct {
	Type   string        `json:"type"`
	Fields []schemaField `json:"fields"`
}

// formatSchema serializes cols as a Delta schemaString. Every column is
// nullable.
func formatSchema(cols []column) (string, error) {
	s := schemaStruct{Type: "struct", Fields: make([]schemaField, 0, len(cols))}
	for _, c := range cols {
		dt, err := columnType(c)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", c.name, err)
		}
		raw, _ := json.Marshal(dt)
		md := map[string]any{}
		if c.name != c.phys {
			md[nameKey] = c.name
		}
		s.Fields = append(s.Fields, schemaField{Name: c.phys, Type: raw, Nullable: true, Metadata: md})
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// parseSchema reads a Delta schemaString into columns. Nested types, column
// invariants and unknown types are refused.
func parseSchema(schemaString string) ([]column, error) {
	var s schemaStruct
	if err := json.Unmarshal([]byte(schemaString), &s); err != nil {
		return nil, fmt.Errorf("parse schema: %w", err)
	}
	if s.Type != "struct" {
		return nil, fmt.Errorf("parse schema: top-level type %q is not a struct", s.Type)
	}
	cols := make([]column, 0, len(s.Fields))
	seen := map[string]string{}
	for _, f := range s.Fields {
		var name string
		if err := json.Unmarshal(f.Type, &name); err != nil {
			return nil, fmt.Errorf("%w: column %s has a nested type", ErrUnsupported, f.Name)
		}
		if _, ok := f.Metadata["delta.invariants"]; ok {
			return nil, fmt.Errorf("%w: column %s has an invariant, which lakemerge cannot check", ErrUnsupported, f.Name)
		}
		typ, err := arrowType(name)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		c := column{name: f.Name, phys: f.Name, typ: typ, utc: name == "timestamp"}
		if orig, ok := f.Metadata[nameKey].(string); ok && strings.EqualFold(orig, f.Name) {
			c.name = orig
		}
		low := strings.ToLower(c.phys)
		if other, dup := seen[low]; dup {
			return nil, fmt.Errorf("parse schema: columns %s and %s differ only in case", other, f.Name)
		}
		seen[low] = f.Name
		cols = append(cols, c)
	}
	return cols, nil
}

// userColumns returns cols without _seq, as change columns.
func userColumns(cols []column) []change.Column {
	out := make([]change.Column, 0, len(cols))
	for _, c := range cols {
		if c.name != change.ColSeq {
			out = append(out, change.Column{Name: c.name, Type: c.typ})
		}
	}
	return out
}

// logicalSchema is the Arrow schema of rows as lakemerge sees them: every
// column under its lakemerge name and type.
func logicalSchema(cols []column) *arrow.Schema {
	fs := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fs[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
	}
	return arrow.NewSchema(fs, nil)
}

// physicalType is the Arrow type column c is written to Parquet with: a
// timestamp column of Delta type timestamp carries the UTC zone, so that
// Parquet marks it isAdjustedToUTC as that type requires; a timestamp_ntz
// column has none (isAdjustedToUTC false).
func physicalType(c column) arrow.DataType {
	if ts, ok := c.typ.(*arrow.TimestampType); ok && c.utc && ts.TimeZone == "" {
		return &arrow.TimestampType{Unit: ts.Unit, TimeZone: "UTC"}
	}
	return c.typ
}

// physicalSchema is the Arrow schema data files are written with.
func physicalSchema(cols []column) *arrow.Schema {
	fs := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fs[i] = arrow.Field{Name: c.phys, Type: physicalType(c), Nullable: true}
	}
	return arrow.NewSchema(fs, nil)
}

// findColumn returns the index of the column named name, or -1.
func findColumn(cols []column, name string) int {
	for i, c := range cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

// evolveColumns returns the columns of a table that has cur (nil: a new
// table) after Evolve(want): existing columns in their order with widened
// types, then the new ones, then _seq. widened reports a type change, which
// needs every data file rewritten.
func evolveColumns(cur []column, want []change.Column) (out []column, changed, widened bool, err error) {
	var errs []error
	byLower := map[string]string{}
	for _, c := range cur {
		if c.name != change.ColSeq {
			out = append(out, c)
		}
		byLower[c.phys] = c.name
	}
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w.Name] = true
		if change.IsSystemColumn(w.Name) {
			errs = append(errs, fmt.Errorf("column %s: a system column cannot be a table column", w.Name))
			continue
		}
		if err := checkName(w.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		i := findColumn(out, w.Name)
		if i < 0 {
			low := strings.ToLower(w.Name)
			if other, ok := byLower[low]; ok {
				errs = append(errs, fmt.Errorf("column %s: its Delta name %s is taken by column %s (Delta names ignore case)", w.Name, low, other))
				continue
			}
			if _, err := deltaType(w.Type); err != nil {
				errs = append(errs, fmt.Errorf("column %s: %w", w.Name, err))
				continue
			}
			byLower[low] = w.Name
			out = append(out, column{name: w.Name, phys: low, typ: w.Type})
			changed = true
			continue
		}
		if arrow.TypeEqual(out[i].typ, w.Type) {
			continue
		}
		got, err := change.Widen(out[i].typ, w.Type)
		if err != nil || !arrow.TypeEqual(got, w.Type) {
			errs = append(errs, fmt.Errorf("column %s: type %s cannot become %s (only widenings: int→long, float→double, decimal precision up)",
				w.Name, change.TypeName(out[i].typ), change.TypeName(w.Type)))
			continue
		}
		out[i].typ = w.Type
		changed, widened = true, true
	}
	if cur != nil {
		for _, c := range cur {
			if c.name != change.ColSeq && !wanted[c.name] {
				errs = append(errs, fmt.Errorf("column %s: lakemerge does not drop columns", c.name))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, false, false, err
	}
	// A table created by another writer may lack _seq: adding it is a
	// schema change.
	changed = changed || cur == nil || findColumn(cur, change.ColSeq) < 0
	return append(out, seqColumn), changed, widened, nil
}
