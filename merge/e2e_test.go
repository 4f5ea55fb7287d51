package merge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceio "github.com/apache/iceberg-go/io"
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

// TestRandomRunsMatchModel: random inserts, updates, deletes and re-inserts
// over several runs with random file splits; after every run the table
// equals the reference model (invariants 3, 4, 5).
func TestRandomRunsMatchModel(t *testing.T) {
	for _, backend := range backends(t) {
		for _, seed := range []uint64{1, 2, 3} {
			t.Run(fmt.Sprintf("backend=%s/seed=%d", backend, seed), func(t *testing.T) {
				e := newEnvOn(t, backend)
				g := newGen(seed, 60)
				m := model{}
				// Full load: inserts of distinct keys.
				var load []change1
				for id := int64(0); id < 30; id++ {
					g.seq++
					g.live[id] = true
					load = append(load, change1{op: 'I', id: id, name: fmt.Sprint("load", id), amount: "1.00", seq: g.seq})
				}
				e.write("LOAD00000001.csv", dmsFile(load[:15], true))
				e.write("LOAD00000002.csv", dmsFile(load[15:], true))
				m.apply(load)
				for run := 0; run < 4; run++ {
					files := 1 + g.rng.IntN(3)
					for f := 0; f < files; f++ {
						var cs []change1
						for n := g.rng.IntN(40); n > 0; n-- {
							cs = append(cs, g.next())
						}
						e.writeCDC(cs)
						m.apply(cs)
					}
					res := e.run()
					if res.Files == 0 {
						t.Fatalf("run %d absorbed nothing", run)
					}
					diff(t, fmt.Sprint("run ", run), e.read(), m.render())
				}
				if res := e.run(); !res.UpToDate {
					t.Fatalf("second run with no new files did something: %+v", res)
				}
			})
		}
	}
}

// TestSplitIndependence: the same changes absorbed in one run and in one run
// per file give the same table (invariant 5).
func TestSplitIndependence(t *testing.T) {
	g := newGen(7, 25)
	var batches [][]change1
	for f := 0; f < 6; f++ {
		var cs []change1
		for n := 5 + g.rng.IntN(30); n > 0; n-- {
			cs = append(cs, g.next())
		}
		batches = append(batches, cs)
	}
	one := newEnv(t)
	for _, cs := range batches {
		one.writeCDC(cs)
	}
	one.run()
	many := newEnv(t)
	for _, cs := range batches {
		many.writeCDC(cs)
		many.run()
	}
	m := model{}
	for _, cs := range batches {
		m.apply(cs)
	}
	diff(t, "one run", one.read(), m.render())
	diff(t, "run per file", many.read(), m.render())
}

// TestStaleChangeNeverWins: a file that arrives late with older changes of a
// key stored by an earlier run does not overwrite the newer row (invariant 4).
func TestStaleChangeNeverWins(t *testing.T) {
	e := newEnv(t)
	e.write("20240102-000002000.csv", dmsFile([]change1{{op: 'I', id: 1, name: "new", amount: "2.00", seq: 20}}, false))
	e.run()
	// A file named earlier, with an older change of key 1 and a new key 2.
	e.write("20240102-000001000.csv", dmsFile([]change1{
		{op: 'U', id: 1, name: "old", amount: "1.00", seq: 10},
		{op: 'I', id: 2, name: "two", amount: "", seq: 11},
	}, false))
	res := e.run()
	if res.Stats.Stale != 1 || res.Stats.Inserted != 1 {
		t.Fatalf("stats %+v, want 1 stale, 1 inserted", res.Stats)
	}
	diff(t, "after late file", e.read(), "1|\"new\"|2.00\n2|\"two\"|NULL\n")
}

// TestMalformedStopsTable: a bad file stops the table with file and line,
// the bookmark does not move, and after the file is fixed the run completes
// (invariant 6).
func TestMalformedStopsTable(t *testing.T) {
	e := newEnv(t)
	e.writeCDC([]change1{{op: 'I', id: 1, name: "a", amount: "1.00", seq: 1}})
	e.run()
	before := e.bookmark()
	bad := "Op,id,name,amount,change_seq\nI,2,b,1.00,20240101000000000000000000000000002\nI,3,c,not-a-number,20240101000000000000000000000000003\n"
	e.write("20240103-000000000.csv", []byte(bad))
	_, err := e.table(wire.IcebergTarget{Table: e.iceberg()}).Run(context.Background())
	if !errors.Is(err, change.ErrMalformed) {
		t.Fatalf("got %v, want a malformed-input error", err)
	}
	for _, want := range []string{"20240103-000000000.csv", "line 3", "amount"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if !e.bookmark().Equal(before) {
		t.Fatal("bookmark moved past a malformed file")
	}
	diff(t, "after failure", e.read(), "1|\"a\"|1.00\n")
	e.write("20240103-000000000.csv", []byte(strings.Replace(bad, "not-a-number", "3.50", 1)))
	e.run()
	diff(t, "after fix", e.read(), "1|\"a\"|1.00\n2|\"b\"|1.00\n3|\"c\"|3.50\n")
}

// TestFirstMalformedFileInApplyOrder: files are decoded concurrently, yet
// with two bad files the error names the first in apply order, even when
// it is large and the later bad file (tiny) fails first.
func TestFirstMalformedFileInApplyOrder(t *testing.T) {
	e := newEnv(t)
	var big strings.Builder
	big.WriteString("Op,id,name,amount,change_seq\n")
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&big, "I,%d,n,1.00,20240101000000000000%015d\n", i, i)
	}
	big.WriteString("I,0,bad,oops,20240101000000000000000000000099999\n")
	e.write("20240103-000000000.csv", []byte(big.String()))
	e.write("20240104-000000000.csv", []byte("Op,id,name,amount,change_seq\nI,1,x,nope,20240101000000000000000000000100000\n"))
	for range 5 {
		_, err := e.table(wire.IcebergTarget{Table: e.iceberg()}).Run(context.Background())
		if !errors.Is(err, change.ErrMalformed) || !strings.Contains(err.Error(), "20240103-000000000.csv") || !strings.Contains(err.Error(), "line 20002") {
			t.Fatalf("got %v, want the error of 20240103-000000000.csv line 20002", err)
		}
	}
}

// TestReloadStartsNewGeneration: DMS reloads the table (LOAD files written
// again after CDC): keys missing from the new full load are deleted, and
// later CDC applies on top.
func TestReloadStartsNewGeneration(t *testing.T) {
	e := newEnv(t)
	e.write("LOAD00000001.csv", dmsFile([]change1{
		{op: 'I', id: 1, name: "a", amount: "1.00"}, {op: 'I', id: 2, name: "b", amount: "2.00"}}, true))
	e.writeCDC([]change1{{op: 'U', id: 2, name: "b2", amount: "2.50", seq: 5}, {op: 'I', id: 3, name: "c", amount: "3.00", seq: 6}})
	e.run()
	diff(t, "before reload", e.read(), "1|\"a\"|1.00\n2|\"b2\"|2.50\n3|\"c\"|3.00\n")
	// Reload: the LOAD object is overwritten with the source's new content.
	e.write("LOAD00000001.csv", dmsFile([]change1{
		{op: 'I', id: 2, name: "b3", amount: "2.00"}, {op: 'I', id: 4, name: "d", amount: ""}}, true))
	res := e.run()
	if res.Bookmark.Generation != 1 {
		t.Fatalf("generation %d, want 1", res.Bookmark.Generation)
	}
	diff(t, "after reload", e.read(), "2|\"b3\"|2.00\n4|\"d\"|NULL\n")
	e.writeCDC([]change1{{op: 'D', id: 4, seq: 1}})
	e.run()
	diff(t, "cdc after reload", e.read(), "2|\"b3\"|2.00\n")
}

// TestReloadOverSeveralRuns: DMS writes a reload's LOAD files one by one,
// so runs can see part of the new load. The runs that absorb the rest must
// stay in the reload's generation (not start another one that deletes what
// the first run loaded), and end with the table one run over the whole
// reload gives. After CDC of the new generation, a further reload starts a
// new generation again.
func TestReloadOverSeveralRuns(t *testing.T) {
	load1 := []change1{{op: 'I', id: 1, name: "a", amount: "1.00"}, {op: 'I', id: 2, name: "b", amount: "2.00"}}
	load2 := []change1{{op: 'I', id: 3, name: "c", amount: "3.00"}, {op: 'I', id: 4, name: "d", amount: "4.00"}}
	reload1 := []change1{{op: 'I', id: 1, name: "a2", amount: "1.50"}, {op: 'I', id: 2, name: "b2", amount: "2.50"}}
	reload2 := []change1{{op: 'I', id: 3, name: "c2", amount: "3.50"}, {op: 'I', id: 6, name: "f", amount: "6.00"}}
	start := func(t *testing.T) *env {
		e := newEnv(t)
		e.write("LOAD00000001.csv", dmsFile(load1, true))
		e.write("LOAD00000002.csv", dmsFile(load2, true))
		e.writeCDC([]change1{{op: 'U', id: 2, name: "b1", amount: "2.10", seq: 1}, {op: 'I', id: 5, name: "e", amount: "5.00", seq: 2}})
		e.run()
		diff(t, "before reload", e.read(), "1|\"a\"|1.00\n2|\"b1\"|2.10\n3|\"c\"|3.00\n4|\"d\"|4.00\n5|\"e\"|5.00\n")
		return e
	}
	want := "1|\"a2\"|1.50\n2|\"b2\"|2.50\n3|\"c2\"|3.50\n6|\"f\"|6.00\n"

	one := start(t)
	one.write("LOAD00000001.csv", dmsFile(reload1, true))
	one.write("LOAD00000002.csv", dmsFile(reload2, true))
	if res := one.run(); res.Bookmark.Generation != 1 {
		t.Fatalf("one run: generation %d, want 1", res.Bookmark.Generation)
	}
	diff(t, "reload in one run", one.read(), want)

	e := start(t)
	e.write("LOAD00000001.csv", dmsFile(reload1, true))
	if res := e.run(); res.Bookmark.Generation != 1 {
		t.Fatalf("first part: generation %d, want 1", res.Bookmark.Generation)
	}
	e.write("LOAD00000002.csv", dmsFile(reload2, true))
	if res := e.run(); res.Bookmark.Generation != 1 {
		t.Fatalf("second part: generation %d, want 1 (the reload's)", res.Bookmark.Generation)
	}
	diff(t, "reload over two runs", e.read(), want)

	// CDC of generation 1, then the load is overwritten again: generation 2.
	e.writeCDC([]change1{{op: 'D', id: 6, seq: 1}})
	e.run()
	diff(t, "cdc after reload", e.read(), "1|\"a2\"|1.50\n2|\"b2\"|2.50\n3|\"c2\"|3.50\n")
	e.write("LOAD00000001.csv", dmsFile(load1, true))
	if res := e.run(); res.Bookmark.Generation != 2 {
		t.Fatalf("second reload: generation %d, want 2", res.Bookmark.Generation)
	}
	diff(t, "second reload", e.read(), "1|\"a\"|1.00\n2|\"b\"|2.00\n")
}

// TestInteropPyIceberg reads the table lakemerge wrote with pyiceberg (an
// engine nobody here wrote) and compares it with the reference model. It
// needs LAKEMERGE_PYTHON: a Python with interop/requirements.txt installed,
// which scripts/test.sh provides. Under CI it must not be skipped.
func TestInteropPyIceberg(t *testing.T) {
	py := testenv.Python(t)
	for _, b := range backends(t) {
		t.Run("backend="+b, func(t *testing.T) { interopPyIceberg(t, py, newEnvOn(t, b)) })
	}
}

func interopPyIceberg(t *testing.T, py string, e *env) {
	g := newGen(11, 80)
	m := model{}
	for run := 0; run < 3; run++ {
		for f := 0; f < 2; f++ {
			var cs []change1
			for n := 30; n > 0; n-- {
				cs = append(cs, g.next())
			}
			e.writeCDC(cs)
			m.apply(cs)
		}
		e.run()
	}
	var want strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(m.render()), "\n") {
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		name, _ := strconv.Unquote(parts[1])
		amount := "null"
		if parts[2] != "NULL" {
			amount = strconv.Quote(parts[2])
		}
		nj, _ := json.Marshal(name)
		fmt.Fprintf(&want, "{\"amount\": %s, \"id\": %s, \"name\": %s}\n", amount, parts[0], nj)
	}
	args := append([]string{filepath.Join("..", "interop", "read_iceberg.py")}, e.catArgs...)
	cmd := exec.Command(py, append(args, e.db()+".items", "id", "id,name,amount")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pyiceberg read failed: %v\n%s", err, out)
	}
	diff(t, "pyiceberg vs model", string(out), want.String())
}

// TestLargeBookmarkGoesToFile: once the bookmark outgrows what catalogs
// keep in a table property, it is written to a file beside the table
// metadata and the property references it; runs keep working, and the
// table is unchanged by it. Bookmark files of earlier states stay (their
// metadata files reference them) until Vacuum finds them unreferenced.
func TestLargeBookmarkGoesToFile(t *testing.T) {
	for _, b := range backends(t) {
		t.Run("backend="+b, func(t *testing.T) {
			e := newEnvOn(t, b)
			g := newGen(13, 50)
			m := model{}
			for run := 0; run < 3; run++ {
				for f := 0; f < 500; f++ {
					cs := []change1{g.next()}
					e.writeCDC(cs)
					m.apply(cs)
				}
				if res := e.run(); res.Files != 500 {
					t.Fatalf("run %d absorbed %d files", run, res.Files)
				}
			}
			diff(t, "table", e.read(), m.render())
			tbl, err := e.cat.LoadTable(context.Background(), icetable.Identifier{e.db(), "items"})
			if err != nil {
				t.Fatal(err)
			}
			prop := tbl.Properties()[iceberg.BookmarkProperty]
			if !strings.HasPrefix(prop, "lmbref:") || len(prop) > 1024 {
				t.Fatalf("bookmark property is not a file reference: %.80s… (%d bytes)", prop, len(prop))
			}
			if bm := e.bookmark(); len(bm.Entries) != 1500 || bm.Runs != 3 {
				t.Fatalf("bookmark %s", bm.Summary())
			}
			if res := e.run(); !res.UpToDate {
				t.Fatalf("run after the last file did something: %+v", res)
			}
			fs, err := tbl.FS(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			lst, ok := fs.(iceio.ListableIO)
			if !ok {
				t.Skip("table io cannot list: cannot count bookmark files")
			}
			var files []string
			err = lst.WalkDir(strings.TrimRight(tbl.Location(), "/")+"/metadata", func(p string, d iofs.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(p, ".lmb") {
					files = append(files, p)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) == 0 {
				t.Fatal("no bookmark file")
			}
			// Vacuum keeps the bookmark files, however old: they are
			// referenced by table properties, not by snapshots.
			if _, err := e.iceberg().Vacuum(context.Background(), 0); err != nil {
				t.Fatal(err)
			}
			if bm := e.bookmark(); len(bm.Entries) != 1500 {
				t.Fatalf("bookmark after vacuum %s", bm.Summary())
			}
		})
	}
}

// TestLateChangeAfterDeleteNeverResurrects: a delete committed in one run
// leaves a tombstone, so an older update of the key arriving in a later
// run is stale instead of bringing the row back (invariant 4).
func TestLateChangeAfterDeleteNeverResurrects(t *testing.T) {
	e := newEnv(t)
	e.writeCDC([]change1{{op: 'I', id: 1, name: "a", amount: "1.00", seq: 10}, {op: 'I', id: 2, name: "b", amount: "2.00", seq: 11}})
	e.run()
	e.writeCDC([]change1{{op: 'D', id: 1, seq: 30}})
	e.run()
	e.writeCDC([]change1{{op: 'U', id: 1, name: "late", amount: "9.99", seq: 20}, {op: 'U', id: 2, name: "b2", amount: "", seq: 21}})
	res := e.run()
	if res.Stats.Stale != 1 || res.Stats.Updated != 1 {
		t.Fatalf("stats %+v, want 1 stale (the late update of the deleted key), 1 updated", res.Stats)
	}
	diff(t, "after late update", e.read(), "2|\"b2\"|NULL\n")
	// A newer insert does bring the key back.
	e.writeCDC([]change1{{op: 'I', id: 1, name: "again", amount: "3.00", seq: 40}})
	e.run()
	diff(t, "after re-insert", e.read(), "1|\"again\"|3.00\n2|\"b2\"|NULL\n")
}

// TestFilesInAnyOrderAcrossRuns: the same changes (ordered by
// AR_H_CHANGE_SEQ) absorbed file by file in a random order, one run per
// file, give the table of the reference model: late updates, late deletes
// and late inserts never win over newer changes, whether the key is live
// or deleted (invariants 4 and 5).
func TestFilesInAnyOrderAcrossRuns(t *testing.T) {
	for _, seed := range []uint64{21, 22, 23, 24} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			e := newEnv(t)
			g := newGen(seed, 15)
			m := model{}
			var files [][]change1
			for f := 0; f < 10; f++ {
				var cs []change1
				for n := 1 + g.rng.IntN(12); n > 0; n-- {
					cs = append(cs, g.next())
				}
				files = append(files, cs)
				m.apply(cs)
			}
			g.rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
			for _, cs := range files {
				e.writeCDC(cs)
				e.run()
			}
			diff(t, "table after shuffled files", e.read(), m.render())
		})
	}
}

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
