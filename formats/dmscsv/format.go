package dmscsv

import (
	"context"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/memory"

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
	// Keys are the table's primary-key columns. The decoder needs them only
	// with before-image columns, to find a U row that changes its key.
	Keys []string
	// BeforeImagePrefix and BeforeImageSuffix are the column-prefix and
	// column-suffix of a DMS add-before-image-columns rule; when either is
	// set, a column named prefix+c+suffix for a column c of the table holds
	// c's value before an update. Such columns are read, never output. A
	// U row whose before-image key differs from its key is a key change:
	// the decoder emits a delete of the old key ordered just before the row.
	// Both "" (the default) turn this off.
	BeforeImagePrefix, BeforeImageSuffix string
	// BeforeImageColumns are, for files without a header, the before-image
	// columns that follow Columns in every record, in file order (DMS
	// writes them last). With a header they are found by name.
	BeforeImageColumns []string
	// BatchRows is the number of rows per output batch; 0 means 8192.
	BatchRows int
}

// Format is DMS CSV as the files of one table use it: the decoder options,
// and the format's rules for whole files, which the engine asks before it
// reads any: which objects are change files (ParseName), their apply order
// (Compare), and which are full loads. A Format is a value; its methods
// may be called from several goroutines at once.
type Format struct {
	Options Options
}

// Order sorts the change files among keys into apply order (Compare).
// Every other key is unknown, with the reason its name does not parse.
// DMS writes no companion files, so companions is always empty; every key
// is in exactly one of the lists.
func (f Format) Order(keys []string) (ordered, companions []string, unknown []change.Unknown) {
	names := make([]Name, 0, len(keys))
	for _, k := range keys {
		n, err := ParseName(k)
		if err != nil {
			unknown = append(unknown, change.Unknown{Key: k, Reason: err})
			continue
		}
		names = append(names, n)
	}
	slices.SortFunc(names, Compare)
	for _, n := range names {
		ordered = append(ordered, n.Key)
	}
	return ordered, nil, unknown
}

// IsSnapshot reports whether key names a full-load file (KindLoad): a full
// load after changes starts a new load generation.
func (f Format) IsSnapshot(key string) bool {
	n, err := ParseName(key)
	return err == nil && n.Kind == KindLoad
}

// Open starts decoding the file at key, read from r, whose rows belong to
// load generation generation (the first part of their _seq). It does not
// close r.
func (f Format) Open(_ context.Context, r io.Reader, key string, generation uint32, mem memory.Allocator) (*Decoder, error) {
	n, err := ParseName(key)
	if err != nil {
		return nil, err
	}
	return NewDecoder(r, File{Name: n, Generation: generation}, f.Options, mem)
}
