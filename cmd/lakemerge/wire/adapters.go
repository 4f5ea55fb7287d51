// Package wire adapts lakemerge's concrete parts (objstore, formats/dmscsv,
// table/iceberg) to the interfaces merge consumes, and builds merge.Tables
// from a job file. It is the wiring half of cmd/lakemerge, in its own package
// so that end-to-end tests run exactly the parts the binary runs.
//
// Build opens two stores per job, the raw zone and the warehouse, and every
// table file goes through the warehouse store: the Delta writer's directly,
// Iceberg's through iceberg-go's file IO, which RegisterFileIO and
// WarehouseCatalog point at the store (objstore/icebergio). Tests hand the
// stores Build opens to a wrapper (WithStoreWrapper) to inject faults or
// record the I/O of exactly this wiring.
package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/formats/debezium"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// RawStore adapts an objstore.Store to merge.Raw.
type RawStore struct{ Store objstore.Store }

func (r RawStore) List(ctx context.Context, prefix string) ([]bookmarks.Entry, error) {
	objs, err := r.Store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]bookmarks.Entry, len(objs))
	for i, o := range objs {
		out[i] = bookmarks.Entry{Key: o.Key, ETag: o.ETag, Size: o.Size, Former: o.FormerETag, Special: o.Special}
	}
	return out, nil
}

func (r RawStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return r.Store.Open(ctx, key)
}

// DMSFormat adapts formats/dmscsv to merge.Format.
type DMSFormat struct{ Options dmscsv.Options }

func (f DMSFormat) Order(keys []string) (ordered, companions []string, unknown []merge.Unknown) {
	names := make([]dmscsv.Name, 0, len(keys))
	for _, k := range keys {
		n, err := dmscsv.ParseName(k)
		if err != nil {
			unknown = append(unknown, merge.Unknown{Key: k, Reason: err})
			continue
		}
		names = append(names, n)
	}
	slices.SortFunc(names, dmscsv.Compare)
	for _, n := range names {
		ordered = append(ordered, n.Key)
	}
	return ordered, nil, unknown
}

func (f DMSFormat) IsSnapshot(key string) bool {
	n, err := dmscsv.ParseName(key)
	return err == nil && n.Kind == dmscsv.KindLoad
}

func (f DMSFormat) Open(_ context.Context, r io.Reader, key string, generation uint32, mem memory.Allocator) (merge.BatchReader, error) {
	n, err := dmscsv.ParseName(key)
	if err != nil {
		return nil, err
	}
	d, err := dmscsv.NewDecoder(r, dmscsv.File{Name: n, Generation: generation}, f.Options, mem)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// IcebergTarget adapts table/iceberg to merge.Target.
type IcebergTarget struct{ Table *iceberg.Table }

func (t IcebergTarget) Begin(ctx context.Context) (merge.Txn, error) {
	x, err := t.Table.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// DebeziumFormat adapts formats/debezium to merge.Format. Keys files are
// companions of their values files: Open reads the one next to the file it
// decodes from Store when it exists.
type DebeziumFormat struct {
	Options debezium.Options
	Store   objstore.Store
}

func (f DebeziumFormat) Order(keys []string) (ordered, companions []string, unknown []merge.Unknown) {
	var names []debezium.Name
	for _, k := range keys {
		n, err := debezium.ParseName(k)
		switch {
		case err != nil:
			unknown = append(unknown, merge.Unknown{Key: k, Reason: err})
		case n.Kind != debezium.KindValues:
			companions = append(companions, k)
		default:
			names = append(names, n)
		}
	}
	slices.SortFunc(names, debezium.Compare)
	for _, n := range names {
		ordered = append(ordered, n.Key)
	}
	return ordered, companions, unknown
}

// IsSnapshot is false: Debezium snapshot rows ('r') order by their source
// position like any change, so they never start a load generation.
func (f DebeziumFormat) IsSnapshot(string) bool { return false }

func (f DebeziumFormat) Open(ctx context.Context, r io.Reader, key string, generation uint32, mem memory.Allocator) (merge.BatchReader, error) {
	n, err := debezium.ParseName(key)
	if err != nil {
		return nil, err
	}
	file := debezium.File{Name: n, Generation: generation}
	kr, err := f.Store.Open(ctx, n.Sibling(debezium.KindKeys))
	switch {
	case err == nil:
		defer kr.Close()
		file.Keys = kr
	case !errors.Is(err, objstore.ErrNotExist):
		return nil, fmt.Errorf("open keys file of %s: %w", key, err)
	}
	d, err := debezium.NewDecoder(r, file, f.Options, mem)
	if err != nil {
		return nil, err
	}
	return debeziumReader{d}, nil
}

// debeziumReader reports a Debezium file's truncates and skipped events to
// merge.
type debeziumReader struct{ *debezium.Decoder }

func (d debeziumReader) Skipped() int64 {
	s := d.Stats()
	return s.SchemaChanges + s.Heartbeats + s.Transactions + s.Messages + s.TombstonesSkipped
}
