package change

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Column is one user column of a table: its name and Arrow type.
type Column struct {
	Name string
	Type arrow.DataType
}

// TypeNames lists the column type names a job file may use. decimal takes
// its precision and scale in parentheses: decimal(10,2), precision 1..38.
var typeNames = []string{"int", "long", "float", "double", "decimal(p,s)", "boolean", "string", "binary", "date", "timestamp"}

// TypeNames returns the column type names a job file may use.
func TypeNames() []string { return append([]string(nil), typeNames...) }

// Timestamp is the Arrow type of timestamp columns: microseconds, no zone,
// which is Iceberg's timestamp and what Athena reads.
var timestampType = &arrow.TimestampType{Unit: arrow.Microsecond}

// ParseType turns a job-file type name into its Arrow type. Names are
// case-insensitive; integer, bigint and bool are accepted as aliases.
func ParseType(name string) (arrow.DataType, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "int", "integer":
		return arrow.PrimitiveTypes.Int32, nil
	case "long", "bigint":
		return arrow.PrimitiveTypes.Int64, nil
	case "float":
		return arrow.PrimitiveTypes.Float32, nil
	case "double":
		return arrow.PrimitiveTypes.Float64, nil
	case "boolean", "bool":
		return arrow.FixedWidthTypes.Boolean, nil
	case "string":
		return arrow.BinaryTypes.String, nil
	case "binary":
		return arrow.BinaryTypes.Binary, nil
	case "date":
		return arrow.FixedWidthTypes.Date32, nil
	case "timestamp":
		return timestampType, nil
	}
	if strings.HasPrefix(n, "decimal(") && strings.HasSuffix(n, ")") {
		ps := strings.Split(n[len("decimal("):len(n)-1], ",")
		if len(ps) == 2 {
			p, err1 := strconv.Atoi(strings.TrimSpace(ps[0]))
			s, err2 := strconv.Atoi(strings.TrimSpace(ps[1]))
			if err1 == nil && err2 == nil && p >= 1 && p <= 38 && s >= 0 && s <= p {
				return &arrow.Decimal128Type{Precision: int32(p), Scale: int32(s)}, nil
			}
		}
		return nil, fmt.Errorf("type %q: decimal needs precision 1..38 and scale 0..precision, as decimal(10,2)", name)
	}
	return nil, fmt.Errorf("type %q is not one of %s", name, strings.Join(typeNames, ", "))
}

// TypeName is the job-file name of an Arrow type, the inverse of ParseType.
func TypeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.INT32:
		return "int"
	case arrow.INT64:
		return "long"
	case arrow.FLOAT32:
		return "float"
	case arrow.FLOAT64:
		return "double"
	case arrow.BOOL:
		return "boolean"
	case arrow.STRING:
		return "string"
	case arrow.BINARY:
		return "binary"
	case arrow.DATE32:
		return "date"
	case arrow.TIMESTAMP:
		return "timestamp"
	case arrow.DECIMAL128:
		d := t.(*arrow.Decimal128Type)
		return fmt.Sprintf("decimal(%d,%d)", d.Precision, d.Scale)
	}
	return t.String()
}

// Widen returns the type a column must have to hold values of both from (the
// stored type) and to (the incoming type): the wider of the two when one is a
// promotion of the other (int→long, float→double, decimal(P,S)→decimal(P',S)
// with P'≥P), an error naming both types otherwise.
func Widen(from, to arrow.DataType) (arrow.DataType, error) {
	if arrow.TypeEqual(from, to) {
		return from, nil
	}
	switch {
	case from.ID() == arrow.INT32 && to.ID() == arrow.INT64:
		return to, nil
	case from.ID() == arrow.INT64 && to.ID() == arrow.INT32:
		return from, nil
	case from.ID() == arrow.FLOAT32 && to.ID() == arrow.FLOAT64:
		return to, nil
	case from.ID() == arrow.FLOAT64 && to.ID() == arrow.FLOAT32:
		return from, nil
	case from.ID() == arrow.DECIMAL128 && to.ID() == arrow.DECIMAL128:
		a, b := from.(*arrow.Decimal128Type), to.(*arrow.Decimal128Type)
		if a.Scale == b.Scale {
			if b.Precision > a.Precision {
				return to, nil
			}
			return from, nil
		}
	}
	return nil, fmt.Errorf("type change %s → %s is not a widening (allowed: int→long, float→double, decimal precision up with equal scale)", TypeName(from), TypeName(to))
}

// Schema returns the Arrow schema of a change batch with the given user
// columns: every user column nullable, then _op and _seq (not nullable).
func Schema(cols []Column) *arrow.Schema {
	fields := make([]arrow.Field, 0, len(cols)+2)
	for _, c := range cols {
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Type, Nullable: true})
	}
	fields = append(fields,
		arrow.Field{Name: ColOp, Type: arrow.PrimitiveTypes.Int8},
		arrow.Field{Name: ColSeq, Type: arrow.BinaryTypes.Binary})
	return arrow.NewSchema(fields, nil)
}

// UserColumns returns the non-system columns of a change schema, in order.
func UserColumns(s *arrow.Schema) []Column {
	cols := make([]Column, 0, s.NumFields())
	for _, f := range s.Fields() {
		if !IsSystemColumn(f.Name) {
			cols = append(cols, Column{Name: f.Name, Type: f.Type})
		}
	}
	return cols
}

// ExtendColumns widens the columns of cols that more has with other types
// (Widen) and appends the columns cols lacks; a type change that is not a
// widening is an error naming the column. It changes cols in place.
func ExtendColumns(cols, more []Column) ([]Column, error) {
	for _, c := range more {
		i := slices.IndexFunc(cols, func(x Column) bool { return x.Name == c.Name })
		if i < 0 {
			cols = append(cols, c)
			continue
		}
		w, err := Widen(cols[i].Type, c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		cols[i].Type = w
	}
	return cols, nil
}
