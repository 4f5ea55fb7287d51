package iceberg

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
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

// load reads the position-delete file at path: data file → positions.
// When its file_path column's statistics show one path in every row group
// (lakemerge writes a delete file per data file; v2 manifests do not keep
// referenced_data_file), only the pos column is read: the paths, about
// 100 bytes a row, took most of the read.
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
	sc := pr.MetaData().Schema
	pathCol, posCol := sc.ColumnIndexByName("file_path"), sc.ColumnIndexByName("pos")
	var cols []int
	only, one := "", false
	if pathCol >= 0 && posCol >= 0 {
		if only, one = onlyPath(pr, pathCol); one {
			cols = []int{posCol}
		}
	}
	rr, err := fr.GetRecordReader(ctx, cols, nil)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	out := map[string][]int64{}
	for rr.Next() {
		rec := rr.RecordBatch()
		if one {
			pos, ok := rec.Column(0).(*array.Int64)
			if !ok {
				return nil, fmt.Errorf("not a position delete file (columns %s)", rec.Schema())
			}
			out[only] = append(out[only], pos.Int64Values()...)
			continue
		}
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

// onlyPath returns the one data file path that column col (file_path) of
// the position-delete file pr holds, when the column's statistics say so
// in every row group: minimum = maximum, no nulls (statistics that are
// truncated still bound the values, so equal bounds are the value); one
// is false when a row group has no such statistics or more than one
// path.
func onlyPath(pr *file.Reader, col int) (only string, one bool) {
	md := pr.MetaData()
	for i := range md.NumRowGroups() {
		cc, err := md.RowGroup(i).ColumnChunk(col)
		if err != nil {
			return "", false
		}
		if set, err := cc.StatsSet(); err != nil || !set {
			return "", false
		}
		st, err := cc.Statistics()
		if err != nil {
			return "", false
		}
		bs, ok := st.(*metadata.ByteArrayStatistics)
		if !ok || !bs.HasMinMax() || bs.NullCount() != 0 || !bytes.Equal(bs.Min(), bs.Max()) ||
			(i > 0 && string(bs.Min()) != only) {
			return "", false
		}
		only = string(bs.Min())
	}
	return only, md.NumRowGroups() > 0
}
