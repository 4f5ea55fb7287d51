package iceberg

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	ice "github.com/apache/iceberg-go"
	icetable "github.com/apache/iceberg-go/table"

	"github.com/lakemerge/lakemerge/change"
)

// Key buckets (merge.Bucketer). A table partitioned by bucket(N, k), k a
// key column (the default layout: bucket(N, first key)), writes the rows
// of a key in the bucket iceberg-go's bucket transform gives k: Buckets
// and AppendBuckets give that same bucket, computed by the same transform
// (ice.BucketTransform.Transformer of the key's Iceberg type: murmur3 of
// the value as Iceberg hashes it, see appendBuckets), so that a run that spills hands ApplyChunk the keys of whole
// buckets and each bucket's files are written once. ApplyChunk's key scan
// then plans only the files of the chunk's buckets (bucketTasks).

// keyBucket is the bucket partition field on a key column of the table's
// spec: its field id, bucket count and column; ok false when there is
// none. When the table does not exist yet, or its layout evolves
// (EvolveLayout), the spec is the one create or evolveLayout would give
// it (partitionSpec, the one rule for both): over cols, the columns of
// the changes (whose key types decide it: a boolean first key gets no
// bucket field), when there is no table, else over its schema.
func (x *Txn) keyBucket(cols []change.Column) (fieldID, n int, col string, ok bool) {
	isKey := func(c string) bool { return slices.Contains(x.t.opts.Keys, c) }
	if x.tbl != nil && !x.t.opts.EvolveLayout {
		return specBucket(x.tbl, isKey)
	}
	var sc *ice.Schema
	if x.tbl != nil {
		sc = x.tbl.Schema()
	} else {
		var err error
		if sc, err = icebergSchema(cols); err != nil {
			return 0, 0, "", false // create reports it
		}
	}
	spec, err := partitionSpec(x.t.opts, sc)
	if err != nil {
		return 0, 0, "", false // create or evolveLayout reports it
	}
	return bucketField(spec, sc, isKey)
}

// specBucket is the first bucket partition field of tbl's current spec on
// a column that on accepts: its field id, bucket count and column; ok
// false when there is none.
func specBucket(tbl *icetable.Table, on func(col string) bool) (fieldID, n int, col string, ok bool) {
	return bucketField(tbl.Spec(), tbl.Schema(), on)
}

// bucketField is the first bucket partition field of spec, over schema
// sc, on a column that on accepts: its field id, bucket count and column;
// ok false when there is none.
func bucketField(spec ice.PartitionSpec, sc *ice.Schema, on func(col string) bool) (fieldID, n int, col string, ok bool) {
	for _, f := range spec.Fields() {
		bt, isBucket := f.Transform.(ice.BucketTransform)
		name, found := sc.FindColumnName(f.SourceID())
		if isBucket && found && on(name) {
			return f.FieldID, bt.NumBuckets, name, true
		}
	}
	return 0, 0, "", false
}

// Buckets is the number of key buckets of the table (merge.Bucketer): N
// of its bucket(N, k) partition field on a key column k, of the table as
// it is or, before it exists, as Evolve would create it from cols; 0
// without one.
func (x *Txn) Buckets(cols []change.Column) int {
	_, n, _, ok := x.keyBucket(cols)
	if !ok {
		return 0
	}
	return n
}

// AppendBuckets appends to dst the bucket of each row of b, a change
// batch, by its key column of the bucket field (merge.Bucketer). It takes
// every key type Iceberg's bucket transform takes (appendBuckets): all
// but boolean.
func (x *Txn) AppendBuckets(dst []int32, b arrow.RecordBatch) ([]int32, error) {
	_, n, col, ok := x.keyBucket(change.UserColumns(b.Schema()))
	if !ok {
		return dst, fmt.Errorf("bucket keys of %s: the table has no key buckets", x.name())
	}
	idx := b.Schema().FieldIndices(col)
	if len(idx) != 1 {
		return dst, fmt.Errorf("bucket keys of %s: changes lack key column %s", x.name(), col)
	}
	dst, err := appendBuckets(dst, b.Column(idx[0]), n)
	if err != nil {
		return dst, fmt.Errorf("bucket keys of %s: key column %s: %w", x.name(), col, err)
	}
	return dst, nil
}

// errBucketType is appendBuckets' error for a key type Iceberg's bucket
// transform does not take: boolean (a key column may be one; floats may
// not) and the nested types.
var errBucketType = errors.New("key type not bucketed")

// appendBuckets appends to dst the bucket, of n, of each value of arr as
// Iceberg's bucket transform gives it (iceberg-go's transformer of the
// Iceberg type the value is written as, the hash the partitioned writer
// gives it); a null value is an error, and so is a type the transform
// does not take (errBucketType).
//
// Values are hashed as the spec says: int (Arrow int8, int16, int32),
// long, date, time and timestamp as a long — time and timestamp (with or
// without a zone) of any Arrow unit in microseconds, nanoseconds floored,
// as the writer converts them; decimal (of any precision, as decimal32,
// 64 or 128) by the minimal two's-complement big-endian bytes of its
// unscaled value; string, binary, fixed and uuid by their bytes.
func appendBuckets(dst []int32, arr arrow.Array, n int) ([]int32, error) {
	typ, value, err := bucketValue(arr)
	if err != nil {
		return dst, err
	}
	hash := ice.BucketTransform{NumBuckets: n}.Transformer(typ)
	for i := range arr.Len() {
		if arr.IsNull(i) {
			return dst, fmt.Errorf("null value")
		}
		v, err := value(i)
		if err != nil {
			return dst, err
		}
		b := hash(v)
		if !b.Valid {
			return dst, fmt.Errorf("%w: values are %s", errBucketType, arr.DataType())
		}
		dst = append(dst, b.Val)
	}
	return dst, nil
}

// bucketValue returns the Iceberg type the values of arr are bucketed as
// and the value of row i as that type's transformer takes it.
func bucketValue(arr arrow.Array) (ice.Type, func(i int) (any, error), error) {
	switch a := arr.(type) {
	case *array.Int8:
		return ice.PrimitiveTypes.Int32, func(i int) (any, error) { return int32(a.Value(i)), nil }, nil
	case *array.Int16:
		return ice.PrimitiveTypes.Int32, func(i int) (any, error) { return int32(a.Value(i)), nil }, nil
	case *array.Int32:
		return ice.PrimitiveTypes.Int32, func(i int) (any, error) { return a.Value(i), nil }, nil
	case *array.Int64:
		return ice.PrimitiveTypes.Int64, func(i int) (any, error) { return a.Value(i), nil }, nil
	case *array.Date32:
		return ice.PrimitiveTypes.Date, func(i int) (any, error) { return ice.Date(a.Value(i)), nil }, nil
	case *array.Time32:
		return ice.PrimitiveTypes.Time, timeOfDay(a.DataType().(*arrow.Time32Type).Unit, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Time64:
		return ice.PrimitiveTypes.Time, timeOfDay(a.DataType().(*arrow.Time64Type).Unit, func(i int) int64 { return int64(a.Value(i)) }), nil
	case *array.Timestamp:
		dt := a.DataType().(*arrow.TimestampType)
		typ := ice.PrimitiveTypes.Timestamp
		if dt.TimeZone != "" {
			typ = ice.PrimitiveTypes.TimestampTz
		}
		return typ, func(i int) (any, error) {
			us, err := micros(int64(a.Value(i)), dt.Unit)
			return ice.Timestamp(us), err
		}, nil
	case *array.Decimal32:
		return decimalValue(a, func(i int) decimal128.Num { return decimal128.FromI64(int64(a.Value(i))) })
	case *array.Decimal64:
		return decimalValue(a, func(i int) decimal128.Num { return decimal128.FromI64(int64(a.Value(i))) })
	case *array.Decimal128:
		return decimalValue(a, a.Value)
	case *array.String:
		return ice.PrimitiveTypes.String, func(i int) (any, error) { return a.Value(i), nil }, nil
	case *array.LargeString:
		return ice.PrimitiveTypes.String, func(i int) (any, error) { return a.Value(i), nil }, nil
	case *array.Binary:
		return ice.PrimitiveTypes.Binary, func(i int) (any, error) { return a.Value(i), nil }, nil
	case *array.LargeBinary:
		return ice.PrimitiveTypes.Binary, func(i int) (any, error) { return a.Value(i), nil }, nil
	case *extensions.UUIDArray:
		return ice.PrimitiveTypes.UUID, func(i int) (any, error) { return a.Value(i), nil }, nil
	case *array.FixedSizeBinary:
		return ice.FixedTypeOf(a.DataType().(*arrow.FixedSizeBinaryType).ByteWidth), func(i int) (any, error) { return a.Value(i), nil }, nil
	}
	return nil, nil, fmt.Errorf("%w: values are %s", errBucketType, arr.DataType())
}

// timeOfDay is bucketValue's value function of a time column in unit
// whose row i is v(i): an ice.Time, in microseconds.
func timeOfDay(unit arrow.TimeUnit, v func(i int) int64) func(i int) (any, error) {
	return func(i int) (any, error) {
		us, err := micros(v(i), unit)
		return ice.Time(us), err
	}
}

// decimalValue is bucketValue's answer for arr, a decimal column whose
// row i has the unscaled value unscaled(i).
func decimalValue(arr arrow.Array, unscaled func(i int) decimal128.Num) (ice.Type, func(i int) (any, error), error) {
	dt := arr.DataType().(arrow.DecimalType)
	scale := int(dt.GetScale())
	return ice.DecimalTypeOf(int(dt.GetPrecision()), scale), func(i int) (any, error) {
		return ice.Decimal{Val: unscaled(i), Scale: scale}, nil
	}, nil
}

// micros is v, a time or timestamp in unit, in microseconds (nanoseconds
// floored); an error when it does not fit.
func micros(v int64, unit arrow.TimeUnit) (int64, error) {
	var per int64
	switch unit {
	case arrow.Second:
		per = 1_000_000
	case arrow.Millisecond:
		per = 1_000
	case arrow.Microsecond:
		return v, nil
	case arrow.Nanosecond:
		us := v / 1_000
		if v%1_000 < 0 {
			us--
		}
		return us, nil
	}
	if v > math.MaxInt64/per || v < math.MinInt64/per {
		return 0, fmt.Errorf("%d %s is out of range in microseconds", v, unit)
	}
	return v * per, nil
}

// bucketTasks keeps the tasks whose data files may hold a key of changes:
// those of the changes' key buckets, and every file written under
// another spec (partition evolution); all of them when the table has no
// key buckets.
func (x *Txn) bucketTasks(changes arrow.RecordBatch, tasks []icetable.FileScanTask) []icetable.FileScanTask {
	field, _, _, ok := x.keyBucket(change.UserColumns(changes.Schema()))
	if !ok || x.t.opts.EvolveLayout || changes.NumRows() == 0 {
		return tasks
	}
	bks, err := x.AppendBuckets(nil, changes)
	if err != nil {
		return tasks // a key type the transform does not take: every file
	}
	want := map[int32]bool{}
	for _, b := range bks {
		want[b] = true
	}
	cur := x.tbl.Spec()
	spec := cur.ID()
	return slices.DeleteFunc(tasks, func(t icetable.FileScanTask) bool {
		if int(t.File.SpecID()) != spec {
			return false
		}
		v, ok := t.File.Partition()[field].(int32)
		return ok && !want[v]
	})
}

// bucketLeads returns, per task, the sorted first-key values of changes
// its data file can hold (fileLeads), for the key scan's page pruning
// (table.PagePruning). A prepared table (EvolveLayout) gets them too:
// fileLeads reads the bucket field of the spec the table has (the one its
// layout evolved to before the key scan), and a file written under
// another gets none.
func (x *Txn) bucketLeads(changes arrow.RecordBatch, tasks []icetable.FileScanTask) [][]int64 {
	if x.tbl == nil {
		return make([][]int64, len(tasks))
	}
	return fileLeads(x.tbl, changes, x.t.opts.Keys[0], tasks)
}

// fileLeads returns, per task, the sorted values of column col (an
// integer first key column) of rows (changes, or keys read by) that its
// data file can hold — those of the file's bucket, when the current spec
// of tbl has a bucket field on col and the file was written under that
// spec (a file of a bucket with none of them gets an empty slice) — for
// table.PagePruning's Lead; nil (any value) otherwise.
func fileLeads(tbl *icetable.Table, rows arrow.RecordBatch, col string, tasks []icetable.FileScanTask) [][]int64 {
	leads := make([][]int64, len(tasks))
	field, n, _, ok := specBucket(tbl, func(c string) bool { return c == col })
	idx := rows.Schema().FieldIndices(col)
	if !ok || len(idx) != 1 {
		return leads
	}
	var value func(i int) int64
	switch a := rows.Column(idx[0]).(type) {
	case *array.Int32:
		value = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int64:
		value = a.Value
	default:
		return leads
	}
	bks, err := appendBuckets(nil, rows.Column(idx[0]), n)
	if err != nil {
		return leads
	}
	byBucket := map[int32][]int64{}
	for i, b := range bks {
		byBucket[b] = append(byBucket[b], value(i))
	}
	for _, ks := range byBucket {
		slices.Sort(ks)
	}
	cur := tbl.Spec()
	spec := cur.ID()
	for i, t := range tasks {
		if int(t.File.SpecID()) != spec {
			continue
		}
		if b, ok := t.File.Partition()[field].(int32); ok {
			leads[i] = byBucket[b]
			if leads[i] == nil {
				leads[i] = []int64{} // no change in its bucket
			}
		}
	}
	return leads
}
