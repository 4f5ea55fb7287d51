package merge_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	icetable "github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/catalog/glue"
	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/objstore"
	objs3 "github.com/lakemerge/lakemerge/objstore/s3"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/delta"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// writerKinds are the table writers the tests of this file run on.
var writerKinds = []string{"iceberg", "delta"}

const deltaName = "items_delta"

// deltaRoot is the Delta table's key prefix in the warehouse store.
func (e *env) deltaRoot() string { return e.db() + ".db/" + deltaName + "/" }

func (e *env) deltaOn(store objstore.Store) *delta.Table {
	return delta.New(store, e.deltaRoot(), delta.Options{Name: deltaName, Keys: []string{"id"}}, e.mem)
}

// target is the writer of kind over the env's warehouse.
func (e *env) target(kind string) merge.Target {
	if kind == "delta" {
		return wire.DeltaTarget{Table: e.deltaOn(e.wh)}
	}
	return wire.IcebergTarget{Table: e.iceberg()}
}

func (e *env) runKind(kind string) merge.Result {
	e.t.Helper()
	res, err := e.table(e.target(kind)).Run(context.Background())
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return res
}

// readKind renders the table's rows like model.render.
func (e *env) readKind(kind string) string {
	e.t.Helper()
	if kind == "iceberg" {
		return e.read()
	}
	at, err := e.deltaOn(e.wh).Read(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	defer at.Release()
	m := model{}
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		idx := func(name string) int { return rec.Schema().FieldIndices(name)[0] }
		ids := rec.Column(idx("id")).(*array.Int64)
		nm := rec.Column(idx("name")).(*array.String)
		am := rec.Column(idx("amount")).(*array.Decimal128)
		for i := 0; i < int(rec.NumRows()); i++ {
			c := change1{id: ids.Value(i), name: nm.Value(i)}
			if am.IsValid(i) {
				c.amount = am.Value(i).ToString(2)
			}
			m[c.id] = c
		}
	}
	return m.render()
}

func (e *env) bookmarkKind(kind string) bookmarks.Bookmark {
	e.t.Helper()
	if kind == "iceberg" {
		return e.bookmark()
	}
	x, err := e.deltaOn(e.wh).Begin(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return x.Bookmark()
}

// icebergPrefix is the Iceberg table's key prefix in the bucket (aws).
func (e *env) icebergPrefix() string {
	e.t.Helper()
	tbl, err := e.cat.LoadTable(context.Background(), icetable.Identifier{e.db(), "items"})
	if err != nil {
		e.t.Fatal(err)
	}
	bucket := e.store.(*objs3.Store).Bucket()
	return strings.TrimPrefix(strings.TrimRight(tbl.Location(), "/"), "s3://"+bucket+"/") + "/"
}

// denyPuts makes the bucket refuse PutObject for keys matching each
// pattern (IAM wildcards), by a bucket policy the moto server enforces;
// the returned func lifts it.
func (e *env) denyPuts(patterns ...string) func() {
	e.t.Helper()
	ctx := context.Background()
	bucket := e.store.(*objs3.Store).Bucket()
	var res []string
	for _, p := range patterns {
		res = append(res, "arn:aws:s3:::"+bucket+"/"+p)
	}
	pol, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": res}}})
	if _, err := e.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(pol))}); err != nil {
		e.t.Fatal(err)
	}
	return func() {
		if _, err := e.s3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// denyStore refuses writes of the keys deny matches with the error
// objstore/local gives for a folder it may not write to.
type denyStore struct {
	objstore.Store
	deny func(key string) bool
}

func (d denyStore) refuse(key string) error {
	return fmt.Errorf("write %s: %w", key, &iofs.PathError{Op: "open", Path: key, Err: syscall.EACCES})
}

func (d denyStore) Put(ctx context.Context, key string, r io.Reader) error {
	if d.deny(key) {
		return d.refuse(key)
	}
	return d.Store.Put(ctx, key, r)
}

func (d denyStore) CreateExclusive(ctx context.Context, key string, r io.Reader) error {
	if d.deny(key) {
		return d.refuse(key)
	}
	return d.Store.CreateExclusive(ctx, key, r)
}

// blockFolder makes creating files in dir fail (chmod for a user, the
// immutable attribute for root, which permissions do not stop) and reports
// whether that worked here; the test's cleanup lifts it.
func blockFolder(t *testing.T, dir string) bool {
	t.Helper()
	probe := filepath.Join(dir, "probe")
	blocked := func() bool {
		err := os.WriteFile(probe, nil, 0o644)
		os.Remove(probe)
		return err != nil
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if blocked() {
		return true
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Logf("chattr +i %s: %v: %s", dir, err, out)
		return false
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	return blocked()
}

// blockDataFiles makes every new data file of the table fail to be
// written: on S3 by a bucket policy; locally, for Iceberg, by a regular
// file where a partition folder that does not exist yet should be and by
// making the existing partition folders refuse new files (where this
// machine allows; the new partitions fail anyway), and for Delta by
// refusing writes of data files in the store the returned target writes
// through. The returned func lifts the block.
func (e *env) blockDataFiles(kind string) (merge.Target, func()) {
	e.t.Helper()
	switch {
	case e.backend == "aws" && kind == "iceberg":
		return e.target(kind), e.denyPuts(e.icebergPrefix() + "data/*")
	case e.backend == "aws":
		return e.target(kind), e.denyPuts("warehouse/" + e.deltaRoot() + "part-*")
	case kind == "delta":
		store := denyStore{Store: e.wh, deny: func(key string) bool { return strings.Contains(key, "/part-") }}
		return wire.DeltaTarget{Table: e.deltaOn(store)}, func() {}
	}
	data := filepath.Join(e.dir, "warehouse", "shop.db", "items", "data")
	var made []string
	for b := range 4 {
		dir := filepath.Join(data, fmt.Sprintf("id_bucket=%d", b))
		if _, err := os.Stat(dir); err == nil {
			if !blockFolder(e.t, dir) {
				e.t.Logf("cannot make %s refuse new files here: only new partitions fail", dir)
			}
			continue
		}
		if err := os.WriteFile(dir, nil, 0o644); err != nil {
			e.t.Fatal(err)
		}
		made = append(made, dir)
	}
	return e.target(kind), func() {
		for _, f := range made {
			os.Remove(f)
		}
		for b := range 4 {
			dir := filepath.Join(data, fmt.Sprintf("id_bucket=%d", b))
			exec.Command("chattr", "-i", dir).Run()
			os.Chmod(dir, 0o755)
		}
	}
}

// TestUnwritableDataFileFailsRun: the data-loss defect. A run whose update
// (of a stored row) and inserts cannot write their data files fails at
// once (one attempt), naming the file, and leaves the table and its
// bookmark unchanged: it never commits the delete of the old row without
// the new one. Once writes work again, the next run absorbs the files.
func TestUnwritableDataFileFailsRun(t *testing.T) {
	for _, b := range backends(t) {
		for _, kind := range writerKinds {
			t.Run("backend="+b+"/writer="+kind, func(t *testing.T) {
				ctx := context.Background()
				e := newEnvOn(t, b)
				m := model{}
				load := []change1{{op: 'I', id: 1, name: "a", amount: "1.00"}, {op: 'I', id: 2, name: "b", amount: "2.00"}, {op: 'I', id: 3, name: "c", amount: "3.00"}}
				e.write("LOAD00000001.csv", dmsFile(load, true))
				m.apply(load)
				e.runKind(kind)
				cs := []change1{{op: 'U', id: 1, name: "a1", amount: "1.10", seq: 1}}
				for id := int64(10); id < 40; id++ {
					cs = append(cs, change1{op: 'I', id: id, name: "new", amount: "9.00", seq: 1 + id})
				}
				e.writeCDC(cs)
				m.apply(cs)
				before, bm := e.readKind(kind), e.bookmarkKind(kind)

				target, unblock := e.blockDataFiles(kind)
				res, err := e.table(target).Run(ctx)
				unblock()
				want := "/data/id_bucket="
				if kind == "delta" {
					want = "part-"
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("run with unwritable data files: %v, want an error naming the data file (%q)", err, want)
				}
				if res.Attempts != 1 || table.Retryable(err) {
					t.Fatalf("a permanent error was retried: %d attempts, %v", res.Attempts, err)
				}
				t.Logf("%v", err)
				diff(t, "table after the failed run", e.readKind(kind), before)
				if got := e.bookmarkKind(kind); !got.Equal(bm) {
					t.Fatalf("bookmark moved: %s, want %s", got.Summary(), bm.Summary())
				}

				if res := e.runKind(kind); res.Stats.Updated != 1 || res.Stats.Inserted != 30 {
					t.Fatalf("run after the block was lifted: %+v", res.Stats)
				}
				diff(t, "table", e.readKind(kind), m.render())
			})
		}
	}
}

// TestDeniedCommitFailsAtOnce: a store or bucket that refuses the commit
// itself (Iceberg's new metadata file, Delta's log entry), or a warehouse
// bucket that does not exist, fails the run at once, after one attempt,
// with nothing committed.
func TestDeniedCommitFailsAtOnce(t *testing.T) {
	for _, b := range backends(t) {
		for _, kind := range writerKinds {
			t.Run("backend="+b+"/writer="+kind, func(t *testing.T) {
				ctx := context.Background()
				e := newEnvOn(t, b)
				scenario(e, 0)
				e.runKind(kind)
				scenario(e, 1)
				before, bm := e.readKind(kind), e.bookmarkKind(kind)
				target, unblock := e.target(kind), func() {}
				switch {
				case b == "aws" && kind == "iceberg":
					unblock = e.denyPuts(e.icebergPrefix() + "metadata/*.metadata.json")
				case b == "aws":
					unblock = e.denyPuts("warehouse/" + e.deltaRoot() + "_delta_log/0*.json")
				case kind == "delta":
					target = wire.DeltaTarget{Table: e.deltaOn(denyStore{Store: e.wh, deny: func(key string) bool {
						return strings.HasSuffix(key, ".json") && strings.Contains(key, "/_delta_log/0")
					}})}
				default:
					if !blockFolder(t, filepath.Join(e.dir, "warehouse", "shop.db", "items", "metadata")) {
						t.Skip("cannot make the metadata folder refuse new files here (root, no immutable attribute); TestUnwritableDataFileFailsRun covers permanent local errors")
					}
				}
				res, err := e.table(target).Run(ctx)
				unblock()
				if err == nil || res.Attempts != 1 || table.Retryable(err) {
					t.Fatalf("run with a refused commit: %d attempts, %v; want a permanent error after one attempt", res.Attempts, err)
				}
				t.Logf("%v", err)
				diff(t, "table after the failed run", e.readKind(kind), before)
				if got := e.bookmarkKind(kind); !got.Equal(bm) {
					t.Fatalf("bookmark moved: %s, want %s", got.Summary(), bm.Summary())
				}
			})
		}
	}
	if os.Getenv("LAKEMERGE_AWS_ENDPOINT") == "" {
		return
	}
	t.Run("backend=aws/missing-bucket", func(t *testing.T) {
		ctx := context.Background()
		e := newEnvOn(t, "aws")
		scenario(e, 0)
		ep := os.Getenv("LAKEMERGE_AWS_ENDPOINT")
		cfg, err := objs3.LoadConfig(ctx, objs3.Options{Endpoint: ep, PathStyle: true})
		if err != nil {
			t.Fatal(err)
		}
		missing := "lm-missing-" + strings.ReplaceAll(e.db(), "_", "-")
		for _, kind := range writerKinds {
			var target merge.Target
			if kind == "delta" {
				target = wire.DeltaTarget{Table: e.deltaOn(objs3.New(cfg, missing, "warehouse", objs3.Options{Endpoint: ep, PathStyle: true}))}
			} else {
				gc, err := glue.Open(cfg, glue.Options{Warehouse: "s3://" + missing + "/warehouse", Endpoint: ep})
				if err != nil {
					t.Fatal(err)
				}
				cat := warehouseCatalog(t, gc, objs3.New(cfg, missing, "warehouse", objs3.Options{Endpoint: ep, PathStyle: true}), "s3://"+missing+"/warehouse")
				db := e.db() + "_missing"
				if err := cat.EnsureNamespace(ctx, db); err != nil {
					t.Fatal(err)
				}
				target = wire.IcebergTarget{Table: iceberg.New(cat, iceberg.Options{Database: db, Name: "items", Keys: []string{"id"}, Buckets: 4}, e.mem)}
			}
			res, err := e.table(target).Run(ctx)
			if err == nil || res.Attempts != 1 || table.Retryable(err) {
				t.Fatalf("%s into a missing bucket: %d attempts, %v; want a permanent error after one attempt", kind, res.Attempts, err)
			}
			t.Logf("%s: %v", kind, err)
		}
	})
}

// TestConcurrentRunsOnOneTable: runners run the same table over and over
// while new change files (with deletes, so the tombstones change) keep
// arriving. A run that began before others committed must never fail on a
// side file (bookmark, tombstones, state) they replaced: every run
// succeeds, or fails only because it lost the race more often than its
// attempts allow; and the final table equals the model.
func TestConcurrentRunsOnOneTable(t *testing.T) {
	for _, b := range backends(t) {
		for _, kind := range writerKinds {
			t.Run("backend="+b+"/writer="+kind, func(t *testing.T) {
				ctx := context.Background()
				e := newEnvOn(t, b)
				g := newGen(11, 30)
				m := model{}
				const files, runners = 24, 4
				// A new file about as often as a run commits, so that runs
				// begin before others commit.
				every := 15 * time.Millisecond
				if b == "aws" {
					every = 120 * time.Millisecond
				}
				// The first file is there before the runners start: a table
				// with nothing to read fails (merge.ErrNoRawFiles).
				first := make([]change1, 0, 10)
				for range 10 {
					first = append(first, g.next())
				}
				e.writeCDC(first)
				m.apply(first)
				done := make(chan struct{})
				go func() {
					defer close(done)
					for range files - 1 {
						var cs []change1
						for range 10 {
							cs = append(cs, g.next())
						}
						e.writeCDC(cs)
						m.apply(cs)
						pause(every)
					}
				}()
				var (
					wg                    sync.WaitGroup
					mu                    sync.Mutex
					runs, commits, gaveUp int
				)
				for range runners {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							select {
							case <-done:
								return
							default:
							}
							res, err := e.table(e.target(kind)).Run(ctx)
							mu.Lock()
							runs++
							switch {
							case err == nil:
								if res.Stats.BytesWritten > 0 {
									commits++
								}
							case errors.Is(err, table.ErrConflict) && strings.Contains(err.Error(), "gave up after"):
								gaveUp++
							default:
								t.Errorf("run failed: %v", err)
							}
							mu.Unlock()
							pause(5 * time.Millisecond)
						}
					}()
				}
				wg.Wait()
				if t.Failed() {
					return
				}
				e.runKind(kind) // whatever arrived after the last runs
				t.Logf("%d runs, %d committed data, %d gave up after conflicts", runs, commits, gaveUp)
				if commits < 2 {
					t.Fatalf("only %d runs committed data: the runs did not overlap the arrivals", commits)
				}
				diff(t, "table", e.readKind(kind), m.render())
			})
		}
	}
}

// pause waits d (a timer, not a sleep loop).
func pause(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	<-tm.C
}

// TestCatalogRollbackKeepsWorking: pointing the catalog back at an earlier
// metadata file of the table (a rollback) leaves a table whose bookmark
// and tombstone files still exist; the next run re-absorbs what came after
// and the table equals the model.
func TestCatalogRollbackKeepsWorking(t *testing.T) {
	for _, b := range backends(t) {
		t.Run("backend="+b, func(t *testing.T) {
			ctx := context.Background()
			e := newEnvOn(t, b)
			want := func() string {
				clean := newEnvOn(t, b)
				for round := range 3 {
					scenario(clean, round)
					clean.run()
				}
				return clean.read()
			}()
			var early string
			for round := range 3 {
				scenario(e, round)
				e.run()
				if round == 1 { // deletes id 2: the state has tombstones
					tbl, err := e.cat.LoadTable(ctx, icetable.Identifier{e.db(), "items"})
					if err != nil {
						t.Fatal(err)
					}
					early = tbl.MetadataLocation()
				}
			}
			e.rollBack(early)
			if got := e.bookmark(); got.Runs != 2 {
				t.Fatalf("bookmark after the rollback: %s", got.Summary())
			}
			if res := e.run(); res.Files == 0 {
				t.Fatalf("run after the rollback absorbed nothing: %+v", res)
			}
			diff(t, "table after rollback and run", e.read(), want)
		})
	}
}

// rollBack points the catalog entry of the Iceberg table at the metadata
// file loc: in the SQLite file directly, in Glue by dropping the entry and
// registering loc.
func (e *env) rollBack(loc string) {
	e.t.Helper()
	ctx := context.Background()
	ident := icetable.Identifier{e.db(), "items"}
	if e.backend == "aws" {
		c := e.cat.(interface {
			wire.Catalog
			RegisterTable(context.Context, icetable.Identifier, string) (*icetable.Table, error)
		})
		if err := c.DropTable(ctx, ident); err != nil {
			e.t.Fatal(err)
		}
		if _, err := c.RegisterTable(ctx, ident, loc); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	db, err := sql.Open(sqliteshim.ShimName, "file:"+filepath.Join(e.dir, "catalog.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	res, err := db.ExecContext(ctx, `UPDATE iceberg_tables SET metadata_location = ? WHERE table_namespace = ? AND table_name = ?`, loc, e.db(), "items")
	if err != nil {
		e.t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		e.t.Fatalf("rollback updated %d catalog rows", n)
	}
}
