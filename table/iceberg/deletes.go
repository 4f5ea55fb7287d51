package iceberg

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
)

// deleteCache reads position-delete files once per Apply and answers which
// positions of a data file are already deleted.
type deleteCache struct {
	fs   iceio.IO
	mem  memory.Allocator
	read map[string]map[string][]int64 // delete file → data file → positions
}

func newDeleteCache(fs iceio.IO, mem memory.Allocator) *deleteCache {
	return &deleteCache{fs: fs, mem: mem, read: map[string]map[string][]int64{}}
}

// positionsFor returns the sorted deleted positions of dataPath.
func (c *deleteCache) positionsFor(ctx context.Context, dataPath string, delFiles []ice.DataFile) ([]int64, error) {
	var out []int64
	for _, df := range delFiles {
		if df.ContentType() != ice.EntryContentPosDeletes {
			return nil, fmt.Errorf("data file %s has a %s delete file %s; lakemerge reads position deletes only", dataPath, df.ContentType(), df.FilePath())
		}
		m, ok := c.read[df.FilePath()]
		if !ok {
			var err error
			if m, err = c.load(ctx, df.FilePath()); err != nil {
				return nil, fmt.Errorf("read delete file %s: %w", df.FilePath(), err)
			}
			c.read[df.FilePath()] = m
		}
		out = append(out, m[dataPath]...)
	}
	slices.Sort(out)
	return out, nil
}

func (c *deleteCache) load(ctx context.Context, path string) (map[string][]int64, error) {
	pr, err := openParquet(c.fs, path)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, c.mem)
	if err != nil {
		return nil, err
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	out := map[string][]int64{}
	for rr.Next() {
		rec := rr.RecordBatch()
		paths, ok1 := rec.Column(0).(*array.String)
		pos, ok2 := rec.Column(1).(*array.Int64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("not a position delete file (columns %s)", rec.Schema())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			out[paths.Value(i)] = append(out[paths.Value(i)], pos.Value(i))
		}
	}
	return out, rr.Err()
}
