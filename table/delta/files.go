package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/google/uuid"

	"github.com/lakemerge/lakemerge/table"
)

// maxRowGroupRows bounds a row group, so that readers can split files
// and a merge skips the row groups of a key-sorted file whose key range
// holds no changed key (table.ScanMatches).
const maxRowGroupRows = 128 << 10

// openParquet reads the data file at path (as in the log) into memory and
// opens it with opts. The store has no ranged reads, so the whole file is
// read.
func (t *Table) openParquet(ctx context.Context, path string, opts ...file.ReadOption) (*file.Reader, error) {
	key, err := relKey(t.root, path)
	if err != nil {
		return nil, err
	}
	b, err := t.readAll(ctx, key)
	if err != nil {
		return nil, err
	}
	return file.NewParquetReader(bytes.NewReader(b), opts...)
}

// rangeStore is a store that reads part of an object (objstore/local and
// objstore/s3 are): OpenRange reads length bytes from offset.
type rangeStore interface {
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// rangeFile reads an object of known size through ranged reads.
type rangeFile struct {
	ctx  context.Context
	s    rangeStore
	key  string
	size int64
}

func (f *rangeFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), f.size-off)
	rc, err := f.s.OpenRange(f.ctx, f.key, off, want)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:want])
	if err == nil && want < int64(len(p)) {
		err = io.EOF
	}
	return n, err
}

// openRanged opens the data file at path (as in the log, size bytes) for
// reading only the parts a reader asks for: the footer and the column
// chunks it reads (opts: how). Without ranged reads in the store it reads
// it whole.
func (t *Table) openRanged(ctx context.Context, path string, size int64, opts ...file.ReadOption) (*file.Reader, error) {
	rs, ok := t.store.(rangeStore)
	if !ok || size < 12 { // not even a Parquet file's magic and footer length
		return t.openParquet(ctx, path, opts...)
	}
	key, err := relKey(t.root, path)
	if err != nil {
		return nil, err
	}
	// The footer is found from the end the log records: an object of
	// another size (a corrupt table) is read whole instead, as before
	// ranged reads, so that its checks name what is wrong.
	rc, err := rs.OpenRange(ctx, key, size-8, -1)
	if err != nil {
		return nil, err
	}
	tail, err := io.ReadAll(io.LimitReader(rc, 9))
	rc.Close()
	if err != nil {
		return nil, err
	}
	if len(tail) != 8 {
		return t.openParquet(ctx, path, opts...)
	}
	return file.NewParquetReader(io.NewSectionReader(&rangeFile{ctx: ctx, s: rs, key: key, size: size}, 0, size), opts...)
}

// leafIndex is the leaf column of the file schema named phys (matched
// without case when no leaf has exactly that name), -1 when none is.
func leafIndex(fsch *schema.Schema, phys string) int {
	if i := fsch.ColumnIndexByName(phys); i >= 0 {
		return i
	}
	for j := 0; j < fsch.NumColumns(); j++ {
		if strings.EqualFold(fsch.Column(j).Name(), phys) && fsch.Column(j).ColumnPath().String() == fsch.Column(j).Name() {
			return j
		}
	}
	return -1
}

// errNoKeyColumn is scanMatches' error for a data file without a key
// column: that column is null in every row, which readColumns and
// plan.Match handle.
var errNoKeyColumn = errors.New("data file has no key column")

// scanMatches runs table.ScanMatches on the data file at path (size
// bytes) for the key columns keys; errNoKeyColumn when the file lacks one.
func (t *Table) scanMatches(ctx context.Context, path string, size int64, keys []column, idx *table.KeyIndex, minSeq []byte) ([]table.Match, table.ScanCounts, error) {
	pr, err := t.openRanged(ctx, path, size)
	if err != nil {
		return nil, table.ScanCounts{}, err
	}
	defer pr.Close()
	fsch := pr.MetaData().Schema
	// A file without _seq (written before lakemerge took the table over)
	// is scanned with seq -1: its rows are older than every change.
	leaves := make([]int, len(keys))
	for i, k := range keys {
		if leaves[i] = leafIndex(fsch, k.phys); leaves[i] < 0 {
			return nil, table.ScanCounts{}, errNoKeyColumn
		}
	}
	return table.ScanMatches(pr, leaves, leafIndex(fsch, seqColumn.phys), idx, nil, minSeq)
}

// readColumns reads the columns want (table columns) of the data file at
// path as logical batches: lakemerge names and types, a column the file
// lacks (added later) all null, an older physical type converted (widened
// types, timestamp zones and units). fn gets each batch and the file
// position of its first row; it must not keep the batch.
func (t *Table) readColumns(ctx context.Context, path string, want []column, fn func(rec arrow.RecordBatch, base int64) error) error {
	pr, err := t.openParquet(ctx, path)
	if err != nil {
		return err
	}
	defer pr.Close()
	return t.readRowGroups(ctx, pr, want, nil, fn)
}

// readRowGroups is readColumns of the row groups rowGroups (increasing;
// nil: all) of the open data file pr; base counts the rows of those row
// groups only.
func (t *Table) readRowGroups(ctx context.Context, pr *file.Reader, want []column, rowGroups []int, fn func(rec arrow.RecordBatch, base int64) error) error {
	br, err := t.newBatchReader(ctx, pr, want, rowGroups, 64<<10)
	if err != nil {
		return err
	}
	defer br.release()
	var base int64
	for {
		rec, err := br.next(ctx)
		if rec == nil || err != nil {
			return err
		}
		err = fn(rec, base)
		base += rec.NumRows()
		rec.Release()
		if err != nil {
			return err
		}
	}
}

// batchReader reads columns of an open data file as logical batches
// (readColumns' conversions), one at a time.
type batchReader struct {
	t      *Table
	want   []column
	leaves []int // the leaf index of each wanted column, -1 when the file lacks it
	sch    *arrow.Schema
	rr     pqarrow.RecordReader // nil when the file has none of the columns
	nulls  int64                // then: the rows of nulls next returns, once
}

// newBatchReader reads the columns want of the row groups rowGroups
// (increasing; nil: all) of pr in batches of at most batchRows rows. The
// caller releases it (not pr).
func (t *Table) newBatchReader(ctx context.Context, pr *file.Reader, want []column, rowGroups []int, batchRows int64) (*batchReader, error) {
	fsch := pr.MetaData().Schema
	b := &batchReader{t: t, want: want, leaves: make([]int, len(want)), sch: logicalSchema(want)}
	var read []int
	for i, c := range want {
		b.leaves[i] = leafIndex(fsch, c.phys)
		if b.leaves[i] >= 0 {
			read = append(read, b.leaves[i])
		}
	}
	if len(read) == 0 {
		// Only columns the file lacks: rows of nulls.
		b.nulls = pr.NumRows()
		if rowGroups != nil {
			b.nulls = 0
			for _, rg := range rowGroups {
				b.nulls += pr.MetaData().RowGroup(rg).NumRows()
			}
		}
		return b, nil
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: batchRows}, t.mem)
	if err != nil {
		return nil, err
	}
	if b.rr, err = fr.GetRecordReader(ctx, read, rowGroups); err != nil {
		return nil, err
	}
	return b, nil
}

// next returns the next batch, nil after the last; the caller releases it.
func (b *batchReader) next(ctx context.Context) (arrow.RecordBatch, error) {
	if b.rr == nil {
		if b.nulls < 0 {
			return nil, nil
		}
		cols := make([]arrow.Array, len(b.want))
		for i, c := range b.want {
			cols[i] = array.MakeArrayOfNull(b.t.mem, c.typ, int(b.nulls))
		}
		defer releaseAll(cols)
		rec := array.NewRecordBatch(b.sch, cols, b.nulls)
		b.nulls = -1
		return rec, nil
	}
	if !b.rr.Next() {
		if err := b.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, nil
	}
	got := b.rr.RecordBatch()
	cols := make([]arrow.Array, len(b.want))
	defer releaseAll(cols)
	k := 0
	for i, c := range b.want {
		if b.leaves[i] < 0 {
			cols[i] = array.MakeArrayOfNull(b.t.mem, c.typ, int(got.NumRows()))
			continue
		}
		var err error
		cols[i], err = b.t.conform(ctx, got.Column(k), c.typ)
		k++
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return array.NewRecordBatch(b.sch, cols, got.NumRows()), nil
}

func (b *batchReader) release() {
	if b.rr != nil {
		b.rr.Release()
	}
}

// readFile reads the whole data file at path as one logical batch with the
// columns want. The caller releases it.
func (t *Table) readFile(ctx context.Context, path string, want []column) (arrow.RecordBatch, error) {
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	err := t.readColumns(ctx, path, want, func(rec arrow.RecordBatch, _ int64) error {
		rec.Retain()
		recs = append(recs, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return concatRecords(t.mem, logicalSchema(want), recs)
}

// concatRecords joins recs (of schema) into one batch; the caller releases it.
func concatRecords(mem memory.Allocator, schema *arrow.Schema, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	for i, f := range schema.Fields() {
		if len(recs) == 0 {
			cols[i] = array.MakeArrayOfNull(mem, f.Type, 0)
			continue
		}
		parts := make([]arrow.Array, len(recs))
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			releaseAll(cols)
			return nil, err
		}
		cols[i] = c
	}
	rec := array.NewRecordBatch(schema, cols, n)
	releaseAll(cols)
	return rec, nil
}

// conform returns arr as type want: the same array when the types are
// equal, a relabelled one for a timestamp of the same unit in another zone,
// a cast otherwise. The caller releases the result.
func (t *Table) conform(ctx context.Context, arr arrow.Array, want arrow.DataType) (arrow.Array, error) {
	if arrow.TypeEqual(arr.DataType(), want) {
		arr.Retain()
		return arr, nil
	}
	if retyped, ok := retype(arr, want); ok {
		return retyped, nil
	}
	if ts, ok := arr.DataType().(*arrow.TimestampType); ok && ts.TimeZone != "" {
		// Drop the zone first: the values are UTC either way.
		naive, _ := retype(arr, &arrow.TimestampType{Unit: ts.Unit})
		defer naive.Release()
		return compute.CastToType(compute.WithAllocator(ctx, t.mem), naive, want)
	}
	return compute.CastToType(compute.WithAllocator(ctx, t.mem), arr, want)
}

// retype relabels a timestamp array with another zone of the same unit
// (zero-copy); ok is false for anything else.
func retype(arr arrow.Array, want arrow.DataType) (arrow.Array, bool) {
	a, ok1 := arr.DataType().(*arrow.TimestampType)
	b, ok2 := want.(*arrow.TimestampType)
	if !ok1 || !ok2 || a.Unit != b.Unit {
		return nil, false
	}
	d := arr.Data()
	nd := array.NewData(want, d.Len(), d.Buffers(), d.Children(), d.NullN(), d.Offset())
	defer nd.Release()
	return array.MakeFromData(nd), true
}

func releaseAll(as []arrow.Array) {
	for _, a := range as {
		if a != nil {
			a.Release()
		}
	}
}

// fileWriter writes logical batches as data files of about
// TargetFileBytes, learning bytes per row from the files it wrote: one
// partition's rows a file, in the table's sort order when it has one
// (partition.go).
type fileWriter struct {
	t     *Table
	cols  []column
	pcols []string // partition columns (Delta names); none: unpartitioned
	parts []int    // their indexes in cols
	// rowBytes estimates the compressed bytes of a row; 0 until known.
	rowBytes float64
	adds     []addAction
	files    []newFile // the files of adds, with their footers' row counts
	bytes    int64
}

// write writes rec (logical, columns cols, sorted by key) as one or more
// data files per partition, the rows of each in the table's sort order,
// else in the order given.
func (w *fileWriter) write(ctx context.Context, rec arrow.RecordBatch) error {
	if len(w.parts) == 0 {
		return w.writeSorted(ctx, rec, "", map[string]*string{})
	}
	groups, err := groupByPartition(rec, w.cols, w.parts, w.pcols)
	if err != nil {
		return err
	}
	for _, g := range groups {
		part, err := w.t.takeRows(ctx, rec, g.rows)
		if err != nil {
			return err
		}
		err = w.writeSorted(ctx, part, g.dir, g.values)
		part.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// writeSorted writes the rows of rec, all of one partition (values; files
// in folder dir), in the table's sort order.
func (w *fileWriter) writeSorted(ctx context.Context, rec arrow.RecordBatch, dir string, values map[string]*string) error {
	sorted, err := table.SortRows(ctx, w.t.mem, rec, w.t.opts.Layout.Sort)
	if err != nil {
		return err
	}
	defer sorted.Release()
	rec = sorted
	n := rec.NumRows()
	for off := int64(0); off < n; {
		per := w.rowsPerFile(rec)
		end := min(n, off+per)
		if n-end < per/4 {
			end = n // no runt file at the end
		}
		part := rec.NewSlice(off, end)
		err := w.writeFile(ctx, part, dir, values)
		part.Release()
		if err != nil {
			return err
		}
		off = end
	}
	return nil
}

func (w *fileWriter) rowsPerFile(rec arrow.RecordBatch) int64 {
	rb := w.rowBytes
	if rb <= 0 {
		// Uncompressed Arrow size; compressed files are smaller, so the
		// first file errs small and later ones use what it measured.
		var sz int64
		for _, c := range rec.Columns() {
			sz += int64(c.Data().(*array.Data).SizeInBytes())
		}
		rb = max(1, float64(sz)/float64(max(1, rec.NumRows())))
	}
	return max(1, int64(float64(w.t.opts.TargetFileBytes)/rb))
}

// writeFile writes rec as one data file in folder dir (partition.go) and
// records its add action with the partition values.
func (w *fileWriter) writeFile(ctx context.Context, rec arrow.RecordBatch, dir string, values map[string]*string) error {
	var buf bytes.Buffer
	pw, err := w.newParquetWriter(&buf)
	if err != nil {
		return err
	}
	prec := physicalBatch(rec, w.cols)
	defer prec.Release()
	if err := pw.Write(prec); err != nil {
		pw.Close()
		return fmt.Errorf("write data file: %w", err)
	}
	return w.putFile(ctx, pw, &buf, fileStats(rec, w.cols), dir, values)
}

// physicalBatch is rec (logical, columns cols) with the data files'
// physical types; the caller releases it.
func physicalBatch(rec arrow.RecordBatch, cols []column) arrow.RecordBatch {
	pcols := make([]arrow.Array, len(cols))
	for i, c := range cols {
		if r, ok := retype(rec.Column(i), physicalType(c)); ok {
			pcols[i] = r
		} else {
			pcols[i] = rec.Column(i)
			pcols[i].Retain()
		}
	}
	defer releaseAll(pcols)
	return array.NewRecordBatch(physicalSchema(cols), pcols, rec.NumRows())
}

// newParquetWriter starts a data file in buf: each Write of a physical
// batch (physicalBatch) is a row group.
func (w *fileWriter) newParquetWriter(out io.Writer) (*pqarrow.FileWriter, error) {
	t := w.t
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Zstd),
		// zstd level 1, as the Iceberg writer and pyarrow write: a
		// copy-on-write merge spends a quarter of its time compressing.
		parquet.WithCompressionLevel(1),
		parquet.WithDataPageVersion(parquet.DataPageV1),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(maxRowGroupRows),
		// Column and offset indexes: a merge reads the _seq of the rows
		// whose key matched by seeking to their pages (table.ScanMatches).
		parquet.WithPageIndexEnabled(true),
		// _seq is unique per row: a dictionary of it only costs (the
		// optimize of a 200,000-row table 1.21–1.28 → 0.97–1.19 s CPU,
		// the file 1% smaller).
		parquet.WithDictionaryFor(seqColumn.phys, false),
		parquet.WithAllocator(t.mem))
	pw, err := pqarrow.NewFileWriter(physicalSchema(w.cols), out, props, pqarrow.NewArrowWriterProperties(
		pqarrow.WithAllocator(t.mem), pqarrow.WithCoerceTimestamps(arrow.Microsecond)))
	if err != nil {
		return nil, fmt.Errorf("write data file: %w", err)
	}
	return pw, nil
}

// putFile closes pw, which wrote a data file into buf, stores the file
// in folder dir and records its add action with the partition values and
// stats.
func (w *fileWriter) putFile(ctx context.Context, pw *pqarrow.FileWriter, buf *bytes.Buffer, stats, dir string, values map[string]*string) error {
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write data file: %w", err)
	}
	raw := buf.Bytes()
	return w.storeFile(ctx, pw, bytes.NewReader(raw), int64(len(raw)), footerSize(raw), stats, dir, values)
}

// storeFile stores the data file pw wrote (closed), read from r: size
// bytes, the last footer of them its footer (footerSize). Otherwise as
// putFile.
func (w *fileWriter) storeFile(ctx context.Context, pw *pqarrow.FileWriter, r io.Reader, size, footer int64, stats, dir string, values map[string]*string) error {
	t := w.t
	meta, err := pw.FileMetadata()
	if err != nil {
		return fmt.Errorf("write data file: %w", err)
	}
	path := dir + "part-" + uuid.NewString() + ".zstd.parquet"
	if err := t.store.Put(ctx, t.root+path, r); err != nil {
		return fmt.Errorf("write data file %s: %w", path, err)
	}
	w.adds = append(w.adds, addAction{
		Path:             logPath(path),
		PartitionValues:  values,
		Size:             size,
		ModificationTime: t.now().UnixMilli(),
		DataChange:       true,
		Stats:            stats,
	})
	w.files = append(w.files, newFile{key: t.root + path, size: size, rows: meta.NumRows})
	w.bytes += size
	if data := size - footer; meta.NumRows > 0 && data > 0 {
		w.rowBytes = float64(data) / float64(meta.NumRows)
	}
	return nil
}

// footerSize is the size of a Parquet file's footer (metadata, its length
// and the magic), which does not grow with the rows.
func footerSize(file []byte) int64 {
	if len(file) < 12 {
		return 0
	}
	return int64(binary.LittleEndian.Uint32(file[len(file)-8:])) + 8
}
