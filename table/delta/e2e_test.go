package delta_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/table/delta"
)

// The Txn is what merge drives.
var _ merge.Txn = (*delta.Txn)(nil)

// target adapts a delta.Table to merge.Target.
type target struct{ t *delta.Table }

func (t target) Begin(ctx context.Context) (merge.Txn, error) {
	x, err := t.t.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// raw adapts an objstore.Store to merge.Raw, and dms formats/dmscsv to
// merge.Format: the test's own small copies of cmd/lakemerge/wire's
// adapters, so that this package's tests do not depend on the wiring.
type raw struct{ s objstore.Store }

func (r raw) List(ctx context.Context, prefix string) ([]bookmarks.Entry, error) {
	objs, err := r.s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]bookmarks.Entry, len(objs))
	for i, o := range objs {
		out[i] = bookmarks.Entry{Key: o.Key, ETag: o.ETag, Size: o.Size}
	}
	return out, nil
}

func (r raw) Open(ctx context.Context, key string) (io.ReadCloser, error) { return r.s.Open(ctx, key) }

// dms adapts dmscsv.Format, which holds the format's rules, to
// merge.Format's types.
type dms struct{ f dmscsv.Format }

func (d dms) Order(keys []string) (ordered, companions []string, unknown []merge.Unknown) {
	ordered, companions, u := d.f.Order(keys)
	for _, u := range u {
		unknown = append(unknown, merge.Unknown(u))
	}
	return ordered, companions, unknown
}

func (d dms) IsSnapshot(key string) bool { return d.f.IsSnapshot(key) }

func (d dms) Open(ctx context.Context, r io.Reader, key string, generation uint32, m memory.Allocator) (merge.BatchReader, error) {
	return d.f.Open(ctx, r, key, generation, m)
}

const rawPrefix = "raw/public/items/"

var e2eColumns = []change.Column{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}},
	{Name: "change_seq", Type: arrow.BinaryTypes.String},
}

type e2e struct {
	t     *testing.T
	store objstore.Store
	mem   *memory.CheckedAllocator
	tb    *delta.Table
	model map[int64]string // id → "name|amount"
	seq   int64
	files int
}

func newE2E(t *testing.T) *e2e {
	m := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { m.AssertSize(t, 0) })
	store := mem.New()
	return &e2e{t: t, store: store, mem: m, model: map[int64]string{},
		tb: delta.New(store, "base/items/", delta.Options{Name: "items", Keys: []string{"id"}, CheckpointInterval: 3, TargetFileBytes: 4 << 10}, m)}
}

func (e *e2e) table() *merge.Table {
	return &merge.Table{
		Name:    "items",
		Prefix:  rawPrefix,
		Keys:    []string{"id"},
		Columns: e2eColumns,
		Raw:     raw{e.store},
		Format:  dms{dmscsv.Format{Options: dmscsv.Options{Columns: e2eColumns, Header: true, ChangeSeqColumn: "change_seq", IncludeOpForFullLoad: true}}},
		Target:  target{e.tb},
		Mem:     e.mem,
	}
}

// writeCDC writes one DMS CDC file of random changes and applies them to
// the model.
func (e *e2e) writeCDC(r *rand.Rand, n int) {
	var b strings.Builder
	b.WriteString("Op,id,name,amount,change_seq\n")
	for i := 0; i < n; i++ {
		e.seq++
		id := r.Int64N(40)
		seq := fmt.Sprintf("20240101000000000000%015d", e.seq)
		if _, live := e.model[id]; live && r.IntN(4) == 0 {
			fmt.Fprintf(&b, "D,%d,,,%s\n", id, seq)
			delete(e.model, id)
			continue
		}
		op := "U"
		if _, live := e.model[id]; !live {
			op = "I"
		}
		name, amount := fmt.Sprintf("n%d", e.seq), fmt.Sprintf("%d.%02d", r.IntN(1000), r.IntN(100))
		fmt.Fprintf(&b, "%s,%d,%s,%s,%s\n", op, id, name, amount, seq)
		e.model[id] = name + "|" + amount
	}
	e.files++
	at := time.Date(2024, 1, 2, 0, 0, e.files, 0, time.UTC)
	key := rawPrefix + at.Format("20060102-150405") + "000.csv"
	if err := e.store.Put(context.Background(), key, bytes.NewReader([]byte(b.String()))); err != nil {
		e.t.Fatal(err)
	}
}

func (e *e2e) check(what string) {
	e.t.Helper()
	tbl, err := e.tb.Read(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	var got []string
	for tr.Next() {
		rec := tr.RecordBatch()
		ids, names, amounts := rec.Column(0).(*array.Int64), rec.Column(1).(*array.String), rec.Column(2).(*array.Decimal128)
		for i := 0; i < int(rec.NumRows()); i++ {
			got = append(got, fmt.Sprintf("%d=%s|%s", ids.Value(i), names.Value(i), amounts.Value(i).ToString(2)))
		}
	}
	var want []string
	for id, v := range e.model {
		want = append(want, fmt.Sprintf("%d=%s", id, v))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		e.t.Fatalf("%s: table\n%v\nmodel\n%v", what, got, want)
	}
}

// writeLoad writes (or rewrites: a reload) the full-load file with ids
// from..to, and makes the model hold exactly them.
func (e *e2e) writeLoad(from, to int64, tag string) {
	var b strings.Builder
	b.WriteString("Op,id,name,amount,change_seq\n")
	clear(e.model)
	for id := from; id <= to; id++ {
		fmt.Fprintf(&b, "I,%d,%s%d,%d.00,\n", id, tag, id, id)
		e.model[id] = fmt.Sprintf("%s%d|%d.00", tag, id, id)
	}
	if err := e.store.Put(context.Background(), rawPrefix+"LOAD00000001.csv", strings.NewReader(b.String())); err != nil {
		e.t.Fatal(err)
	}
}

// TestMergeRunsIntoDelta drives the Delta writer through merge.Table.Run
// with DMS CSV files: a full load, CDC runs, and a reload (which deletes
// every older row); every run's table equals the model, a run with nothing
// new does nothing, and the bookmark read back is the last run's.
func TestMergeRunsIntoDelta(t *testing.T) {
	ctx := context.Background()
	e := newE2E(t)
	r := rand.New(rand.NewPCG(3, 4))
	e.writeLoad(0, 29, "load")
	e.files++
	for run := 0; run < 9; run++ {
		if run == 6 {
			e.writeLoad(10, 44, "reload")
		}
		for f := 0; f < 1+r.IntN(3); f++ {
			e.writeCDC(r, 1+r.IntN(30))
		}
		res, err := e.table().Run(ctx)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		e.check(fmt.Sprint("run ", run))
		info, err := e.tb.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if run >= 6 && info.Bookmark.Generation != 1 {
			t.Fatalf("run %d: generation %d after the reload", run, info.Bookmark.Generation)
		}
		if !info.Bookmark.Equal(res.Bookmark) || len(info.Bookmark.Entries) != e.files {
			t.Fatalf("run %d: bookmark %s, run returned %s", run, info.Bookmark.Summary(), res.Bookmark.Summary())
		}
	}
	res, err := e.table().Run(ctx)
	if err != nil || !res.UpToDate {
		t.Fatalf("run with nothing new: %+v, %v", res, err)
	}
}

// TestConcurrentMergeRuns: several runs of the same table at once. They
// conflict, reload and retry; every file is absorbed exactly once.
func TestConcurrentMergeRuns(t *testing.T) {
	ctx := context.Background()
	e := newE2E(t)
	r := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 3; round++ {
		for f := 0; f < 3; f++ {
			e.writeCDC(r, 20)
		}
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tbl := e.table()
				tbl.MaxAttempts = 20
				_, errs[i] = tbl.Run(ctx)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		e.check(fmt.Sprint("round ", round))
		info, err := e.tb.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Bookmark.Entries) != e.files {
			t.Fatalf("round %d: bookmark holds %d files of %d", round, len(info.Bookmark.Entries), e.files)
		}
	}
}
