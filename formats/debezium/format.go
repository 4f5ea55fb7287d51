package debezium

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// Options describe the connector settings and the table a topic holds.
type Options struct {
	// Columns are the table's columns. Lines without a schema wrapper are
	// read by these types; with a wrapper, the wrapper's types win for the
	// columns it describes (see the package doc for the exceptions). The
	// output has these columns first, in this order.
	Columns []change.Column
	// Keys are the primary-key columns: they must be non-null in every row,
	// and deletes made from keys alone carry only them.
	Keys []string
	// Tombstones is what a null value (a Kafka tombstone) does: "skip" (the
	// default, "" too) counts it; "delete" deletes the key read from the
	// same line of File.Keys, which is then required.
	Tombstones string
	// Flattened says every line is a row flattened by ExtractNewRecordState.
	// Without it each line is classified on its own (see the package doc).
	Flattened bool
	// SinglePartition says the topic has one partition: rows are ordered by
	// offset alone and need no source position. Without it every change
	// must carry a source position of a supported connector.
	SinglePartition bool
	// Encodings says how a column is written in lines without a schema
	// wrapper when it is not the default for its type: a Connect schema
	// name such as "io.debezium.time.Timestamp" (milliseconds, MySQL
	// DATETIME(0-3)) or a Connect type ("string" on a decimal column:
	// decimal.handling.mode=string). Keys are names in Columns.
	Encodings map[string]string
	// TruncateSubMicros drops digits below a microsecond from timestamps
	// and times (NanoTimestamp, 7-9 fraction digits) instead of failing.
	TruncateSubMicros bool
	// WideDecimals is what a schema wrapper's decimal becomes when no
	// decimal column can hold it (a precision above 38, a negative scale,
	// or VariableScaleDecimal's scale per value) and Columns does not type
	// the column: WideDecimalsString stores it as plain decimal text in a
	// string column; WideDecimalsError (the default, "" too) stops with an
	// error that names the column.
	WideDecimals string
	// BatchRows is the number of rows per output batch; 0 means 65536.
	BatchRows int
}

// Opener reads an object next to the file being decoded: the keys file the
// S3 sink wrote beside a values file (Name.Sibling). It is what Format needs
// of the raw zone, and must be safe for concurrent use.
type Opener interface {
	// Open returns the object's content; the caller closes it.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// IsNotExist reports whether an error of Open means there is no such
	// object (the sink was not told to write keys files).
	IsNotExist(err error) bool
}

// Format is the S3 sink's Debezium JSON as the files of one table use it:
// the decoder options, where keys files come from, and the format's rules
// for whole files, which the engine asks before it reads any: which
// objects are change files (ParseName, KindValues), their apply order
// (Compare), and which are companions. A Format is a value; its methods may
// be called from several goroutines at once.
type Format struct {
	Options Options
	// Keys opens the keys file beside a values file when the options need
	// it (Options.Tombstones "delete", or Options.Keys); nil reads none.
	Keys Opener
}

// Order sorts the values files among keys into apply order (Compare). Keys
// and headers files are companions: they belong to a values file and are
// absorbed with it, never decoded on their own. Every other key is
// unknown, with the reason its name does not parse; every key is in
// exactly one of the lists.
func (f Format) Order(keys []string) (ordered, companions []string, unknown []change.Unknown) {
	var names []Name
	for _, k := range keys {
		n, err := ParseName(k)
		switch {
		case err != nil:
			unknown = append(unknown, change.Unknown{Key: k, Reason: err})
		case n.Kind != KindValues:
			companions = append(companions, k)
		default:
			names = append(names, n)
		}
	}
	slices.SortFunc(names, Compare)
	for _, n := range names {
		ordered = append(ordered, n.Key)
	}
	return ordered, companions, unknown
}

// IsSnapshot is false: snapshot rows (op r) order by their source position
// like any change, so no file starts a load generation.
func (f Format) IsSnapshot(string) bool { return false }

// Open starts decoding the values file at key, read from r, whose rows
// belong to load generation generation (the first part of their _seq),
// with the keys file beside it when the options need one and it exists.
// NewDecoder reads both whole, so the keys file is closed before Open
// returns; r is not closed.
func (f Format) Open(ctx context.Context, r io.Reader, key string, generation uint32, mem memory.Allocator) (*Decoder, error) {
	n, err := ParseName(key)
	if err != nil {
		return nil, err
	}
	file := File{Name: n, Generation: generation}
	if f.Keys != nil && needKeys(f.Options) {
		kr, err := f.Keys.Open(ctx, n.Sibling(KindKeys))
		switch {
		case err == nil:
			defer kr.Close()
			file.Keys = kr
		case !f.Keys.IsNotExist(err):
			return nil, fmt.Errorf("open keys file of %s: %w", key, err)
		}
	}
	return NewDecoder(r, file, f.Options, mem)
}
