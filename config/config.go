// Package config reads lakemerge's job file, the YAML file that says what
// one run merges (see Example for a complete one):
//
//   - raw: where the change files are, file:///absolute/path or
//     s3://bucket/prefix; each table's files are under <raw>/<source.prefix>.
//   - warehouse: where new tables are created, same forms.
//   - catalog: which catalog records the tables: sqlite (a file; relative
//     paths are relative to the job file) or glue (needs an s3:// warehouse).
//   - s3: how to reach S3 when raw or warehouse is s3:// (optional).
//   - memory_mb, spill_dir: the memory budget of one table's run and where
//     a run that does not fit it spills its changes (and a Delta optimize
//     under it copies the small files it cannot read at once) (optional).
//   - defaults: settings every table gets unless it sets them itself.
//   - tables: per table its name, source (schema, table, prefix), format,
//     primary key, columns, target (database, table), partitioning, file
//     size and the settings of its format (dms or debezium).
//
// Parse checks the whole file and reports every problem at once, each with
// its line and path in the file (Errors), so one edit fixes them all.
// ParseEnv and LoadEnv also fill environment variables into the file's
// values (${NAME}; $$ for a literal $), reporting unset ones the same way.
// Settings under defaults apply field by field: a table that sets
// dms.header keeps the delimiter from defaults.dms.
//
// The package knows the file format only; cmd translates a Job into the
// options of the packages that do the work.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lakemerge/lakemerge/change"
)

// Job is a validated job file.
type Job struct {
	Path      string // file it was loaded from ("" for Parse)
	Raw       string // raw zone location: file:///abs/path or s3://bucket/prefix, no trailing slash
	Warehouse string // where new tables are placed, same forms
	Catalog   Catalog
	S3        S3      // how to reach S3 when raw or warehouse is s3://
	Tables    []Table // in file order, defaults merged in
	// MemoryMB is the memory budget of one table's run in MiB (tables run
	// one after another): a run whose decoded changes pass half of it
	// spills them to SpillDir. 0 when the job file does not set it: cmd
	// then takes 60% of the container's memory limit, else of the
	// machine's memory.
	MemoryMB int
	// SpillDir is the local folder spilling runs (and Delta optimizes
	// under the budget) put their temporary files in; "" for the system's
	// (TMPDIR, else /tmp). Absolute after
	// Load (a relative path is relative to the job file).
	SpillDir string
}

// Memory budget bounds (memory_mb), in MiB.
const (
	MinMemoryMB = 64
	MaxMemoryMB = 1 << 24 // 16 TiB
)

// S3 says how to reach S3. Credentials always come from the default AWS
// chain (environment, profile, ECS task role), never from the job file.
type S3 struct {
	Region    string // default: the chain's region
	Endpoint  string // S3-compatible server or VPC endpoint; default AWS
	PathStyle bool   // bucket in the path; default true when Endpoint is set
	KMSKeyID  string // encrypt every object lakemerge writes with SSE-KMS under this key
}

// Catalog says which catalog records the tables.
type Catalog struct {
	Type     string // "sqlite" (default) or "glue"
	Path     string // sqlite: the database file; absolute after Load
	Region   string // glue: AWS region (optional)
	Endpoint string // glue: endpoint override (optional, for tests)
}

// Table is one source table merged into one target table.
type Table struct {
	Name         string // unique among tables; letters, digits, _ . and -
	Source       Source
	Format       string          // FormatDMSCSV (default) or FormatDebezium
	PrimaryKey   []string        // at least one column, no repeats; among Columns when those are given
	Columns      []change.Column // in source order; required for dms-csv files without a header
	Target       Target
	Buckets      int // bucket(N, first key column) partitioning, 0..1024; 0 = none
	TargetFileMB int // target data file size in MiB, 1..4096
	// TombstoneHorizon is how long a deleted key is remembered so that a
	// late change cannot bring it back.
	TombstoneHorizon time.Duration
	// Ignore are globs of objects under the table's prefix that are not
	// change files and are skipped on purpose (a glob with a slash matches
	// the key relative to the prefix, one without matches the base name in
	// any folder); any other such object stops the table. A table's globs
	// add to those of defaults.
	Ignore   []string
	DMS      DMS
	Debezium Debezium
	// Prepared are the prepared tables kept from this table, in file
	// order (see Prepared).
	Prepared []Prepared
	// Maintenance is the table's maintenance policy: what `lakemerge
	// maintain` does, and what run does after the table's commit when
	// Enabled and a threshold is crossed.
	Maintenance Maintenance
}

// Maintenance is a table's maintenance policy (the job file's
// maintenance section, in defaults and per table, field by field).
type Maintenance struct {
	// Enabled: run maintains the table after its commit when a threshold
	// is crossed. `lakemerge maintain` maintains it either way.
	Enabled bool
	// CompactDeleteFiles: a bucket with this many delete files is
	// compacted (Delta: the table, counting files rewritten since its last
	// optimize is not possible, so small files only); 0 = never.
	CompactDeleteFiles int
	// CompactSmallFiles: a bucket (Delta: the table) with this many small
	// data files is compacted; 0 = never.
	CompactSmallFiles int
	SmallFileMB       int // a data file smaller than this many MiB is small
	// RewriteDeletedPct (Iceberg): 0, a compaction rewrites every data
	// file of a bucket with deletes or small; above 0 it bin-packs the
	// small files but the largest, merges each kept file's delete files
	// into one, and rewrites a file once this percentage of its rows is
	// deleted. It chooses the work of a pass the counts made due; it
	// never makes one due.
	RewriteDeletedPct int
	// KeepSnapshots: at least the newest N table versions are kept.
	KeepSnapshots int
	// TimeTravel: versions younger than this are kept; 0 = never expire.
	TimeTravel time.Duration
	// OrphanAge: unreferenced files are deleted once older than this.
	OrphanAge time.Duration
}

// Debezium holds the settings of a debezium-json table (Debezium events
// written by the Kafka Connect S3 sink).
type Debezium struct {
	Tombstones        string // "skip" (default) or "delete" (needs the sink's keys files)
	Flattened         bool   // events went through ExtractNewRecordState
	SinglePartition   bool   // the topic has one partition: order by offset alone
	TruncateSubMicros bool   // drop sub-microsecond digits instead of failing
	// WideDecimals is what a decimal of the events' schema becomes when no
	// decimal(p,s) column can hold it (precision above 38, a negative
	// scale, PostgreSQL numeric without precision) and columns does not
	// type it: WideDecimalsError (default) stops the table with an error
	// naming the column, WideDecimalsString stores the exact decimal text.
	WideDecimals string
	Encodings    map[string]string // column → Connect schema name or type, for events without a schema
}

// Wide decimal policies (Debezium.WideDecimals).
const (
	WideDecimalsError  = "error"
	WideDecimalsString = "string"
)

// Source names the source table and where its files are.
type Source struct {
	Schema, Table string
	// Topic is the Kafka topic of a debezium-json table
	// (<topic.prefix>.<schema>.<table>).
	Topic  string
	Prefix string // key prefix under Raw; default "<schema>/<table>/" (dms-csv), "topics/<topic>/" (debezium-json); ends with "/"
}

// Target names the table written.
type Target struct {
	Database string // default: defaults.database, else the source schema
	Table    string // default: the source table
	Format   string // "iceberg" (default) or "delta"
}

// Table formats a target can have.
const (
	TargetIceberg = "iceberg"
	TargetDelta   = "delta"
)

// DMS holds the DMS endpoint settings that shape the files.
type DMS struct {
	Delimiter            byte   // CsvDelimiter; default ','
	NullValue            string // CsvNullValue; default "" (empty unquoted field)
	NoSupValue           string // CsvNoSupValue: an unquoted field equal to it keeps the stored value; "" for none
	Header               bool   // AddColumnName: files start with a header row
	IncludeOpForFullLoad bool   // IncludeOpForFullLoad
	TimestampColumn      string // TimestampColumnName; "" for none
	ChangeSeqColumn      string // column holding AR_H_CHANGE_SEQ; "" for none; among Columns when those are given
	// BeforeImagePrefix and BeforeImageSuffix are the column-prefix and
	// column-suffix of the task's add-before-image-columns rule; "" and ""
	// (the default) when it has none. With them, a U row whose before-image
	// key differs from its key deletes the old key.
	BeforeImagePrefix, BeforeImageSuffix string
	// BeforeImageColumns are the before-image columns the job file lists
	// among columns (last, as DMS writes them). They are not in
	// Table.Columns: they never reach the table.
	BeforeImageColumns []string
}

// Defaults for fields a job file leaves out.
const (
	DefaultBuckets      = 16
	DefaultTargetFileMB = 128
	// DefaultTombstoneHorizon is 7 days.
	DefaultTombstoneHorizon = 7 * 24 * time.Hour
	FormatDMSCSV            = "dms-csv"
	FormatDebezium          = "debezium-json"
)

// DefaultMaintenance is the maintenance policy of a table whose job file
// says nothing: on; a bucket is compacted at 8 delete files or 16 data
// files under 32 MiB, an Iceberg data file rewritten once 10% of its rows
// are deleted; table versions are kept for 24 hours and at least
// the newest 10; unreferenced files are deleted after 24 hours.
var DefaultMaintenance = Maintenance{Enabled: true, CompactDeleteFiles: 8, CompactSmallFiles: 16, SmallFileMB: 32, RewriteDeletedPct: 10,
	KeepSnapshots: 10, TimeTravel: 24 * time.Hour, OrphanAge: 24 * time.Hour}

// Load reads and checks the job file at path; a relative sqlite catalog
// path or spill_dir is taken relative to the job file's folder.
func Load(path string) (*Job, error) {
	return load(path, nil)
}

func load(path string, env Env) (*Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job file: %w", err)
	}
	job, err := ParseEnv(data, path, env)
	if err != nil {
		return nil, err
	}
	job.Path = path
	if job.Catalog.Path != "" && !filepath.IsAbs(job.Catalog.Path) {
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("resolve catalog path: %w", err)
		}
		job.Catalog.Path = filepath.Join(dir, job.Catalog.Path)
	}
	if job.SpillDir != "" && !filepath.IsAbs(job.SpillDir) {
		dir, err := filepath.Abs(filepath.Dir(path))
		if err != nil {
			return nil, fmt.Errorf("resolve spill_dir: %w", err)
		}
		job.SpillDir = filepath.Join(dir, job.SpillDir)
	}
	return job, nil
}

// Select returns the named tables in the order given (a name given twice
// once, where it first appears), or every table when names is empty.
// Unknown names are one error listing them all.
func (j *Job) Select(names []string) ([]Table, error) {
	if len(names) == 0 {
		return slices.Clone(j.Tables), nil
	}
	var out []Table
	var unknown []string
	for _, n := range names {
		i := slices.IndexFunc(j.Tables, func(t Table) bool { return t.Name == n })
		switch {
		case i < 0:
			unknown = append(unknown, n)
		case !slices.ContainsFunc(out, func(t Table) bool { return t.Name == n }):
			out = append(out, j.Tables[i])
		}
	}
	if len(unknown) > 0 {
		known := make([]string, len(j.Tables))
		for i, t := range j.Tables {
			known[i] = t.Name
		}
		return nil, fmt.Errorf("unknown table %s (the job file has: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}

// FieldError is one problem in a job file.
type FieldError struct {
	File string
	Line int    // 0 when the problem has no line (an empty file, some YAML syntax errors)
	Path string // like tables[1].dms.delimiter; "" for the whole file
	Msg  string
}

// Error formats the problem as file:line: path: message.
func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a job file, in file order. Parse and
// Load return it as their error when the file has problems.
type Errors []FieldError

// Error lists the problems one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Parse checks a job file and returns the Job, or Errors listing every
// problem. path names the file in messages only; Job.Path stays empty and
// a relative catalog path stays relative (Load resolves both).
func Parse(data []byte, path string) (*Job, error) {
	return ParseEnv(data, path, nil)
}

// sort orders the problems by line, keeping the order of those on one line.
func (e Errors) sort() {
	slices.SortStableFunc(e, func(a, b FieldError) int { return a.Line - b.Line })
}

// document returns the top mapping of a job file, or the one problem that
// keeps it from having one: not YAML, empty, not a mapping, or more than
// one document.
func document(data []byte) (*yaml.Node, *FieldError) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, &FieldError{Msg: "empty: a job file is a mapping with raw, warehouse, catalog, defaults and tables"}
	case err != nil:
		return nil, syntaxError(err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		line := doc.Line
		if len(doc.Content) > 0 {
			line = doc.Content[0].Line
		}
		return nil, &FieldError{Line: line, Msg: "a job file is a mapping with raw, warehouse, catalog, defaults and tables"}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(err)
	case len(next.Content) == 1 && next.Content[0].ShortTag() == nullTag && next.Content[0].Value == "":
		// A trailing "---" with nothing after it.
	default:
		return nil, &FieldError{Line: next.Line, Msg: "a second YAML document: a job file is one document"}
	}
	return doc.Content[0], nil
}

// syntaxError turns a YAML parser error, "yaml: line 3: mapping values are
// not allowed", into a FieldError on that line.
func syntaxError(err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	fe := &FieldError{Msg: "not valid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil && line > 0 {
				fe.Line, fe.Msg = line, "not valid YAML: "+text
			}
		}
	}
	return fe
}
