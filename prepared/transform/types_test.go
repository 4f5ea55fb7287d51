package transform

import (
	"testing"

	"github.com/lakemerge/lakemerge/change"
)

// TestStoredType: the DuckDB types a curated column may have, as DESCRIBE
// names them, and the lakemerge type and cast each gets.
func TestStoredType(t *testing.T) {
	for _, c := range []struct {
		duck, typ, cast string
	}{
		{"BOOLEAN", "boolean", ""},
		{"TINYINT", "int", "INTEGER"},
		{"SMALLINT", "int", "INTEGER"},
		{"UTINYINT", "int", "INTEGER"},
		{"USMALLINT", "int", "INTEGER"},
		{"INTEGER", "int", ""},
		{"UINTEGER", "long", "BIGINT"},
		{"BIGINT", "long", ""},
		{"FLOAT", "float", ""},
		{"DOUBLE", "double", ""},
		{"DECIMAL(12,2)", "decimal(12,2)", ""},
		{"DECIMAL(38,0)", "decimal(38,0)", ""},
		{"VARCHAR", "string", ""},
		{"JSON", "string", "VARCHAR"},
		{"BLOB", "binary", ""},
		{"DATE", "date", ""},
		{"TIMESTAMP", "timestamp", ""},
		{"TIMESTAMP_S", "timestamp", "TIMESTAMP"},
		{"TIMESTAMP_MS", "timestamp", "TIMESTAMP"},
		{"TIMESTAMP WITH TIME ZONE", "timestamp", "TIMESTAMP"},
	} {
		typ, cast, why := storedType(parseType(c.duck))
		if why != "" || change.TypeName(typ) != c.typ || cast != c.cast {
			t.Errorf("%s: %v %q %q, want %s %q", c.duck, typ, cast, why, c.typ, c.cast)
		}
	}
	for _, duck := range []string{"UBIGINT", "HUGEINT", "UHUGEINT", "TIMESTAMP_NS", "TIME", "INTERVAL", "UUID",
		"INTEGER[]", "STRUCT(a INTEGER)", "MAP(VARCHAR, INTEGER)", "BIT", "TIME WITH TIME ZONE", "DECIMAL(40,2)"} {
		if typ, _, why := storedType(parseType(duck)); typ != nil || why == "" {
			t.Errorf("%s: stored as %v", duck, typ)
		}
	}
}

func TestCheckName(t *testing.T) {
	for name, bad := range map[string]bool{"a": false, "_op": true, "_seq": true, "_keep": true, "_pass": true,
		"__lm_x": true, "_other": false, "Op": false} {
		if got := checkName(name) != ""; got != bad {
			t.Errorf("checkName(%q) = %q", name, checkName(name))
		}
	}
}
