// Package pipeline_test runs the whole pipeline of one table as wire
// wires its parts (raw store, the DMS and Debezium formats, merge, the
// writers and their catalogs), on a folder with SQLite and on S3 with Glue
// (the moto server scripts/test.sh starts): the formats' details that
// reach the table, which no part's own tests see whole (DMS before images
// and unsupported values, Debezium truncates and partial images, local
// raw files known by content). Merge's protocol is tested in package
// merge with fakes, each writer against table/tabletest.
package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
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
	icetable "github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/catalog/glue"
	"github.com/lakemerge/lakemerge/catalog/local"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/objstore"
	objlocal "github.com/lakemerge/lakemerge/objstore/local"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// ---- reference model -------------------------------------------------------

// change1 is one source change, as the model and the file writer see it.
type change1 struct {
	op     byte // I U D
	id     int64
	name   string
	amount string // decimal(10,2) text, "" = NULL
	seq    int64  // AR_H_CHANGE_SEQ counter
	// keepName: the change did not carry name (a partial row image, such
	// as an unchanged TOAST value); the key keeps the name it had.
	keepName bool
}

// model applies changes one by one in seq order: the plain reference.
type model map[int64]change1

func (m model) apply(cs []change1) {
	sorted := slices.Clone(cs)
	slices.SortFunc(sorted, func(a, b change1) int { return int(a.seq - b.seq) })
	for _, c := range sorted {
		if c.op == 'D' {
			delete(m, c.id)
			continue
		}
		if c.keepName {
			c.name = m[c.id].name // "" (NULL) when the key has no row
		}
		m[c.id] = c
	}
}

func (m model) render() string {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var s strings.Builder
	for _, id := range ids {
		c := m[id]
		amt := c.amount
		if amt == "" {
			amt = "NULL"
		}
		fmt.Fprintf(&s, "%d|%q|%s\n", id, c.name, amt)
	}
	return s.String()
}

// ---- change generator and DMS file writer -----------------------------------

type gen struct {
	rng  *rand.Rand
	seq  int64
	keys int
	live map[int64]bool
}

func newGen(seed uint64, keys int) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), keys: keys, live: map[int64]bool{}}
}

var names = []string{"plain", "with,comma", `say "hi"`, "two\nlines", "", "ünïcode", "  spaced  "}

func (g *gen) next() change1 {
	g.seq++
	id := int64(g.rng.IntN(g.keys))
	c := change1{id: id, seq: g.seq, name: names[g.rng.IntN(len(names))]}
	if g.rng.IntN(5) > 0 {
		c.amount = fmt.Sprintf("%d.%02d", g.rng.IntN(100000)-50000, g.rng.IntN(100))
	}
	switch {
	case !g.live[id]:
		c.op = 'I'
		g.live[id] = true
	case g.rng.IntN(4) == 0:
		c.op = 'D'
		c.name, c.amount = "", "" // key-only delete, as PostgreSQL writes it
		g.live[id] = false
	default:
		c.op = 'U'
	}
	return c
}

func csvField(s string) string {
	if s == "" {
		return `""` // quoted empty string: not NULL
	}
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// dmsFile renders changes as a DMS CSV file with header and change_seq.
func dmsFile(cs []change1, load bool) []byte {
	var b strings.Builder
	b.WriteString("Op,id,name,amount,change_seq\n")
	for _, c := range cs {
		seq := fmt.Sprintf("20240101000000000000%015d", c.seq)
		if load {
			seq = ""
		}
		name := csvField(c.name)
		if c.op == 'D' {
			name = ""
		}
		fmt.Fprintf(&b, "%c,%d,%s,%s,%s\n", c.op, c.id, name, c.amount, seq)
	}
	return []byte(b.String())
}

// ---- harness -----------------------------------------------------------------

func TestMain(m *testing.M) {
	wire.RegisterFileIO()
	os.Exit(m.Run())
}

type env struct {
	t         *testing.T
	backend   string // "local" or "aws"
	dir       string
	store     objstore.Store // the raw zone
	wh        objstore.Store // the warehouse, for Delta tables
	s3        *s3.Client     // the bucket's client on aws
	cat       wire.Catalog
	catArgs   []string // how interop/read_iceberg.py opens the catalog
	mem       *memory.CheckedAllocator
	fileNo    int
	cdcMillis int64
}

const prefix = "public/items/"

// backends lists where the end-to-end scenarios run: on the local default
// always, and on S3 + Glue (the moto server scripts/test.sh starts) when
// LAKEMERGE_AWS_ENDPOINT is set; under CI it must be.
func backends(t *testing.T) []string {
	if testenv.Optional(t, "LAKEMERGE_AWS_ENDPOINT", "the S3 + Glue scenarios") != "" {
		return []string{"local", "aws"}
	}
	return []string{"local"}
}

// awsRun counts the S3 buckets and Glue databases made by this process.
var awsRun atomic.Int64

func newEnv(t *testing.T) *env { return newEnvOn(t, "local") }

func newEnvOn(t *testing.T, backend string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, backend: backend, dir: dir, mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	switch backend {
	case "local":
		store, err := objlocal.New(filepath.Join(dir, "raw"))
		if err != nil {
			t.Fatal(err)
		}
		wh := "file://" + filepath.Join(dir, "warehouse")
		cat, err := local.Open(filepath.Join(dir, "catalog.db"), wh, nil)
		if err != nil {
			t.Fatal(err)
		}
		whStore, err := objlocal.New(filepath.Join(dir, "warehouse"))
		if err != nil {
			t.Fatal(err)
		}
		e.store, e.wh, e.cat = store, whStore, warehouseCatalog(t, cat, whStore, wh)
		e.catArgs = []string{"sqlite", filepath.Join(dir, "catalog.db"), wh}
	case "aws":
		ep := testenv.AWS(t)
		ctx := context.Background()
		opts := objs3.Options{Endpoint: ep, PathStyle: true}
		cfg, err := objs3.LoadConfig(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		bucket := fmt.Sprintf("lm-e2e-%d-%d", os.Getpid(), awsRun.Add(1))
		c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(ep); o.UsePathStyle = true })
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		e.store, e.wh, e.s3 = objs3.New(cfg, bucket, "raw", opts), objs3.New(cfg, bucket, "warehouse", opts), c
		cat, err := glue.Open(cfg, glue.Options{Warehouse: "s3://" + bucket + "/warehouse", Endpoint: ep})
		if err != nil {
			t.Fatal(err)
		}
		e.cat = warehouseCatalog(t, cat, e.wh, "s3://"+bucket+"/warehouse")
		e.catArgs = []string{"glue", ep}
	default:
		t.Fatalf("unknown backend %s", backend)
	}
	if err := e.cat.EnsureNamespace(context.Background(), e.db()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.cat.Close()
		e.mem.AssertSize(t, 0)
	})
	return e
}

// warehouseCatalog is cat reaching its table files through the warehouse
// store, as wire.Build wires it.
func warehouseCatalog(t *testing.T, cat wire.Catalog, warehouse objstore.Store, root string) wire.Catalog {
	t.Helper()
	c, err := wire.WarehouseCatalog(cat, warehouse, root)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// db is the test's database: one per env on the shared Glue server.
func (e *env) db() string {
	if e.backend == "aws" {
		return strings.ReplaceAll(e.store.(*objs3.Store).Bucket(), "-", "_")
	}
	return "shop"
}

func (e *env) write(name string, data []byte) {
	e.t.Helper()
	if err := e.store.Put(context.Background(), prefix+name, bytes.NewReader(data)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) writeCDC(cs []change1) string {
	e.cdcMillis += 1000 + int64(len(cs))
	at := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(e.cdcMillis) * time.Millisecond)
	name := at.Format("20060102-150405") + fmt.Sprintf("%03d.csv", at.Nanosecond()/1e6)
	e.write(name, dmsFile(cs, false))
	return name
}

var columns = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
	{Name: "change_seq", Type: arrow.BinaryTypes.String},
}

func (e *env) table(target merge.Target) *merge.Table {
	return &merge.Table{
		Name:    "items",
		Prefix:  prefix,
		Keys:    []string{"id"},
		Columns: columns,
		Raw:     wire.RawStore{Store: e.store},
		Format:  wire.DMSFormat(dmscsv.Options{Columns: columns, Header: true, ChangeSeqColumn: "change_seq", IncludeOpForFullLoad: true}),
		Target:  target,
		Mem:     e.mem,
	}
}

func (e *env) iceberg() *iceberg.Table {
	return iceberg.New(e.cat, iceberg.Options{Database: e.db(), Name: "items", Keys: []string{"id"}, Buckets: 4}, e.mem)
}

func (e *env) run() merge.Result {
	e.t.Helper()
	res, err := e.table(wire.IcebergTarget{Table: e.iceberg()}).Run(context.Background())
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return res
}

// read returns the table's rows rendered like model.render, read back
// through iceberg-go's scanner (which applies our position deletes).
func (e *env) read() string {
	e.t.Helper()
	ctx := context.Background()
	tbl, err := e.cat.LoadTable(ctx, icetable.Identifier{e.db(), "items"})
	if err != nil {
		e.t.Fatal(err)
	}
	at, err := tbl.Scan(icetable.WithSelectedFields("id", "name", "amount")).ToArrowTable(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer at.Release()
	type r struct {
		id   int64
		line string
	}
	var rows []r
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		ids := rec.Column(0).(*array.Int64)
		nm := rec.Column(1).(*array.String)
		am := rec.Column(2).(*array.Decimal128)
		for i := 0; i < int(rec.NumRows()); i++ {
			amt := "NULL"
			if am.IsValid(i) {
				amt = am.Value(i).ToString(2)
			}
			rows = append(rows, r{ids.Value(i), fmt.Sprintf("%d|%q|%s\n", ids.Value(i), nm.Value(i), amt)})
		}
	}
	slices.SortFunc(rows, func(a, b r) int { return int(a.id - b.id) })
	var s strings.Builder
	for _, x := range rows {
		s.WriteString(x.line)
	}
	return s.String()
}

func (e *env) bookmark() bookmarks.Bookmark {
	e.t.Helper()
	x, err := e.iceberg().Begin(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return x.Bookmark()
}

func diff(t *testing.T, what, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s: first difference at row %d:\n got: %s\nwant: %s\n(%d vs %d rows)", what, i, g, w, len(gl)-1, len(wl)-1)
		}
	}
}

// ---- tests ------------------------------------------------------------------

// TestDMSNoSupValueKeepsStored: a DMS field holding CsvNoSupValue (a LOB
// DMS could not read) keeps the value the table stores, as Debezium's
// unchanged TOAST values do.
func TestDMSNoSupValueKeepsStored(t *testing.T) {
	e := newEnv(t)
	tbl := func() *merge.Table {
		mt := e.table(wire.IcebergTarget{Table: e.iceberg()})
		mt.Format = wire.DMSFormat(dmscsv.Options{Columns: columns, Header: true, ChangeSeqColumn: "change_seq",
			IncludeOpForFullLoad: true, NoSupValue: "__NOSUP__"})
		return mt
	}
	e.write("20240102-000001000.csv", []byte("Op,id,name,amount,change_seq\nI,1,long text,1.00,20240101000000000000000000000000001\n"))
	if _, err := tbl().Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.write("20240102-000002000.csv", []byte("Op,id,name,amount,change_seq\nU,1,__NOSUP__,2.00,20240101000000000000000000000000002\n"))
	if _, err := tbl().Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	diff(t, "table", e.read(), "1|\"long text\"|2.00\n")
}
