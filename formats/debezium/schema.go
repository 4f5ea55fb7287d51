package debezium

import (
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/formats/internal/values"
)

var timestampType, _ = change.ParseType("timestamp")

// encKind says how a column's values are written in the JSON.
type encKind uint8

const (
	encInt          encKind = iota // integer number
	encFloat                       // number, or "NaN", "Infinity", "-Infinity"
	encBool                        // true/false
	encBoolLenient                 // true/false, or the numbers 0/1
	encString                      // string
	encJSON                        // any value: strings as their content, anything else as its JSON text
	encBytes                       // base64 string
	encDecimal                     // base64 of the unscaled two's-complement integer, or a number; enc.scale
	encDecimalText                 // decimal text in a string, or a number
	encVarDecimal                  // {"scale":n,"value":base64} (VariableScaleDecimal)
	encDays                        // integer days since the epoch
	encISODate                     // "yyyy-mm-dd[Z]"
	encDateAny                     // encDays or encISODate
	encMillis                      // integer milliseconds since the epoch
	encMicros                      // integer microseconds since the epoch
	encNanos                       // integer nanoseconds since the epoch
	encZoned                       // ISO-8601 timestamp string, zone optional (UTC when missing)
	encTimestampAny                // encMicros or encZoned
	encTimeMillis                  // integer milliseconds of the day
	encTimeMicros                  // integer microseconds of the day
	encTimeNanos                   // integer nanoseconds of the day
	encISOTime                     // "hh:mm:ss[.f][Z]"
	encWKB                         // geometry struct {"wkb":base64,"srid":n}: its WKB bytes
)

// enc is the encoding of one column in one kind of line.
type enc struct {
	kind  encKind
	scale int32 // encDecimal
}

// convertible reports whether values encoded as e can be stored in a
// column of kind k.
func convertible(e encKind, k values.Kind) bool {
	switch e {
	case encInt:
		return k == values.KindInt32 || k == values.KindInt64
	case encFloat:
		return k == values.KindFloat32 || k == values.KindFloat64
	case encBool, encBoolLenient:
		return k == values.KindBool
	case encString, encJSON:
		return k == values.KindString
	case encBytes:
		return k == values.KindBinary
	case encDecimal, encVarDecimal:
		return k == values.KindDecimal || k == values.KindString
	case encDecimalText:
		return k == values.KindDecimal
	case encDays, encISODate, encDateAny:
		return k == values.KindDate
	case encMillis, encMicros, encNanos, encZoned, encTimestampAny:
		return k == values.KindTimestamp
	case encTimeMillis, encTimeMicros, encTimeNanos, encISOTime:
		return k == values.KindInt64
	case encWKB:
		return k == values.KindBinary
	}
	return false
}

// defaultEnc is how a column of type t is read from lines without a schema
// wrapper when Options.Encodings says nothing.
func defaultEnc(t arrow.DataType) enc {
	k, _ := values.KindOf(t)
	switch k {
	case values.KindInt32, values.KindInt64:
		return enc{kind: encInt}
	case values.KindFloat32, values.KindFloat64:
		return enc{kind: encFloat}
	case values.KindBool:
		return enc{kind: encBoolLenient}
	case values.KindBinary:
		return enc{kind: encBytes}
	case values.KindDecimal:
		return enc{kind: encDecimal, scale: t.(*arrow.Decimal128Type).Scale}
	case values.KindDate:
		return enc{kind: encDateAny}
	case values.KindTimestamp:
		return enc{kind: encTimestampAny}
	}
	return enc{kind: encJSON}
}

// Connect schema names with a meaning for lakemerge: the logical types of
// Kafka Connect and the semantic types Debezium's relational connectors
// (MySQL, MariaDB, PostgreSQL, SQL Server, Oracle) emit. Names not listed
// here are read by their Connect type alone (io.debezium.data.Json, Uuid,
// Enum, EnumSet, Xml, Ltree, Bits, io.debezium.time.Year, MicroDuration,
// Interval, ...).
const (
	nameDecimal       = "org.apache.kafka.connect.data.Decimal"
	nameConnectDate   = "org.apache.kafka.connect.data.Date"
	nameConnectTime   = "org.apache.kafka.connect.data.Time"
	nameConnectTs     = "org.apache.kafka.connect.data.Timestamp"
	nameVarDecimal    = "io.debezium.data.VariableScaleDecimal"
	nameGeometry      = "io.debezium.data.geometry.Geometry"
	namePoint         = "io.debezium.data.geometry.Point"
	nameGeography     = "io.debezium.data.geometry.Geography"
	nameDate          = "io.debezium.time.Date"
	nameTime          = "io.debezium.time.Time"
	nameMicroTime     = "io.debezium.time.MicroTime"
	nameNanoTime      = "io.debezium.time.NanoTime"
	nameTimestamp     = "io.debezium.time.Timestamp"
	nameMicroTs       = "io.debezium.time.MicroTimestamp"
	nameNanoTs        = "io.debezium.time.NanoTimestamp"
	nameZonedTs       = "io.debezium.time.ZonedTimestamp"
	nameZonedTime     = "io.debezium.time.ZonedTime"
	nameIsoDate       = "io.debezium.time.IsoDate"
	nameIsoTime       = "io.debezium.time.IsoTime"
	nameIsoTimestamp  = "io.debezium.time.IsoTimestamp"
	paramScale        = "scale"
	paramPrecision    = "connect.decimal.precision"
	maxDecimalDigits  = 38
	defaultPrecision  = 38
	unavailableMarker = "__debezium_unavailable_value"
)

// connectTypes are the schema type names Kafka Connect's JsonConverter
// writes (JsonSchema.*_TYPE_NAME in apache/kafka).
const connectTypes = "int8, int16, int32, int64, float, double, boolean, string, bytes, array, map, struct"

// Wide decimal policies (Options.WideDecimals).
const (
	WideDecimalsError  = "error"
	WideDecimalsString = "string"
)

// unavailableBase64 is the marker as Debezium sends it in bytes columns.
const unavailableBase64 = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="

// wfield is one column of a schema wrapper: its Connect type, schema name
// and decimal parameters.
type wfield struct {
	name      string
	typ       string // Connect type, as JsonConverter writes it (connectTypes)
	sem       string // schema name, e.g. io.debezium.time.MicroTimestamp
	scale     int32
	precision int32 // 0: not given
	hasScale  bool
}

// natural decides the column type and the encoding of a wrapper field from
// the wrapper alone. A nil type with a nil error means the field is a
// decimal no decimal column can hold (wider than 38 digits, a negative
// scale, or a scale per value): wide says why.
func natural(f wfield) (t arrow.DataType, e enc, wide string, err error) {
	switch f.sem {
	case nameDecimal:
		if !f.hasScale {
			return nil, enc{}, "", fmt.Errorf("decimal without a scale parameter")
		}
		e := enc{kind: encDecimal, scale: f.scale}
		p := f.precision
		if p == 0 {
			p = defaultPrecision
		}
		if f.scale < 0 || max(p, f.scale) > maxDecimalDigits {
			return nil, e, fmt.Sprintf("decimal(%d,%d) does not fit the 38 digits of a decimal column", p, f.scale), nil
		}
		return &arrow.Decimal128Type{Precision: max(p, f.scale), Scale: f.scale}, e, "", nil
	case nameVarDecimal:
		return nil, enc{kind: encVarDecimal}, nameVarDecimal + " (a numeric without precision) has a scale per value", nil
	case nameDate, nameConnectDate:
		return arrow.FixedWidthTypes.Date32, enc{kind: encDays}, "", nil
	case nameIsoDate:
		return arrow.FixedWidthTypes.Date32, enc{kind: encISODate}, "", nil
	case nameTimestamp, nameConnectTs:
		return timestampType, enc{kind: encMillis}, "", nil
	case nameMicroTs:
		return timestampType, enc{kind: encMicros}, "", nil
	case nameNanoTs:
		return timestampType, enc{kind: encNanos}, "", nil
	case nameZonedTs, nameIsoTimestamp:
		return timestampType, enc{kind: encZoned}, "", nil
	case nameTime, nameConnectTime:
		return arrow.PrimitiveTypes.Int64, enc{kind: encTimeMillis}, "", nil
	case nameMicroTime:
		return arrow.PrimitiveTypes.Int64, enc{kind: encTimeMicros}, "", nil
	case nameNanoTime:
		return arrow.PrimitiveTypes.Int64, enc{kind: encTimeNanos}, "", nil
	case nameIsoTime:
		return arrow.PrimitiveTypes.Int64, enc{kind: encISOTime}, "", nil
	}
	switch f.typ {
	case "int8", "int16", "int32":
		return arrow.PrimitiveTypes.Int32, enc{kind: encInt}, "", nil
	case "int64":
		return arrow.PrimitiveTypes.Int64, enc{kind: encInt}, "", nil
	case "float":
		return arrow.PrimitiveTypes.Float32, enc{kind: encFloat}, "", nil
	case "double":
		return arrow.PrimitiveTypes.Float64, enc{kind: encFloat}, "", nil
	case "boolean":
		return arrow.FixedWidthTypes.Boolean, enc{kind: encBool}, "", nil
	case "string":
		return arrow.BinaryTypes.String, enc{kind: encString}, "", nil
	case "bytes":
		return arrow.BinaryTypes.Binary, enc{kind: encBytes}, "", nil
	case "struct", "array", "map":
		return arrow.BinaryTypes.String, enc{kind: encJSON}, "", nil
	}
	return nil, enc{}, "", fmt.Errorf("unknown Connect type %q (JsonConverter writes %s)", f.typ, connectTypes)
}

// mapField decides the column type and the encoding of a wrapper field.
// declared is the column's type in the job file's columns (nil when not
// listed): it wins whenever the wrapper's values can be stored in it (an
// int32 field into long, a decimal into string or into a decimal of
// another scale, rescaled exactly, a geometry into binary as its WKB; or
// the plain Connect value: a MicroTimestamp into long as its number, a
// ZonedTimestamp into string as its text); a declaration they cannot be
// stored in is an error. Without a declaration the wrapper decides, and
// wide decides a decimal no decimal column can hold: WideDecimalsString
// stores it as decimal text, anything else is an error naming the job-file
// keys that resolve it.
func mapField(f wfield, declared arrow.DataType, wide string) (arrow.DataType, enc, error) {
	t, e, why, err := natural(f)
	if err != nil {
		return nil, enc{}, err
	}
	if declared != nil {
		dk, _ := values.KindOf(declared)
		if isGeometry(f.sem) && dk == values.KindBinary {
			return declared, enc{kind: encWKB}, nil
		}
		if convertible(e.kind, dk) {
			return declared, e, nil
		}
		// The Connect type without its schema name: a MicroTimestamp
		// declared long keeps its number, a ZonedTimestamp declared string
		// its text.
		if _, pe, _, err := natural(wfield{typ: f.typ}); err == nil && convertible(pe.kind, dk) {
			return declared, pe, nil
		}
		what := f.typ
		if f.sem != "" {
			what = f.sem + " (" + f.typ + ")"
		}
		return nil, enc{}, fmt.Errorf("columns types it %s, but the events' schema sends %s, which cannot be stored as %s", change.TypeName(declared), what, change.TypeName(declared))
	}
	if t != nil {
		return t, e, nil
	}
	if wide == WideDecimalsString {
		return arrow.BinaryTypes.String, e, nil
	}
	return nil, enc{}, fmt.Errorf("%s: set debezium.wide_decimals: string to store such decimals as text, or list the column in columns as string or decimal(p,s) (a value that does not fit is then an error)", why)
}

func isGeometry(sem string) bool {
	return sem == nameGeometry || sem == namePoint || sem == nameGeography
}

// encodingByName resolves a debezium.encodings entry for a column of type
// t: a Connect schema name (io.debezium.time.Timestamp, ...) or a plain
// Connect type ("string" on a decimal, date or timestamp column means the
// value is text).
func encodingByName(name string, t arrow.DataType) (enc, error) {
	k, _ := values.KindOf(t)
	f := wfield{typ: name}
	switch name {
	case "string":
		switch k {
		case values.KindDecimal:
			return enc{kind: encDecimalText}, nil
		case values.KindDate:
			return enc{kind: encISODate}, nil
		case values.KindTimestamp:
			return enc{kind: encZoned}, nil
		case values.KindString:
			return enc{kind: encString}, nil
		}
	case "int8", "int16", "int32", "int64", "float", "double", "boolean", "bytes", "struct", "array", "map":
	case nameDecimal:
		f = wfield{typ: "bytes", sem: name, hasScale: true}
		if k == values.KindDecimal {
			d := t.(*arrow.Decimal128Type)
			f.scale, f.precision = d.Scale, d.Precision
		}
	case nameVarDecimal:
		f = wfield{typ: "struct", sem: name}
	case nameDate, nameConnectDate, nameTime, nameConnectTime:
		f = wfield{typ: "int32", sem: name}
	case nameMicroTime, nameNanoTime, nameTimestamp, nameConnectTs, nameMicroTs, nameNanoTs:
		f = wfield{typ: "int64", sem: name}
	case nameZonedTs, nameIsoDate, nameIsoTime, nameIsoTimestamp:
		f = wfield{typ: "string", sem: name}
	default:
		return enc{}, fmt.Errorf("encoding %q is not a Connect type (%s) or a supported schema name", name, connectTypes)
	}
	_, e, _, err := natural(f)
	if err != nil {
		return enc{}, fmt.Errorf("encoding %q: %w", name, err)
	}
	if !convertible(e.kind, k) {
		return enc{}, fmt.Errorf("encoding %q cannot be read into a %s column", name, change.TypeName(t))
	}
	return e, nil
}

// lineSchema is one distinct schema wrapper of a file: the columns it
// describes. encs is filled after the file's columns are known.
type lineSchema struct {
	fields []wfield
	types  []arrow.DataType
	encs   []enc
	cols   []int // output column of each field; -1 for metadata fields
	// byCol maps an output column to its index in fields, or -1; built
	// when the decoder first uses the schema.
	byCol []int32
}

// parseWrapperSchema reads the Connect schema of a wrapper. For values
// (envelope true) the row's columns are the fields of the "after" struct
// (or "before" when there is no "after"); for flattened values and keys
// they are the top-level fields.
func parseWrapperSchema(s jval, envelope bool) (*lineSchema, error) {
	if s.kind == jNull {
		return &lineSchema{}, nil
	}
	if s.kind != jObject {
		return nil, fmt.Errorf("schema is %s, not an object", s.kind)
	}
	var fields jval
	it := newObjIter(s)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		if isString(k, "fields") {
			fields = v
		}
	}
	if fields.kind == 0 || fields.kind == jNull {
		return &lineSchema{}, nil
	}
	if fields.kind != jArray {
		return nil, fmt.Errorf("schema fields is %s, not an array", fields.kind)
	}
	if envelope {
		var after, before jval
		ai := newArrIter(fields)
		for f, ok := ai.next(); ok; f, ok = ai.next() {
			if f.kind != jObject {
				return nil, fmt.Errorf("schema field is %s, not an object", f.kind)
			}
			var name, sub jval
			fi := newObjIter(f)
			for k, v, ok := fi.next(); ok; k, v, ok = fi.next() {
				switch {
				case isString(k, "field"):
					name = v
				case isString(k, "fields"):
					sub = v
				}
			}
			switch {
			case isString(name, "after"):
				after = sub
			case isString(name, "before"):
				before = sub
			}
		}
		fields = after
		if fields.kind == 0 || fields.kind == jNull {
			fields = before
		}
		if fields.kind == 0 || fields.kind == jNull {
			return &lineSchema{}, nil
		}
		if fields.kind != jArray {
			return nil, fmt.Errorf("schema of after is %s, not an array of fields", fields.kind)
		}
	}
	ls := &lineSchema{}
	seen := make(map[string]bool)
	ai := newArrIter(fields)
	for f, ok := ai.next(); ok; f, ok = ai.next() {
		wf, err := parseWrapperField(f)
		if err != nil {
			return nil, err
		}
		if seen[wf.name] {
			return nil, fmt.Errorf("schema names field %q twice", wf.name)
		}
		seen[wf.name] = true
		ls.fields = append(ls.fields, wf)
	}
	return ls, nil
}

func parseWrapperField(f jval) (wfield, error) {
	if f.kind != jObject {
		return wfield{}, fmt.Errorf("schema field is %s, not an object", f.kind)
	}
	var wf wfield
	var hasName bool
	fi := newObjIter(f)
	for k, v, ok := fi.next(); ok; k, v, ok = fi.next() {
		switch {
		case isString(k, "field"):
			if v.kind != jString {
				return wfield{}, fmt.Errorf("schema field name is %s, not a string", v.kind)
			}
			wf.name = string(appendString(nil, v))
			hasName = true
		case isString(k, "type"):
			if v.kind != jString {
				return wfield{}, fmt.Errorf("schema field type is %s, not a string", v.kind)
			}
			wf.typ = string(appendString(nil, v))
		case isString(k, "name"):
			if v.kind == jString {
				wf.sem = string(appendString(nil, v))
			}
		case isString(k, "parameters"):
			if v.kind != jObject {
				continue
			}
			pi := newObjIter(v)
			for pk, pv, ok := pi.next(); ok; pk, pv, ok = pi.next() {
				var target *int32
				switch {
				case isString(pk, paramScale):
					target = &wf.scale
					wf.hasScale = true
				case isString(pk, paramPrecision):
					target = &wf.precision
				default:
					continue
				}
				n, err := paramInt(pv)
				if err != nil {
					return wfield{}, fmt.Errorf("schema field %q parameter %s: %v", wf.name, pk.raw, err)
				}
				*target = n
			}
		}
	}
	if !hasName || wf.name == "" {
		return wfield{}, fmt.Errorf("schema field without a name")
	}
	if wf.precision < 0 {
		return wfield{}, fmt.Errorf("schema field %q: negative precision", wf.name)
	}
	return wf, nil
}

// paramInt reads a schema parameter: Connect writes them as strings.
func paramInt(v jval) (int32, error) {
	if v.kind != jString && v.kind != jNumber {
		return 0, fmt.Errorf("is %s, not a number", v.kind)
	}
	n, err := strconv.ParseInt(string(appendString(nil, v)), 10, 32)
	if err != nil || n < -1000 || n > 1000 {
		return 0, fmt.Errorf("%q is not a small integer", v.raw)
	}
	return int32(n), nil
}
