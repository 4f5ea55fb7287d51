package iceberg

import (
	"encoding/binary"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	ice "github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"
)

// Widened keys and iceberg-go's file pruning.
//
// A data file keeps the lower and upper bounds it was written with. After
// an int key column was widened to long, files written before carry 4-byte
// bounds for a long column; the Iceberg spec (Appendix D, "Binary single-
// value serialization" and schema evolution) has readers promote them, but
// iceberg-go v0.7.0's inclusive metrics evaluator decodes every bound with
// the current type (iceberg.LiteralFromBytes(long, 4 bytes)) and fails the
// whole scan: "invalid binary serialization: expected 8 bytes for int64
// value, got 4". (Its metadata tables promote: table/inspect.go
// manifestBoundLiteral.) Reproduction: create a table with an int column
// k, append a row, widen k to long, then
// tbl.Scan(table.WithRowFilter(iceberg.IsIn(iceberg.Reference("k"),
// int64(1)))).PlanFiles(ctx).
//
// Until iceberg-go promotes, a table whose key column was ever narrower
// than it is now is planned without a row filter, and lakemerge prunes the
// tasks itself: by the bucket partition (int and long hash alike, so old
// partition values stay valid) and by the key bounds, promoted as the spec
// says.

// keyWidened reports whether the single key column of tbl is a long that
// an earlier schema of the table had as an int: its data files may carry
// 4-byte bounds.
func keyWidened(tbl *icetable.Table, key string) bool {
	f, ok := tbl.Schema().FindFieldByName(key)
	if !ok || !f.Type.Equals(ice.PrimitiveTypes.Int64) {
		return false
	}
	return slices.ContainsFunc(tbl.Metadata().Schemas(), func(s *ice.Schema) bool {
		old, ok := s.FindFieldByID(f.ID)
		return ok && old.Type.Equals(ice.PrimitiveTypes.Int32)
	})
}

// pruneWidened keeps the tasks whose file may hold one of the int64 keys
// of the change column col: its bucket partition value (when the spec has
// a bucket on the key) is the bucket of one of them, and one lies within
// its key bounds, 4-byte bounds promoted to long.
func pruneWidened(tbl *icetable.Table, key string, col *array.Int64, tasks []icetable.FileScanTask) []icetable.FileScanTask {
	f, _ := tbl.Schema().FindFieldByName(key)
	keys := slices.Clone(col.Int64Values())
	slices.Sort(keys)
	// Buckets of the changed keys, per bucket partition field on the key.
	buckets := map[int]map[int32]bool{}
	spec := tbl.Spec()
	for _, pf := range spec.Fields() {
		bt, ok := pf.Transform.(ice.BucketTransform)
		if !ok || !slices.Contains(pf.SourceIDs, f.ID) {
			continue
		}
		h := bt.Transformer(ice.PrimitiveTypes.Int64)
		set := map[int32]bool{}
		for _, k := range keys {
			if b := h(k); b.Valid {
				set[b.Val] = true
			}
		}
		buckets[pf.FieldID] = set
	}
	out := tasks[:0]
	for _, task := range tasks {
		if mayHoldKey(task.File, f.ID, keys, buckets) {
			out = append(out, task)
		}
	}
	return out
}

func mayHoldKey(df ice.DataFile, fieldID int, keys []int64, buckets map[int]map[int32]bool) bool {
	part := df.Partition()
	for id, set := range buckets {
		if v, ok := part[id].(int32); ok && !set[v] {
			return false
		}
	}
	lo, hasLo := promotedLong(df.LowerBoundValues()[fieldID])
	hi, hasHi := promotedLong(df.UpperBoundValues()[fieldID])
	i := 0
	if hasLo {
		i, _ = slices.BinarySearch(keys, lo)
	}
	return i < len(keys) && (!hasHi || keys[i] <= hi)
}

// promotedLong decodes a bound of a long column: 8 bytes little-endian, or
// 4 bytes of an int written before the column was widened (promoted, as
// the spec asks). ok is false for a missing or malformed bound (no
// pruning by it).
func promotedLong(b []byte) (int64, bool) {
	switch len(b) {
	case 8:
		return int64(binary.LittleEndian.Uint64(b)), true
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(b))), true
	}
	return 0, false
}

// keyColumn returns the change column of the single key as int64 values,
// or nil when it is not a long column.
func keyColumn(changes arrow.RecordBatch, key string) *array.Int64 {
	c, _ := changes.Column(changes.Schema().FieldIndices(key)[0]).(*array.Int64)
	return c
}
