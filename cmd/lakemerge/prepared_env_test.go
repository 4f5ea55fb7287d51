package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// mirrorEnv is where a prepared-table test's job runs: the local default
// in dir, or S3 and Glue on the moto server (aws set; dir holds the job
// file and the raw files before they are uploaded). Every prepared test
// writes its job with accountsJob: the two base tables of the accounts
// source, each with the prepared tables of the test.
type mirrorEnv struct {
	dir string
	aws *mirrorAWS
	// debezium makes the sources Debezium topics (writeDebeziumFile's
	// layout) instead of DMS folders.
	debezium bool
}

type mirrorAWS struct {
	ep                 string
	raw, wh            string // buckets
	baseDB, preparedDB string
	s3                 *s3.Client
	uploaded           map[string]bool
}

// awsEnv is a mirrorEnv on the moto server: new buckets for the raw zone
// and the warehouse, and new Glue databases, named after the clock.
func awsEnv(t *testing.T) *mirrorEnv {
	t.Helper()
	ep := awsEndpoint(t)
	c := s3Client(t, ep)
	sfx := time.Now().UnixNano()
	e := &mirrorEnv{dir: t.TempDir(), aws: &mirrorAWS{ep: ep, raw: fmt.Sprintf("lm-praw-%d", sfx), wh: fmt.Sprintf("lm-pwh-%d", sfx),
		baseDB: fmt.Sprintf("base%d", sfx), preparedDB: fmt.Sprintf("prepared%d", sfx), s3: c, uploaded: map[string]bool{}}}
	createBuckets(t, c, e.aws.raw, e.aws.wh)
	return e
}

// databases are the base and prepared databases of the job.
func (e *mirrorEnv) databases() (string, string) {
	if e.aws != nil {
		return e.aws.baseDB, e.aws.preparedDB
	}
	return "base", "prepared"
}

// sync uploads the raw files not uploaded yet (S3 only).
func (e *mirrorEnv) sync(t *testing.T) {
	t.Helper()
	if e.aws == nil {
		return
	}
	putTree(t, e.aws.s3, e.aws.raw, "", filepath.Join(e.dir, "raw"), e.aws.uploaded)
}

// prepEntry is one entry of a base table's prepared: list.
type prepEntry struct {
	table  string
	format string // "": the base table's
	mode   string
	// onChange "" leaves the default (stop).
	onChange            string
	selects             []string
	where               string
	partitionBy, sortBy string // YAML lists; "" for none
}

func (p prepEntry) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "      - target: { table: %s", p.table)
	if p.format != "" {
		fmt.Fprintf(&b, ", format: %s", p.format)
	}
	fmt.Fprintf(&b, " }\n        mode: %s\n", p.mode)
	if p.onChange != "" {
		fmt.Fprintf(&b, "        on_change: %s\n", p.onChange)
	}
	b.WriteString("        select:\n")
	for _, s := range p.selects {
		fmt.Fprintf(&b, "          - %s\n", s)
	}
	fmt.Fprintf(&b, "        where: %s\n", p.where)
	if p.partitionBy != "" {
		fmt.Fprintf(&b, "        partition_by: %s\n", p.partitionBy)
	}
	if p.sortBy != "" {
		fmt.Fprintf(&b, "        sort_by: %s\n", p.sortBy)
	}
	return b.String()
}

// accountBases are the base tables of the prepared tests, both of the
// accounts source (bank.acc_ice and bank.acc_delta in the raw zone, the
// files mirrorWorkload and changelogFiles write), and their formats.
var accountBases = []struct{ name, format string }{{"acc_ice", "iceberg"}, {"acc_delta", "delta"}}

// accountsJob writes the job file: the base tables of accountBases (two
// buckets each), each with the prepared tables prepared returns for it,
// in the env's place: the local default, or S3 and Glue.
func (e *mirrorEnv) accountsJob(t *testing.T, prepared func(base string) []prepEntry) {
	t.Helper()
	dir := e.dir
	baseDB, prepDB := e.databases()
	var b strings.Builder
	if e.aws == nil {
		fmt.Fprintf(&b, "raw: file://%s/raw\nwarehouse: file://%s/warehouse\ncatalog: { type: sqlite, path: %s/catalog.db }\n", dir, dir, dir)
	} else {
		fmt.Fprintf(&b, "raw: s3://%s/\nwarehouse: s3://%s/tables\ncatalog: { type: glue, endpoint: %s }\ns3: { endpoint: %s }\n", e.aws.raw, e.aws.wh, e.aws.ep, e.aws.ep)
	}
	fmt.Fprintf(&b, "defaults: { buckets: 2, prepared: { database: %s } }\ntables:\n", prepDB)
	for _, base := range accountBases {
		fmt.Fprintf(&b, `  - name: %[1]s
    target: { database: %[2]s, table: %[1]s, format: %[3]s }
`, base.name, baseDB, base.format)
		if e.debezium {
			fmt.Fprintf(&b, "    source: { schema: bank, table: %s, topic: %s }\n    format: debezium-json\n", base.name, accountsTopic(base.name))
			b.WriteString(strings.TrimSuffix(accountSchemaYAML, dmsAccountsYAML))
		} else {
			fmt.Fprintf(&b, "    source: { schema: bank, table: %s }\n", base.name)
			b.WriteString(accountSchemaYAML)
		}
		if ps := prepared(base.name); len(ps) > 0 {
			b.WriteString("    prepared:\n")
			for _, p := range ps {
				b.WriteString(p.yaml())
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// reader is one way of reading a table back: a label for messages and
// the interop script's arguments (its output: one JSON object per row).
type reader struct {
	label string
	args  []string
}

// readers are the ways of reading the table db.name of format back in the
// env, rows ordered by the column by: pyiceberg (the SQLite catalog, or
// Glue) for Iceberg, deltalake (the folder, or S3) for Delta, and with
// duck, locally, DuckDB as well.
func (e *mirrorEnv) readers(t *testing.T, db, name, format, by string, duck bool) []reader {
	t.Helper()
	interop := filepath.Join("..", "..", "interop")
	full := db + "." + name
	if format == "iceberg" {
		script := filepath.Join(interop, "read_iceberg.py")
		if e.aws != nil {
			return []reader{{"pyiceberg (Glue) " + full, []string{script, "glue", e.aws.ep, full, by}}}
		}
		rs := []reader{{"pyiceberg " + full, []string{script, "sqlite", filepath.Join(e.dir, "catalog.db"), "file://" + filepath.Join(e.dir, "warehouse"), full, by}}}
		if duck {
			metas, _ := filepath.Glob(filepath.Join(e.dir, "warehouse", db+".db", name, "metadata", "*.metadata.json"))
			slices.Sort(metas)
			if len(metas) == 0 {
				t.Fatalf("no Iceberg metadata file for %s", full)
			}
			rs = append(rs, reader{"DuckDB " + full, []string{script, "--duckdb", metas[len(metas)-1], by}})
		}
		return rs
	}
	script := filepath.Join(interop, "read_delta.py")
	if e.aws != nil {
		return []reader{{"deltalake (S3) " + full, []string{script, "s3://" + e.aws.wh + "/tables/" + db + ".db/" + name, by, e.aws.ep}}}
	}
	loc := filepath.Join(e.dir, "warehouse", db+".db", name)
	rs := []reader{{"deltalake " + full, []string{script, loc, by}}}
	if duck {
		rs = append(rs, reader{"DuckDB " + full, []string{script, "--duckdb", loc, by}})
	}
	return rs
}
