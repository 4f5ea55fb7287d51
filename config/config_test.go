package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/change"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestExample(t *testing.T) {
	job, err := Parse([]byte(Example), "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if job.Raw != "file:///data/dms" || job.Warehouse != "file:///data/warehouse" || job.Catalog != (Catalog{Type: "sqlite", Path: "catalog.db"}) {
		t.Fatalf("job %+v", job)
	}
	if len(job.Tables) != 3 {
		t.Fatalf("%d tables", len(job.Tables))
	}
	if p := job.Tables[2]; p.Format != FormatDebezium || p.Source.Prefix != "topics/pg.public.payments/" ||
		p.Debezium.Tombstones != "skip" || p.Debezium.Encodings["amount"] != "string" {
		t.Fatalf("payments %+v", p)
	}
	c := job.Tables[0]
	if c.Name != "customers" || c.Buckets != 8 || c.TargetFileMB != 128 || c.Target != (Target{"base", "customers"}) ||
		!c.DMS.Header || !c.DMS.IncludeOpForFullLoad || c.DMS.Delimiter != ',' || c.DMS.ChangeSeqColumn != "change_seq" ||
		len(c.Columns) != 7 || change.TypeName(c.Columns[2].Type) != "decimal(12,2)" {
		t.Fatalf("customers %+v", c)
	}
	o := job.Tables[1]
	if o.Name != "orders" || o.Source.Prefix != "public/orders/" || o.Buckets != 16 || o.Target != (Target{"base", "orders"}) ||
		o.DMS.Delimiter != '|' || o.DMS.NullValue != "NULL" || o.DMS.Header || len(o.PrimaryKey) != 2 || o.Format != FormatDMSCSV {
		t.Fatalf("orders %+v", o)
	}
}

func TestDefaults(t *testing.T) {
	job, err := Parse([]byte(`
raw: s3://bucket/raw/
warehouse: s3://bucket/wh
catalog: {type: glue}
tables:
  - source: {schema: sales, table: t}
    primary_key: id
    dms: {header: true}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	tb := job.Tables[0]
	if job.Raw != "s3://bucket/raw" || tb.Name != "t" || tb.Source.Prefix != "sales/t/" || tb.Target != (Target{"sales", "t"}) ||
		tb.Buckets != DefaultBuckets || tb.TargetFileMB != DefaultTargetFileMB || tb.TombstoneHorizon != DefaultTombstoneHorizon || tb.DMS.Delimiter != ',' || tb.PrimaryKey[0] != "id" {
		t.Fatalf("table %+v", tb)
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
		t.Fatalf("catalog path %s", job.Catalog.Path)
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
	if ts, err := job.Select([]string{"orders"}); err != nil || len(ts) != 1 || ts[0].Name != "orders" {
		t.Fatalf("orders: %v %v", ts, err)
	}
	_, err = job.Select([]string{"nope", "orders", "nada"})
	if err == nil || !strings.Contains(err.Error(), "nope, nada") || !strings.Contains(err.Error(), "customers, orders, payments") {
		t.Fatalf("unknown: %v", err)
	}
}

// TestInvalidGolden: each testdata/invalid/*.yaml gives exactly the errors in
// its .golden file (go test -update rewrites them).
func TestInvalidGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(data, filepath.Base(f))
			if err == nil {
				t.Fatal("invalid job file accepted")
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
				t.Fatalf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(Example))
	files, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		job, err := Parse(data, "fuzz.yaml")
		if err == nil && (job == nil || len(job.Tables) == 0) {
			t.Fatal("accepted a job without tables")
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
