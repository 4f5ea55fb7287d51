package debezium

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
	Name       Name   // from ParseName; Kind must be KindValues
	Generation uint32 // load generation; a later generation orders after an earlier one
	// Keys reads the keys file the sink wrote next to this one
	// (Name.Sibling(KindKeys)); nil when there is none. It is read, and
	// must have as many lines as the values file, when Tombstones is
	// "delete" or Options.Keys is set; its line i gives the key of a
	// tombstone read as a delete, or of a delete without a before image,
	// on line i of the values file. The decoder does not close it.
	Keys io.Reader
}

// Stats counts what a file held. Read it after Next returned io.EOF.
type Stats struct {
	Lines             int64 // lines (Kafka records) in the file
	Inserts           int64 // rows with OpInsert (c, and r)
	Updates           int64 // rows with OpUpdate (u)
	Deletes           int64 // rows with OpDelete (d, and tombstones read as deletes)
	Snapshot          int64 // of Inserts: snapshot reads (r)
	TombstoneDeletes  int64 // of Deletes: made from a tombstone and the keys file
	TombstonesSkipped int64 // null values skipped
	Truncates         int64 // truncate events (see Decoder.Truncates)
	SchemaChanges     int64 // schema change events ignored
	Heartbeats        int64 // heartbeats ignored
	Transactions      int64 // transaction BEGIN/END events ignored
	Messages          int64 // logical decoding messages (op m) ignored
	// NewestSourceMs is the greatest source.ts_ms (flattened rows:
	// __source_ts_ms) of the file's changes, in Unix milliseconds: when
	// the newest of them was committed in the source database. 0 when no
	// change carries one.
	NewestSourceMs int64
}

const defaultBatchRows = 64 << 10

// outCol is one user column of the output.
type outCol struct {
	name        string
	typ         arrow.DataType
	declared    arrow.DataType // type in Options.Columns; nil when not listed
	fromWrapper bool           // typ comes from a schema wrapper
	key         bool
	kind        values.Kind
	prec, scale int32
	plain       enc   // encoding in lines without a wrapper
	plainErr    error // plain cannot be read into typ
	b           array.Builder
	seen        uint32 // row stamp of the last row that set it
}

// row flags.
const (
	rowFlat      uint8 = 1 << iota // image is a flattened row: skip metadata fields
	rowKeyOnly                     // image is a Kafka key: only key columns
	rowSnapshot                    // op r
	rowTombstone                   // made from a tombstone
)

// rowRec is one change row found by the scan, converted by Next.
type rowRec struct {
	line   int64
	image  jval        // object: after, before, a flattened row or a key
	schema *lineSchema // nil: no wrapper
	seq    [2]int      // span of _seq in Decoder.seqs; seq[0] < 0 while unresolved
	op     change.Op
	flags  uint8
	// tsMs is the change's source.ts_ms (flattened: __source_ts_ms), the
	// _ts of the row; -1 when the event carries none.
	tsMs int64
	// fields are the image's fields as the scan found them:
	// Decoder.fields[fields[0] : fields[0]+fields[1]]; fields[1] is -1
	// when they were not recorded and Next walks the image.
	fields [2]int32
}

// field is one field of a row image, recorded by the scan so that Next
// converts the row without reading the image's text again: the output
// column it names and where its value lies in the image's raw text. It
// holds no pointers. Metadata fields of flattened rows are not recorded.
type field struct {
	col    int32
	v0, v1 uint32
	kind   jkind
	esc    bool
}

// Decoder turns one S3 sink file of Debezium change events into change
// batches. NewDecoder reads and scans the whole file; Next converts rows a
// batch at a time. It is not safe for concurrent use.
type Decoder struct {
	file    File
	opts    Options
	keysKey string
	batch   int

	data []byte   // the (decompressed) values file
	keys [][]byte // lines of the keys file, when used
	rows []rowRec
	// fields of the rows' images (rowRec.fields); the scan found them,
	// Next converts them.
	fields []field
	nlines int    // lines of the values file
	seqs   []byte // arena of _seq values
	truns  [][]byte
	stats  Stats

	cols    []outCol
	colIdx  map[string]int
	keyCols []int
	declIdx map[string]int // index in Options.Columns

	valueSchemas, flatSchemas, keySchemas map[string]*lineSchema

	// scan state
	connector byte   // position tag of the file's connector, 0 until seen
	lastPos   []byte // position part of the last positioned event
	// lastSchema is the text of the last schema wrapper object a valid
	// line held, in data (see sameSchemaPayload).
	lastSchema []byte
	pending    []int // rows (tombstones) waiting for a position
	scanErr    error // first bad line; reported after the rows before it

	schema *arrow.Schema
	rb     *array.RecordBuilder
	opB    *array.Int8Builder
	seqB   *array.BinaryBuilder
	keepB  *array.BinaryBuilder
	tsB    *array.TimestampBuilder

	vp, kp  jsonParser // parsers of values and keys lines
	env     envelope
	guess   []int32 // colOf's column of the previous row, by member position
	seqBuf  change.SeqBuilder
	posBuf  change.SeqBuilder
	textBuf []byte

	next    int
	stamp   uint32
	keep    []byte
	scratch []byte
	nameBuf []byte
	err     error // sticky
}

// NewDecoder reads the file f from r (gzip is detected from the magic
// bytes 1f 8b), scans every line, and settles the schema of the batches.
// Errors here are bad options, I/O errors, a corrupt gzip stream or a keys
// file that does not match; a bad line is reported by Next, after the rows
// of the lines before it. The decoder does not close r or f.Keys.
func NewDecoder(r io.Reader, f File, opts Options, mem memory.Allocator) (*Decoder, error) {
	key := f.Name.Key
	if f.Name.Kind != KindValues {
		return nil, fmt.Errorf("decode %s: a %s file, not a values file", key, f.Name.Kind)
	}
	if f.Name.Topic == "" || f.Name.Partition < 0 || f.Name.StartOffset < 0 {
		return nil, fmt.Errorf("decode %s: name has no topic, partition and offset (use ParseName)", key)
	}
	if opts.BatchRows <= 0 {
		opts.BatchRows = defaultBatchRows
	}
	d := &Decoder{
		file: f, opts: opts, batch: opts.BatchRows, keysKey: f.Name.Sibling(KindKeys),
		colIdx:       make(map[string]int),
		declIdx:      make(map[string]int),
		valueSchemas: make(map[string]*lineSchema),
		flatSchemas:  make(map[string]*lineSchema),
		keySchemas:   make(map[string]*lineSchema),
	}
	if err := d.checkOptions(); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	var err error
	if d.data, err = readAll(r, key); err != nil {
		return nil, err
	}
	if err := checkBOM(key, d.data); err != nil {
		return nil, err
	}
	d.data = trimBlankTail(d.data)
	nlines := countLines(d.data)
	if f.Keys != nil && needKeys(d.opts) {
		kd, err := readAll(f.Keys, d.keysKey)
		if err != nil {
			return nil, err
		}
		if err := checkBOM(d.keysKey, kd); err != nil {
			return nil, err
		}
		d.keys = splitLines(trimBlankTail(kd))
		if len(d.keys) != nlines {
			return nil, &change.MalformedError{File: d.keysKey, Line: int64(min(len(d.keys), nlines) + 1),
				Reason: fmt.Sprintf("keys file has %d lines, values file %s has %d", len(d.keys), key, nlines)}
		}
	}
	d.scan(nlines)
	d.settleColumns()

	fields := make([]arrow.Field, 0, len(d.cols)+4)
	for _, c := range d.cols {
		fields = append(fields, arrow.Field{Name: c.name, Type: c.typ, Nullable: true})
	}
	fields = append(fields,
		arrow.Field{Name: change.ColOp, Type: arrow.PrimitiveTypes.Int8},
		arrow.Field{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary},
		arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true},
		arrow.Field{Name: change.ColTS, Type: change.TSType(), Nullable: true})
	d.schema = arrow.NewSchema(fields, nil)
	d.rb = array.NewRecordBuilder(mem, d.schema)
	for i := range d.cols {
		d.cols[i].b = d.rb.Field(i)
	}
	d.opB = d.rb.Field(len(d.cols)).(*array.Int8Builder)
	d.seqB = d.rb.Field(len(d.cols) + 1).(*array.BinaryBuilder)
	d.keepB = d.rb.Field(len(d.cols) + 2).(*array.BinaryBuilder)
	d.tsB = d.rb.Field(len(d.cols) + 3).(*array.TimestampBuilder)
	d.keep = make([]byte, (len(d.cols)+7)/8)
	return d, nil
}

// checkBOM names a UTF-8 byte order mark at the start of file's data,
// which the sink does not write (an editor may), rather than report it
// as bad JSON at byte 1.
func checkBOM(file string, data []byte) error {
	if !bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		return nil
	}
	return &change.MalformedError{File: file, Line: 1,
		Reason: "the file starts with a UTF-8 byte order mark (EF BB BF), which the Kafka Connect S3 sink does not write: remove it (an editor may have saved the file with one)"}
}

// needKeys reports whether decoding with opts reads the keys file.
func needKeys(opts Options) bool {
	return opts.Tombstones == "delete" || len(opts.Keys) > 0
}

// checkOptions validates the options and registers the declared columns.
func (d *Decoder) checkOptions() error {
	var errs []error
	o := &d.opts
	switch o.Tombstones {
	case "", "skip":
	case "delete":
		if d.file.Keys == nil {
			errs = append(errs, fmt.Errorf("debezium.tombstones: delete needs the keys file %s (the sink's store.kafka.keys=true), which is missing", d.keysKey))
		}
		if len(o.Keys) == 0 {
			errs = append(errs, errors.New("debezium.tombstones: delete needs primary_key"))
		}
	default:
		errs = append(errs, fmt.Errorf("debezium.tombstones: %q is not skip or delete", o.Tombstones))
	}
	switch o.WideDecimals {
	case "", WideDecimalsError, WideDecimalsString:
	default:
		errs = append(errs, fmt.Errorf("debezium.wide_decimals: %q is not %s or %s", o.WideDecimals, WideDecimalsError, WideDecimalsString))
	}
	for i, c := range o.Columns {
		switch _, dup := d.declIdx[c.Name]; {
		case c.Name == "":
			errs = append(errs, fmt.Errorf("columns[%d] has no name", i))
			continue
		case dup:
			errs = append(errs, fmt.Errorf("columns lists %q twice", c.Name))
			continue
		case change.IsSystemColumn(c.Name):
			errs = append(errs, fmt.Errorf("columns: %q is the name of a column lakemerge adds itself", c.Name))
			continue
		case c.Type == nil:
			errs = append(errs, fmt.Errorf("columns: %q has no type", c.Name))
			continue
		}
		if _, ok := values.KindOf(c.Type); !ok {
			errs = append(errs, fmt.Errorf("columns: %q has type %s, not one of %s", c.Name, c.Type, strings.Join(change.TypeNames(), ", ")))
			continue
		}
		d.declIdx[c.Name] = i
		d.addColumn(c.Name, c.Type, false)
		d.cols[len(d.cols)-1].declared = c.Type
	}
	for name, e := range o.Encodings {
		i, ok := d.declIdx[name]
		if !ok {
			errs = append(errs, fmt.Errorf("debezium.encodings names column %q, which is not in columns", name))
			continue
		}
		if _, err := encodingByName(e, o.Columns[i].Type); err != nil {
			errs = append(errs, fmt.Errorf("debezium.encodings.%s: %w", name, err))
		}
	}
	seen := make(map[string]bool)
	for _, k := range o.Keys {
		switch {
		case k == "" || change.IsSystemColumn(k):
			errs = append(errs, fmt.Errorf("primary_key: %q is not a column name", k))
		case seen[k]:
			errs = append(errs, fmt.Errorf("primary_key lists %q twice", k))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}

// addColumn appends an output column and returns its index.
func (d *Decoder) addColumn(name string, t arrow.DataType, fromWrapper bool) int {
	d.colIdx[name] = len(d.cols)
	d.cols = append(d.cols, outCol{name: name, typ: t, fromWrapper: fromWrapper})
	return len(d.cols) - 1
}

// settleColumns adds key columns the file never named, and fixes each
// column's kind and its encoding in lines without a wrapper.
func (d *Decoder) settleColumns() {
	for _, k := range d.opts.Keys {
		idx, ok := d.colIdx[k]
		if !ok {
			idx = d.addColumn(k, arrow.BinaryTypes.String, false)
		}
		d.cols[idx].key = true
		d.keyCols = append(d.keyCols, idx)
	}
	for i := range d.cols {
		c := &d.cols[i]
		c.kind, _ = values.KindOf(c.typ)
		if c.kind == values.KindDecimal {
			dt := c.typ.(*arrow.Decimal128Type)
			c.prec, c.scale = dt.Precision, dt.Scale
		}
		switch name, ok := d.opts.Encodings[c.name]; {
		case ok:
			c.plain, _ = encodingByName(name, c.declared) // checked in checkOptions
		case c.declared != nil:
			c.plain = defaultEnc(c.declared)
		default:
			c.plain = defaultEnc(c.typ)
		}
		if !d.fits(c.plain, c) {
			c.plainErr = fmt.Errorf("the schema wrapper of other lines types it %s, which the value of a line without a wrapper cannot be read as", change.TypeName(c.typ))
		}
	}
}

// fits reports whether values encoded as e can go into column c.
func (d *Decoder) fits(e enc, c *outCol) bool {
	return convertible(e.kind, c.kind)
}

// readAll reads an object, through gzip when it starts with 1f 8b.
func readAll(r io.Reader, key string) ([]byte, error) {
	hint := 0
	if l, ok := r.(interface{ Len() int }); ok {
		hint = l.Len() // bytes.Reader, strings.Reader, bytes.Buffer
	}
	src, gz, err := gunzip.Open(r)
	if err != nil {
		return nil, readErr(err, gz, key)
	}
	defer src.Close()
	if gz {
		hint *= 4
	}
	var buf bytes.Buffer
	buf.Grow(hint + bytes.MinRead)
	if _, err := buf.ReadFrom(src); err != nil {
		return nil, readErr(err, gz, key)
	}
	return buf.Bytes(), nil
}

// readErr turns an error reading a gzip stream into a MalformedError when
// it says the stream is bad, and wraps it otherwise (an I/O failure).
func readErr(err error, gz bool, key string) error {
	if gz && gunzip.Corrupt(err) {
		return &change.MalformedError{File: key, Reason: "gzip: " + err.Error()}
	}
	return fmt.Errorf("read %s: %w", key, err)
}

// trimBlankTail drops the blank lines (nothing but spaces, tabs and line
// breaks) at the end of a file: a file that ends in a blank line is valid,
// and those lines are no records.
func trimBlankTail(b []byte) []byte {
	i := len(b)
	for i > 0 && isSpace(b[i-1]) {
		i--
	}
	if i == 0 {
		return b[:0]
	}
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		return b[:i+j+1]
	}
	return b
}

// countLines counts records: lines ended by '\n', plus a last line without
// one.
func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

func splitLines(b []byte) [][]byte {
	lines := make([][]byte, 0, countLines(b))
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, b)
			break
		}
		lines = append(lines, b[:i])
		b = b[i+1:]
	}
	return lines
}

// Schema is the schema of every batch this decoder returns: the user
// columns, then _op, _seq and _keep.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Stats counts what the file held; complete after Next returned io.EOF.
func (d *Decoder) Stats() Stats { return d.stats }

// Skipped counts the file's events that are not row changes and give no
// row: schema changes, heartbeats, transaction markers, logical decoding
// messages and tombstones skipped (Options.Tombstones). Complete after Next
// returned io.EOF.
func (d *Decoder) Skipped() int64 {
	s := d.stats
	return s.SchemaChanges + s.Heartbeats + s.Transactions + s.Messages + s.TombstonesSkipped
}

// SourceTime is when the newest change of the file was committed in the
// source database (Stats.NewestSourceMs), or the zero time when no change
// carries source.ts_ms. Read it after Next returned io.EOF.
func (d *Decoder) SourceTime() time.Time {
	if d.stats.NewestSourceMs == 0 {
		return time.Time{}
	}
	return time.UnixMilli(d.stats.NewestSourceMs).UTC()
}

// Truncates returns the _seq of each truncate event of the file, in file
// order: the table must delete every stored row whose _seq is less. Valid
// after Next returned io.EOF.
func (d *Decoder) Truncates() [][]byte { return d.truns }

// Next returns the next batch of at most Options.BatchRows rows, or io.EOF
// after the last one. The caller owns the batch and must release it. After
// an error every later call returns the same error.
func (d *Decoder) Next() (arrow.RecordBatch, error) {
	if d.err != nil {
		return nil, d.err
	}
	if d.next >= len(d.rows) {
		d.err = io.EOF
		if d.scanErr != nil {
			d.err = d.scanErr
		}
		return nil, d.err
	}
	n := min(d.batch, len(d.rows)-d.next)
	d.rb.Reserve(n)
	for i := range n {
		if err := d.appendRow(&d.rows[d.next+i]); err != nil {
			d.err = err
			return nil, err
		}
	}
	d.next += n
	return d.rb.NewRecordBatch(), nil
}

// Close releases the decoder's builders and buffers. It does not close the
// readers given to NewDecoder.
func (d *Decoder) Close() error {
	if d.rb != nil {
		d.rb.Release()
		d.rb = nil
	}
	d.data, d.keys, d.rows, d.seqs, d.fields = nil, nil, nil, nil, nil
	if d.err == nil {
		d.err = errors.New("decoder closed")
	}
	return nil
}

func (d *Decoder) malformed(line int64, col, reason string) error {
	return &change.MalformedError{File: d.file.Name.Key, Line: line, Column: col, Reason: reason}
}

// quoteRaw quotes JSON text for an error message, cut to 64 bytes.
func quoteRaw(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%q...", b[:64])
	}
	return fmt.Sprintf("%q", b)
}
