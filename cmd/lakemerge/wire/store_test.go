package wire_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/fault"
	"github.com/lakemerge/lakemerge/objstore/mem"
)

// recorder keeps the keys a store holds by what was written and deleted
// through it.
type recorder struct {
	mu      sync.Mutex
	written map[string]bool
	reads   int
}

func (r *recorder) observe(ev fault.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case ev.Err != nil:
	case ev.Op == fault.OpPut || ev.Op == fault.OpCreateExclusive:
		r.written[ev.Key] = true
	case ev.Op == fault.OpDelete:
		delete(r.written, ev.Key)
	case ev.Op == fault.OpOpen || ev.Op == fault.OpOpenRange:
		r.reads++
	}
}

// TestEveryTableByteGoesThroughTheStore: the workload's runs, a status
// and a vacuum of each table format, on a folder and on S3, with the
// warehouse store recording what is written through it. Afterwards the
// warehouse, listed behind lakemerge's back, holds exactly the files
// written through the store and not deleted through it.
func TestEveryTableByteGoesThroughTheStore(t *testing.T) {
	for _, sc := range scenarios(t) {
		if sc.input != "dms" {
			continue
		}
		t.Run(sc.String(), func(t *testing.T) {
			e := newEnv(t, sc)
			p := makePlan(t, sc, workloadSpec(1))
			rec := &recorder{written: map[string]bool{}}
			wrap := func(zone string, s objstore.Store) objstore.Store {
				if zone != wire.ZoneWarehouse {
					return s
				}
				return fault.New(s, fault.Config{Observe: rec.observe})
			}
			for r, files := range p.runs {
				e.put(files)
				if _, err, _ := e.runOnce(wrap); err != nil {
					t.Fatalf("run %d: %v", r, err)
				}
				if got := e.stateWith(wrap); got != p.wants[r] {
					t.Fatalf("run %d: %s", r, diffStates(got, p.wants[r]))
				}
			}
			j := e.build(memory.NewGoAllocator(), wire.WithStoreWrapper(wrap))
			defer j.Close()
			if _, err := j.Tables[0].Table.Vacuum(context.Background(), 0); err != nil {
				t.Fatal(err)
			}
			var want []string
			for k := range rec.written {
				want = append(want, k)
			}
			slices.Sort(want)
			got := e.listWarehouse()
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("the warehouse holds files the store did not write, or lacks files it wrote:\nwarehouse:\n  %s\nwritten through the store:\n  %s",
					strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if len(got) < 10 || rec.reads == 0 {
				t.Fatalf("%d files, %d reads: the workload did not run?", len(got), rec.reads)
			}
		})
	}
}

// listWarehouse lists the warehouse's objects without lakemerge: the
// folder's files, or the bucket's keys under warehouse/.
func (e *env) listWarehouse() []string {
	e.t.Helper()
	var out []string
	switch e.sc.backend {
	case "local":
		root := filepath.Join(e.dir, "warehouse")
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
	case "aws":
		pg := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(e.bucket), Prefix: aws.String("warehouse/")})
		for pg.HasMorePages() {
			page, err := pg.NextPage(context.Background())
			if err != nil {
				e.t.Fatal(err)
			}
			for _, o := range page.Contents {
				out = append(out, strings.TrimPrefix(aws.ToString(o.Key), "warehouse/"))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestNoTableFileBypassesTheStore: with the warehouse of a file:// job
// swapped for a store in memory, every run, status and read works, and
// not one file appears in the warehouse folder: nothing reads or writes
// table files but through the store.
func TestNoTableFileBypassesTheStore(t *testing.T) {
	for _, target := range []string{"iceberg", "delta"} {
		t.Run(target, func(t *testing.T) {
			sc := scenario{"local", target, "dms"}
			e := newEnv(t, sc)
			p := makePlan(t, sc, workloadSpec(2))
			inMemory := mem.New()
			wrap := func(zone string, s objstore.Store) objstore.Store {
				if zone == wire.ZoneWarehouse {
					return inMemory
				}
				return s
			}
			for r, files := range p.runs {
				e.put(files)
				if _, err, leaked := e.runOnce(wrap); err != nil || leaked != 0 {
					t.Fatalf("run %d: %v (%d Arrow bytes left)", r, err, leaked)
				}
				if got := e.stateWith(wrap); got != p.wants[r] {
					t.Fatalf("run %d: %s", r, diffStates(got, p.wants[r]))
				}
			}
			if files := e.listWarehouse(); len(files) > 0 {
				t.Fatalf("files in the warehouse folder, not written through the store: %v", files)
			}
			if objs, _ := inMemory.List(context.Background(), ""); len(objs) < 10 {
				t.Fatalf("the store holds %d objects", len(objs))
			}
		})
	}
}
