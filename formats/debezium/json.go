package debezium

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader over byte slices. The decoder validates every line
// once with a jsonParser (RFC 8259, strings must be valid UTF-8, nesting at
// most maxDepth), which also records the members of the objects of the
// line down to indexDepth, so that the scan of the line reads them without
// walking the text again. Later walks (Next converting a row, deeper
// objects) use objIter and arrIter, which trust the validated text. Values
// are never converted to Go numbers here: a number stays its text, so that
// int64 ids, LSNs and nanosecond times above 2^53 keep every digit.

type jkind uint8

const (
	jNull jkind = iota + 1
	jFalse
	jTrue
	jNumber
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jFalse, jTrue:
		return "a boolean"
	case jNumber:
		return "a number"
	case jString:
		return "a string"
	case jArray:
		return "an array"
	case jObject:
		return "an object"
	}
	return "nothing"
}

// jval is one JSON value inside a validated buffer. For a string, raw is
// the text between the quotes, escapes not decoded, and esc says whether it
// holds any backslash; for every other kind raw is the value's whole text.
//
// An object parsed by a jsonParser may be indexed: its members are
// parser.index[first : first+n], valid until the parser's next line.
type jval struct {
	kind    jkind
	esc     bool
	indexed bool
	first   int32
	n       int32
	raw     []byte
}

// entry is one member of an object: the offsets in the object's text of
// its key (the text between the quotes) and of its value (the raw of its
// jval). It holds no pointers, so that recording it is a plain copy.
type entry struct {
	k0, k1, v0, v1 int32
	first, n       int32 // the value's members, when it is an indexed object
	kind           jkind // the value's
	kesc, vesc     bool
	indexed        bool
}

// key returns the member's key; obj is the text of its object.
func (e *entry) key(obj []byte) jval { return jval{kind: jString, esc: e.kesc, raw: obj[e.k0:e.k1]} }

// value returns the member's value; obj is the text of its object.
func (e *entry) value(obj []byte) jval {
	return jval{kind: e.kind, esc: e.vesc, indexed: e.indexed, first: e.first, n: e.n, raw: obj[e.v0:e.v1]}
}

// jsonParser validates lines and indexes their objects. Its buffers are
// reused from line to line.
type jsonParser struct {
	index []entry // members of the indexed objects of the line, each object's together
	stack []entry // members of the indexed objects still open
}

// indexDepth is the deepest object a jsonParser indexes: the line (1), a
// wrapper's payload (2) and the source block and row images in it (3).
const indexDepth = 3

// maxLine bounds a line, so that offsets in it fit an entry. Kafka
// records are far smaller.
const maxLine = math.MaxInt32

// members returns the members of the validated object v (entry.key and
// entry.value read them from v.raw): the index the parser recorded for
// it, or for an object it did not index (deeper than indexDepth, or not
// of its line), an index made now. Either is valid until the parser's
// next line.
func (p *jsonParser) members(v jval) []entry {
	if v.indexed {
		return p.index[v.first : v.first+v.n]
	}
	first := len(p.index)
	it := newObjIter(v)
	for k, m, ok := it.next(); ok; k, m, ok = it.next() {
		// Both lie inside v.raw: their capacities end together, so the
		// difference is the offset.
		k0, v0 := cap(v.raw)-cap(k.raw), cap(v.raw)-cap(m.raw)
		p.index = append(p.index, entry{k0: int32(k0), k1: int32(k0 + len(k.raw)), v0: int32(v0), v1: int32(v0 + len(m.raw)),
			kind: m.kind, kesc: k.esc, vesc: m.esc})
	}
	return p.index[first:]
}

// maxDepth bounds the nesting of arrays and objects.
const maxDepth = 256

type syntaxError struct {
	pos int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("bad JSON at byte %d: %s", e.pos+1, e.msg) }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && isSpace(b[i]) {
		i++
	}
	return i
}

// parseLine validates b as exactly one JSON value with optional surrounding
// whitespace and returns it.
func parseLine(b []byte) (jval, error) {
	var p jsonParser
	v, err := p.parse(b)
	v.indexed = false
	return v, err
}

// parse validates b as exactly one JSON value with optional surrounding
// whitespace and returns it, its objects indexed.
func (p *jsonParser) parse(b []byte) (jval, error) {
	if err := p.start(b); err != nil {
		return jval{}, err
	}
	i := skipSpace(b, 0)
	if i == len(b) {
		return jval{}, &syntaxError{i, "empty line (only the end of a file may hold blank lines)"}
	}
	v, i, err := p.parseValue(b, i, 0)
	if err != nil {
		return jval{}, err
	}
	if i = skipSpace(b, i); i != len(b) {
		return jval{}, &syntaxError{i, fmt.Sprintf("unexpected %s after the value", quoteByte(b[i]))}
	}
	return v, nil
}

// start begins a new line.
func (p *jsonParser) start(b []byte) error {
	p.index, p.stack = p.index[:0], p.stack[:0]
	if len(b) > maxLine {
		return &syntaxError{0, "line longer than 2 GiB"}
	}
	return nil
}

// parseMember validates the value of a member of a top-level object, at
// b[i] after optional whitespace, and returns it (its objects indexed) and
// the index after it. It starts a new line like parse.
func (p *jsonParser) parseMember(b []byte, i int) (jval, int, error) {
	if err := p.start(b); err != nil {
		return jval{}, i, err
	}
	return p.parseValue(b, skipSpace(b, i), 1)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// parseValue validates the value that starts at b[i] (no leading space).
func (p *jsonParser) parseValue(b []byte, i, depth int) (jval, int, error) {
	if k, esc, end, err := parseScalar(b, i); k != 0 || err != nil {
		if err != nil {
			return jval{}, end, err
		}
		if k == jString {
			return jval{kind: k, esc: esc, raw: b[i+1 : end-1]}, end, nil
		}
		return jval{kind: k, raw: b[i:end]}, end, nil
	}
	if i >= len(b) {
		return jval{}, i, &syntaxError{i, "unexpected end of line"}
	}
	switch c := b[i]; c {
	case '{', '[':
		if depth >= maxDepth {
			return jval{}, i, &syntaxError{i, fmt.Sprintf("nested deeper than %d", maxDepth)}
		}
		if c == '[' {
			end, err := p.parseArray(b, i, depth+1)
			if err != nil {
				return jval{}, end, err
			}
			return jval{kind: jArray, raw: b[i:end]}, end, nil
		}
		if depth >= indexDepth {
			end, err := p.parseObject(b, i, depth+1, false)
			if err != nil {
				return jval{}, end, err
			}
			return jval{kind: jObject, raw: b[i:end]}, end, nil
		}
		start := len(p.stack)
		end, err := p.parseObject(b, i, depth+1, true)
		if err != nil {
			return jval{}, end, err
		}
		first := len(p.index)
		p.index = append(p.index, p.stack[start:]...)
		p.stack = p.stack[:start]
		return jval{kind: jObject, indexed: true, first: int32(first), n: int32(len(p.index) - first), raw: b[i:end]}, end, nil
	default:
		return jval{}, i, &syntaxError{i, fmt.Sprintf("unexpected %s", quoteByte(c))}
	}
}

// parseScalar validates the string, number or literal at b[i] and returns
// its kind, whether a string holds escapes, and the index after it. The
// kind is 0, without an error, for anything else: an object, an array, a
// byte no value starts with, or the end of b.
func parseScalar(b []byte, i int) (k jkind, esc bool, end int, err error) {
	if i >= len(b) {
		return 0, false, i, nil
	}
	switch c := b[i]; {
	case c == '"':
		end, esc, err = parseString(b, i)
		return jString, esc, end, err
	case c == '-' || c-'0' <= 9:
		end, err = parseNumber(b, i)
		return jNumber, false, end, err
	case c == 't':
		return parseLiteral(b, i, "true", jTrue)
	case c == 'f':
		return parseLiteral(b, i, "false", jFalse)
	case c == 'n':
		return parseLiteral(b, i, "null", jNull)
	}
	return 0, false, i, nil
}

func parseLiteral(b []byte, i int, lit string, k jkind) (jkind, bool, int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return k, false, i, &syntaxError{i, "invalid literal"}
	}
	return k, false, i + len(lit), nil
}

// parseObject validates the object at b[i], pushing its members (offsets
// from b[i]) on the stack when index is set, and returns the index after its closing brace.
func (p *jsonParser) parseObject(b []byte, i, depth int, index bool) (int, error) {
	obj := i
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, &syntaxError{i, "object key is not a string"}
		}
		end, kesc, err := parseString(b, i)
		if err != nil {
			return end, err
		}
		k0, k1 := i+1, end-1
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return i, &syntaxError{i, "missing ':' after object key"}
		}
		i = skipSpace(b, i+1)
		// Strings, numbers and null, most members, are read here;
		// parseValue takes the rest.
		var k jkind
		var vesc bool
		var v jval
		switch {
		case i < len(b) && b[i] == '"':
			k = jString
			end, vesc, err = parseString(b, i)
		case i < len(b) && (b[i] == '-' || b[i]-'0' <= 9):
			k = jNumber
			end, err = parseNumber(b, i)
		case i < len(b) && b[i] == 'n':
			k, _, end, err = parseLiteral(b, i, "null", jNull)
		default:
			v, end, err = p.parseValue(b, i, depth)
			k, vesc = v.kind, v.esc
		}
		if err != nil {
			return end, err
		}
		if index {
			v0, v1 := i-obj, end-obj
			if k == jString {
				v0, v1 = v0+1, v1-1
			}
			p.stack = append(p.stack, entry{k0: int32(k0 - obj), k1: int32(k1 - obj), v0: int32(v0), v1: int32(v1),
				first: v.first, n: v.n, kind: k, kesc: kesc, vesc: vesc, indexed: v.indexed})
		}
		if end+1 < len(b) && b[end] == ',' && b[end+1] == '"' {
			i = end + 1 // the compact form JsonConverter writes
			continue
		}
		var done bool
		if i, done, err = separator(b, end, '}'); done || err != nil {
			return i, err
		}
	}
}

// parseArray validates the array at b[i] and returns the index after its
// closing bracket.
func (p *jsonParser) parseArray(b []byte, i, depth int) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		_, end, err := p.parseValue(b, i, depth)
		if err != nil {
			return end, err
		}
		var done bool
		if i, done, err = separator(b, end, ']'); done || err != nil {
			return i, err
		}
	}
}

// separator reads what follows a member or an element that ends at end: a
// comma (the index of the next member or element) or the closing bracket
// (the index after it, done).
func separator(b []byte, end int, closing byte) (i int, done bool, err error) {
	i = skipSpace(b, end)
	switch {
	case i >= len(b):
		return i, false, &syntaxError{i, "unexpected end of line"}
	case b[i] == ',':
		return skipSpace(b, i+1), false, nil
	case b[i] == closing:
		return i + 1, true, nil
	}
	return i, false, &syntaxError{i, fmt.Sprintf("unexpected %s, want ',' or '%c'", quoteByte(b[i]), closing)}
}

// strPlain marks the bytes a string may hold as they are: not a quote, a
// backslash, a control character or part of a multi-byte UTF-8 sequence.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// parseString validates the string at b[i] (the opening quote) and returns
// the index after the closing quote and whether it holds escapes.
//
// It tests eight bytes at a time for one that is not plain (strPlain): a
// byte's high bit in m is set when the byte is below 0x20 (x-0x20 borrows),
// a quote or a backslash (q-1 or bs-1 borrows), or 0x80 and above (x).
// Subtracting without masking the bytes sets stray high bits too, but
// only for bytes of 0x80 and above (q or bs at 0x81 and above), which x
// flags anyway; and a borrow only runs upwards from a byte that is itself
// flagged, so the lowest bit of m is exactly the first byte that is not
// plain.
func parseString(b []byte, i int) (int, bool, error) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	start := i + 1
	esc, ascii := false, true
	for i = start; i < len(b); i++ {
		if i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q, bs := x^('"'*ones), x^('\\'*ones)
			m := (x | (x - 0x20*ones) | (q - ones) | (bs - ones)) & highs
			if m == 0 {
				i += 7
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		} else if strPlain[b[i]] {
			continue
		}
		switch c := b[i]; {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:i]) {
				return i, esc, &syntaxError{start - 1, "string is not valid UTF-8"}
			}
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			i++
			if i >= len(b) {
				return i, esc, &syntaxError{i, "unexpected end of line in string"}
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return i, esc, &syntaxError{i, "short \\u escape"}
				}
				var u [2]byte
				if _, err := hex.Decode(u[:], b[i+1:i+5]); err != nil {
					return i, esc, &syntaxError{i, "bad \\u escape"}
				}
				i += 4
			default:
				return i, esc, &syntaxError{i, fmt.Sprintf("bad escape \\%c", b[i])}
			}
		case c < 0x20:
			return i, esc, &syntaxError{i, "control character in string"}
		default: // c >= 0x80
			ascii = false
		}
	}
	return i, esc, &syntaxError{i, "unexpected end of line in string"}
}

// parseNumber validates -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? at b[i].
func parseNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch j := digitsEnd(b, i); {
	case i < len(b) && b[i] == '0':
		i++
	case j == i:
		return i, &syntaxError{start, "bad number"}
	default:
		i = j
	}
	if i < len(b) && b[i] == '.' {
		j := digitsEnd(b, i+1)
		if j == i+1 {
			return j, &syntaxError{start, "bad number"}
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digitsEnd(b, i)
		if j == i {
			return j, &syntaxError{start, "bad number"}
		}
		i = j
	}
	return i, nil
}

// digitsEnd returns the index after the run of ASCII digits at b[i].
func digitsEnd(b []byte, i int) int {
	for i < len(b) && b[i]-'0' <= 9 {
		i++
	}
	return i
}

// skipValue returns the index after the validated value at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// skipString returns the index after the validated string at b[i]: the
// first quote not escaped, that is not preceded by an odd run of
// backslashes.
func skipString(b []byte, i int) int {
	for i++; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
	return i
}

// valueAt wraps the validated value at b[i].
func valueAt(b []byte, i int) (jval, int) {
	end := skipValue(b, i)
	switch c := b[i]; c {
	case '"':
		raw := b[i+1 : end-1]
		return jval{kind: jString, esc: bytes.IndexByte(raw, '\\') >= 0, raw: raw}, end
	case '{':
		return jval{kind: jObject, raw: b[i:end]}, end
	case '[':
		return jval{kind: jArray, raw: b[i:end]}, end
	case 't':
		return jval{kind: jTrue, raw: b[i:end]}, end
	case 'f':
		return jval{kind: jFalse, raw: b[i:end]}, end
	case 'n':
		return jval{kind: jNull, raw: b[i:end]}, end
	}
	return jval{kind: jNumber, raw: b[i:end]}, end
}

// objIter walks the members of a validated object.
type objIter struct {
	b []byte
	i int
}

func newObjIter(obj jval) objIter { return objIter{b: obj.raw, i: 1} }

// next returns the next member; ok is false after the last.
func (it *objIter) next() (key, val jval, ok bool) {
	b := it.b
	i := skipSpace(b, it.i)
	if i >= len(b) || b[i] == '}' {
		it.i = len(b)
		return jval{}, jval{}, false
	}
	if b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	key, i = valueAt(b, i)
	i = skipSpace(b, i) + 1 // ':'
	i = skipSpace(b, i)
	val, it.i = valueAt(b, i)
	return key, val, true
}

// arrIter walks the elements of a validated array.
type arrIter struct {
	b []byte
	i int
}

func newArrIter(arr jval) arrIter { return arrIter{b: arr.raw, i: 1} }

func (it *arrIter) next() (jval, bool) {
	b := it.b
	i := skipSpace(b, it.i)
	if i >= len(b) || b[i] == ']' {
		it.i = len(b)
		return jval{}, false
	}
	if b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	var v jval
	v, it.i = valueAt(b, i)
	return v, true
}

// appendString appends the decoded content of the string s to dst. A lone
// UTF-16 surrogate becomes U+FFFD, as in encoding/json.
func appendString(dst []byte, s jval) []byte {
	if !s.esc {
		return append(dst, s.raw...)
	}
	b := s.raw
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch b[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(b[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 < len(b)+0 && b[i+1] == '\\' && b[i+2] == 'u' {
					r2 = hex4(b[i+3 : i+7])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, b[i])
		}
	}
	return dst
}

// hex4 reads the four hex digits of a \u escape, which the scanner
// checked.
func hex4(h []byte) rune {
	var b [2]byte
	hex.Decode(b[:], h)
	return rune(b[0])<<8 | rune(b[1])
}

// isString reports whether v is the string lit (decoding escapes if any).
func isString(v jval, lit string) bool {
	if v.kind != jString {
		return false
	}
	if !v.esc {
		return string(v.raw) == lit
	}
	var buf [64]byte
	return string(appendString(buf[:0], v)) == lit
}
