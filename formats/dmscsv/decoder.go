package dmscsv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"github.com/lakemerge/lakemerge/change"
)

// Options describe the DMS endpoint settings and the table a file belongs to.
type Options struct {
	// Columns are the table's source columns in file order (after Op and
	// the timestamp column). With Header they only give types, by name.
	Columns []change.Column
	// Header is DMS's AddColumnName=true: the first line of each file names
	// the columns.
	Header bool
	// IncludeOpForFullLoad: LOAD rows carry a leading Op column (CDC rows
	// always do).
	IncludeOpForFullLoad bool
	// Delimiter is CsvDelimiter; 0 means ','.
	Delimiter byte
	// NoSupValue is the text DMS writes for a value it could not read
	// (CsvNoSupValue, e.g. LOB columns in limited LOB mode): an unquoted
	// field equal to it is not a value, the table keeps what it stores.
	// When set, batches carry change.ColKeep with the bits of such fields;
	// "" (the default) means no such value.
	NoSupValue string
	// NullValue is the text that means NULL when unquoted (CsvNullValue);
	// "" means the empty unquoted field. A quoted field is never NULL.
	NullValue string
	// TimestampColumn is TimestampColumnName: when set, a column of this name
	// follows Op (headerless) or is named in the header; typed timestamp.
	TimestampColumn string
	// ChangeSeqColumn names the column holding AR_H_CHANGE_SEQ (in Columns
	// or in the header). Its digits order the rows in _seq; it is still
	// output, as a string column.
	ChangeSeqColumn string
	// BatchRows is the number of rows per output batch; 0 means 8192.
	BatchRows int
}

// File says which file a decoder reads.
type File struct {
	Name       Name
	Generation uint32 // load generation; a later generation orders after an earlier one
}

const defaultBatchRows = 8192

type colKind uint8

const (
	kindInt32 colKind = iota
	kindInt64
	kindFloat32
	kindFloat64
	kindDecimal
	kindBool
	kindDate
	kindTimestamp
	kindString
	kindBinary
)

// outCol is one user column of the output and where it comes from.
type outCol struct {
	name  string
	kind  colKind
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
	gz    *gzip.Reader
	sc    *scanner
	isGz  bool
	batch int

	schema    *arrow.Schema
	rb        *array.RecordBuilder
	cols      []outCol
	opB       *array.Int8Builder
	seqB      *array.BinaryBuilder
	keepB     *array.BinaryBuilder // change.ColKeep, only with Options.NoSupValue
	nfields   int                  // fields per record
	opField   int                  // -1: no Op column, rows are inserts
	seqField  int                  // -1: no change-seq column
	seqCol    int                  // index in cols of the change-seq column
	nullValue string

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
		return nil, fmt.Errorf("decode %s: delimiter %q cannot be a quote or line break", f.Name.Key, opts.Delimiter)
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = defaultBatchRows
	}
	d := &Decoder{file: f, opts: opts, batch: opts.BatchRows, nullValue: opts.NullValue, opField: -1, seqField: -1}

	// Sniff gzip.
	var magic [2]byte
	n, err := io.ReadFull(r, magic[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("read %s: %w", f.Name.Key, err)
	}
	src := io.MultiReader(bytes.NewReader(magic[:n]), r)
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(src)
		if err != nil {
			return nil, d.readErr(err, true)
		}
		d.gz, d.isGz, src = gz, true, gz
	}
	d.sc = newScanner(src, opts.Delimiter)

	if err := d.layout(); err != nil {
		d.closeGz()
		return nil, err
	}
	d.initSeq()
	d.schema = change.Schema(d.userColumns())
	if opts.NoSupValue != "" {
		d.schema = arrow.NewSchema(append(d.schema.Fields(),
			arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true}), nil)
	}
	d.rb = array.NewRecordBuilder(mem, d.schema)
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
func (d *Decoder) layout() error {
	key := d.file.Name.Key
	opts := d.opts
	typeOf := make(map[string]arrow.DataType, len(opts.Columns))
	for _, c := range opts.Columns {
		if _, dup := typeOf[c.Name]; dup {
			return fmt.Errorf("decode %s: column %q listed twice in the options", key, c.Name)
		}
		if change.IsSystemColumn(c.Name) {
			return fmt.Errorf("decode %s: column %q is a system column name", key, c.Name)
		}
		typeOf[c.Name] = c.Type
	}
	if opts.TimestampColumn != "" {
		if t, ok := typeOf[opts.TimestampColumn]; ok && (!opts.Header || t.ID() != arrow.TIMESTAMP) {
			return fmt.Errorf("decode %s: timestamp column %q must not be listed in Columns (or, with a header, only as timestamp)", key, opts.TimestampColumn)
		}
	}
	if opts.ChangeSeqColumn != "" {
		if t, ok := typeOf[opts.ChangeSeqColumn]; ok && t.ID() != arrow.STRING {
			return fmt.Errorf("decode %s: change seq column %q must be typed string, not %s", key, opts.ChangeSeqColumn, change.TypeName(t))
		}
		if opts.ChangeSeqColumn == opts.TimestampColumn {
			return fmt.Errorf("decode %s: change seq column and timestamp column are both %q", key, opts.ChangeSeqColumn)
		}
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
			return fmt.Errorf("decode %s: no columns configured", key)
		}
		if opts.ChangeSeqColumn != "" {
			if _, ok := typeOf[opts.ChangeSeqColumn]; !ok {
				return fmt.Errorf("decode %s: change seq column %q is not in Columns", key, opts.ChangeSeqColumn)
			}
		}
	} else {
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
				return d.malformed(d.sc.startLine, "", "header starts with Op but IncludeOpForFullLoad is off")
			case !checkUTF8Str(name):
				return d.malformed(d.sc.startLine, "", fmt.Sprintf("header field %d is not valid UTF-8", field+i+1))
			}
			seen[name] = true
			names = append(names, name)
		}
		if opts.ChangeSeqColumn != "" && !seen[opts.ChangeSeqColumn] {
			return d.malformed(d.sc.startLine, "", fmt.Sprintf("header has no change seq column %q", opts.ChangeSeqColumn))
		}
	}
	d.nfields = field + len(names)
	d.buildCols(names, field, typeOf)
	return nil
}

func checkUTF8Str(s string) bool { return checkUTF8([]byte(s)) == nil }

func (d *Decoder) buildCols(names []string, first int, typeOf map[string]arrow.DataType) {
	for i, name := range names {
		c := outCol{name: name, field: first + i}
		t, ok := typeOf[name]
		switch {
		case name == d.opts.TimestampColumn:
			c.kind = kindTimestamp
		case name == d.opts.ChangeSeqColumn:
			c.kind = kindString
			d.seqField, d.seqCol = c.field, i
		case !ok:
			c.kind = kindString
		default:
			c.kind, c.prec, c.scale = kindOf(t)
		}
		d.cols = append(d.cols, c)
	}
}

var timestampType, _ = change.ParseType("timestamp")

func kindOf(t arrow.DataType) (colKind, int32, int32) {
	switch t.ID() {
	case arrow.INT32:
		return kindInt32, 0, 0
	case arrow.INT64:
		return kindInt64, 0, 0
	case arrow.FLOAT32:
		return kindFloat32, 0, 0
	case arrow.FLOAT64:
		return kindFloat64, 0, 0
	case arrow.DECIMAL128:
		dt := t.(*arrow.Decimal128Type)
		return kindDecimal, dt.Precision, dt.Scale
	case arrow.BOOL:
		return kindBool, 0, 0
	case arrow.DATE32:
		return kindDate, 0, 0
	case arrow.TIMESTAMP:
		return kindTimestamp, 0, 0
	case arrow.BINARY:
		return kindBinary, 0, 0
	}
	return kindString, 0, 0
}

func (d *Decoder) userColumns() []change.Column {
	cols := make([]change.Column, len(d.cols))
	for i, c := range d.cols {
		var t arrow.DataType
		switch c.kind {
		case kindInt32:
			t = arrow.PrimitiveTypes.Int32
		case kindInt64:
			t = arrow.PrimitiveTypes.Int64
		case kindFloat32:
			t = arrow.PrimitiveTypes.Float32
		case kindFloat64:
			t = arrow.PrimitiveTypes.Float64
		case kindDecimal:
			t = &arrow.Decimal128Type{Precision: c.prec, Scale: c.scale}
		case kindBool:
			t = arrow.FixedWidthTypes.Boolean
		case kindDate:
			t = arrow.FixedWidthTypes.Date32
		case kindTimestamp:
			t = timestampType
		case kindString:
			t = arrow.BinaryTypes.String
		case kindBinary:
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
		err := d.sc.next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = d.appendRecord()
		} else {
			err = d.scanErr(err)
		}
		if err != nil {
			d.err = err
			return nil, err
		}
		rows++
		d.rowNo++
	}
	if rows == 0 {
		d.err = io.EOF
		return nil, io.EOF
	}
	d.noteSizes(rows)
	return d.rb.NewRecordBatch(), nil
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
	d.rb.Reserve(d.lastRows)
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
	d.closeGz()
	if d.err == nil {
		d.err = errors.New("decoder closed")
	}
	return nil
}

func (d *Decoder) closeGz() {
	if d.gz != nil {
		d.gz.Close()
		d.gz = nil
	}
}

func (d *Decoder) kindText() string {
	if d.file.Name.Kind == KindCDC {
		return "CDC"
	}
	return "full-load (IncludeOpForFullLoad)"
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
	var ce flate.CorruptInputError
	if gz && (errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
		line := int64(0)
		if d.sc != nil {
			line = d.sc.startLine
		}
		return d.malformed(line, "", "gzip: "+err.Error())
	}
	return fmt.Errorf("read %s: %w", d.file.Name.Key, err)
}

// appendRecord appends the scanner's current record as one row.
func (d *Decoder) appendRecord() error {
	fields, quoted := d.sc.fields, d.sc.quoted
	if len(fields) != d.nfields {
		return d.malformed(d.sc.startLine, "", fmt.Sprintf("record has %d fields, want %d", len(fields), d.nfields))
	}
	op := change.OpInsert
	if d.opField >= 0 {
		f := fields[d.opField]
		var err error
		if op, err = change.ParseOp(unsafeString(f)); err != nil {
			return d.malformed(d.sc.startLine, "Op", err.Error())
		}
	}
	var seqText []byte
	if d.seqField >= 0 && !d.isNull(fields[d.seqField], quoted[d.seqField]) {
		seqText = fields[d.seqField]
		for _, c := range seqText {
			if c < '0' || c > '9' {
				return d.malformed(d.sc.startLine, d.cols[d.seqCol].name, fmt.Sprintf("change sequence %s is not all digits", quoteField(seqText)))
			}
		}
	}
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
			return d.malformed(d.sc.startLine, c.name, err.Error())
		}
	}
	if d.keepB != nil {
		if keep == nil {
			d.keepB.AppendNull()
		} else {
			d.keepB.Append(keep)
		}
	}
	d.opB.Append(int8(op))
	// The bytes of SeqBuilder.Uint32(gen).Byte(phase).String(seqText), then
	// the file rank and the row number (TestSeqLayout checks they match).
	// seqText is digits only, so String needs no escaping.
	buf := append(d.seqBuf[:0], d.seqPrefix...)
	buf = append(buf, seqText...)
	buf = append(buf, 0, 1)
	buf = append(buf, d.seqRank...)
	buf = binary.BigEndian.AppendUint64(buf, d.rowNo)
	d.seqBuf = buf
	d.seqB.Append(buf)
	return nil
}

// quoteField quotes a field for an error message, cut to 64 bytes.
func quoteField(f []byte) string {
	if len(f) > 64 {
		return fmt.Sprintf("%q...", f[:64])
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
	case kindString:
		if err := checkUTF8(f); err != nil {
			return err
		}
		c.b.(*array.StringBuilder).BinaryBuilder.Append(f)
	case kindInt32:
		v, err := parseInt(f, 32)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Int32Builder).Append(int32(v))
	case kindInt64:
		v, err := parseInt(f, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Int64Builder).Append(v)
	case kindFloat32:
		v, err := parseFloat(f, 32)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Float32Builder).Append(float32(v))
	case kindFloat64:
		v, err := parseFloat(f, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Float64Builder).Append(v)
	case kindDecimal:
		v, err := parseDecimal(f, c.prec, c.scale)
		if err != nil {
			return fmt.Errorf("%s: %w for decimal(%d,%d)", quoteField(f), err, c.prec, c.scale)
		}
		c.b.(*array.Decimal128Builder).Append(v)
	case kindBool:
		v, err := parseBool(f)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.BooleanBuilder).Append(v)
	case kindDate:
		v, err := parseDate(f)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.Date32Builder).Append(arrow.Date32(v))
	case kindTimestamp:
		v, err := parseTimestamp(f)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.TimestampBuilder).Append(arrow.Timestamp(v))
	case kindBinary:
		var err error
		d.hexBuf, err = appendHex(d.hexBuf[:0], f)
		if err != nil {
			return fmt.Errorf("%s: %w", quoteField(f), err)
		}
		c.b.(*array.BinaryBuilder).Append(d.hexBuf)
	}
	return nil
}
