package table

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/lakemerge/lakemerge/change"
)

// A journal is the change set a base table's commit applied, exactly as
// the run handed it to its prepared tables (the user columns, _op, _seq
// and, when the decoders gave them, the commit times _ts), written by the
// writer as a side file of that commit and referenced by digest from it
// (docs/format/journal.md). A history or changelog table that missed the
// commit catches up from it (ChangesSince with each) as the run would have
// handed it the changes, commit times, deletes' order keys and stale
// changes included, instead of deriving the commit's net change from its
// files (Diff).

// ColStale is the journal's column that marks the changes the base table
// found stale (plan.Stale): a history keeps them as versions, a changelog
// leaves them out, as a run does.
const ColStale = "_stale"

// JournalVersion is the value of the journal file's JournalVersionKey
// metadata: the layout docs/format/journal.md describes.
const (
	JournalVersionKey = "lakemerge.journal"
	JournalVersion    = "1"
)

// EncodeJournal encodes a commit's change set (borrowed: the user columns,
// _op, _seq and optionally _ts; no _keep) as a journal file, the rows
// stale (sorted, of changes) marked in ColStale: Parquet, zstd.
func EncodeJournal(changes arrow.RecordBatch, stale []int, mem memory.Allocator) ([]byte, error) {
	if len(changes.Schema().FieldIndices(change.ColKeep)) > 0 {
		return nil, errors.New("encode journal: a change set with partial rows (_keep) has no journal")
	}
	sb := array.NewBooleanBuilder(mem)
	defer sb.Release()
	sb.Reserve(int(changes.NumRows()))
	j := 0
	for i := range int(changes.NumRows()) {
		is := j < len(stale) && stale[j] == i
		if is {
			j++
		}
		sb.UnsafeAppend(is)
	}
	st := sb.NewArray()
	defer st.Release()
	fields := append(changes.Schema().Fields(), arrow.Field{Name: ColStale, Type: arrow.FixedWidthTypes.Boolean})
	md := arrow.NewMetadata([]string{JournalVersionKey}, []string{JournalVersion})
	schema := arrow.NewSchema(fields, &md)
	rec := array.NewRecordBatch(schema, append(changes.Columns(), st), changes.NumRows())
	defer rec.Release()
	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithCompressionLevel(1),
		parquet.WithDataPageVersion(parquet.DataPageV1), parquet.WithAllocator(mem))
	b, err := encodeParquet(rec, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem), pqarrow.WithStoreSchema()))
	if err != nil {
		return nil, fmt.Errorf("encode journal: %w", err)
	}
	return b, nil
}

// DecodeJournal reads a journal file written by EncodeJournal as a step of
// a table whose user columns are now cols: Changes has cols (a column the
// journal lacks, added since, is NULL; one widened since is cast), _op,
// _seq and _ts (NULL where the journal has none), Stale the rows the base
// table found stale. The caller releases the step's changes.
func DecodeJournal(ctx context.Context, b []byte, cols []change.Column, mem memory.Allocator) (Step, error) {
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var stale []int64
	var base int64
	version := func(md metadata.KeyValueMetadata) error {
		if v := md.FindValue(JournalVersionKey); v == nil || *v != JournalVersion {
			return fmt.Errorf("not a journal of version %s", JournalVersion)
		}
		return nil
	}
	err := DecodeParquet(ctx, b, mem, version, func(rec arrow.RecordBatch) error {
		idx := rec.Schema().FieldIndices(ColStale)
		if len(idx) != 1 {
			return fmt.Errorf("no column %s", ColStale)
		}
		st, ok := rec.Column(idx[0]).(*array.Boolean)
		if !ok {
			return fmt.Errorf("column %s is %s", ColStale, rec.Column(idx[0]).DataType())
		}
		for i := range st.Len() {
			if st.IsValid(i) && st.Value(i) {
				stale = append(stale, base+int64(i))
			}
		}
		base += rec.NumRows()
		rec.Retain()
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return Step{}, fmt.Errorf("decode journal: %w", err)
	}
	rec, err := conformAll(mem, recs, JournalSchema(cols))
	if err != nil {
		return Step{}, fmt.Errorf("decode journal: %w", err)
	}
	return Step{Changes: rec, Journal: true, Stale: stale}, nil
}

// JournalSchema is the schema of a step read from a journal (Step.Journal)
// of a table with user columns cols: cols, _op, _seq, _ts.
func JournalSchema(cols []change.Column) *arrow.Schema {
	s := change.Schema(cols)
	return arrow.NewSchema(append(s.Fields(), arrow.Field{Name: change.ColTS, Type: change.TSType(), Nullable: true}), nil)
}
