package iceberg

import (
	"fmt"
	"slices"

	ice "github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/table"
)

// Partitioning and sort order of a table created with Options.Layout.
//
// The partition spec is created from Layout.Partition, one Iceberg
// partition field per entry (field ids from 1000, names as Spark and
// Athena name them: the column for identity, col_year, col_month,
// col_day, col_hour, col_bucket, col_trunc; followed by _2, _3, ... when
// that is the name of a column or of an earlier field, which Iceberg
// refuses). iceberg-go's writer
// (table.WriteRecords) computes each row's partition values with
// iceberg-go's transforms and writes one file per partition, so a data
// file holds the rows of one partition. A position-delete file takes the
// partition of the data file it deletes from (writePositionDeletes), so an
// update that moves a key to another partition deletes the old row in the
// old partition and writes the new one in the new. Merges find a key's
// stored row whatever its partition: candidates plans with a filter on the
// key, which partition fields on other columns do not prune.
//
// The sort order is recorded in the table metadata (its default sort
// order: ascending nulls first, descending nulls last), and writeRows
// sorts the rows it writes by it and hands them to iceberg-go's writer in
// order with a single fan-out worker, so that each file holds its rows in
// that order (iceberg-go's concurrent fan-out reorders batches; it sorts
// each batch by the sort order itself, which keeps sorted batches as they
// are). Files are not key-ordered then: table.ScanMatches still finds
// every stored row, but skips fewer row groups by their key min/max (a
// merge reads more of each candidate file).

// partitionSpec is the spec of layout over schema sc, or the bucket(N,
// first key) spec of opts.Buckets, or unpartitioned.
func partitionSpec(opts Options, sc *ice.Schema) (ice.PartitionSpec, error) {
	if len(opts.Layout.Partition) == 0 {
		if opts.Buckets <= 0 {
			return *ice.UnpartitionedSpec, nil
		}
		key, ok := sc.FindFieldByName(opts.Keys[0])
		if !ok {
			return ice.PartitionSpec{}, fmt.Errorf("key column %s not in schema", opts.Keys[0])
		}
		return ice.NewPartitionSpec(ice.PartitionField{
			SourceIDs: []int{key.ID},
			FieldID:   1000,
			Name:      key.Name + "_bucket",
			Transform: ice.BucketTransform{NumBuckets: opts.Buckets},
		}), nil
	}
	fields := make([]ice.PartitionField, 0, len(opts.Layout.Partition))
	for i, p := range opts.Layout.Partition {
		col, ok := sc.FindFieldByName(p.Column)
		if !ok {
			return ice.PartitionSpec{}, fmt.Errorf("partition %s: column %s not in schema", p, p.Column)
		}
		tr, suffix, err := transform(p)
		if err != nil {
			return ice.PartitionSpec{}, err
		}
		if !tr.CanTransform(col.Type) {
			return ice.PartitionSpec{}, fmt.Errorf("partition %s: column %s is %s, which %s does not apply to", p, p.Column, col.Type, tr)
		}
		name := col.Name + suffix
		taken := func(n string) bool {
			_, inSchema := sc.FindFieldByName(n)
			return (suffix != "" && inSchema) || slices.ContainsFunc(fields, func(f ice.PartitionField) bool { return f.Name == n })
		}
		for k := 2; taken(name); k++ {
			name = fmt.Sprintf("%s%s_%d", col.Name, suffix, k)
		}
		fields = append(fields, ice.PartitionField{SourceIDs: []int{col.ID}, FieldID: 1000 + i, Name: name, Transform: tr})
	}
	return ice.NewPartitionSpec(fields...), nil
}

// transform is the Iceberg transform of p and the suffix of its field's
// name.
func transform(p table.PartitionField) (ice.Transform, string, error) {
	switch p.Transform {
	case table.TransformIdentity:
		return ice.IdentityTransform{}, "", nil
	case table.TransformYear:
		return ice.YearTransform{}, "_year", nil
	case table.TransformMonth:
		return ice.MonthTransform{}, "_month", nil
	case table.TransformDay:
		return ice.DayTransform{}, "_day", nil
	case table.TransformHour:
		return ice.HourTransform{}, "_hour", nil
	case table.TransformBucket:
		if p.Param <= 0 {
			return nil, "", fmt.Errorf("partition %s: bucket count must be positive", p)
		}
		return ice.BucketTransform{NumBuckets: p.Param}, "_bucket", nil
	case table.TransformTruncate:
		if p.Param <= 0 {
			return nil, "", fmt.Errorf("partition %s: width must be positive", p)
		}
		return ice.TruncateTransform{Width: p.Param}, "_trunc", nil
	}
	return nil, "", fmt.Errorf("partition %s: unknown transform %q", p, p.Transform)
}

// sortOrder is the table sort order of layout over schema sc; unsorted
// without sort fields.
func sortOrder(opts Options, sc *ice.Schema) (icetable.SortOrder, error) {
	if len(opts.Layout.Sort) == 0 {
		return icetable.UnsortedSortOrder, nil
	}
	fields := make([]icetable.SortField, 0, len(opts.Layout.Sort))
	for _, s := range opts.Layout.Sort {
		col, ok := sc.FindFieldByName(s.Column)
		if !ok {
			return icetable.SortOrder{}, fmt.Errorf("sort column %s not in schema", s.Column)
		}
		f := icetable.SortField{SourceIDs: []int{col.ID}, Transform: ice.IdentityTransform{},
			Direction: icetable.SortASC, NullOrder: icetable.NullsFirst}
		if s.Descending {
			f.Direction, f.NullOrder = icetable.SortDESC, icetable.NullsLast
		}
		fields = append(fields, f)
	}
	return icetable.NewSortOrder(icetable.InitialSortOrderID, fields)
}
