package iceberg

import (
	"context"
	"errors"
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
// first key) spec of opts.Buckets, or unpartitioned (no Buckets, or a
// first key of a type Iceberg does not bucket: boolean).
func partitionSpec(opts Options, sc *ice.Schema) (ice.PartitionSpec, error) {
	if len(opts.Layout.Partition) == 0 {
		if opts.Buckets <= 0 {
			return *ice.UnpartitionedSpec, nil
		}
		key, ok := sc.FindFieldByName(opts.Keys[0])
		if !ok {
			return ice.PartitionSpec{}, fmt.Errorf("key column %s not in schema", opts.Keys[0])
		}
		tr := ice.BucketTransform{NumBuckets: opts.Buckets}
		if !tr.CanTransform(key.Type) {
			// Iceberg's bucket transform does not take the type (a
			// boolean first key): iceberg-go would write every row under
			// a null partition value, which the spec does not allow.
			return *ice.UnpartitionedSpec, nil
		}
		return ice.NewPartitionSpec(ice.PartitionField{
			SourceIDs: []int{key.ID},
			FieldID:   1000,
			Name:      key.Name + "_bucket",
			Transform: tr,
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

// evolveLayout makes the partition spec and sort order of an existing
// table those opts.Layout asks for, when opts.EvolveLayout is set and they
// differ (a prepared table whose partition_by or sort_by changed: the
// change rebuilds it). Like a schema change it is its own catalog commit,
// before the data commit: files written from then on have the new spec,
// older files keep theirs (and position deletes of their rows take it,
// writePositionDeletes), as Iceberg's partition evolution has it.
func (x *Txn) evolveLayout(ctx context.Context) error {
	if !x.t.opts.EvolveLayout || x.tbl == nil {
		return nil
	}
	sc := x.tbl.Schema()
	want, err := partitionSpec(x.t.opts, sc)
	if err != nil {
		return fmt.Errorf("evolve the partitions of %s: %w", x.name(), err)
	}
	order, err := sortOrder(x.t.opts, sc)
	if err != nil {
		return fmt.Errorf("evolve the sort order of %s: %w", x.name(), err)
	}
	type key struct {
		source    int
		transform string
	}
	keyOf := func(f ice.PartitionField) key { return key{f.SourceID(), f.Transform.String()} }
	cur := x.tbl.Spec()
	var have, wanted []key
	for _, f := range cur.Fields() {
		have = append(have, keyOf(f))
	}
	for _, f := range want.Fields() {
		wanted = append(wanted, keyOf(f))
	}
	specChanged := !slices.Equal(have, wanted)
	curOrder := x.tbl.SortOrder()
	orderChanged := !sameOrder(curOrder, order)
	if !specChanged && !orderChanged {
		return nil
	}
	tx := x.tbl.NewTransaction()
	if specChanged {
		us := tx.UpdateSpec(true)
		for _, f := range cur.Fields() {
			if !slices.Contains(wanted, keyOf(f)) {
				us.RemoveField(f.Name)
			}
		}
		for _, f := range want.Fields() {
			if slices.Contains(have, keyOf(f)) {
				continue
			}
			col, _ := sc.FindColumnName(f.SourceID())
			us.AddField(col, f.Transform, f.Name)
		}
		if err := us.Commit(); err != nil {
			return fmt.Errorf("evolve the partitions of %s: %w", x.name(), err)
		}
	}
	if orderChanged {
		if err := tx.ReplaceSortOrder(order); err != nil {
			return fmt.Errorf("evolve the sort order of %s: %w", x.name(), err)
		}
	}
	tbl, err := tx.Commit(ctx)
	if err != nil && tbl == nil {
		return x.t.classify(ctx, table.InCommit, x.began(), "", fmt.Errorf("commit the layout of %s: %w", x.name(), err))
	}
	if err != nil {
		x.maintErr = errors.Join(x.maintErr, fmt.Errorf("after the layout commit of %s: %w", x.name(), err))
	}
	x.tbl = tbl
	return nil
}

// sameOrder reports whether two sort orders sort alike.
func sameOrder(a, b icetable.SortOrder) bool {
	if a.Len() != b.Len() {
		return false
	}
	var af, bf []icetable.SortField
	for _, f := range a.Fields() {
		af = append(af, f)
	}
	for _, f := range b.Fields() {
		bf = append(bf, f)
	}
	for i := range af {
		if af[i].SourceID() != bf[i].SourceID() || af[i].Direction != bf[i].Direction ||
			af[i].NullOrder != bf[i].NullOrder || af[i].Transform.String() != bf[i].Transform.String() {
			return false
		}
	}
	return true
}
