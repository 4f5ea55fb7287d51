package transform

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
)

// Definition is the SQL of one prepared table.
type Definition struct {
	// Select lists the curated columns in order, each one SQL expression
	// over the base row, optionally followed by AS name; a bare column
	// keeps its name. Every column needs a name, unique regardless of
	// case (Athena folds names to lower case).
	Select []string
	// Where is a condition over the base row; "" keeps every row.
	Where string
}

// ColPass is the system column Transform adds last: true when the row is
// an insert or update whose new image passes the definition's where
// (where IS TRUE), false for deletes and for rows that fail it or where it
// is NULL. Mirror mode deletes the key of a row that does not pass.
const ColPass = "_pass"

// WhereItem is ExprError.Item of a problem with Definition.Where.
const WhereItem = -1

// ExprError is a problem with one expression of a Definition.
type ExprError struct {
	Item int // index in Definition.Select, or WhereItem
	Msg  string
}

func (e ExprError) Error() string {
	if e.Item == WhereItem {
		return "where: " + e.Msg
	}
	return fmt.Sprintf("select[%d]: %s", e.Item, e.Msg)
}

// Errors is every problem found in a Definition, select items in order,
// then where.
type Errors []ExprError

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, x := range e {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// ErrNoEngine is the error of Open in a binary built without the SQL
// engine (see the package doc).
var ErrNoEngine = errors.New("this lakemerge was built without the SQL engine that prepared tables need (DuckDB): build it with cgo and -tags duckdb_arrow")

// Options configure an Engine.
type Options struct {
	// Threads is how many threads DuckDB evaluates a batch with; 0 means
	// DefaultThreads.
	Threads int
	// MemoryLimitMB bounds the memory DuckDB allocates itself (the
	// results it holds before Transform copies them); 0 means
	// DefaultMemoryLimitMB.
	MemoryLimitMB int
}

// Defaults of Options.
const (
	DefaultThreads       = 2
	DefaultMemoryLimitMB = 1024
)

// Parsed is what the text of a Definition tells without the base
// columns: each curated column's name, and the base column it is a bare
// reference of, if it is one.
type Parsed struct {
	Names   []string // one per select item; "" for an item with a problem
	Sources []string // "" where the expression is not a bare column
	// Refs are the columns the expressions name, each once, in the order
	// they first appear (select items, then where).
	Refs []string
}

// reservedPrefix starts the names of the columns the engine adds to the
// relation the expressions read; expressions may not name them.
const reservedPrefix = "__lm_"

// sqlValueFunctions are the names DuckDB's parser reads as columns and its
// binder turns into functions when no column has the name (SQL's
// CURRENT_DATE and the like). They are not column references.
var sqlValueFunctions = map[string]bool{
	"current_catalog": true, "current_date": true, "current_schema": true, "current_time": true,
	"current_timestamp": true, "current_user": true, "current_role": true, "localtime": true,
	"localtimestamp": true, "session_user": true, "user": true, "current_database": true,
}

// checkName reports the problem with a curated column name, or "".
func checkName(name string) string {
	switch {
	case change.IsSystemColumn(name), name == ColPass:
		return fmt.Sprintf("%s is a column lakemerge adds itself: name the column otherwise", name)
	case strings.HasPrefix(name, reservedPrefix):
		return fmt.Sprintf("names starting with %s are lakemerge's own: name the column otherwise", reservedPrefix)
	}
	return ""
}

// storedType maps the result type of an expression, as DuckDB names it,
// to the lakemerge column type that stores it. cast is the DuckDB type to
// cast the result to first ("" for none): small integers widen to int, a
// timestamp with time zone becomes the UTC timestamp. ok is false for
// types lakemerge cannot store; why then says what to write instead.
func storedType(t duckType) (typ arrow.DataType, cast string, why string) {
	switch t.ID {
	case "BOOLEAN":
		return arrow.FixedWidthTypes.Boolean, "", ""
	case "TINYINT", "SMALLINT", "UTINYINT", "USMALLINT":
		return arrow.PrimitiveTypes.Int32, "INTEGER", ""
	case "INTEGER":
		return arrow.PrimitiveTypes.Int32, "", ""
	case "UINTEGER":
		return arrow.PrimitiveTypes.Int64, "BIGINT", ""
	case "BIGINT":
		return arrow.PrimitiveTypes.Int64, "", ""
	case "FLOAT":
		return arrow.PrimitiveTypes.Float32, "", ""
	case "DOUBLE":
		return arrow.PrimitiveTypes.Float64, "", ""
	case "DECIMAL":
		if t.Width < 1 || t.Width > 38 || t.Scale < 0 || t.Scale > t.Width {
			return nil, "", fmt.Sprintf("is DECIMAL(%d,%d), which lakemerge cannot store: CAST it to DECIMAL(p,s) with p in 1..38", t.Width, t.Scale)
		}
		return &arrow.Decimal128Type{Precision: int32(t.Width), Scale: int32(t.Scale)}, "", ""
	case "VARCHAR":
		return arrow.BinaryTypes.String, "", ""
	case "JSON":
		return arrow.BinaryTypes.String, "VARCHAR", ""
	case "BLOB":
		return arrow.BinaryTypes.Binary, "", ""
	case "DATE":
		return arrow.FixedWidthTypes.Date32, "", ""
	case "TIMESTAMP":
		return &arrow.TimestampType{Unit: arrow.Microsecond}, "", ""
	case "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP WITH TIME ZONE":
		return &arrow.TimestampType{Unit: arrow.Microsecond}, "TIMESTAMP", ""
	case "TIMESTAMP_NS":
		return nil, "", "is TIMESTAMP_NS, which lakemerge cannot store (timestamps are microseconds): CAST it to TIMESTAMP"
	case "UBIGINT", "HUGEINT", "UHUGEINT", "BIGNUM", "VARINT":
		return nil, "", fmt.Sprintf("is %s, which lakemerge cannot store: CAST it to BIGINT or DECIMAL(38,0)", t.ID)
	}
	return nil, "", fmt.Sprintf("is %s, which lakemerge cannot store: CAST it to one of %s (e.g. CAST(x AS VARCHAR))", t.Name(), storableSQL)
}

// storableSQL names the DuckDB types of lakemerge's column types.
const storableSQL = "INTEGER, BIGINT, FLOAT, DOUBLE, DECIMAL(p,s), BOOLEAN, VARCHAR, BLOB, DATE, TIMESTAMP"

// duckType is a DuckDB type, as DESCRIBE names it.
type duckType struct {
	ID           string // the name, without DECIMAL's parameters
	Width, Scale int    // DECIMAL's
}

// parseType reads a type name of DESCRIBE: INTEGER, DECIMAL(12,2),
// TIMESTAMP WITH TIME ZONE, INTEGER[] and so on.
func parseType(s string) duckType {
	if inner, ok := strings.CutPrefix(s, "DECIMAL("); ok {
		if ps, ok := strings.CutSuffix(inner, ")"); ok {
			w, s, _ := strings.Cut(ps, ",")
			width, err1 := strconv.Atoi(strings.TrimSpace(w))
			scale, err2 := strconv.Atoi(strings.TrimSpace(s))
			if err1 == nil && err2 == nil {
				return duckType{ID: "DECIMAL", Width: width, Scale: scale}
			}
		}
	}
	return duckType{ID: s}
}

// Name is the type as SQL writes it.
func (t duckType) Name() string {
	if t.ID == "DECIMAL" {
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Width, t.Scale)
	}
	return t.ID
}
