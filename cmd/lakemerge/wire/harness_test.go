package wire_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/benchmarks/workload"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/config"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/objstore"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
)

func TestMain(m *testing.M) {
	wire.RegisterFileIO()
	os.Exit(m.Run())
}

// scenario is where a workload runs: storage and catalog (local: folders
// and SQLite; aws: S3 and Glue on the moto server), the table format
// written and the form of the change files.
type scenario struct {
	backend string // local, aws
	target  string // iceberg, delta
	input   string // dms, debezium
}

func (s scenario) String() string { return s.backend + "/" + s.target + "/" + s.input }

// scenarios lists every scenario; aws ones only when the moto server runs
// (scripts/test.sh), which CI demands.
func scenarios(t testing.TB) []scenario {
	backends := []string{"local"}
	if testenv.Optional(t, "LAKEMERGE_AWS_ENDPOINT", "the S3 + Glue scenarios") != "" {
		backends = append(backends, "aws")
	}
	var out []scenario
	for _, b := range backends {
		for _, tg := range []string{"iceberg", "delta"} {
			for _, in := range []string{"dms", "debezium"} {
				out = append(out, scenario{b, tg, in})
			}
		}
	}
	return out
}

// env is one job: its raw zone, warehouse and catalog, as a job file.
type env struct {
	t       testing.TB
	sc      scenario
	dir     string
	job     *config.Job
	raw     objstore.Store // written by the test, never through faults
	rawURL  string
	whURL   string
	bucket  string // aws: the bucket of raw and warehouse
	s3      *s3.Client
	aws     aws.Config    // aws: the configuration of the moto server
	s3Opts  objs3.Options // aws: the stores' options
	release func()
}

// awsRun numbers the buckets and Glue databases of this process.
var awsRun atomic.Int64

func newEnv(t testing.TB, sc scenario) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, sc: sc, dir: dir}
	table := "source: { schema: public, table: orders }"
	if sc.input == "debezium" {
		table = "source: { schema: public, table: orders, topic: " + workload.Topic + " }\n    format: debezium-json\n    debezium: { encodings: { amount: string } }"
	}
	db := "shop"
	var catalog string
	switch sc.backend {
	case "local":
		e.rawURL, e.whURL = "file://"+filepath.Join(dir, "raw"), "file://"+filepath.Join(dir, "warehouse")
		catalog = fmt.Sprintf("catalog: { type: sqlite, path: %s }", filepath.Join(dir, "catalog.db"))
		raw, err := objlocal.New(filepath.Join(dir, "raw"))
		if err != nil {
			t.Fatal(err)
		}
		e.raw = raw
	case "aws":
		ep := os.Getenv("LAKEMERGE_AWS_ENDPOINT")
		for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"} {
			if os.Getenv(k) != v {
				if tt, ok := t.(*testing.T); ok {
					tt.Setenv(k, v)
				} else {
					os.Setenv(k, v)
				}
			}
		}
		opts := objs3.Options{Endpoint: ep, PathStyle: true}
		cfg, err := objs3.LoadConfig(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		e.bucket = fmt.Sprintf("lm-fault-%d-%d", os.Getpid(), awsRun.Add(1))
		e.s3 = s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true })
		if _, err := e.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(e.bucket)}); err != nil {
			t.Fatal(err)
		}
		e.aws, e.s3Opts = cfg, opts
		e.raw = objs3.New(cfg, e.bucket, "raw", opts)
		e.rawURL, e.whURL = "s3://"+e.bucket+"/raw", "s3://"+e.bucket+"/warehouse"
		catalog = fmt.Sprintf("catalog: { type: glue, endpoint: %s }\ns3: { endpoint: %s }", ep, ep)
		db = strings.ReplaceAll(e.bucket, "-", "_")
	default:
		t.Fatalf("unknown backend %s", sc.backend)
	}
	yaml := fmt.Sprintf(`raw: %s
warehouse: %s
%s
tables:
  - %s
    primary_key: [id]
    target: { database: %s, table: orders, format: %s }
    buckets: 4
    columns:
%s`, e.rawURL, e.whURL, catalog, table, db, sc.target, workload.Columns)
	path := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	job, err := config.Load(path)
	if err != nil {
		t.Fatalf("job file: %v\n%s", err, yaml)
	}
	e.job = job
	return e
}

// build wires the job as the binary does, with the given options. The
// caller closes the job and checks mem.
func (e *env) build(mem memory.Allocator, opts ...wire.Option) *wire.Job {
	e.t.Helper()
	tables, err := e.job.Select(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	j, err := wire.Build(context.Background(), e.job, tables, mem, nil, opts...)
	if err != nil {
		e.t.Fatalf("build: %v", err)
	}
	return j
}

// runOnce runs the table once as `lakemerge run` does (merge, then the
// Delta registration), with stores wrapped by wrap (nil: none). It returns
// the run's error and the Arrow bytes left allocated after it.
func (e *env) runOnce(wrap func(zone string, s objstore.Store) objstore.Store) (merge.Result, error, int) {
	e.t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	var opts []wire.Option
	if wrap != nil {
		opts = append(opts, wire.WithStoreWrapper(wrap))
	}
	j := e.build(mem, opts...)
	defer j.Close()
	tbl := j.Tables[0]
	res, err := tbl.Merge.Run(context.Background())
	if err == nil {
		if _, rerr := tbl.Table.Register(context.Background(), ""); rerr != nil {
			err = fmt.Errorf("table %s: committed, but %w", tbl.Config.Name, rerr)
		}
	}
	return res, err, mem.CurrentAlloc()
}

// state is the table as a reader sees it: bookmark (runs, generation and
// the keys and sizes of the objects absorbed) and rows, rendered. A table
// that does not exist, or exists without rows or bookmark, is "".
func (e *env) state() string { return e.stateWith(nil) }

// stateWith is state, read through the stores wrap returns (nil: none).
func (e *env) stateWith(wrap func(zone string, s objstore.Store) objstore.Store) string {
	e.t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer func() {
		if n := mem.CurrentAlloc(); n != 0 {
			e.t.Errorf("reading the table left %d Arrow bytes allocated", n)
		}
	}()
	var opts []wire.Option
	if wrap != nil {
		opts = append(opts, wire.WithStoreWrapper(wrap))
	}
	j := e.build(mem, opts...)
	defer j.Close()
	ctx := context.Background()
	info, err := j.Tables[0].Table.Describe(ctx)
	if err != nil {
		e.t.Fatalf("describe: %v", err)
	}
	if !info.Exists {
		return ""
	}
	var b strings.Builder
	bm := info.Bookmark
	if bm.Runs > 0 || len(bm.Entries) > 0 {
		fmt.Fprintf(&b, "bookmark runs=%d generation=%d\n", bm.Runs, bm.Generation)
		for _, en := range bm.Entries {
			fmt.Fprintf(&b, "  %s %d\n", en.Key, en.Size)
		}
	}
	at, err := j.Tables[0].Table.Read(ctx)
	if err != nil {
		e.t.Fatalf("read: %v", err)
	}
	defer at.Release()
	b.WriteString(render(e.t, at))
	return b.String()
}

// render prints the rows of an orders table, sorted by id, as the model
// prints them.
func render(t testing.TB, at arrow.Table) string {
	t.Helper()
	idx := map[string]int{}
	for i, f := range at.Schema().Fields() {
		idx[f.Name] = i
	}
	names := []string{"id", "customer_id", "status", "amount", "qty", "updated_at", "note"}
	var rows []string
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			cells := make([]string, len(names))
			for c, n := range names {
				i, ok := idx[n]
				if !ok {
					t.Fatalf("table has no column %s: %v", n, at.Schema())
				}
				cells[c] = cell(t, rec.Column(i), r)
			}
			rows = append(rows, strings.Join(cells, "|"))
		}
	}
	return sortedByID(rows)
}

func cell(t testing.TB, a arrow.Array, r int) string {
	if a.IsNull(r) {
		return "NULL"
	}
	switch a := a.(type) {
	case *array.Int64:
		return fmt.Sprint(a.Value(r))
	case *array.Int32:
		return fmt.Sprint(a.Value(r))
	case *array.String:
		return a.Value(r)
	case *array.LargeString:
		return a.Value(r)
	case *array.Decimal128:
		return a.Value(r).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Timestamp:
		return a.Value(r).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC().Format("2006-01-02 15:04:05.000000")
	}
	t.Fatalf("column type %s not rendered", a.DataType())
	return ""
}

// sortedByID sorts rendered rows by their leading id and joins them.
func sortedByID(rows []string) string {
	slices.SortFunc(rows, func(a, b string) int {
		ia, _, _ := strings.Cut(a, "|")
		ib, _, _ := strings.Cut(b, "|")
		if d := len(ia) - len(ib); d != 0 {
			return d
		}
		return strings.Compare(ia, ib)
	})
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	return b.String()
}

// ---- workload and model ------------------------------------------------------

// rawFile is one change file as the raw zone holds it.
type rawFile struct {
	key  string
	body []byte
}

// plan is a workload cut into runs: the files each run finds new, and the
// table (state) after it, from the reference model.
type plan struct {
	runs  [][]rawFile
	wants []string
}

// workloadSpec is the workload of a seed: a full load and four batches of
// inserts (some of deleted keys), updates and deletes.
func workloadSpec(seed uint64) workload.Spec {
	return workload.Spec{Seed: seed, BaseRows: 30, Changes: 100, Inserts: 0.25, Deletes: 0.2, Reinserts: 0.5,
		Dist: workload.Uniform, NoteBytes: 6, RowsPerFile: 25}
}

// makePlan generates the workload of spec in the scenario's input form and
// cuts it into runs: the full load, then one run per CDC file of the DMS
// form, the last two together. The model applies the DMS form's rows one
// by one: a full-load row or an insert or update sets the key's row, a
// delete removes it.
func makePlan(t testing.TB, sc scenario, spec workload.Spec) plan {
	t.Helper()
	dir := t.TempDir()
	dms, err := workload.Write(spec, filepath.Join(dir, "dms-load"), filepath.Join(dir, "dms-cdc"))
	if err != nil {
		t.Fatal(err)
	}
	// Runs as groups of DMS files: [loads] [cdc1] [cdc2] ... [cdcN-1 cdcN].
	groups := [][]string{dms.LoadFiles}
	for i, f := range dms.CDCFiles {
		if i == len(dms.CDCFiles)-1 && i > 1 {
			groups[len(groups)-1] = append(groups[len(groups)-1], f)
			continue
		}
		groups = append(groups, []string{f})
	}
	var p plan
	model := map[string][]string{}
	for _, g := range groups {
		for _, f := range g {
			applyDMS(t, model, f, slices.Contains(dms.LoadFiles, f))
		}
		rows := make([]string, 0, len(model))
		for _, r := range model {
			rows = append(rows, strings.Join(r, "|"))
		}
		p.wants = append(p.wants, sortedByID(rows))
	}

	// The files of each run, in the scenario's form.
	switch sc.input {
	case "dms":
		for _, g := range groups {
			var run []rawFile
			for _, f := range g {
				run = append(run, rawFile{"public/orders/" + filepath.Base(f), readFile(t, f)})
			}
			p.runs = append(p.runs, run)
		}
	case "debezium":
		load, cdc := filepath.Join(dir, "dbz-load"), filepath.Join(dir, "dbz-cdc")
		dbz, err := workload.WriteDebezium(spec, load, cdc)
		if err != nil {
			t.Fatal(err)
		}
		files := func(root string, paths []string) []rawFile {
			var out []rawFile
			for _, f := range paths {
				rel, err := filepath.Rel(root, f)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, rawFile{filepath.ToSlash(rel), readFile(t, f)})
			}
			return out
		}
		p.runs = append(p.runs, files(load, dbz.LoadFiles))
		// The sink files of one DMS file come one per partition, in
		// partition order: a partition that does not grow starts the
		// files of the next DMS file.
		var perDMS [][]rawFile
		last := workload.Partitions
		for _, f := range files(cdc, dbz.CDCFiles) {
			var part int
			i := strings.Index(f.key, "/partition=")
			if _, err := fmt.Sscanf(f.key[i+1:], "partition=%d/", &part); i < 0 || err != nil {
				t.Fatalf("sink file %s: no partition folder (%v)", f.key, err)
			}
			if part <= last {
				perDMS = append(perDMS, nil)
			}
			perDMS[len(perDMS)-1] = append(perDMS[len(perDMS)-1], f)
			last = part
		}
		if len(perDMS) != len(dms.CDCFiles) {
			t.Fatalf("%d groups of sink files for %d DMS files: the generator's file order changed", len(perDMS), len(dms.CDCFiles))
		}
		for _, g := range groups[1:] {
			var run []rawFile
			for range g {
				run = append(run, perDMS[0]...)
				perDMS = perDMS[1:]
			}
			p.runs = append(p.runs, run)
		}
	}

	// Each state carries the bookmark the runs so far leave: one commit
	// per run, every file absorbed.
	var absorbed []rawFile
	for i, run := range p.runs {
		absorbed = append(absorbed, run...)
		slices.SortFunc(absorbed, func(a, b rawFile) int { return strings.Compare(a.key, b.key) })
		var b strings.Builder
		fmt.Fprintf(&b, "bookmark runs=%d generation=0\n", i+1)
		for _, f := range absorbed {
			fmt.Fprintf(&b, "  %s %d\n", f.key, len(f.body))
		}
		p.wants[i] = b.String() + p.wants[i]
	}
	return p
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// applyDMS applies one workload DMS file to the model: rows keyed by id,
// fields as written, "" as NULL.
func applyDMS(t testing.TB, model map[string][]string, path string, load bool) {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(readFile(t, path)))
	r.FieldsPerRecord = -1
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("model: %s: %v", path, err)
		}
		op := "I"
		if !load {
			op, rec = rec[0], rec[1:]
		}
		if len(rec) != 7 {
			t.Fatalf("model: %s: %d fields", path, len(rec))
		}
		if op == "D" {
			delete(model, rec[0])
			continue
		}
		row := slices.Clone(rec)
		for i, v := range row {
			if v == "" {
				row[i] = "NULL"
			}
		}
		model[rec[0]] = row
	}
}

// put writes a run's files into the raw zone.
func (e *env) put(files []rawFile) {
	e.t.Helper()
	for _, f := range files {
		if err := e.raw.Put(context.Background(), f.key, bytes.NewReader(f.body)); err != nil {
			e.t.Fatal(err)
		}
	}
}

// since formats a duration for reports.
func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }
