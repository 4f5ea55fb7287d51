package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/internal/testkit/golden"
)

var update = flag.Bool("update", false, "rewrite the .golden files of testdata/invalid")

// columns builds a column list from "name type" pairs.
func columns(t *testing.T, specs ...string) []change.Column {
	t.Helper()
	out := make([]change.Column, len(specs))
	for i, s := range specs {
		name, typ, _ := strings.Cut(s, " ")
		dt, err := change.ParseType(typ)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = change.Column{Name: name, Type: dt}
	}
	return out
}

func TestExample(t *testing.T) {
	job, err := Parse([]byte(Example), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	week := 7 * 24 * time.Hour
	// line is the line of Example that text starts on.
	line := func(text string) int {
		t.Helper()
		i := strings.Index(Example, text)
		if i < 0 {
			t.Fatalf("%q is not in Example", text)
		}
		return strings.Count(Example[:i], "\n") + 1
	}
	hist := line("select: [customer_id, name, balance, vip]")
	want := &Job{
		Raw:       "file:///data/dms",
		Warehouse: "file:///data/warehouse",
		Catalog:   Catalog{Type: "sqlite", Path: "catalog.db"},
		Tables: []Table{{
			Name:       "customers",
			Source:     Source{Schema: "public", Table: "customers", Prefix: "public/customers/"},
			Format:     FormatDMSCSV,
			PrimaryKey: []string{"customer_id"},
			Columns: columns(t, "customer_id long", "name string", "email string", "balance decimal(12,2)", "vip boolean",
				"signed_up date", "updated_at timestamp", "change_seq string"),
			Target:           Target{Database: "base", Table: "customers", Format: TargetIceberg},
			Buckets:          8, // the table's own, over defaults.buckets
			TargetFileMB:     128,
			TombstoneHorizon: week,
			Ignore:           []string{"_SUCCESS", "*.tmp"},
			// header and the rest from the table, delimiter from defaults.dms.
			DMS: DMS{Delimiter: ',', Header: true, IncludeOpForFullLoad: true,
				TimestampColumn: "dms_ts", ChangeSeqColumn: "change_seq"},
			Prepared: []Prepared{{
				Target: Target{Database: "prepared", Table: "customers", Format: TargetIceberg},
				Mode:   ModeMirror,
				Select: []Expr{
					{"customer_id", line("- customer_id ")},
					{"name AS customer_name", line("- name AS customer_name")},
					{"sha256(lower(email)) AS email_sha256", line("- sha256(")},
					{"CAST(balance AS double) AS balance", line("- CAST(balance")},
					{"CASE WHEN vip THEN 'gold' ELSE 'standard' END AS tier", line("- CASE")},
					{"signed_up", line("- signed_up")},
					{"date_trunc('month', updated_at) AS updated_month", line("- date_trunc")},
				},
				Where:       Expr{"balance >= 0", line("where: balance")},
				PartitionBy: []PartitionField{{Transform: PartitionMonth, Column: "signed_up", Line: line("partition_by: [month")}},
				SortBy:      []SortField{{Column: "customer_id", Line: line("sort_by: [customer_id]")}},
				OnChange:    OnChangeStop,
				Line:        line("- target:\n          table: customers"),
				SelectLine:  line("select:                     #"),
			}, {
				Target:     Target{Database: "prepared", Table: "customers_history", Format: TargetDelta},
				Mode:       ModeHistory,
				Select:     []Expr{{"customer_id", hist}, {"name", hist}, {"balance", hist}, {"vip", hist}},
				OnChange:   OnChangeStop,
				Line:       line("- target: { table: customers_history"),
				SelectLine: hist,
			}},
			Maintenance: DefaultMaintenance,
		}, {
			Name:             "orders", // from source.table
			Source:           Source{Schema: "public", Table: "orders", Prefix: "public/orders/"},
			Format:           FormatDMSCSV,
			PrimaryKey:       []string{"order_id", "line_no"},
			Columns:          columns(t, "order_id long", "line_no int", "sku string", "quantity int", "price decimal(10,2)"),
			Target:           Target{Database: "base", Table: "orders", Format: TargetIceberg},
			Buckets:          16,
			TargetFileMB:     128,
			TombstoneHorizon: week,
			Ignore:           []string{"_SUCCESS", "*.tmp"},
			DMS:              DMS{Delimiter: '|', NullValue: "NULL"},
			// compact_delete_files from the table, the rest from defaults.
			Maintenance: Maintenance{Enabled: true, CompactDeleteFiles: 4, CompactSmallFiles: 16, SmallFileMB: 32, RewriteDeletedPct: 10,
				KeepSnapshots: 10, TimeTravel: 24 * time.Hour, OrphanAge: 24 * time.Hour},
		}, {
			Name:             "payments",
			Source:           Source{Schema: "public", Table: "payments", Topic: "pg.public.payments", Prefix: "topics/pg.public.payments/"},
			Format:           FormatDebezium,
			PrimaryKey:       []string{"payment_id"},
			Columns:          columns(t, "payment_id long", "amount decimal(12,2)", "paid_at timestamp"),
			Target:           Target{Database: "base", Table: "payments", Format: TargetIceberg},
			Buckets:          16,
			TargetFileMB:     128,
			TombstoneHorizon: week,
			Ignore:           []string{"_SUCCESS", "*.tmp"},
			DMS:              DMS{Delimiter: ','},
			Debezium:         Debezium{Tombstones: "skip", WideDecimals: WideDecimalsError, Encodings: map[string]string{"amount": "string"}},
			Maintenance:      DefaultMaintenance,
		}},
	}
	if !reflect.DeepEqual(job, want) {
		t.Fatalf("got  %+v\nwant %+v", job, want)
	}
}

func TestDefaults(t *testing.T) {
	job, err := Parse([]byte(`
raw: s3://bucket/raw/
warehouse: s3://bucket/wh
catalog: {type: glue}
defaults:
  dms: {delimiter: ";", null_value: N, no_sup_value: "@NOSUP"}
  debezium: {wide_decimals: string, tombstones: delete}
tables:
  - source: {schema: sales, table: t}
    primary_key: id
    dms: {header: true}
  - source: {schema: sales, table: u, topic: x.sales.u, prefix: /landing/u}
    primary_key: [a, b]
    buckets: 0
    format: debezium-json
    columns: [{name: a, type: int}, {name: b, type: string}]
    debezium: {tombstones: skip, single_partition: true}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if job.Raw != "s3://bucket/raw" || job.Path != "" || job.Catalog != (Catalog{Type: "glue"}) || job.S3 != (S3{}) {
		t.Fatalf("job %+v", job)
	}
	want := Table{
		Name:             "t",
		Source:           Source{Schema: "sales", Table: "t", Prefix: "sales/t/"},
		Format:           FormatDMSCSV,
		PrimaryKey:       []string{"id"},
		Target:           Target{Database: "sales", Table: "t", Format: TargetIceberg},
		Buckets:          DefaultBuckets,
		TargetFileMB:     DefaultTargetFileMB,
		TombstoneHorizon: DefaultTombstoneHorizon,
		DMS:              DMS{Delimiter: ';', NullValue: "N", NoSupValue: "@NOSUP", Header: true},
		Maintenance:      DefaultMaintenance,
	}
	if !reflect.DeepEqual(job.Tables[0], want) {
		t.Fatalf("got  %+v\nwant %+v", job.Tables[0], want)
	}
	u := job.Tables[1]
	if u.Name != "u" || u.Source.Prefix != "landing/u/" || u.Buckets != 0 ||
		!reflect.DeepEqual(u.Debezium, Debezium{Tombstones: "skip", SinglePartition: true, WideDecimals: WideDecimalsString}) ||
		!slices.Equal(u.PrimaryKey, []string{"a", "b"}) || len(u.Columns) != 2 {
		t.Fatalf("table %+v", u)
	}
}

func TestDefaultsDatabase(t *testing.T) {
	job, err := Parse([]byte(`
raw: file:///r
warehouse: file:///w
catalog: {type: sqlite, path: /var/lib/lakemerge/c.db}
defaults: {database: lake, dms: {header: true}}
tables:
  - {source: {schema: a, table: t}, primary_key: id, name: a_t}
  - {source: {schema: b, table: t}, primary_key: id, name: b_t, target: {database: other}}
  - {source: {schema: c, table: t}, primary_key: id, name: c_t, target: {table: t3}}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []Target
	for _, tb := range job.Tables {
		got = append(got, tb.Target)
	}
	want := []Target{{"lake", "t", TargetIceberg}, {"other", "t", TargetIceberg}, {"lake", "t3", TargetIceberg}}
	if !slices.Equal(got, want) {
		t.Fatalf("targets %v, want %v", got, want)
	}
}

func TestLoadResolvesCatalogPath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(p, []byte(Example), 0o644); err != nil {
		t.Fatal(err)
	}
	job, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if job.Catalog.Path != filepath.Join(dir, "catalog.db") || job.Path != p {
		t.Fatalf("path %s, catalog path %s", job.Path, job.Catalog.Path)
	}

	// An absolute path stays as it is.
	abs := filepath.Join(t.TempDir(), "elsewhere.db")
	if err := os.WriteFile(p, []byte(strings.Replace(Example, "path: catalog.db", "path: "+abs, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if job, err = Load(p); err != nil || job.Catalog.Path != abs {
		t.Fatalf("absolute catalog path: %v, %v", job, err)
	}
}

// TestMemoryKeys: memory_mb and spill_dir are read; a relative spill_dir
// is relative to the job file, like the catalog path; left out, both are
// zero (cmd picks the defaults).
func TestMemoryKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(p, []byte("memory_mb: 256\nspill_dir: spill\n"+Example), 0o644); err != nil {
		t.Fatal(err)
	}
	job, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if job.MemoryMB != 256 || job.SpillDir != filepath.Join(dir, "spill") {
		t.Fatalf("memory_mb %d, spill_dir %q", job.MemoryMB, job.SpillDir)
	}
	if job, err = Parse([]byte("spill_dir: /var/tmp/lm\n"+Example), "job.yaml"); err != nil || job.SpillDir != "/var/tmp/lm" || job.MemoryMB != 0 {
		t.Fatalf("absolute spill_dir: %+v, %v", job, err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	p := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(p, []byte("raw: file:///r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 || errs[0].File != p || !strings.HasPrefix(err.Error(), p+":1: ") {
		t.Fatalf("invalid file: %v", err)
	}
}

func TestSelect(t *testing.T) {
	job, err := Parse([]byte(Example), "")
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := job.Select(nil); err != nil || len(ts) != 3 {
		t.Fatalf("all: %v %v", ts, err)
	}
	if ts, err := job.Select([]string{"payments", "orders"}); err != nil || len(ts) != 2 || ts[0].Name != "payments" || ts[1].Name != "orders" {
		t.Fatalf("payments, orders: %v %v", ts, err)
	}
	if ts, err := job.Select([]string{"orders", "payments", "orders"}); err != nil || len(ts) != 2 || ts[0].Name != "orders" || ts[1].Name != "payments" {
		t.Fatalf("orders twice: %v %v", ts, err)
	}
	_, err = job.Select([]string{"nope", "orders", "nada"})
	if err == nil || err.Error() != "unknown table nope, nada (the job file has: customers, orders, payments)" {
		t.Fatalf("unknown: %v", err)
	}
}

// invalidFiles are the job files of testdata/invalid. Each has a .golden
// file with its exact errors, and marks each line that has one with
// "# want error".
func invalidFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	return files
}

// TestInvalidGolden: each testdata/invalid/*.yaml gives exactly the errors in
// its .golden file (go test -update rewrites them).
func TestInvalidGolden(t *testing.T) {
	for _, f := range invalidFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			job, err := Parse(data, filepath.Base(f))
			if err == nil || job != nil {
				t.Fatalf("invalid job file accepted: %+v", job)
			}
			got := err.Error() + "\n"
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".golden", got, *update)
		})
	}
}

// TestInvalidLines checks the lines of the errors against the lines the
// testdata marks, independently of the golden files: every problem is
// reported, on its own line, in line order.
func TestInvalidLines(t *testing.T) {
	for _, f := range invalidFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			for i, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, "# want error") {
					want = append(want, i+1)
				}
			}
			_, err = Parse(data, filepath.Base(f))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %v, want Errors", err, err)
			}
			var got []int
			for _, fe := range errs {
				if fe.File != filepath.Base(f) || fe.Msg == "" {
					t.Errorf("malformed %#v", fe)
				}
				if fe.Line > 0 && !slices.Contains(got, fe.Line) {
					got = append(got, fe.Line)
				}
			}
			if !slices.IsSorted(got) {
				t.Errorf("errors not in line order: %v", got)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("errors on lines %v, want %v:\n%v", got, want, err)
			}
		})
	}
}

func TestManyProblemsAtOnce(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "invalid", "many.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(data, "many.yaml")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) < 20 {
		t.Fatalf("%d problems: %v", len(errs), err)
	}
	// At least eight different kinds of problem, as told by their messages.
	kinds := map[string]bool{}
	for _, fe := range errs {
		for _, k := range []string{"want a file:///", "absolute path", "required", "out of range",
			"one character", "letters, digits", "unknown field", "listed twice", "adds itself",
			"not among the columns", "floats cannot be keys", "want true or false", "also used by",
			"also written by", "want one of"} {
			if strings.Contains(fe.Msg, k) {
				kinds[k] = true
			}
		}
	}
	if len(kinds) < 8 {
		t.Fatalf("%d kinds of problem: %v", len(kinds), kinds)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "job.yaml", Line: 12, Path: "tables[1].primary_key", Msg: "required"}, "job.yaml:12: tables[1].primary_key: required"},
		{FieldError{File: "job.yaml", Msg: "empty"}, "job.yaml: empty"},
		{FieldError{Line: 3, Path: "raw", Msg: "required"}, ":3: raw: required"},
		{FieldError{Path: "raw", Msg: "required"}, "raw: required"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%#v: %q, want %q", c.e, got, c.want)
		}
	}
	if got := (Errors{{File: "a", Line: 1, Msg: "x"}, {File: "a", Line: 2, Msg: "y"}}).Error(); got != "a:1: x\na:2: y" {
		t.Errorf("Errors: %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(Example))
	for _, p := range invalidFiles(f) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		job, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var errs Errors
			if job != nil || !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("job %v, error %T %v", job, err, err)
			}
			return
		}
		if len(job.Tables) == 0 || job.Raw == "" || job.Warehouse == "" {
			t.Fatalf("accepted an incomplete job: %+v", job)
		}
		names := map[string]bool{}
		for _, tb := range job.Tables {
			if tb.Name == "" || names[tb.Name] || len(tb.PrimaryKey) == 0 || !strings.HasSuffix(tb.Source.Prefix, "/") ||
				tb.Target.Database == "" || tb.Target.Table == "" || tb.DMS.Delimiter == 0 ||
				tb.Buckets < 0 || tb.Buckets > 1024 || tb.TargetFileMB < 1 || tb.TargetFileMB > 4096 {
				t.Fatalf("accepted a bad table: %+v", tb)
			}
			names[tb.Name] = true
			for _, pr := range tb.Prepared {
				if len(pr.Select) == 0 || pr.Target.Database == "" || pr.Target.Table == "" ||
					(pr.Mode != ModeMirror && pr.Mode != ModeHistory && pr.Mode != ModeChangelog) ||
					(pr.OnChange != OnChangeStop && pr.OnChange != OnChangeRebuild) ||
					(pr.Target.Format != TargetIceberg && pr.Target.Format != TargetDelta) {
					t.Fatalf("accepted a bad prepared table: %+v", pr)
				}
			}
		}
	})
}

// TestReadmeShowsExample keeps the README's job file section true.
func TestReadmeShowsExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml"+Example+"```") {
		t.Fatal("README.md does not show config.Example verbatim; copy it into the job file section")
	}
}

func TestSuggest(t *testing.T) {
	for _, c := range []struct {
		name    string
		allowed []string
		want    string
	}{
		{"primary_keys", tableFields, "primary_key"},
		{"Buckets", tableFields, "buckets"},
		{"targets", tableFields, "target"},
		{"tabels", topFields, "tables"},
		{"warehose", topFields, "warehouse"},
		{"b", topFields, ""}, // too short to be a typo of s3
		{"db", dmsFields, ""},
		{"colour", debeziumFields, ""},
	} {
		if got := suggest(c.name, c.allowed); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestIgnoreAddsToDefaults: a table's ignore globs add to those of
// defaults; a table without its own keeps the defaults'.
func TestIgnoreAddsToDefaults(t *testing.T) {
	job, err := Parse([]byte(`raw: file:///r
warehouse: file:///w
catalog: {type: sqlite, path: c.db}
defaults: {ignore: [_SUCCESS]}
tables:
  - source: {schema: s, table: a}
    primary_key: [id]
    columns: [{name: id, type: long}]
    ignore: ["manifests/*", "*.tmp"]
  - source: {schema: s, table: b}
    primary_key: [id]
    columns: [{name: id, type: long}]
`), "job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := job.Tables[0].Ignore; !reflect.DeepEqual(got, []string{"_SUCCESS", "manifests/*", "*.tmp"}) {
		t.Errorf("table a: %q", got)
	}
	if got := job.Tables[1].Ignore; !reflect.DeepEqual(got, []string{"_SUCCESS"}) {
		t.Errorf("table b: %q", got)
	}
}

// TestDebeziumKeyNotInColumns: a debezium-json table's columns may type a
// few columns only; its key need not be among them (the events' schema
// types it).
func TestDebeziumKeyNotInColumns(t *testing.T) {
	job, err := Parse([]byte(`
raw: file:///r
warehouse: file:///w
catalog: {type: sqlite, path: c.db}
tables:
  - source: {schema: s, table: t, topic: p.s.t}
    format: debezium-json
    primary_key: [id]
    columns: [{name: amount, type: string}]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if tb := job.Tables[0]; !slices.Equal(tb.PrimaryKey, []string{"id"}) || len(tb.Columns) != 1 {
		t.Fatalf("table %+v", tb)
	}
}

// TestBeforeImageColumns checks that before-image columns listed among the
// columns leave the table's columns and come out as the DMS setting.
func TestBeforeImageColumns(t *testing.T) {
	job, err := Parse([]byte(`
raw: file:///r
warehouse: file:///w
catalog: {path: c.db}
defaults:
  dms: {before_image_prefix: BI_}
tables:
  - source: {schema: public, table: order_details}
    primary_key: [order_id, product_id]
    columns:
      - {name: order_id, type: int}
      - {name: product_id, type: int}
      - {name: qty, type: int}
      - {name: BI_order_id, type: int}
      - {name: BI_product_id, type: int}
  - source: {schema: public, table: t}
    primary_key: [code]
    columns: [{name: code, type: string}]
    dms: {header: true, before_image_prefix: "", before_image_suffix: _old}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	a, b := job.Tables[0], job.Tables[1]
	if want := columns(t, "order_id int", "product_id int", "qty int"); !reflect.DeepEqual(a.Columns, want) {
		t.Errorf("columns %v, want %v", a.Columns, want)
	}
	if want := (DMS{Delimiter: ',', BeforeImagePrefix: "BI_", BeforeImageColumns: []string{"BI_order_id", "BI_product_id"}}); !reflect.DeepEqual(a.DMS, want) {
		t.Errorf("dms %+v, want %+v", a.DMS, want)
	}
	if want := (DMS{Delimiter: ',', Header: true, BeforeImageSuffix: "_old"}); !reflect.DeepEqual(b.DMS, want) {
		t.Errorf("dms %+v, want %+v", b.DMS, want)
	}
}
