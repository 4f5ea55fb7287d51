package debezium

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/formats/internal/values"
)

// schemaCols maps the output columns to the fields of a wrapper schema,
// once per schema.
func (d *Decoder) schemaCols(ls *lineSchema) ([]int32, error) {
	if ls.byCol != nil {
		return ls.byCol, nil
	}
	byCol := make([]int32, len(d.cols))
	for i := range byCol {
		byCol[i] = -1
	}
	for i, idx := range ls.cols {
		if idx < 0 {
			continue
		}
		if !d.fits(ls.encs[i], &d.cols[idx]) {
			return nil, &lineError{col: d.cols[idx].name, err: fmt.Errorf("schema wrapper type %s does not fit the column type %s", change.TypeName(ls.types[i]), change.TypeName(d.cols[idx].typ))}
		}
		byCol[idx] = int32(i)
	}
	ls.byCol = byCol
	return byCol, nil
}

// colOf returns the output column named name, or -1. pos is the member's
// position in its object: rows mostly name the same columns in the same
// order, so the column of the previous row at pos is tried before the map.
func (d *Decoder) colOf(name []byte, pos int) int {
	if pos < len(d.guess) {
		if g := d.guess[pos]; g >= 0 && d.cols[g].name == string(name) {
			return int(g)
		}
	} else {
		for len(d.guess) <= pos {
			d.guess = append(d.guess, -1)
		}
	}
	idx, ok := d.colIdx[string(name)]
	if !ok {
		d.guess[pos] = -1
		return -1
	}
	d.guess[pos] = int32(idx)
	return idx
}

// appendRow converts one row into the builders.
func (d *Decoder) appendRow(r *rowRec) error {
	bad := func(col, reason string) error { return d.rowErr(r, col, reason) }
	d.stamp++
	clear(d.keep)
	var byCol []int32
	if r.schema != nil {
		var err error
		if byCol, err = d.schemaCols(r.schema); err != nil {
			var le *lineError
			errors.As(err, &le)
			return bad(le.col, le.err.Error())
		}
	}
	keyOnly := r.flags&rowKeyOnly != 0
	if r.fields[1] >= 0 {
		img := r.image.raw
		for _, f := range d.fields[r.fields[0] : r.fields[0]+r.fields[1]] {
			v := jval{kind: f.kind, esc: f.esc, raw: img[f.v0:f.v1]}
			if err := d.appendField(r, int(f.col), v, byCol); err != nil {
				return err
			}
		}
	} else {
		it := newObjIter(r.image)
		pos := -1
		for k, v, ok := it.next(); ok; k, v, ok = it.next() {
			pos++
			name, idx, meta := d.fieldCol(r, k, pos)
			switch {
			case meta:
				continue
			case idx >= 0:
			case keyOnly:
				continue
			default:
				return bad(string(name), "field is not described by the line's schema wrapper")
			}
			if err := d.appendField(r, idx, v, byCol); err != nil {
				return err
			}
		}
	}
	partialOK := r.op != change.OpDelete && !keyOnly
	for i := range d.cols {
		if c := &d.cols[i]; c.seen != d.stamp {
			c.b.AppendNull()
			if partialOK {
				d.keep[i/8] |= 1 << (i % 8)
			}
		}
	}
	for _, i := range d.keyCols {
		c := &d.cols[i]
		if !c.b.IsNull(c.b.Len() - 1) {
			continue
		}
		switch {
		case c.seen != d.stamp:
			return bad(c.name, "key column missing")
		case d.keep[i/8]&(1<<(i%8)) != 0:
			return bad(c.name, "key column value unavailable")
		}
		return bad(c.name, "key column is null")
	}
	d.opB.Append(int8(r.op))
	d.seqB.Append(d.seqs[r.seq[0]:r.seq[1]])
	if anySet(d.keep) {
		d.keepB.Append(d.keep)
	} else {
		d.keepB.AppendNull()
	}
	if r.tsMs >= 0 {
		d.tsB.Append(arrow.Timestamp(r.tsMs * 1000))
	} else {
		d.tsB.AppendNull()
	}
	switch r.op {
	case change.OpInsert:
		d.stats.Inserts++
		if r.flags&rowSnapshot != 0 {
			d.stats.Snapshot++
		}
	case change.OpUpdate:
		d.stats.Updates++
	case change.OpDelete:
		d.stats.Deletes++
		if r.flags&rowTombstone != 0 {
			d.stats.TombstoneDeletes++
		}
	}
	return nil
}

// fieldCol names the field of r's image whose key is k, at position pos:
// its decoded name (valid until the next call), its output column (-1 for
// none yet), and whether it is metadata of a flattened row, not a column.
func (d *Decoder) fieldCol(r *rowRec, k jval, pos int) (name []byte, col int, meta bool) {
	name = k.raw
	if k.esc {
		d.nameBuf = appendString(d.nameBuf[:0], k)
		name = d.nameBuf
	}
	if r.flags&rowFlat != 0 && d.isMeta(name) {
		return name, -1, true
	}
	return name, d.colOf(name, pos), false
}

// rowErr reports a bad value of row r: in the values file, or in the keys
// file for a key-only row.
func (d *Decoder) rowErr(r *rowRec, col, reason string) error {
	file := d.file.Name.Key
	if r.flags&rowKeyOnly != 0 {
		file = d.keysKey
	}
	return &change.MalformedError{File: file, Line: r.line, Column: col, Reason: reason}
}

// appendField converts the value v of r's image into column idx.
func (d *Decoder) appendField(r *rowRec, idx int, v jval, byCol []int32) error {
	c := &d.cols[idx]
	bad := func(col, reason string) error { return d.rowErr(r, col, reason) }
	if r.flags&rowKeyOnly != 0 && !c.key {
		return nil
	}
	if c.seen == d.stamp {
		return bad(c.name, "field appears twice")
	}
	var e enc
	switch {
	case byCol != nil && byCol[idx] >= 0:
		e = r.schema.encs[byCol[idx]]
	case byCol != nil:
		return bad(c.name, "field is not described by the line's schema wrapper")
	case c.plainErr != nil:
		return bad(c.name, c.plainErr.Error())
	default:
		e = c.plain
	}
	c.seen = d.stamp
	keep, err := d.appendValue(c, e, v)
	if err != nil {
		return bad(c.name, err.Error())
	}
	if keep {
		d.keep[idx/8] |= 1 << (idx % 8)
	}
	return nil
}

func anySet(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return true
		}
	}
	return false
}

// unavailable reports whether v is Debezium's placeholder for a value the
// source did not log (PostgreSQL's unchanged TOAST): the string itself, its
// base64 in bytes columns, or a one-element array of it in array columns.
func unavailable(v jval, e enc) bool {
	switch v.kind {
	case jString:
		s := values.View(v.raw)
		return s == unavailableMarker || e.kind == encBytes && s == unavailableBase64
	case jArray:
		return e.kind == encJSON && string(v.raw) == `["`+unavailableMarker+`"]`
	}
	return false
}

func wantKind(v jval, want string) error {
	return fmt.Errorf("%s is %s, want %s", quoteRaw(v.raw), v.kind, want)
}

func valueErr(v jval, err error) error {
	return fmt.Errorf("%s: %w", quoteRaw(v.raw), err)
}

// text returns the decoded content of the string v, in scratch when it
// holds escapes.
func (d *Decoder) text(v jval) []byte {
	if !v.esc {
		return v.raw
	}
	d.scratch = appendString(d.scratch[:0], v)
	return d.scratch
}

// subMicro turns digits below a microsecond into an error unless the
// options drop them.
func (d *Decoder) subMicro(v jval, sub bool) error {
	if sub && !d.opts.TruncateSubMicros {
		return &subMicroError{text: quoteRaw(v.raw)}
	}
	return nil
}

// appendValue converts v, encoded as e, into column c. keep reports the
// placeholder of an unavailable value, stored as null.
func (d *Decoder) appendValue(c *outCol, e enc, v jval) (keep bool, err error) {
	if v.kind == jNull {
		c.b.AppendNull()
		return false, nil
	}
	if unavailable(v, e) {
		c.b.AppendNull()
		return true, nil
	}
	switch e.kind {
	case encInt:
		if v.kind != jNumber {
			return false, wantKind(v, "an integer")
		}
		bits := uint(64)
		if c.kind == values.KindInt32 {
			bits = 32
		}
		n, err := values.ParseInt(v.raw, bits)
		if err != nil {
			return false, valueErr(v, err)
		}
		if c.kind == values.KindInt32 {
			c.b.(*array.Int32Builder).Append(int32(n))
		} else {
			c.b.(*array.Int64Builder).Append(n)
		}
	case encFloat:
		bits := 64
		if c.kind == values.KindFloat32 {
			bits = 32
		}
		f, err := parseFloat(v, bits)
		if err != nil {
			return false, valueErr(v, err)
		}
		if c.kind == values.KindFloat32 {
			c.b.(*array.Float32Builder).Append(float32(f))
		} else {
			c.b.(*array.Float64Builder).Append(f)
		}
	case encBool, encBoolLenient:
		var b bool
		switch {
		case v.kind == jTrue:
			b = true
		case v.kind == jFalse:
		case e.kind == encBoolLenient && v.kind == jNumber && (string(v.raw) == "0" || string(v.raw) == "1"):
			b = v.raw[0] == '1'
		default:
			return false, wantKind(v, "a boolean")
		}
		c.b.(*array.BooleanBuilder).Append(b)
	case encString:
		if v.kind != jString {
			return false, wantKind(v, "a string")
		}
		c.b.(*array.StringBuilder).BinaryBuilder.Append(d.text(v))
	case encJSON:
		if v.kind == jString {
			c.b.(*array.StringBuilder).BinaryBuilder.Append(d.text(v))
		} else {
			c.b.(*array.StringBuilder).BinaryBuilder.Append(v.raw)
		}
	case encBytes:
		if v.kind != jString {
			return false, wantKind(v, "a base64 string")
		}
		b, err := d.base64(v)
		if err != nil {
			return false, err
		}
		c.b.(*array.BinaryBuilder).Append(b)
	case encDecimal, encDecimalText, encVarDecimal:
		return false, d.appendDecimal(c, e, v)
	case encWKB:
		if v.kind != jObject {
			return false, wantKind(v, `a geometry {"wkb":…,"srid":…}`)
		}
		var wkb jval
		it := newObjIter(v)
		for k, m, ok := it.next(); ok; k, m, ok = it.next() {
			if isString(k, "wkb") {
				wkb = m
			}
		}
		if wkb.kind != jString {
			return false, fmt.Errorf(`%s has no "wkb" string`, quoteRaw(v.raw))
		}
		b, err := d.base64(wkb)
		if err != nil {
			return false, err
		}
		c.b.(*array.BinaryBuilder).Append(b)
	case encDays, encISODate, encDateAny:
		var days int32
		switch {
		case v.kind == jNumber && e.kind != encISODate:
			n, err := values.ParseInt(v.raw, 32)
			if err != nil {
				return false, valueErr(v, err)
			}
			days = int32(n)
		case v.kind == jString && e.kind != encDays:
			var err error
			if days, err = parseISODate(d.text(v)); err != nil {
				return false, valueErr(v, err)
			}
		case e.kind == encDays:
			return false, wantKind(v, "an integer (days since 1970-01-01)")
		case e.kind == encISODate:
			return false, wantKind(v, "a date string")
		default:
			return false, wantKind(v, "an integer (days) or a date string")
		}
		c.b.(*array.Date32Builder).Append(arrow.Date32(days))
	case encMillis, encMicros, encNanos, encZoned, encTimestampAny:
		var micros int64
		switch {
		case v.kind == jNumber && e.kind != encZoned:
			m, sub, err := numberMicros(v, e.kind)
			if err != nil {
				return false, err
			}
			if err := d.subMicro(v, sub); err != nil {
				return false, err
			}
			micros = m
		case v.kind == jString && (e.kind == encZoned || e.kind == encTimestampAny):
			m, sub, err := values.ParseZonedTimestamp(d.text(v))
			if err != nil {
				return false, valueErr(v, err)
			}
			if err := d.subMicro(v, sub); err != nil {
				return false, err
			}
			micros = m
		case e.kind == encZoned:
			return false, wantKind(v, "an ISO-8601 timestamp string")
		case e.kind == encTimestampAny:
			return false, wantKind(v, "an integer (microseconds) or an ISO-8601 timestamp string")
		default:
			return false, wantKind(v, "an integer")
		}
		c.b.(*array.TimestampBuilder).Append(arrow.Timestamp(micros))
	case encTimeMillis, encTimeMicros, encTimeNanos, encISOTime:
		var micros int64
		var sub bool
		switch {
		case v.kind == jNumber && e.kind != encISOTime:
			var err error
			if micros, sub, err = numberMicros(v, e.kind); err != nil {
				return false, err
			}
		case v.kind == jString && e.kind == encISOTime:
			var err error
			if micros, sub, err = values.ParseTime(d.text(v)); err != nil {
				return false, valueErr(v, err)
			}
		case e.kind == encISOTime:
			return false, wantKind(v, "an ISO-8601 time string")
		default:
			return false, wantKind(v, "an integer")
		}
		if err := d.subMicro(v, sub); err != nil {
			return false, err
		}
		c.b.(*array.Int64Builder).Append(micros)
	default:
		return false, fmt.Errorf("internal: encoding %d", e.kind)
	}
	return false, nil
}

// numberMicros reads v, an integer in the unit of a timestamp or time
// encoding (milliseconds, microseconds or nanoseconds), as microseconds,
// and whether it has a part below a microsecond.
func numberMicros(v jval, k encKind) (int64, bool, error) {
	n, err := values.ParseInt(v.raw, 64)
	if err != nil {
		return 0, false, valueErr(v, err)
	}
	per := int64(1_000_000)
	switch k {
	case encMillis, encTimeMillis:
		per = 1000
	case encNanos, encTimeNanos:
		per = 1_000_000_000
	}
	m, sub, err := scaleToMicros(n, per)
	if err != nil {
		return 0, false, valueErr(v, err)
	}
	return m, sub, nil
}

func (d *Decoder) base64(v jval) ([]byte, error) {
	b, err := decodeBase64(d.scratch[:0], d.text(v))
	if err != nil {
		return nil, valueErr(v, err)
	}
	d.scratch = b
	return b, nil
}

// appendDecimal converts a decimal value into a decimal column, or into a
// string column as plain decimal text.
func (d *Decoder) appendDecimal(c *outCol, e enc, v jval) error {
	if c.kind == values.KindString {
		var s string
		switch {
		case v.kind == jNumber && e.kind == encDecimal:
			// decimal.format=NUMERIC: the exact number, at the schema's
			// scale like the base64 form.
			n, err := values.ParseBigDecimal(v.raw, e.scale)
			if err != nil {
				return valueErr(v, err)
			}
			s = bigDecimalText(n, e.scale)
		case v.kind == jString && e.kind == encDecimal:
			b, err := d.base64(v)
			if err != nil {
				return err
			}
			if len(b) == 0 {
				return valueErr(v, values.ErrDecimal)
			}
			s = bigDecimalText(bigTwosComplement(b), e.scale)
		case v.kind == jObject && e.kind == encVarDecimal:
			n, scale, err := d.varDecimal(v)
			if err != nil {
				return err
			}
			s = bigDecimalText(n, scale)
		default:
			return wantKind(v, "a decimal")
		}
		c.b.(*array.StringBuilder).Append(s)
		return nil
	}
	var n decimal128.Num
	var err error
	switch {
	case v.kind == jNumber && e.kind != encVarDecimal:
		n, err = values.ParseDecimalExp(v.raw, c.prec, c.scale)
	case v.kind == jString && e.kind == encDecimalText:
		n, err = values.ParseDecimalExp(d.text(v), c.prec, c.scale)
	case v.kind == jString && e.kind == encDecimal && e.scale == c.scale:
		b, err := d.base64(v)
		if err != nil {
			return err
		}
		if n, err = twosComplement(b); err != nil {
			return fmt.Errorf("%s: %w for decimal(%d,%d)", decimalValue(v, b, e.scale), err, c.prec, c.scale)
		}
		if !n.FitsInPrecision(c.prec) {
			return fmt.Errorf("%s: %w for decimal(%d,%d)", decimalValue(v, b, e.scale), values.ErrPrecision, c.prec, c.scale)
		}
	case v.kind == jString && e.kind == encDecimal:
		// The events' scale differs from the column's (a wide decimal
		// the job file types decimal(p,s)): rescale exactly.
		b, err := d.base64(v)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return valueErr(v, values.ErrDecimal)
		}
		bn := bigTwosComplement(b)
		if n, err = rescaleBig(bn, e.scale, c.scale, c.prec); err != nil {
			return fmt.Errorf("%s: %w for decimal(%d,%d)", decimalValue(v, b, e.scale), err, c.prec, c.scale)
		}
	case v.kind == jObject && e.kind == encVarDecimal:
		bn, scale, err := d.varDecimal(v)
		if err != nil {
			return err
		}
		if n, err = rescaleBig(bn, scale, c.scale, c.prec); err != nil {
			return fmt.Errorf("%s (%s): %w for decimal(%d,%d)", quoteRaw(v.raw), bigDecimalText(bn, scale), err, c.prec, c.scale)
		}
	case e.kind == encDecimal:
		return wantKind(v, "a base64 string or a number")
	case e.kind == encDecimalText:
		return wantKind(v, "a decimal string or a number")
	default:
		return wantKind(v, `an object {"scale":…,"value":…}`)
	}
	if err != nil {
		return valueErr(v, fmt.Errorf("%w for decimal(%d,%d)", err, c.prec, c.scale))
	}
	if !n.FitsInPrecision(c.prec) {
		return valueErr(v, fmt.Errorf("%w for decimal(%d,%d)", values.ErrPrecision, c.prec, c.scale))
	}
	c.b.(*array.Decimal128Builder).Append(n)
	return nil
}

// decimalValue names a base64 decimal in an error by its text and its
// value.
func decimalValue(v jval, b []byte, scale int32) string {
	if len(b) == 0 {
		return quoteRaw(v.raw)
	}
	return fmt.Sprintf("%s (%s)", quoteRaw(v.raw), bigDecimalText(bigTwosComplement(b), scale))
}

// varDecimal reads a VariableScaleDecimal {"scale":n,"value":base64}.
func (d *Decoder) varDecimal(v jval) (*big.Int, int32, error) {
	var scale, value jval
	it := newObjIter(v)
	for k, m, ok := it.next(); ok; k, m, ok = it.next() {
		switch {
		case isString(k, "scale"):
			scale = m
		case isString(k, "value"):
			value = m
		}
	}
	bad := fmt.Errorf(`%s is not {"scale":<int>,"value":<base64>}`, quoteRaw(v.raw))
	if scale.kind != jNumber || value.kind != jString {
		return nil, 0, bad
	}
	s, err := values.ParseInt(scale.raw, 32)
	if err != nil || s < -1000 || s > 1000 {
		return nil, 0, bad
	}
	b, err := d.base64(value)
	if err != nil {
		return nil, 0, err
	}
	if len(b) == 0 {
		return nil, 0, bad
	}
	return bigTwosComplement(b), int32(s), nil
}
