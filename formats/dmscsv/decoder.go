package dmscsv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/formats/internal/gunzip"
	"github.com/lakemerge/lakemerge/formats/internal/values"
)

// File says which file a decoder reads.
type File struct {
	Name       Name
	Generation uint32 // load generation; a later generation orders after an earlier one
}

const defaultBatchRows = 8192

// biKey is one primary-key column of the output and the record field of its
// before-image column.
type biKey struct {
	col   int // index in Decoder.cols
	field int // index in the record of the before-image column
	name  string
}

// outCol is one user column of the output and where it comes from.
type outCol struct {
	name  string
	kind  values.Kind
	field int // index in the record
	prec  int32
	scale int32
	b     array.Builder
}

// Decoder turns one DMS CSV file into change batches. It is not safe for
// concurrent use.
type Decoder struct {
	file  File
	opts  Options
	src   io.ReadCloser // the file's content, decompressed
	sc    *scanner
	isGz  bool
	batch int

	schema  *arrow.Schema // the builder's columns, then _ts
	mem     memory.Allocator
	rb      *array.RecordBuilder
	cols    []outCol
	opB     *array.Int8Builder
	seqB    *array.BinaryBuilder
	keepB   *array.BinaryBuilder // change.ColKeep, only with Options.NoSupValue
	nfields int                  // fields per record
	// nfieldsNoBI is the field count of a full-load record without the
	// before-image columns Options.BeforeImageColumns lists (they are
	// last, so the record is read the same): -1 when not allowed.
	nfieldsNoBI int
	opField     int // -1: no Op column, rows are inserts
	seqField    int // -1: no change-seq column
	seqCol      int // index in cols of the change-seq column
	tsCol       int // index in cols of Options.TimestampColumn; -1: none
	// newestTS is the greatest value of the timestamp column so far (µs),
	// valid when haveTS: SourceTime.
	newestTS  int64
	haveTS    bool
	nullValue string

	// Before images (Options.BeforeImagePrefix/Suffix): the key columns and
	// their before-image fields, empty when off or when a full-load file
	// has no before-image columns.
	biKeys  []biKey
	keyBufA []byte
	keyBufB []byte

	// The record being appended: Next reads it, beginRecord checks it and,
	// for a key change, appends the delete of the old key; appendRecord
	// then appends the row itself. pending is set between the two, which
	// may fall into different batches.
	pending   bool
	deleted   bool // beginRecord appended a delete row
	keyChange bool // the row's _seq gets the extra byte after its delete's
	op        change.Op
	seqText   []byte

	seqPrefix []byte // Uint32(generation), Byte(phase)
	seqRank   []byte // file rank part of _seq
	seqBuf    []byte
	hexBuf    []byte

	rowNo uint64
	err   error // sticky

	// Sizes of the last batch, reserved up front for the next one so that
	// builders do not grow by copying.
	lastRows int
	lastData []int // per column: bytes of variable-width data; seq last
}

// byteOrderMark is the UTF-8 encoding of U+FEFF.
const byteOrderMark = "\xEF\xBB\xBF"

// NewDecoder prepares to decode the DMS file f read from r. Gzip is detected
// from the magic bytes 1f 8b. With opts.Header the header line is read here.
// The decoder does not close r.
func NewDecoder(r io.Reader, f File, opts Options, mem memory.Allocator) (*Decoder, error) {
	if f.Name.Kind != KindLoad && f.Name.Kind != KindCDC {
		return nil, fmt.Errorf("decode %s: unknown file kind %v", f.Name.Key, f.Name.Kind)
	}
	if f.Name.Kind == KindCDC && (f.Name.Instant.Before(minInstant) || f.Name.Instant.After(maxInstant)) {
		return nil, fmt.Errorf("decode %s: CDC instant %v outside 1970..2262 (use ParseName)", f.Name.Key, f.Name.Instant)
	}
	if opts.Delimiter == 0 {
		opts.Delimiter = ','
	}
	if opts.Delimiter == '"' || opts.Delimiter == '\n' || opts.Delimiter == '\r' {
		return nil, fmt.Errorf("decode %s: dms.delimiter %q cannot be a quote or line break", f.Name.Key, opts.Delimiter)
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = defaultBatchRows
	}
	d := &Decoder{file: f, opts: opts, batch: opts.BatchRows, nullValue: opts.NullValue, opField: -1, seqField: -1, tsCol: -1, nfieldsNoBI: -1}

	src, gz, err := gunzip.Open(r)
	if err != nil {
		return nil, d.readErr(err, gz)
	}
	d.src, d.isGz = src, gz
	d.sc = newScanner(src, opts.Delimiter)
	// A gzip stream cut short fails on its trailer; an uncompressed file
	// cut inside its last field would read as a shorter value.
	d.sc.finalNewline = !gz
	if d.sc.startsWith(byteOrderMark) {
		// DMS writes none; an editor may. Named here, it is not taken
		// for part of the first field ("\ufeffOp", "\ufeffI").
		d.closeSrc()
		return nil, d.malformed(1, "", "the file starts with a UTF-8 byte order mark (EF BB BF), which DMS does not write: remove it (an editor may have saved the file with one)")
	}

	if err := d.layout(); err != nil {
		d.closeSrc()
		return nil, err
	}
	d.initSeq()
	d.schema = change.Schema(d.userColumns())
	if opts.NoSupValue != "" {
		d.schema = arrow.NewSchema(append(d.schema.Fields(),
			arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true}), nil)
	}
	d.rb = array.NewRecordBuilder(mem, d.schema)
	d.mem = mem
	d.schema = arrow.NewSchema(append(d.schema.Fields(),
		arrow.Field{Name: change.ColTS, Type: change.TSType(), Nullable: true}), nil)
	for i := range d.cols {
		d.cols[i].b = d.rb.Field(i)
	}
	d.opB = d.rb.Field(len(d.cols)).(*array.Int8Builder)
	d.seqB = d.rb.Field(len(d.cols) + 1).(*array.BinaryBuilder)
	if opts.NoSupValue != "" {
		d.keepB = d.rb.Field(len(d.cols) + 2).(*array.BinaryBuilder)
	}
	return d, nil
}

func (d *Decoder) hasOp() bool {
	return d.file.Name.Kind == KindCDC || d.opts.IncludeOpForFullLoad
}

// layout works out the record layout: from the options, or from the header.
// Problems with the options name the job-file keys that set them.
func (d *Decoder) layout() error {
	key := d.file.Name.Key
	opts := d.opts
	typeOf := make(map[string]arrow.DataType, len(opts.Columns))
	for _, c := range opts.Columns {
		if _, dup := typeOf[c.Name]; dup {
			return fmt.Errorf("decode %s: column %q listed twice in columns", key, c.Name)
		}
		if change.IsSystemColumn(c.Name) {
			return fmt.Errorf("decode %s: column %q in columns is a system column name", key, c.Name)
		}
		typeOf[c.Name] = c.Type
	}
	if opts.TimestampColumn != "" {
		if t, ok := typeOf[opts.TimestampColumn]; ok && (!opts.Header || t.ID() != arrow.TIMESTAMP) {
			return fmt.Errorf("decode %s: dms.timestamp_column %q must not be listed in columns (or, with a header, only as timestamp)", key, opts.TimestampColumn)
		}
	}
	if opts.ChangeSeqColumn != "" {
		if t, ok := typeOf[opts.ChangeSeqColumn]; ok && t.ID() != arrow.STRING {
			return fmt.Errorf("decode %s: dms.change_seq_column %q must be typed string in columns, not %s", key, opts.ChangeSeqColumn, change.TypeName(t))
		}
		if opts.ChangeSeqColumn == opts.TimestampColumn {
			return fmt.Errorf("decode %s: dms.change_seq_column and dms.timestamp_column are both %q", key, opts.ChangeSeqColumn)
		}
	}
	if len(opts.BeforeImageColumns) > 0 && !d.beforeImages() {
		return fmt.Errorf("decode %s: before-image columns in columns but neither dms.before_image_prefix nor dms.before_image_suffix is set", key)
	}
	if d.beforeImages() && len(opts.Keys) == 0 {
		return fmt.Errorf("decode %s: dms.before_image_prefix needs the primary_key", key)
	}

	var names []string
	field := 0
	if !opts.Header {
		if d.hasOp() {
			d.opField = 0
			field = 1
		}
		if opts.TimestampColumn != "" {
			names = append(names, opts.TimestampColumn)
		}
		for _, c := range opts.Columns {
			names = append(names, c.Name)
		}
		if len(names) == 0 {
			return fmt.Errorf("decode %s: no columns configured (columns)", key)
		}
		if opts.ChangeSeqColumn != "" {
			if _, ok := typeOf[opts.ChangeSeqColumn]; !ok {
				return fmt.Errorf("decode %s: dms.change_seq_column %q is not in columns", key, opts.ChangeSeqColumn)
			}
		}
		for _, bi := range opts.BeforeImageColumns {
			base, ok := d.beforeImageOf(bi)
			if _, listed := typeOf[base]; !ok || !listed {
				return fmt.Errorf("decode %s: before-image column %q is not %s<column>%s of a column in columns", key, bi, opts.BeforeImagePrefix, opts.BeforeImageSuffix)
			}
		}
		d.nfields = field + len(names) + len(opts.BeforeImageColumns)
		if len(opts.BeforeImageColumns) > 0 && d.file.Name.Kind == KindLoad {
			d.nfieldsNoBI = field + len(names)
		}
		d.buildCols(names, field, typeOf)
		for i, bi := range opts.BeforeImageColumns {
			base, _ := d.beforeImageOf(bi)
			d.noteBeforeImage(bi, base, field+len(names)+i)
		}
		return d.checkKeys(0)
	}

	if err := d.sc.next(); err != nil {
		if err == io.EOF {
			// An empty file: no header and no rows.
			names = nil
			for _, c := range opts.Columns {
				names = append(names, c.Name)
			}
			if opts.TimestampColumn != "" {
				names = append([]string{opts.TimestampColumn}, names...)
			}
			d.nfields = -1
			d.buildCols(names, 0, typeOf)
			return nil
		}
		return d.scanErr(err)
	}
	if d.hasOp() {
		if len(d.sc.fields) == 0 || !bytes.EqualFold(d.sc.fields[0], []byte("Op")) {
			return d.malformed(d.sc.startLine, "", fmt.Sprintf("header does not start with Op, which %s files have", d.kindText()))
		}
		d.opField = 0
		field = 1
	}
	seen := make(map[string]bool, len(d.sc.fields))
	for i, f := range d.sc.fields[field:] {
		name := string(f)
		switch {
		case name == "":
			return d.malformed(d.sc.startLine, "", fmt.Sprintf("header field %d is empty", field+i+1))
		case seen[name]:
			return d.malformed(d.sc.startLine, "", fmt.Sprintf("header names column %q twice", name))
		case change.IsSystemColumn(name):
			return d.malformed(d.sc.startLine, "", fmt.Sprintf("header names system column %q", name))
		case i == 0 && field == 0 && name == "Op":
			return d.malformed(d.sc.startLine, "", "header starts with Op but dms.include_op_for_full_load is false")
		case !checkUTF8Str(name):
			return d.malformed(d.sc.startLine, "", fmt.Sprintf("header field %d is not valid UTF-8", field+i+1))
		}
		seen[name] = true
		names = append(names, name)
	}
	if opts.ChangeSeqColumn != "" && !seen[opts.ChangeSeqColumn] {
		return d.malformed(d.sc.startLine, "", fmt.Sprintf("header has no column %q (dms.change_seq_column)", opts.ChangeSeqColumn))
	}
	d.nfields = field + len(names)
	// Before-image columns are named after a column of the header; they
	// are read, never output.
	var data []string
	var bis [][2]string // name, base
	var biFields []int
	for i, name := range names {
		if base, ok := d.beforeImageOf(name); ok && seen[base] {
			if bb, baseIsBI := d.beforeImageOf(base); !baseIsBI || !seen[bb] {
				bis = append(bis, [2]string{name, base})
				biFields = append(biFields, field+i)
				continue
			}
		}
		data = append(data, name)
	}
	d.buildColsAt(data, names, field, typeOf)
	for i, bi := range bis {
		d.noteBeforeImage(bi[0], bi[1], biFields[i])
	}
	return d.checkKeys(d.sc.startLine)
}

// beforeImages reports whether before-image columns are configured.
func (d *Decoder) beforeImages() bool {
	return d.opts.BeforeImagePrefix != "" || d.opts.BeforeImageSuffix != ""
}

// beforeImageOf returns the column name is the before image of, by the
// configured prefix and suffix.
func (d *Decoder) beforeImageOf(name string) (string, bool) {
	if !d.beforeImages() {
		return "", false
	}
	p, s := d.opts.BeforeImagePrefix, d.opts.BeforeImageSuffix
	if len(name) <= len(p)+len(s) || !strings.HasPrefix(name, p) || !strings.HasSuffix(name, s) {
		return "", false
	}
	return name[len(p) : len(name)-len(s)], true
}

// noteBeforeImage records the before-image column name of base at field
// when base is a primary-key column; other before images are skipped.
func (d *Decoder) noteBeforeImage(name, base string, field int) {
	if !slices.Contains(d.opts.Keys, base) {
		return
	}
	for i, c := range d.cols {
		if c.name == base {
			d.biKeys = append(d.biKeys, biKey{col: i, field: field, name: name})
			return
		}
	}
}

// checkKeys checks that a CDC file has the before image of every key
// column (a full-load file may have none). line is the header's line, 0
// without a header.
func (d *Decoder) checkKeys(line int64) error {
	if !d.beforeImages() {
		return nil
	}
	if d.file.Name.Kind == KindLoad && len(d.biKeys) == 0 {
		return nil
	}
	have := make(map[string]bool, len(d.biKeys))
	for _, k := range d.biKeys {
		have[d.cols[k.col].name] = true
	}
	for _, k := range d.opts.Keys {
		if have[k] {
			continue
		}
		bi := d.opts.BeforeImagePrefix + k + d.opts.BeforeImageSuffix
		if !slices.ContainsFunc(d.cols, func(c outCol) bool { return c.name == k }) {
			if line > 0 {
				return d.malformed(line, "", fmt.Sprintf("header has no primary_key column %q", k))
			}
			return fmt.Errorf("decode %s: primary_key column %q is not in columns", d.file.Name.Key, k)
		}
		if line > 0 {
			return d.malformed(line, "", fmt.Sprintf("header has no before-image column %q for primary_key column %q (dms.before_image_prefix, dms.before_image_suffix)", bi, k))
		}
		return fmt.Errorf("decode %s: columns has no before-image column %q for primary_key column %q: list it after the other columns, as DMS writes it", d.file.Name.Key, bi, k)
	}
	slices.SortFunc(d.biKeys, func(a, b biKey) int {
		return slices.Index(d.opts.Keys, d.cols[a.col].name) - slices.Index(d.opts.Keys, d.cols[b.col].name)
	})
	return nil
}

func checkUTF8Str(s string) bool { return checkUTF8([]byte(s)) == nil }

func (d *Decoder) buildCols(names []string, first int, typeOf map[string]arrow.DataType) {
	d.buildColsAt(names, names, first, typeOf)
}

// buildColsAt builds the output columns names, each read from its position
// in all (the record's fields from first on).
func (d *Decoder) buildColsAt(names, all []string, first int, typeOf map[string]arrow.DataType) {
	j := 0
	for _, name := range names {
		for all[j] != name {
			j++
		}
		c := outCol{name: name, field: first + j}
		t, ok := typeOf[name]
		switch {
		case name == d.opts.TimestampColumn:
			c.kind = values.KindTimestamp
			d.tsCol = len(d.cols)
		case name == d.opts.ChangeSeqColumn:
			c.kind = values.KindString
			d.seqField, d.seqCol = c.field, len(d.cols)
		case !ok:
			c.kind = values.KindString
		default:
			c.kind, c.prec, c.scale = kindOf(t)
		}
		d.cols = append(d.cols, c)
	}
}

var timestampType, _ = change.ParseType("timestamp")

// kindOf is the Kind a column of type t is read as: a type no job-file
// type name gives is read as string, a timestamp of any unit as
// microseconds.
func kindOf(t arrow.DataType) (values.Kind, int32, int32) {
	k, ok := values.KindOf(t)
	switch {
	case t.ID() == arrow.TIMESTAMP:
		return values.KindTimestamp, 0, 0
	case !ok:
		return values.KindString, 0, 0
	case k == values.KindDecimal:
		dt := t.(*arrow.Decimal128Type)
		return k, dt.Precision, dt.Scale
	}
	return k, 0, 0
}

func (d *Decoder) userColumns() []change.Column {
	cols := make([]change.Column, len(d.cols))
	for i, c := range d.cols {
		var t arrow.DataType
		switch c.kind {
		case values.KindInt32:
			t = arrow.PrimitiveTypes.Int32
		case values.KindInt64:
			t = arrow.PrimitiveTypes.Int64
		case values.KindFloat32:
			t = arrow.PrimitiveTypes.Float32
		case values.KindFloat64:
			t = arrow.PrimitiveTypes.Float64
		case values.KindDecimal:
			t = &arrow.Decimal128Type{Precision: c.prec, Scale: c.scale}
		case values.KindBool:
			t = arrow.FixedWidthTypes.Boolean
		case values.KindDate:
			t = arrow.FixedWidthTypes.Date32
		case values.KindTimestamp:
			t = timestampType
		case values.KindString:
			t = arrow.BinaryTypes.String
		case values.KindBinary:
			t = arrow.BinaryTypes.Binary
		}
		cols[i] = change.Column{Name: c.name, Type: t}
	}
	return cols
}

// initSeq builds the constant parts of _seq.
func (d *Decoder) initSeq() {
	var b change.SeqBuilder
	phase := byte(0)
	if d.file.Name.Kind == KindCDC {
		phase = 1
	}
	b.Uint32(d.file.Generation).Byte(phase)
	d.seqPrefix = append([]byte(nil), b.Bytes()...)
	b.Reset()
	if d.file.Name.Kind == KindCDC {
		b.Uint64(uint64(d.file.Name.Instant.UnixNano()))
	}
	b.String(d.file.Name.Key)
	d.seqRank = append([]byte(nil), b.Bytes()...)
}

// Schema is the schema of every batch this decoder returns.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Next returns the next batch of at most Options.BatchRows rows, or io.EOF
// after the last one. The caller owns the batch and must release it. After
// an error every later call returns the same error.
func (d *Decoder) Next() (arrow.RecordBatch, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.nfields < 0 { // empty file with a header expected
		d.err = io.EOF
		return nil, io.EOF
	}
	d.reserve()
	rows := 0
	for rows < d.batch {
		if !d.pending {
			err := d.sc.next()
			if err == io.EOF {
				break
			}
			if err == nil {
				err = d.beginRecord()
			} else {
				err = d.scanErr(err)
			}
			if err != nil {
				d.err = err
				return nil, err
			}
			if d.deleted {
				// The delete of the old key is a row of its own; the row
				// itself follows, in this batch or the next.
				d.deleted = false
				rows++
				continue
			}
		}
		if err := d.appendRecord(); err != nil {
			d.err = err
			return nil, err
		}
		d.pending = false
		rows++
		d.rowNo++
	}
	if rows == 0 {
		d.err = io.EOF
		return nil, io.EOF
	}
	d.noteSizes(rows)
	rec := d.rb.NewRecordBatch()
	defer rec.Release()
	if d.tsCol >= 0 {
		d.noteTimestamps(rec.Column(d.tsCol).(*array.Timestamp))
	}
	return d.withTS(rec), nil
}

// withTS returns rec with the _ts column appended: the value of the
// timestamp column where the job configures one and the row has it, else
// a CDC file's instant, else null (a full-load row without a timestamp
// column). The caller releases both.
func (d *Decoder) withTS(rec arrow.RecordBatch) arrow.RecordBatch {
	n := int(rec.NumRows())
	b := array.NewTimestampBuilder(d.mem, change.TSType().(*arrow.TimestampType))
	defer b.Release()
	b.Resize(n) // exactly n: see reserve
	var col *array.Timestamp
	if d.tsCol >= 0 {
		col = rec.Column(d.tsCol).(*array.Timestamp)
	}
	instant := d.file.Name.Kind == KindCDC
	for i := range n {
		switch {
		case col != nil && col.IsValid(i):
			b.UnsafeAppend(col.Value(i))
		case instant:
			b.UnsafeAppend(arrow.Timestamp(d.file.Name.Instant.UnixMicro()))
		default:
			b.UnsafeAppendBoolToBitmap(false)
		}
	}
	ts := b.NewArray()
	defer ts.Release()
	return array.NewRecordBatch(d.schema, append(rec.Columns(), ts), int64(n))
}

// noteTimestamps keeps the greatest value of the timestamp column.
func (d *Decoder) noteTimestamps(a *array.Timestamp) {
	for i, v := range a.TimestampValues() {
		if a.IsValid(i) && (!d.haveTS || int64(v) > d.newestTS) {
			d.newestTS, d.haveTS = int64(v), true
		}
	}
}

// SourceTime is when the newest change of the file was committed in the
// source database, as far as the file tells; read it after Next returned
// io.EOF. With Options.TimestampColumn it is the greatest value of that
// column (DMS writes the commit time there for CDC rows, the time it read
// the row for full-load rows; the values are taken as UTC); otherwise, for
// a CDC file, the instant in its name (when DMS wrote the file, a little
// after the commits it holds); otherwise the zero time. It never orders
// changes.
func (d *Decoder) SourceTime() time.Time {
	switch {
	case d.haveTS:
		return time.UnixMicro(d.newestTS).UTC()
	case d.file.Name.Kind == KindCDC:
		return d.file.Name.Instant
	}
	return time.Time{}
}

// binaryBuilder returns the BinaryBuilder under a string or binary builder.
func binaryBuilder(b array.Builder) *array.BinaryBuilder {
	switch b := b.(type) {
	case *array.StringBuilder:
		return b.BinaryBuilder
	case *array.BinaryBuilder:
		return b
	}
	return nil
}

func (d *Decoder) noteSizes(rows int) {
	d.lastRows = rows
	d.lastData = d.lastData[:0]
	for _, c := range d.cols {
		n := 0
		if bb := binaryBuilder(c.b); bb != nil {
			n = bb.DataLen()
		}
		d.lastData = append(d.lastData, n)
	}
	d.lastData = append(d.lastData, d.seqB.DataLen())
}

func (d *Decoder) reserve() {
	if d.lastRows == 0 {
		return
	}
	// Resize, not Reserve: arrow-go's Reserve rounds the row count up to
	// the next power of two above it, so batches of 8192 rows took twice
	// the memory they use in every fixed-width column (a 10M-row full
	// load: 2.1 GB of buffers for 1.4 GB of values).
	for _, f := range d.rb.Fields() {
		f.Resize(d.lastRows)
	}
	for i, c := range d.cols {
		if bb := binaryBuilder(c.b); bb != nil {
			bb.ReserveData(d.lastData[i])
		}
	}
	d.seqB.ReserveData(d.lastData[len(d.cols)])
}

// Close releases the decoder's builders and closes the gzip stream, if any.
// It does not close the reader given to NewDecoder.
func (d *Decoder) Close() error {
	if d.rb != nil {
		d.rb.Release()
		d.rb = nil
	}
	d.closeSrc()
	if d.err == nil {
		d.err = errors.New("decoder closed")
	}
	return nil
}

func (d *Decoder) closeSrc() {
	if d.src != nil {
		d.src.Close()
		d.src = nil
	}
}

func (d *Decoder) kindText() string {
	if d.file.Name.Kind == KindCDC {
		return "CDC"
	}
	return "full-load (dms.include_op_for_full_load: true)"
}

// layoutText says where the expected field count comes from, in job-file
// terms, for the error of a record with another count.
func (d *Decoder) layoutText() string {
	if d.opts.Header {
		return "the header's fields (dms.header: true)"
	}
	var parts []string
	if d.opField >= 0 {
		parts = append(parts, "Op")
	}
	if d.opts.TimestampColumn != "" {
		parts = append(parts, "dms.timestamp_column")
	}
	parts = append(parts, fmt.Sprintf("%d columns", len(d.opts.Columns)))
	if n := len(d.opts.BeforeImageColumns); n > 0 {
		parts = append(parts, fmt.Sprintf("%d before-image columns", n))
	}
	return strings.Join(parts, ", ")
}

func (d *Decoder) malformed(line int64, col, reason string) error {
	return &change.MalformedError{File: d.file.Name.Key, Line: line, Column: col, Reason: reason}
}

// scanErr classifies an error from the scanner.
func (d *Decoder) scanErr(err error) error {
	var se *errSyntax
	if errors.As(err, &se) {
		return d.malformed(d.sc.startLine, "", se.reason)
	}
	return d.readErr(err, d.isGz)
}

// readErr turns a read error into a MalformedError when it says the gzip
// stream is bad, and wraps it otherwise (an I/O failure, not bad input).
func (d *Decoder) readErr(err error, gz bool) error {
	if gz && gunzip.Corrupt(err) {
		line := int64(0)
		if d.sc != nil {
			line = d.sc.startLine
		}
		return d.malformed(line, "", "gzip: "+err.Error())
	}
	return fmt.Errorf("read %s: %w", d.file.Name.Key, err)
}

// beginRecord checks the scanner's current record: its field count, Op,
// change sequence and before-image key. For a U row whose before-image key
// differs from its key it appends the delete of the old key (and sets
// deleted). It leaves the record pending for appendRecord.
func (d *Decoder) beginRecord() error {
	fields, quoted := d.sc.fields, d.sc.quoted
	noBI := len(fields) == d.nfieldsNoBI
	if len(fields) != d.nfields && !noBI {
		return d.malformed(d.sc.startLine, "", fmt.Sprintf("record has %d fields, want %d (%s)", len(fields), d.nfields, d.layoutText()))
	}
	d.op = change.OpInsert
	if d.opField >= 0 {
		f := fields[d.opField]
		var err error
		if d.op, err = change.ParseOp(values.View(f)); err != nil {
			return d.malformed(d.sc.startLine, "Op", err.Error())
		}
	}
	d.seqText = nil
	if d.seqField >= 0 && !d.isNull(fields[d.seqField], quoted[d.seqField]) {
		d.seqText = fields[d.seqField]
		if !values.OnlyDigits(d.seqText) {
			return d.malformed(d.sc.startLine, d.cols[d.seqCol].name, fmt.Sprintf("change sequence %s is not all digits", quoteField(d.seqText)))
		}
	}
	d.pending, d.keyChange = true, false
	if len(d.biKeys) == 0 || noBI {
		return nil
	}
	changed, err := d.keyChanged()
	if err != nil || !changed {
		return err
	}
	if d.op != change.OpUpdate {
		return d.malformed(d.sc.startLine, d.biKeys[0].name, fmt.Sprintf("the before-image key differs from the key in a %s row; only U rows change keys", d.op))
	}
	// The delete of the old key: its key columns from the before images,
	// everything else null, ordered by the row's own _seq.
	for i := range d.cols {
		c := &d.cols[i]
		k := slices.IndexFunc(d.biKeys, func(k biKey) bool { return k.col == i })
		if k < 0 {
			c.b.AppendNull()
			continue
		}
		f := d.biKeys[k].field
		if err := d.appendValue(c, fields[f], quoted[f]); err != nil {
			return d.malformed(d.sc.startLine, d.biKeys[k].name, err.Error()+d.valueHint(c, fields[f]))
		}
	}
	if d.keepB != nil {
		d.keepB.AppendNull()
	}
	d.opB.Append(int8(change.OpDelete))
	d.seqB.Append(d.appendSeq())
	d.deleted, d.keyChange = true, true
	return nil
}

// keyChanged compares the record's before-image key with its key. A
// before-image key that is all empty (NULL) is no key change: I and D rows,
// and U rows from before the rule. A partly empty one is an error.
func (d *Decoder) keyChanged() (bool, error) {
	fields, quoted := d.sc.fields, d.sc.quoted
	nulls := 0
	for _, k := range d.biKeys {
		if d.isNull(fields[k.field], quoted[k.field]) {
			nulls++
		}
	}
	switch {
	case nulls == len(d.biKeys):
		return false, nil
	case nulls > 0:
		return false, d.malformed(d.sc.startLine, "", "the before-image key is partly empty: all of its columns or none must have a value")
	}
	changed := false
	for _, k := range d.biKeys {
		c := &d.cols[k.col]
		var err error
		if d.keyBufA, err = d.keyBytes(c, d.keyBufA[:0], fields[k.field], quoted[k.field]); err != nil {
			return false, d.malformed(d.sc.startLine, k.name, err.Error()+d.valueHint(c, fields[k.field]))
		}
		if d.isNull(fields[c.field], quoted[c.field]) {
			changed = true
			continue
		}
		if d.keyBufB, err = d.keyBytes(c, d.keyBufB[:0], fields[c.field], quoted[c.field]); err != nil {
			return false, d.malformed(d.sc.startLine, c.name, err.Error()+d.valueHint(c, fields[c.field]))
		}
		if !bytes.Equal(d.keyBufA, d.keyBufB) {
			changed = true
		}
	}
	return changed, nil
}

// keyBytes appends the value of key field f, parsed by c's type, in a form
// that is equal for equal values (1.5 and 1.50 in a decimal column).
func (d *Decoder) keyBytes(c *outCol, dst, f []byte, quoted bool) ([]byte, error) {
	if d.keepB != nil && !quoted && string(f) == d.opts.NoSupValue {
		return dst, errors.New("a key value cannot be the no_sup_value")
	}
	switch c.kind {
	case values.KindInt32, values.KindInt64:
		bits := uint(64)
		if c.kind == values.KindInt32 {
			bits = 32
		}
		v, err := values.ParseInt(f, bits)
		if err != nil {
			return dst, fmt.Errorf("%s: %w", quoteField(f), err)
		}
		return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
	case values.KindDecimal:
		v, err := values.ParseDecimal(f, c.prec, c.scale)
		if err != nil {
			return dst, fmt.Errorf("%s: %w for decimal(%d,%d)", quoteField(f), err, c.prec, c.scale)
		}
		dst = binary.BigEndian.AppendUint64(dst, uint64(v.HighBits()))
		return binary.BigEndian.AppendUint64(dst, v.LowBits()), nil
	case values.KindDate:
		v, err := values.ParseDate(f)
		if err != nil {
			return dst, fmt.Errorf("%s: %w", quoteField(f), err)
		}
		return binary.BigEndian.AppendUint32(dst, uint32(v)), nil
	case values.KindTimestamp:
		v, _, err := values.ParseTimestamp(f)
		if err != nil {
			return dst, fmt.Errorf("%s: %w", quoteField(f), err)
		}
		return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
	case values.KindBool:
		v, err := parseBool(f)
		if err != nil {
			return dst, fmt.Errorf("%s: %w", quoteField(f), err)
		}
		if v {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case values.KindFloat32, values.KindFloat64:
		bits := 64
		if c.kind == values.KindFloat32 {
			bits = 32
		}
		v, err := values.ParseFloat(f, bits)
		if err != nil {
			return dst, fmt.Errorf("%s: %w", quoteField(f), err)
		}
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)), nil
	case values.KindBinary:
		out, err := appendHex(dst, f)
		if err != nil {
			return dst, fmt.Errorf("%s: %w", quoteField(f), err)
		}
		return out, nil
	}
	if err := checkUTF8(f); err != nil {
		return dst, err
	}
	return append(dst, f...), nil
}

// appendSeq builds the record's _seq: the bytes of
// SeqBuilder.Uint32(gen).Byte(phase).String(seqText), then the file rank and
// the row number (TestSeqLayout checks they match). seqText is digits only,
// so String needs no escaping. The buffer is reused by the next call.
func (d *Decoder) appendSeq() []byte {
	buf := append(d.seqBuf[:0], d.seqPrefix...)
	buf = append(buf, d.seqText...)
	buf = append(buf, 0, 1)
	buf = append(buf, d.seqRank...)
	buf = binary.BigEndian.AppendUint64(buf, d.rowNo)
	d.seqBuf = buf
	return buf
}

// appendRecord appends the pending record as one row. The row of a key
// change has its delete's _seq followed by the byte 1, so that the delete
// applies just before it and after everything earlier.
func (d *Decoder) appendRecord() error {
	fields, quoted := d.sc.fields, d.sc.quoted
	var keep []byte
	for i := range d.cols {
		c := &d.cols[i]
		f, q := fields[c.field], quoted[c.field]
		if d.keepB != nil && !q && string(f) == d.opts.NoSupValue {
			// Not a value: keep the stored one.
			if keep == nil {
				keep = make([]byte, (len(d.cols)+7)/8)
			}
			keep[i/8] |= 1 << (i % 8)
			c.b.AppendNull()
			continue
		}
		if err := d.appendValue(c, f, q); err != nil {
			return d.malformed(d.sc.startLine, c.name, err.Error()+d.valueHint(c, f))
		}
	}
	if d.keepB != nil {
		if keep == nil {
			d.keepB.AppendNull()
		} else {
			d.keepB.Append(keep)
		}
	}
	d.opB.Append(int8(d.op))
	seq := d.appendSeq()
	if d.keyChange {
		seq = append(seq, 1)
		d.seqBuf = seq
	}
	d.seqB.Append(seq)
	return nil
}

// valueHint says which job-file setting decides how the value f of column
// c is read, for the error of a value that does not parse.
func (d *Decoder) valueHint(c *outCol, f []byte) string {
	if string(f) == "NULL" || string(f) == `\N` {
		return fmt.Sprintf("; if DMS writes NULL as %s, set dms.null_value to it", f)
	}
	switch {
	case c.name == d.opts.TimestampColumn:
		return " (dms.timestamp_column is read as a timestamp)"
	case c.kind == values.KindDecimal:
		return "; the type comes from columns: widen the decimal (at most 38 digits), or declare the column string to keep the text as written"
	case c.kind == values.KindString:
		return ""
	}
	return "; the type comes from columns (declare the column string to keep the text as written)"
}

// quoteField quotes a field for an error message, cut to 128 bytes (a
// decimal of 65 digits, MySQL's widest, stays whole).
func quoteField(f []byte) string {
	if len(f) > 128 {
		return fmt.Sprintf("%q...", f[:128])
	}
	return fmt.Sprintf("%q", f)
}

func (d *Decoder) isNull(f []byte, quoted bool) bool {
	return !quoted && string(f) == d.nullValue
}

func (d *Decoder) appendValue(c *outCol, f []byte, quoted bool) error {
	if d.isNull(f, quoted) {
		c.b.AppendNull()
		return nil
	}
	switch c.kind {
	case values.KindString:
		if err := checkUTF8(f); err != nil {
			return err
		}
		c.b.(*array.StringBuilder).BinaryBuilder.Append(f)
	case values.KindInt32:
		v, err := values.ParseInt(f, 32)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Int32Builder).Append(int32(v))
	case values.KindInt64:
		v, err := values.ParseInt(f, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Int64Builder).Append(v)
	case values.KindFloat32:
		v, err := values.ParseFloat(f, 32)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Float32Builder).Append(float32(v))
	case values.KindFloat64:
		v, err := values.ParseFloat(f, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Float64Builder).Append(v)
	case values.KindDecimal:
		v, err := values.ParseDecimal(f, c.prec, c.scale)
		if err != nil {
			return fmt.Errorf("%s: %w for decimal(%d,%d)", quoteField(f), err, c.prec, c.scale)
		}
		c.b.(*array.Decimal128Builder).Append(v)
	case values.KindBool:
		v, err := parseBool(f)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.BooleanBuilder).Append(v)
	case values.KindDate:
		v, err := values.ParseDate(f)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Date32Builder).Append(arrow.Date32(v))
	case values.KindTimestamp:
		// Digits below a microsecond are dropped: the column holds
		// microseconds.
		v, _, err := values.ParseTimestamp(f)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.TimestampBuilder).Append(arrow.Timestamp(v))
	case values.KindBinary:
		var err error
		d.hexBuf, err = appendHex(d.hexBuf[:0], f)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.BinaryBuilder).Append(d.hexBuf)
	}
	return nil
}
