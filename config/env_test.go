package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testEnv is the environment the testdata/env files are parsed with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"RAW_BUCKET":  "dms-bucket",
		"LAKE_BUCKET": "lake-bucket",
		"LAKE_PREFIX": "base",
		"BUCKETS":     "8",
		"HORIZON":     "24h",
		"HEADER":      "true",
		"DB":          "sales",
		"EMPTY":       "",
	}[name]
	return v, ok
}

func TestParseEnv(t *testing.T) {
	data, err := os.ReadFile("testdata/env/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	job, err := ParseEnv(data, "valid.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	tb := job.Tables[0]
	for _, c := range []struct{ what, got, want string }{
		{"raw", job.Raw, "s3://dms-bucket/dms"},
		{"warehouse (quoted, two variables)", job.Warehouse, "s3://lake-bucket/base"},
		{"catalog.region (empty variable)", job.Catalog.Region, "eu-west-1"},
		{"null_value ($$)", tb.DMS.NullValue, "$NULL"},
		{"no_sup_value (lone $)", tb.DMS.NoSupValue, "@$NOSUP"},
		{"name (quoted number stays a string)", tb.Name, "8"},
		{"target.database", tb.Target.Database, "sales"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	if tb.Buckets != 8 || !tb.DMS.Header || tb.TombstoneHorizon != 24*time.Hour {
		t.Errorf("typed after expansion: buckets %d, header %v, horizon %v; want 8, true, 24h", tb.Buckets, tb.DMS.Header, tb.TombstoneHorizon)
	}

	// Parse (no environment) leaves the references as written.
	job, err = Parse(data, "valid.yaml")
	var errs Errors
	if !errors.As(err, &errs) || !strings.Contains(err.Error(), `"${BUCKETS}"`) {
		t.Fatalf("Parse without an environment: %v, %v; want the unexpanded ${BUCKETS} refused as a number", job, err)
	}
}

// TestParseEnvErrors: every reference that cannot be filled in is one
// error naming the variable, with its line and path, reported together
// with the file's other problems; a value whose reference failed gets no
// second error from its field's check.
func TestParseEnvErrors(t *testing.T) {
	const f = "testdata/env/invalid.yaml"
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseEnv(data, "ssm:/lakemerge/job", testEnv)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %v, want Errors", err, err)
	}
	got := err.Error() + "\n"
	golden := strings.TrimSuffix(f, ".yaml") + ".golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	// Independently of the golden file: the lines marked in the testdata.
	var wantLines, gotLines []int
	for i, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "# want error") {
			wantLines = append(wantLines, i+1)
		}
	}
	for _, fe := range errs {
		if fe.File != "ssm:/lakemerge/job" {
			t.Errorf("error names %q, want the source", fe.File)
		}
		if !slices.Contains(gotLines, fe.Line) {
			gotLines = append(gotLines, fe.Line)
		}
	}
	if !slices.Equal(gotLines, wantLines) {
		t.Errorf("errors on lines %v, want %v", gotLines, wantLines)
	}
	for _, name := range []string{"RAW_PREFIX", "NO_BUCKETS", "${1TABLE}", `"${DB"`, "${A-B}", "C is not set"} {
		if !strings.Contains(got, name) {
			t.Errorf("no error names %s", name)
		}
	}
}

func TestLoadEnv(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "job.yaml")
	text := strings.Replace(Example, "path: catalog.db", "path: ${CATALOG_FILE}", 1)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(name string) (string, bool) {
		if name == "CATALOG_FILE" {
			return "state/catalog.db", true
		}
		return "", false
	}
	job, err := LoadEnv(p, env)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "state/catalog.db"); job.Catalog.Path != want {
		t.Fatalf("catalog path %s, want %s (expanded, then resolved against the file's folder)", job.Catalog.Path, want)
	}
}

func TestExpandValue(t *testing.T) {
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"A": "x", "B_2": "$y", "E": ""}[name]
		return v, ok
	}
	for _, c := range []struct {
		in, want string
		problems int
	}{
		{"plain", "plain", 0},
		{"${A}", "x", 0},
		{"${A}${B_2}", "x$y", 0}, // a value is not expanded again
		{"a$$b", "a$b", 0},
		{"$$${A}", "$x", 0},
		{"$", "$", 0},
		{"cost: 5$", "cost: 5$", 0},
		{"$A", "$A", 0},
		{"${E}", "", 0},
		{"${MISSING}", "", 1},
		{"${MISSING} ${ALSO}", "", 2},
		{"${}", "", 1},
		{"${A", "", 1},
		{"${a b}", "", 1},
	} {
		got, problems := expandValue(c.in, env)
		if len(problems) != c.problems || (c.problems == 0 && got != c.want) {
			t.Errorf("expandValue(%q) = %q, %q; want %q and %d problems", c.in, got, problems, c.want, c.problems)
		}
	}
}
