package transform

// AthenaFunction is a function of Athena's SQL (Trino's) that DuckDB does
// not have, which every Engine defines as a DuckDB macro of the same name,
// so that an expression written for Athena runs here too.
type AthenaFunction struct {
	Name   string
	Params []string
	SQL    string // the macro's body, DuckDB SQL over Params
	// Note says where the result differs from Trino's, "" when it does
	// not for the values lakemerge's tables hold.
	Note string
}

// AthenaFunctions lists the macros every Engine defines, in a fresh slice.
// TestAthenaFunctionsMatchTrino compares each with Trino 476.
func AthenaFunctions() []AthenaFunction {
	return []AthenaFunction{
		{Name: "to_utf8", Params: []string{"s"}, SQL: "encode(s)"},
		{Name: "from_utf8", Params: []string{"b"}, SQL: "decode(b)",
			Note: "invalid UTF-8 is an error (Trino replaces it with U+FFFD)"},
		{Name: "from_iso8601_timestamp", Params: []string{"s"}, SQL: "CAST(s AS TIMESTAMP WITH TIME ZONE)",
			Note: "stored as the UTC timestamp (the time zone is not kept)"},
		{Name: "from_iso8601_date", Params: []string{"s"}, SQL: "CAST(s AS DATE)"},
		{Name: "from_unixtime", Params: []string{"x"}, SQL: "to_timestamp(x)",
			Note: "stored as the UTC timestamp"},
		{Name: "to_unixtime", Params: []string{"t"}, SQL: "epoch(t)"},
		{Name: "regexp_like", Params: []string{"s", "pattern"}, SQL: "regexp_matches(s, pattern)",
			Note: "RE2 syntax (Trino: Java's)"},
		{Name: "day_of_week", Params: []string{"d"}, SQL: "isodow(d)"},
		{Name: "day_of_year", Params: []string{"d"}, SQL: "dayofyear(d)"},
		{Name: "week_of_year", Params: []string{"d"}, SQL: "week(d)"},
		{Name: "year_of_week", Params: []string{"d"}, SQL: "isoyear(d)"},
		{Name: "json_extract_scalar", Params: []string{"json", "path"},
			SQL: "CASE WHEN json_type(json, path) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(json, path) END"},
	}
}
