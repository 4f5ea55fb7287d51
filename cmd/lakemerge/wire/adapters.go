// Package wire adapts lakemerge's concrete parts (objstore, formats/dmscsv,
// formats/debezium, table/iceberg, table/delta) to the interfaces merge
// consumes, and builds merge.Tables from a job file. It converts types and
// translates the job file into each part's options; what a format or a
// writer knows lives in its own package. It is the wiring half of
// cmd/lakemerge, in its own package so that end-to-end tests run exactly
// the parts the binary runs.
//
// Build opens two stores per job, the raw zone and the warehouse, and every
// table file goes through the warehouse store: the Delta writer's directly,
// Iceberg's through iceberg-go's file IO, which RegisterFileIO and
// WarehouseCatalog point at the store (objstore/icebergio). Tests hand the
// stores Build opens to a wrapper (WithStoreWrapper) to inject faults or
// record the I/O of exactly this wiring. WarehouseCatalog also keeps each
// Iceberg table's last parsed metadata, taken again while the catalog
// names the same metadata location.
package wire

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/formats/debezium"
	"github.com/lakemerge/lakemerge/formats/dmscsv"
	"github.com/lakemerge/lakemerge/merge"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/table/iceberg"
)

// RawStore adapts an objstore.Store to merge.Raw.
type RawStore struct{ Store objstore.Store }

// List lists prefix; a missing folder (objstore/local's RequireFolders) is
// an error matching merge.ErrNoRawFiles.
func (r RawStore) List(ctx context.Context, prefix string) ([]bookmarks.Entry, error) {
	objs, err := r.Store.List(ctx, prefix)
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", merge.ErrNoRawFiles, err)
	}
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

// IsNotExist reports whether an error of Open means the key does not exist
// (debezium.Opener).
func (r RawStore) IsNotExist(err error) bool { return errors.Is(err, objstore.ErrNotExist) }

// IcebergTarget adapts table/iceberg to merge.Target.
type IcebergTarget struct{ Table *iceberg.Table }

func (t IcebergTarget) Begin(ctx context.Context) (merge.Txn, error) {
	x, err := t.Table.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return x, nil
}

// DMSFormat is formats/dmscsv with opts, as a merge.Format.
func DMSFormat(opts dmscsv.Options) merge.Format {
	return format[*dmscsv.Decoder]{dmscsv.Format{Options: opts}}
}

// DebeziumFormat is formats/debezium with opts, as a merge.Format; keys
// files are read from raw.
func DebeziumFormat(opts debezium.Options, raw objstore.Store) merge.Format {
	return format[*debezium.Decoder]{debezium.Format{Options: opts, Keys: RawStore{Store: raw}}}
}

// Checked where both sides are known: merge asks the readers for the
// source's commit time, a Debezium reader for its truncates and skipped
// events too, and the Debezium format opens keys files through the raw
// zone.
var (
	_ merge.SourceTimer = (*dmscsv.Decoder)(nil)
	_ merge.SourceTimer = (*debezium.Decoder)(nil)
	_ merge.Truncator   = (*debezium.Decoder)(nil)
	_ merge.Skipper     = (*debezium.Decoder)(nil)
	_ debezium.Opener   = RawStore{}
)

// source is what a format package's Format offers: merge.Format in the
// package's own types.
type source[R merge.BatchReader] interface {
	Order(keys []string) (ordered, companions []string, unknown []change.Unknown)
	IsSnapshot(key string) bool
	Open(ctx context.Context, r io.Reader, key string, generation uint32, mem memory.Allocator) (R, error)
}

// format adapts a format package's Format to merge.Format: it converts the
// types, and knows nothing of the format.
type format[R merge.BatchReader] struct{ src source[R] }

func (f format[R]) Order(keys []string) (ordered, companions []string, unknown []merge.Unknown) {
	return f.src.Order(keys)
}

func (f format[R]) IsSnapshot(key string) bool { return f.src.IsSnapshot(key) }

func (f format[R]) Open(ctx context.Context, r io.Reader, key string, generation uint32, mem memory.Allocator) (merge.BatchReader, error) {
	d, err := f.src.Open(ctx, r, key, generation, mem)
	if err != nil {
		return nil, err
	}
	return d, nil
}
