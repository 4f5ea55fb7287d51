package table

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Layout is how a table lays its rows out in files, when its creator asks
// for more than the writers' default (bucket(N, key) for Iceberg, no
// partitions for Delta, files in key order): the partition fields a table
// is created with, and the order of rows within each file it writes.
// Prepared tables take theirs from partition_by and sort_by.
type Layout struct {
	Partition []PartitionField
	Sort      []SortField
}

// Partition transforms of a PartitionField: Iceberg's, by the names of its
// spec; Delta tables take TransformIdentity only.
const (
	TransformIdentity = "identity"
	TransformYear     = "year"
	TransformMonth    = "month"
	TransformDay      = "day"
	TransformHour     = "hour"
	TransformBucket   = "bucket"
	TransformTruncate = "truncate"
)

// PartitionField is one partition field: Transform of the user column
// Column, with Param the bucket count (TransformBucket) or the width
// (TransformTruncate).
type PartitionField struct {
	Transform string
	Column    string
	Param     int
}

// String writes the field as a job file does: day(ts), bucket(16, id), id.
func (p PartitionField) String() string {
	switch p.Transform {
	case TransformIdentity:
		return p.Column
	case TransformBucket, TransformTruncate:
		return fmt.Sprintf("%s(%d, %s)", p.Transform, p.Param, p.Column)
	}
	return fmt.Sprintf("%s(%s)", p.Transform, p.Column)
}

// SortField is one column of a sort order. Nulls sort first in ascending
// order and last in descending order (Iceberg's default null order).
type SortField struct {
	Column     string
	Descending bool
}

// SortKeys are the arrow compute sort keys of order over the columns of
// schema s; an error names a sort column s lacks.
func SortKeys(order []SortField, s *arrow.Schema) ([]compute.SortKey, error) {
	keys := make([]compute.SortKey, 0, len(order))
	for _, f := range order {
		idx := s.FieldIndices(f.Column)
		if len(idx) != 1 {
			return nil, fmt.Errorf("sort column %s is not a column of the rows", f.Column)
		}
		k := compute.SortKey{ColumnIndex: idx[0], Order: compute.SortOrderAscending, NullPlacement: compute.SortNullsAtStart}
		if f.Descending {
			k.Order, k.NullPlacement = compute.SortOrderDescending, compute.SortNullsAtEnd
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// SortRows returns the rows of rec in order (see SortField), ties kept in
// the order they came; the caller releases the result. With no order it
// returns rec, retained.
func SortRows(ctx context.Context, mem memory.Allocator, rec arrow.RecordBatch, order []SortField) (arrow.RecordBatch, error) {
	if len(order) == 0 || rec.NumRows() < 2 {
		rec.Retain()
		return rec, nil
	}
	keys, err := SortKeys(order, rec.Schema())
	if err != nil {
		return nil, err
	}
	// arrow-go v18.8.0's sort_indices keeps a reference to its result's
	// buffer (a checked allocator reports it as a leak): the indices come
	// from Go's allocator, whose memory the garbage collector takes back.
	idx, err := compute.SortIndicesRecordBatch(compute.WithAllocator(ctx, memory.NewGoAllocator()), rec, keys)
	if err != nil {
		return nil, fmt.Errorf("sort rows: %w", err)
	}
	defer idx.Release()
	cctx := compute.WithAllocator(ctx, mem)
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range rec.Columns() {
		if cols[i], err = compute.TakeArray(cctx, c, idx); err != nil {
			return nil, fmt.Errorf("sort rows: column %s: %w", rec.Schema().Field(i).Name, err)
		}
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), nil
}
