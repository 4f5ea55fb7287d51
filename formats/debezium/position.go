package debezium

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/formats/internal/values"
)

// Position tags: the first byte of the source position part of _seq.
const (
	tagPostgres  byte = 1
	tagMySQL     byte = 2
	tagSQLServer byte = 3
	tagNone      byte = 0xFF // a snapshot row without a position
)

func tagName(t byte) string {
	switch t {
	case tagPostgres:
		return "postgresql"
	case tagMySQL:
		return "mysql"
	case tagSQLServer:
		return "sqlserver"
	}
	return "none"
}

// srcFields are the source fields that make a position, from the envelope's
// source block or from a flattened row's __ fields.
type srcFields struct {
	connector, lsn, sequence  jval
	file, pos, row            jval
	commitLSN, changeLSN, esn jval
	tsMs                      jval // source.ts_ms: the commit time; never part of a position
}

// set records a source field; other names are ignored.
func (s *srcFields) set(name []byte, v jval) error {
	slot := s.slot(name)
	if slot == nil {
		return nil
	}
	if has(*slot) {
		return fmt.Errorf("source field %q appears twice", name)
	}
	*slot = v
	return nil
}

// slot returns the field named name, nil for a name that is not used.
func (s *srcFields) slot(name []byte) *jval {
	switch string(name) {
	case "connector":
		return &s.connector
	case "lsn":
		return &s.lsn
	case "sequence":
		return &s.sequence
	case "file":
		return &s.file
	case "pos":
		return &s.pos
	case "row":
		return &s.row
	case "commit_lsn":
		return &s.commitLSN
	case "change_lsn":
		return &s.changeLSN
	case "event_serial_no":
		return &s.esn
	case "ts_ms":
		return &s.tsMs
	}
	return nil
}

// connectorTag names the connector from source.connector, or guesses it
// from the position fields present (flattened rows rarely carry the
// connector).
func (s *srcFields) connectorTag() (byte, error) {
	if s.connector.kind == jString {
		switch string(s.connector.raw) {
		case "postgresql":
			return tagPostgres, nil
		case "mysql", "mariadb":
			return tagMySQL, nil
		case "sqlserver":
			return tagSQLServer, nil
		}
		return 0, fmt.Errorf("connector %s has no supported source position (postgresql, mysql, mariadb, sqlserver); set debezium.single_partition: true if the topic has one partition", quoteRaw(s.connector.raw))
	}
	switch {
	case !absent(s.commitLSN) || !absent(s.changeLSN):
		return tagSQLServer, nil
	case !absent(s.file) || !absent(s.pos):
		return tagMySQL, nil
	case !absent(s.lsn) || !absent(s.sequence):
		return tagPostgres, nil
	}
	return 0, errors.New("no source position (source.lsn, source.file/pos, source.commit_lsn, or for flattened rows __lsn, __source_file, __commit_lsn and the like); set debezium.single_partition: true if the topic has one partition")
}

// position builds the source-position part of _seq: nil with
// SinglePartition, else a tag byte and the connector's fields. The result
// is valid until the next call. A snapshot
// row may lack a position (incremental snapshots on PostgreSQL); it gets
// tagNone, which orders after positioned snapshot rows.
func (d *Decoder) position(s *srcFields, snapshot bool) ([]byte, error) {
	if d.opts.SinglePartition {
		return nil, nil
	}
	tag, err := s.connectorTag()
	if err != nil {
		if snapshot && s.connector.kind != jString {
			return []byte{tagNone}, nil
		}
		return nil, err
	}
	if d.connector != 0 && d.connector != tag {
		return nil, fmt.Errorf("connector %s in a file of %s changes", tagName(tag), tagName(d.connector))
	}
	sb := &d.posBuf
	sb.Reset()
	sb.Byte(tag)
	var ok bool
	switch tag {
	case tagPostgres:
		ok, err = d.postgresPos(sb, s)
	case tagMySQL:
		ok, err = d.mysqlPos(sb, s)
	case tagSQLServer:
		ok, err = sqlServerPos(sb, s)
	}
	switch {
	case err != nil:
		return nil, err
	case !ok && snapshot:
		return []byte{tagNone}, nil
	case !ok:
		return nil, fmt.Errorf("%s change has no source position", tagName(tag))
	}
	d.connector = tag
	return sb.Bytes(), nil
}

// uintField reads a non-negative integer field: a JSON number or a string
// of digits.
func uintField(v jval, name string) (uint64, error) {
	if v.kind != jNumber && v.kind != jString {
		return 0, fmt.Errorf("source %s is %s, not a number", name, v.kind)
	}
	if u, ok := shortUint(v.raw); ok {
		return u, nil
	}
	u, err := values.ParseUint(v.raw)
	if err != nil {
		return 0, fmt.Errorf("source %s %s: %v", name, quoteRaw(v.raw), err)
	}
	return u, nil
}

// shortUint reads 1 to 19 decimal digits, which cannot overflow a uint64;
// ok is false for anything else, which values.ParseUint reads (and
// reports). Positions and times are mostly this short.
func shortUint(b []byte) (u uint64, ok bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		u = u*10 + uint64(d)
	}
	return u, true
}

// postgresPos appends Uint64(lastCommitLsn) Uint64(lsn), from
// source.sequence ["<lastCommitLsn>","<lsn>"] when present (a null part is
// 0; a null lsn falls back to source.lsn), else (0, source.lsn).
func (d *Decoder) postgresPos(sb *change.SeqBuilder, s *srcFields) (bool, error) {
	var commit, lsn uint64
	haveLSN := false
	if !absent(s.lsn) {
		u, err := uintField(s.lsn, "lsn")
		if err != nil {
			return false, err
		}
		lsn, haveLSN = u, true
	}
	if !absent(s.sequence) {
		if s.sequence.kind != jString {
			return false, fmt.Errorf("source sequence is %s, not a string", s.sequence.kind)
		}
		if c, l, ok := lsnPair(s.sequence.raw, s.sequence.esc); ok {
			if c >= 0 {
				commit = uint64(c)
			}
			if l >= 0 {
				lsn, haveLSN = uint64(l), true
			}
			if !haveLSN {
				return false, nil
			}
			sb.Uint64(commit).Uint64(lsn)
			return true, nil
		}
		d.textBuf = appendString(d.textBuf[:0], s.sequence)
		text := d.textBuf
		bad := func() error { return fmt.Errorf(`source sequence %s is not ["<lsn>","<lsn>"]`, quoteRaw(text)) }
		arr, err := parseLine(text)
		if err != nil || arr.kind != jArray {
			return false, bad()
		}
		var parts [2]jval
		n := 0
		it := newArrIter(arr)
		for v, ok := it.next(); ok; v, ok = it.next() {
			if n == 2 {
				return false, bad()
			}
			parts[n] = v
			n++
		}
		if n != 2 {
			return false, bad()
		}
		if parts[0].kind != jNull {
			if commit, err = uintField(parts[0], "sequence"); err != nil {
				return false, err
			}
		}
		if parts[1].kind != jNull {
			if lsn, err = uintField(parts[1], "sequence"); err != nil {
				return false, err
			}
			haveLSN = true
		}
	}
	if !haveLSN {
		return false, nil
	}
	sb.Uint64(commit).Uint64(lsn)
	return true, nil
}

// lsnPair reads the usual form of source.sequence, ["<digits>","<digits>"]
// with either part null and no spaces, without a JSON parser: -1 for a
// null part. t is the string's text between its quotes, escapes not
// decoded when esc is set: then the inner quotes are \" (the only escape
// the usual form holds). ok is false for anything else, which postgresPos
// reads (and reports) through the parser.
func lsnPair(t []byte, esc bool) (commit, lsn int64, ok bool) {
	if len(t) < 2 || t[0] != '[' || t[len(t)-1] != ']' {
		return 0, 0, false
	}
	t = t[1 : len(t)-1]
	comma := bytes.IndexByte(t, ',')
	if comma < 0 {
		return 0, 0, false
	}
	quote := []byte(`"`)
	if esc {
		quote = []byte(`\"`)
	}
	part := func(p []byte) (int64, bool) {
		if string(p) == "null" {
			return -1, true
		}
		digits, opened := bytes.CutPrefix(p, quote)
		digits, closed := bytes.CutSuffix(digits, quote)
		if !opened || !closed || len(digits) == 0 {
			return 0, false
		}
		u, ok := shortUint(digits)
		if !ok {
			var err error
			if u, err = values.ParseUint(digits); err != nil {
				return 0, false
			}
		}
		if u > math.MaxInt64 {
			return 0, false
		}
		return int64(u), true
	}
	commit, ok1 := part(t[:comma])
	lsn, ok2 := part(t[comma+1:])
	return commit, lsn, ok1 && ok2
}

// mysqlPos appends String(binlog base name) Uint64(binlog number) Uint64(pos)
// Uint64(row).
// An empty file name is no position: Flink CDC's snapshot reads carry
// "file":"","pos":0.
func (d *Decoder) mysqlPos(sb *change.SeqBuilder, s *srcFields) (bool, error) {
	if absent(s.file) || isString(s.file, "") {
		return false, nil
	}
	if s.file.kind != jString {
		return false, fmt.Errorf("source file is %s, not a string", s.file.kind)
	}
	d.textBuf = appendString(d.textBuf[:0], s.file)
	file := d.textBuf
	dot := bytes.LastIndexByte(file, '.')
	if dot < 0 {
		return false, fmt.Errorf("binlog file %s has no numeric suffix", quoteRaw(file))
	}
	num, err := values.ParseUint(file[dot+1:])
	if err != nil {
		return false, fmt.Errorf("binlog file %s has no numeric suffix", quoteRaw(file))
	}
	if absent(s.pos) {
		return false, errors.New("source has a binlog file but no pos")
	}
	pos, err := uintField(s.pos, "pos")
	if err != nil {
		return false, err
	}
	row := uint64(0)
	if !absent(s.row) {
		if row, err = uintField(s.row, "row"); err != nil {
			return false, err
		}
	}
	sb.String(values.View(file[:dot])).Uint64(num).Uint64(pos).Uint64(row)
	return true, nil
}

// sqlServerPos appends the 10 bytes of commit_lsn, the 10 bytes of
// change_lsn (zeros when null, as in snapshots) and Uint64(event_serial_no)
// (0 when null).
func sqlServerPos(sb *change.SeqBuilder, s *srcFields) (bool, error) {
	if absent(s.commitLSN) {
		return false, nil
	}
	var buf [10]byte
	if err := sqlServerLSN(buf[:], s.commitLSN, "commit_lsn"); err != nil {
		return false, err
	}
	for _, c := range buf {
		sb.Byte(c)
	}
	buf = [10]byte{}
	if !absent(s.changeLSN) {
		if err := sqlServerLSN(buf[:], s.changeLSN, "change_lsn"); err != nil {
			return false, err
		}
	}
	for _, c := range buf {
		sb.Byte(c)
	}
	esn := uint64(0)
	if !absent(s.esn) {
		var err error
		if esn, err = uintField(s.esn, "event_serial_no"); err != nil {
			return false, err
		}
	}
	sb.Uint64(esn)
	return true, nil
}

// sqlServerLSN decodes XXXXXXXX:XXXXXXXX:XXXX (hex) into 10 bytes.
func sqlServerLSN(dst []byte, v jval, name string) error {
	b := v.raw
	bad := fmt.Errorf("source %s %s is not XXXXXXXX:XXXXXXXX:XXXX hex", name, quoteRaw(b))
	if v.kind != jString || v.esc || len(b) != 22 || b[8] != ':' || b[17] != ':' {
		return bad
	}
	var digits [20]byte
	copy(digits[0:8], b[0:8])
	copy(digits[8:16], b[9:17])
	copy(digits[16:20], b[18:22])
	if _, err := hex.Decode(dst[:10], digits[:]); err != nil {
		return bad
	}
	return nil
}
