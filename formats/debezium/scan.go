package debezium

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
)

// The scan reads every line once: it classifies the line, finds the row
// image, builds the row's _seq, learns the file's columns and records
// where each field's value lies (field). Values are converted later, by
// Next, from those records, without reading the line's text again. A line
// whose schema wrapper repeats the last one byte for byte has only its
// payload parsed (sameSchemaPayload).

// lineError is a scan error about one column.
type lineError struct {
	col string
	err error
}

func (e *lineError) Error() string { return e.err.Error() }

// scan reads all lines. It stops at the first bad line, keeping the rows of
// the lines before it.
func (d *Decoder) scan(nlines int) {
	d.nlines = nlines
	d.rows = make([]rowRec, 0, nlines)
	d.seqs = make([]byte, 0, nlines*48)
	b := d.data
	for i := 0; len(b) > 0; i++ {
		line := b
		if j := bytes.IndexByte(b, '\n'); j >= 0 {
			line, b = b[:j], b[j+1:]
		} else {
			b = nil
		}
		d.stats.Lines++
		lineNo := int64(i + 1)
		if d.file.Name.StartOffset > math.MaxInt64-int64(i) {
			d.fail(lineNo, &lineError{err: errors.New("offset overflows int64")})
			return
		}
		if err := d.scanLine(line, lineNo, i); err != nil {
			d.fail(lineNo, err)
			return
		}
	}
	if len(d.pending) > 0 {
		r := &d.rows[d.pending[0]]
		d.scanErr = d.malformed(r.line, "", "tombstone has no change with a source position in its file to be ordered by (set debezium.single_partition: true if the topic has one partition)")
		d.rows = d.rows[:d.pending[0]]
	}
}

func (d *Decoder) fail(lineNo int64, err error) {
	var le *lineError
	var me *change.MalformedError
	switch {
	case errors.As(err, &me):
		d.scanErr = me
	case errors.As(err, &le):
		d.scanErr = d.malformed(lineNo, le.col, le.err.Error())
	default:
		d.scanErr = d.malformed(lineNo, "", err.Error())
	}
	if len(d.pending) > 0 {
		d.rows = d.rows[:d.pending[0]]
		d.pending = nil
	}
}

// envelope holds the top-level members of a value that matter for its
// classification.
type envelope struct {
	op, before, after, source jval
	status                    jval   // transaction metadata: BEGIN or END
	members                   uint16 // the well-known member names present (bit per name)
	other                     bool   // some other member is present
	flatOp, deleted           jval
	flatMarker                bool // __op or __deleted present
	src                       srcFields
}

// Well-known top-level member names, as bits of envelope.members.
const (
	mOp uint16 = 1 << iota
	mBefore
	mAfter
	mSource
	mTsMs
	mDDL
	mTableChanges
	mDatabaseName
	mSchemaName
	mStatus
	mID
	mEventCount
	mDataCollections

	// The members of each kind of event that is not a change.
	schemaChangeMembers = mSource | mTsMs | mDDL | mTableChanges | mDatabaseName | mSchemaName
	transactionMembers  = mStatus | mID | mEventCount | mDataCollections | mTsMs
	heartbeatMembers    = mTsMs
)

// has reports whether v was present in the JSON.
func has(v jval) bool { return v.kind != 0 }

// absent reports whether v is missing or null.
func absent(v jval) bool { return v.kind == 0 || v.kind == jNull }

func (d *Decoder) classify(p jval, e *envelope) error {
	*e = envelope{}
	for _, m := range d.vp.members(p) {
		name := p.raw[m.k0:m.k1]
		if m.kesc {
			d.nameBuf = appendString(d.nameBuf[:0], m.key(p.raw))
			name = d.nameBuf
		}
		if len(name) > 2 && name[0] == '_' && name[1] == '_' {
			v := m.value(p.raw)
			e.other = true
			meta := name[2:]
			switch string(meta) {
			case "op":
				e.flatOp, e.flatMarker = v, true
			case "deleted":
				e.deleted, e.flatMarker = v, true
			default:
				if m, ok := bytes.CutPrefix(meta, []byte("source_")); ok {
					meta = m
				} else if string(meta) == "ts_ms" {
					// __ts_ms is when Debezium handled the event;
					// __source_ts_ms is the source's commit time.
					continue
				}
				if err := e.src.set(meta, v); err != nil {
					return err
				}
			}
			continue
		}
		var slot *jval
		var bit uint16
		switch string(name) {
		case "op":
			slot, bit = &e.op, mOp
		case "before":
			slot, bit = &e.before, mBefore
		case "after":
			slot, bit = &e.after, mAfter
		case "source":
			slot, bit = &e.source, mSource
		case "status":
			slot, bit = &e.status, mStatus
		case "ts_ms":
			bit = mTsMs
		case "ddl":
			bit = mDDL
		case "tableChanges":
			bit = mTableChanges
		case "databaseName":
			bit = mDatabaseName
		case "schemaName":
			bit = mSchemaName
		case "id":
			bit = mID
		case "event_count":
			bit = mEventCount
		case "data_collections":
			bit = mDataCollections
		default:
			e.other = true
		}
		if slot != nil && has(*slot) {
			return fmt.Errorf("member %q appears twice", name)
		}
		if slot != nil {
			*slot = m.value(p.raw)
		}
		e.members |= bit
	}
	return nil
}

// only reports whether the value has no members but some of set.
func (e *envelope) only(set uint16) bool { return !e.other && e.members&^set == 0 }

// splitWrapper returns the payload and schema of {"schema":…,"payload":…},
// or v itself and ok false for any other object.
func splitWrapper(p *jsonParser, v jval) (payload, schema jval, ok bool) {
	n := 0
	for _, e := range p.members(v) {
		k, m := e.key(v.raw), e.value(v.raw)
		n++
		switch {
		case n > 2:
			return v, jval{}, false
		case isString(k, "schema") && !has(schema):
			schema = m
		case isString(k, "payload") && !has(payload):
			payload = m
		default:
			return v, jval{}, false
		}
	}
	if n != 2 || (schema.kind != jObject && schema.kind != jNull) {
		return v, jval{}, false
	}
	return payload, schema, true
}

// wrapperSchemaPrefix and wrapperPayloadSep frame the schema of a line as
// JsonConverter writes it: {"schema":<schema>,"payload":<payload>}.
const (
	wrapperSchemaPrefix = `{"schema":`
	wrapperPayloadSep   = `,"payload":`
)

// sameSchemaPayload parses the payload of a line whose schema wrapper is
// byte for byte the last validated schema (JsonConverter repeats it on
// every line), without validating the schema again: a valid JSON object is
// self-delimiting, so the line holds the same valid schema. ok is false
// when the line is not of that shape or its payload does not parse; the
// caller then parses the whole line, which finds any error where a full
// parse finds it.
func (d *Decoder) sameSchemaPayload(line []byte) (payload, schema jval, ok bool) {
	last := d.lastSchema
	if len(last) == 0 || !bytes.HasPrefix(line, []byte(wrapperSchemaPrefix)) {
		return jval{}, jval{}, false
	}
	i := len(wrapperSchemaPrefix)
	if !bytes.HasPrefix(line[i:], last) || !bytes.HasPrefix(line[i+len(last):], []byte(wrapperPayloadSep)) {
		return jval{}, jval{}, false
	}
	schema = jval{kind: jObject, raw: line[i : i+len(last)]}
	payload, end, err := d.vp.parseMember(line, i+len(last)+len(wrapperPayloadSep))
	if err != nil {
		return jval{}, jval{}, false
	}
	if end = skipSpace(line, end); end >= len(line) || line[end] != '}' || skipSpace(line, end+1) != len(line) {
		return jval{}, jval{}, false
	}
	return payload, schema, true
}

func (d *Decoder) scanLine(line []byte, lineNo int64, index int) error {
	payload, schema, same := d.sameSchemaPayload(line)
	if !same {
		v, err := d.vp.parse(line)
		if err != nil {
			return err
		}
		payload = v
		if v.kind == jObject {
			var wrapped bool
			if payload, schema, wrapped = splitWrapper(&d.vp, v); wrapped && schema.kind == jObject {
				d.lastSchema = schema.raw
			}
		}
	}
	switch payload.kind {
	case jNull:
		return d.tombstone(lineNo, index)
	case jObject:
	default:
		return fmt.Errorf("line is %s, not a JSON object or null", payload.kind)
	}
	e := &d.env
	if err := d.classify(payload, e); err != nil {
		return err
	}
	if d.opts.Flattened {
		return d.flatRow(e, payload, schema, lineNo, index)
	}
	switch {
	case has(e.op):
		return d.envelopeRow(e, schema, lineNo, index)
	case e.flatMarker:
		return d.flatRow(e, payload, schema, lineNo, index)
	case e.only(schemaChangeMembers) && e.members&(mDDL|mTableChanges) != 0:
		d.stats.SchemaChanges++
		return nil
	case e.only(transactionMembers) && e.members&mID != 0 && (isString(e.status, "BEGIN") || isString(e.status, "END")):
		d.stats.Transactions++
		return nil
	case e.members == heartbeatMembers && !e.other:
		d.stats.Heartbeats++
		return nil
	case e.members&(mBefore|mAfter|mSource) != 0:
		return errors.New("change event has no op")
	}
	return errors.New("not a Debezium change event, schema change, transaction event or heartbeat; and no __op or __deleted of a flattened row (set debezium.flattened: true for rows flattened without them)")
}

// opOf reads a one-letter Debezium op.
func opOf(v jval, field string) (byte, error) {
	if v.kind != jString || len(v.raw) != 1 || bytes.IndexByte([]byte("cudrtm"), v.raw[0]) < 0 {
		return 0, fmt.Errorf("unknown %s %s (want c, u, d, r, t or m)", field, quoteRaw(v.raw))
	}
	return v.raw[0], nil
}

func (d *Decoder) envelopeRow(e *envelope, schema jval, lineNo int64, index int) error {
	op, err := opOf(e.op, "op")
	if err != nil {
		return err
	}
	if op == 'm' {
		d.stats.Messages++
		return nil
	}
	if !absent(e.source) {
		if e.source.kind != jObject {
			return fmt.Errorf("source is %s, not an object", e.source.kind)
		}
		src := e.source.raw
		for _, m := range d.vp.members(e.source) {
			name := src[m.k0:m.k1]
			if m.kesc {
				d.nameBuf = appendString(d.nameBuf[:0], m.key(src))
				name = d.nameBuf
			}
			// The value is made only for the fields a position uses.
			if slot := e.src.slot(name); slot != nil {
				if err := e.src.set(name, m.value(src)); err != nil {
					return err
				}
			}
		}
	}
	r := rowRec{line: lineNo}
	switch op {
	case 't':
		return d.truncate(&e.src, index)
	case 'c', 'r', 'u':
		if e.after.kind != jObject {
			return fmt.Errorf("op %c has after %s, not an object", op, e.after.kind)
		}
		r.image, r.op = e.after, change.OpInsert
		if op == 'u' {
			r.op = change.OpUpdate
		}
		if op == 'r' {
			r.flags |= rowSnapshot
		}
	case 'd':
		r.op = change.OpDelete
		switch {
		case e.before.kind == jObject:
			r.image = e.before
		case absent(e.before):
			if err := d.keyImage(&r, index, "delete without a before image"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("before is %s, not an object", e.before.kind)
		}
	}
	if r.flags&rowKeyOnly == 0 && has(schema) {
		ls, err := d.lineSchema(d.valueSchemas, schema, true, false)
		if err != nil {
			return err
		}
		r.schema = ls
	}
	return d.addRow(r, &e.src, index)
}

func (d *Decoder) flatRow(e *envelope, payload, schema jval, lineNo int64, index int) error {
	var op byte
	if has(e.flatOp) && e.flatOp.kind != jNull {
		var err error
		if op, err = opOf(e.flatOp, "__op"); err != nil {
			return err
		}
	}
	deleted := false
	switch {
	case absent(e.deleted):
	case isString(e.deleted, "true") || e.deleted.kind == jTrue:
		deleted = true
	case isString(e.deleted, "false") || e.deleted.kind == jFalse:
		if op == 'd' {
			return errors.New(`__op is "d" but __deleted is "false"`)
		}
	default:
		return fmt.Errorf(`__deleted is %s, not "true" or "false"`, quoteRaw(e.deleted.raw))
	}
	if deleted && op != 0 && op != 'd' {
		return fmt.Errorf(`__deleted is "true" but __op is %q`, op)
	}
	r := rowRec{line: lineNo, image: payload, flags: rowFlat}
	switch {
	case op == 'm':
		d.stats.Messages++
		return nil
	case op == 't':
		return d.truncate(&e.src, index)
	case deleted || op == 'd':
		r.op = change.OpDelete
	case op == 'c':
		r.op = change.OpInsert
	case op == 'r':
		r.op = change.OpInsert
		r.flags |= rowSnapshot
	default: // u, or no __op: an upsert
		r.op = change.OpUpdate
	}
	if has(schema) {
		ls, err := d.lineSchema(d.flatSchemas, schema, false, true)
		if err != nil {
			return err
		}
		r.schema = ls
	}
	return d.addRow(r, &e.src, index)
}

// keyImage makes r a key-only row from line index of the keys file.
func (d *Decoder) keyImage(r *rowRec, index int, what string) error {
	if d.keys == nil {
		return fmt.Errorf("%s needs the key from the keys file %s (the sink's store.kafka.keys=true) and primary_key", what, d.keysKey)
	}
	kline := int64(index + 1)
	keyErr := func(reason string) error {
		return &change.MalformedError{File: d.keysKey, Line: kline, Reason: reason}
	}
	v, err := d.kp.parse(d.keys[index])
	if err != nil {
		return keyErr(err.Error())
	}
	payload, schema := v, jval{}
	if v.kind == jObject {
		payload, schema, _ = splitWrapper(&d.kp, v)
	}
	if payload.kind != jObject {
		return keyErr(fmt.Sprintf("key of %s is %s, not an object", what, payload.kind))
	}
	r.image = payload
	r.flags |= rowKeyOnly
	if has(schema) {
		ls, err := d.lineSchema(d.keySchemas, schema, false, false)
		if err != nil {
			var le *lineError
			if errors.As(err, &le) {
				return &change.MalformedError{File: d.keysKey, Line: kline, Column: le.col, Reason: le.err.Error()}
			}
			return keyErr(err.Error())
		}
		r.schema = ls
	}
	return nil
}

func (d *Decoder) tombstone(lineNo int64, index int) error {
	if d.opts.Tombstones != "delete" {
		d.stats.TombstonesSkipped++
		return nil
	}
	r := rowRec{line: lineNo, op: change.OpDelete, flags: rowTombstone, tsMs: -1}
	if err := d.keyImage(&r, index, "tombstone"); err != nil {
		return err
	}
	if err := d.learnColumns(&r); err != nil {
		return err
	}
	r.seq = [2]int{-1, -1}
	switch {
	case d.opts.SinglePartition:
		d.setSeq(&r, 1, nil, index)
	case d.lastPos != nil:
		d.setSeq(&r, 1, d.lastPos, index)
	default:
		d.pending = append(d.pending, len(d.rows))
	}
	d.rows = append(d.rows, r)
	return nil
}

func (d *Decoder) truncate(s *srcFields, index int) error {
	pos, err := d.position(s, false)
	if err != nil {
		return err
	}
	var r rowRec
	d.setSeq(&r, 1, pos, index)
	d.truns = append(d.truns, bytes.Clone(d.seqs[r.seq[0]:r.seq[1]]))
	d.stats.Truncates++
	d.resolvePending(pos)
	d.noteSourceTime(s)
	return nil
}

// addRow records a change row: learns its columns and builds its _seq.
func (d *Decoder) addRow(r rowRec, s *srcFields, index int) error {
	if err := d.learnColumns(&r); err != nil {
		return err
	}
	pos, err := d.position(s, r.flags&rowSnapshot != 0)
	if err != nil {
		return err
	}
	// Snapshot rows order by their position like any change: a snapshot
	// reads the table at one consistent point, so a re-snapshot (after
	// lost offsets) is newer than the streaming changes before it. Only a
	// snapshot row without a position (an incremental snapshot) orders
	// before the streaming changes of its generation.
	phase := byte(1)
	if r.flags&rowSnapshot != 0 && len(pos) > 0 && pos[0] == tagNone {
		phase = 0
	}
	d.setSeq(&r, phase, pos, index)
	r.tsMs = d.noteSourceTime(s)
	d.rows = append(d.rows, r)
	d.resolvePending(pos)
	return nil
}

// noteSourceTime keeps the greatest source.ts_ms (or __source_ts_ms) of the
// file's changes for SourceTime and returns the event's, -1 for none. A
// value that is not a non-negative integer (or is 0, or past year 294246,
// out of the µs range of _ts) is not a time and is passed over: ts_ms
// never orders changes.
func (d *Decoder) noteSourceTime(s *srcFields) int64 {
	if absent(s.tsMs) {
		return -1
	}
	ms, err := uintField(s.tsMs, "ts_ms")
	if err != nil || ms > math.MaxInt64 {
		return -1
	}
	d.stats.NewestSourceMs = max(d.stats.NewestSourceMs, int64(ms))
	if ms == 0 || ms > math.MaxInt64/1000 {
		// 0 is what some connectors write for snapshot reads: no time.
		return -1
	}
	return int64(ms)
}

// resolvePending orders tombstones that came before any positioned change
// by the first position after them.
func (d *Decoder) resolvePending(pos []byte) {
	if d.opts.SinglePartition || pos == nil || pos[0] == tagNone {
		return
	}
	for _, i := range d.pending {
		r := &d.rows[i]
		d.setSeq(r, 1, pos, int(r.line-1))
	}
	d.pending = d.pending[:0]
}

// setSeq appends the _seq of a row to the arena:
// Uint32(generation) Byte(phase) position Uint64(partition) Uint64(offset).
func (d *Decoder) setSeq(r *rowRec, phase byte, pos []byte, index int) {
	sb := &d.seqBuf
	sb.Reset()
	start := len(d.seqs)
	sb.Uint32(d.file.Generation).Byte(phase)
	d.seqs = append(d.seqs, sb.Bytes()...)
	d.seqs = append(d.seqs, pos...)
	sb.Reset()
	sb.Uint64(uint64(d.file.Name.Partition)).Uint64(uint64(d.file.Name.StartOffset) + uint64(index))
	d.seqs = append(d.seqs, sb.Bytes()...)
	r.seq = [2]int{start, len(d.seqs)}
	if pos != nil && pos[0] != tagNone {
		d.lastPos = append(d.lastPos[:0], pos...)
	}
}

// isMeta reports whether a top-level field of a flattened row is metadata
// added by the SMT rather than a column: "__" prefixed and not declared.
func (d *Decoder) isMeta(name []byte) bool {
	if len(name) < 2 || name[0] != '_' || name[1] != '_' {
		return false
	}
	_, declared := d.declIdx[string(name)]
	return !declared
}

// learnColumns adds the columns of r's image that the file has not named
// yet, typed string (the schema wrapper, if any, was registered already),
// and records the image's fields for Next (see field).
func (d *Decoder) learnColumns(r *rowRec) error {
	p := &d.vp
	if r.flags&rowKeyOnly != 0 {
		p = &d.kp
	}
	if len(d.fields) == cap(d.fields) {
		// Size the arena for the rest of the file at the fields a row
		// had so far, rather than by append's growth (1.25x for large
		// slices, which would allocate it five times over).
		perRow := len(d.fields)/(len(d.rows)+1) + 1
		d.fields = slices.Grow(d.fields, perRow*(d.nlines-len(d.rows))+64)
	}
	r.fields = [2]int32{int32(len(d.fields)), -1}
	record := len(d.fields)+len(r.image.raw) < math.MaxInt32 // a field takes 4 bytes of text at least
	img := r.image.raw
	flat := r.flags&rowFlat != 0
	for pos, e := range p.members(r.image) {
		// The column the previous row had at this position, as colOf
		// tries it first, without the calls.
		col := -1
		if pos < len(d.guess) && !e.kesc && !flat {
			if g := d.guess[pos]; g >= 0 && d.cols[g].name == string(img[e.k0:e.k1]) {
				col = int(g)
			}
		}
		if col < 0 {
			name, c, meta := d.fieldCol(r, e.key(img), pos)
			switch {
			case meta:
				continue
			case c >= 0:
			case r.schema != nil:
				// The payload must match the wrapper; Next checks it,
				// by name, as it walks the image.
				record = false
				continue
			case change.IsSystemColumn(string(name)):
				d.fields = d.fields[:r.fields[0]]
				return &lineError{col: string(name), err: errors.New("a field has the name of a system column")}
			default:
				c = d.addColumn(string(name), arrow.BinaryTypes.String, false)
			}
			col = c
		}
		if record {
			d.fields = append(d.fields, field{col: int32(col), v0: uint32(e.v0), v1: uint32(e.v1), kind: e.kind, esc: e.vesc})
		}
	}
	if !record {
		d.fields = d.fields[:r.fields[0]]
		return nil
	}
	r.fields[1] = int32(len(d.fields)) - r.fields[0]
	return nil
}

// lineSchema returns the parsed schema wrapper s, registering its columns
// the first time it is seen.
func (d *Decoder) lineSchema(cache map[string]*lineSchema, s jval, envelope, flat bool) (*lineSchema, error) {
	if ls, ok := cache[string(s.raw)]; ok {
		return ls, nil
	}
	ls, err := parseWrapperSchema(s, envelope)
	if err != nil {
		return nil, fmt.Errorf("schema wrapper: %w", err)
	}
	ls.types = make([]arrow.DataType, len(ls.fields))
	ls.encs = make([]enc, len(ls.fields))
	ls.cols = make([]int, len(ls.fields))
	for i, f := range ls.fields {
		if flat && d.isMeta([]byte(f.name)) {
			ls.cols[i] = -1
			continue
		}
		if change.IsSystemColumn(f.name) {
			return nil, &lineError{col: f.name, err: errors.New("a field has the name of a system column")}
		}
		var declared arrow.DataType
		if j, ok := d.declIdx[f.name]; ok {
			declared = d.opts.Columns[j].Type
		}
		t, e, err := mapField(f, declared, d.opts.WideDecimals)
		if err != nil {
			return nil, &lineError{col: f.name, err: fmt.Errorf("schema wrapper: %w", err)}
		}
		ls.types[i], ls.encs[i] = t, e
		idx, ok := d.colIdx[f.name]
		if !ok {
			idx = d.addColumn(f.name, t, true)
		} else if c := &d.cols[idx]; !c.fromWrapper {
			c.typ, c.fromWrapper = t, true
		} else if w, err := change.Widen(c.typ, t); err != nil {
			return nil, &lineError{col: f.name, err: fmt.Errorf("schema wrapper: %w", err)}
		} else {
			c.typ = w
		}
		ls.cols[i] = idx
	}
	cache[string(s.raw)] = ls
	return ls, nil
}
