package dmscsv

import (
	"bytes"
	"io"
)

// maxRecordBytes bounds one record (all its lines) so that a file without
// line breaks cannot take all memory. DMS cuts LOBs at LobMaxSize (32 KB by
// default), so real records are far smaller.
const maxRecordBytes = 256 << 20

const initialBufSize = 256 << 10

// errSyntax is a CSV syntax error in the record starting at scanner.startLine;
// the decoder turns it into a *change.MalformedError.
type errSyntax struct{ reason string }

func (e *errSyntax) Error() string { return e.reason }

// errCut is the error of a last record without a line break, with
// scanner.finalNewline.
var errCut = &errSyntax{"the file ends without a newline: cut short? DMS ends every record with one, the last too"}

// scanner reads RFC 4180 records. It owns its buffers: the fields of a record
// alias them and are valid only until the next call to next.
type scanner struct {
	r     io.Reader
	delim byte
	// finalNewline makes a last record without a line break an error
	// (errCut): the file was cut short.
	finalNewline bool

	buf      []byte // buf[pos:end] is unread input
	pos, end int
	eof      bool  // r returned io.EOF
	rerr     error // r returned another error; reported once buf is drained

	line      int64 // 1-based physical line of buf[pos]
	startLine int64 // line where the last record started

	// The last record: fields[i] is its i-th field, quoted[i] whether it was
	// written in quotes. Fields alias buf (fast path) or rec (quoted records).
	fields [][]byte
	quoted []bool
	rec    []byte // unquoted content of a quoted record
	offs   []int  // end offsets of fields in rec
}

func newScanner(r io.Reader, delim byte) *scanner {
	return &scanner{r: r, delim: delim, buf: make([]byte, initialBufSize), line: 1}
}

// fill reads more input after buf[end], first moving the unread bytes to the
// front and growing the buffer when it is full. It returns false when nothing
// more can be read (EOF or error).
func (s *scanner) fill() bool {
	if s.eof || s.rerr != nil {
		return false
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:s.end])
		s.pos, s.end = 0, n
	}
	if s.end == len(s.buf) {
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err == io.EOF {
			s.eof = true
			return n > 0
		}
		if err != nil {
			s.rerr = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.rerr = io.ErrNoProgress
	return false
}

// next reads the next record. It returns io.EOF at the end of the input, an
// *errSyntax for bad CSV, or the reader's error.
func (s *scanner) next() error {
	s.startLine = s.line
	// Find the end of the physical line; most records are one line.
	scanned := 0
	lineEnd := -1
	for {
		if i := bytes.IndexByte(s.buf[s.pos+scanned:s.end], '\n'); i >= 0 {
			lineEnd = s.pos + scanned + i
			break
		}
		scanned = s.end - s.pos
		if scanned > maxRecordBytes {
			return &errSyntax{"record longer than 256 MiB"}
		}
		if !s.fill() {
			break
		}
	}
	if lineEnd < 0 {
		if s.pos == s.end {
			if s.rerr != nil {
				return s.rerr
			}
			return io.EOF
		}
		if s.rerr != nil {
			return s.rerr // a partial last line: the input was cut, not ended
		}
		if s.finalNewline {
			return errCut
		}
		lineEnd = s.end
	}
	line := s.buf[s.pos:lineEnd]
	if bytes.IndexByte(line, '"') >= 0 {
		return s.nextQuoted()
	}
	next := lineEnd + 1
	if lineEnd == s.end {
		next = lineEnd
	}
	s.pos = next
	s.line++
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	s.fields = s.fields[:0]
	s.quoted = s.quoted[:0]
	for {
		i := bytes.IndexByte(line, s.delim)
		if i < 0 {
			s.fields = append(s.fields, line)
			s.quoted = append(s.quoted, false)
			return nil
		}
		s.fields = append(s.fields, line[:i:i])
		s.quoted = append(s.quoted, false)
		line = line[i+1:]
	}
}

// startsWith reports whether the unread input starts with p, reading as
// much as that needs.
func (s *scanner) startsWith(p string) bool {
	for s.end-s.pos < len(p) && s.fill() {
	}
	return bytes.HasPrefix(s.buf[s.pos:s.end], []byte(p))
}

// peek returns the byte at buf[pos], filling as needed; ok is false at the end
// of the input.
func (s *scanner) peek() (byte, bool) {
	if s.pos == s.end && !s.fill() {
		return 0, false
	}
	return s.buf[s.pos], true
}

// nextQuoted reads a record that contains a quote, byte by byte from
// s.pos, copying field contents into s.rec. The record may span lines.
func (s *scanner) nextQuoted() error {
	s.rec = s.rec[:0]
	s.offs = s.offs[:0]
	s.quoted = s.quoted[:0]
	endField := func(quoted bool) {
		s.offs = append(s.offs, len(s.rec))
		s.quoted = append(s.quoted, quoted)
	}
	for {
		if len(s.rec) > maxRecordBytes {
			return &errSyntax{"record longer than 256 MiB"}
		}
		c, ok := s.peek()
		if ok && c == '"' {
			s.pos++
			// Quoted field: copy runs up to the next quote.
			for {
				if s.pos == s.end && !s.fill() {
					if s.rerr != nil {
						return s.rerr
					}
					return &errSyntax{"quoted field not terminated before the end of the file"}
				}
				chunk := s.buf[s.pos:s.end]
				i := bytes.IndexByte(chunk, '"')
				if i < 0 {
					s.rec = append(s.rec, chunk...)
					s.line += int64(bytes.Count(chunk, nl))
					s.pos = s.end
					if len(s.rec) > maxRecordBytes {
						return &errSyntax{"record longer than 256 MiB"}
					}
					continue
				}
				s.rec = append(s.rec, chunk[:i]...)
				s.line += int64(bytes.Count(chunk[:i], nl))
				s.pos += i + 1
				c, ok := s.peek()
				if ok && c == '"' { // doubled quote
					s.rec = append(s.rec, '"')
					s.pos++
					continue
				}
				endField(true)
				switch {
				case !ok:
					if s.rerr != nil {
						return s.rerr
					}
					return s.finishAtEOF()
				case c == s.delim:
					s.pos++
				case c == '\n':
					s.pos++
					s.line++
					return s.finishQuoted()
				case c == '\r':
					s.pos++
					if c, ok := s.peek(); ok && c == '\n' {
						s.pos++
						s.line++
						return s.finishQuoted()
					} else if !ok && s.rerr == nil {
						return s.finishAtEOF()
					}
					return &errSyntax{"text after the closing quote of a field"}
				default:
					return &errSyntax{"text after the closing quote of a field"}
				}
				break
			}
			continue
		}
		// Unquoted field: copy up to the delimiter or line end.
		for {
			if s.pos == s.end && !s.fill() {
				if s.rerr != nil {
					return s.rerr
				}
				endField(false)
				return s.finishAtEOF()
			}
			chunk := s.buf[s.pos:s.end]
			i := 0
			for i < len(chunk) && chunk[i] != s.delim && chunk[i] != '\n' && chunk[i] != '"' {
				i++
			}
			s.rec = append(s.rec, chunk[:i]...)
			s.pos += i
			if i == len(chunk) {
				continue
			}
			switch chunk[i] {
			case s.delim:
				s.pos++
				endField(false)
			case '\n':
				s.pos++
				s.line++
				if n := len(s.rec); n > 0 && s.rec[n-1] == '\r' && (len(s.offs) == 0 || s.offs[len(s.offs)-1] < n) {
					s.rec = s.rec[:n-1]
				}
				endField(false)
				return s.finishQuoted()
			default:
				return &errSyntax{"quote inside an unquoted field"}
			}
			break
		}
	}
}

var nl = []byte{'\n'}

// finishAtEOF ends a quoted record that the end of the input ends, without
// a line break.
func (s *scanner) finishAtEOF() error {
	if s.finalNewline {
		return errCut
	}
	return s.finishQuoted()
}

func (s *scanner) finishQuoted() error {
	s.fields = s.fields[:0]
	start := 0
	for _, end := range s.offs {
		s.fields = append(s.fields, s.rec[start:end:end])
		start = end
	}
	return nil
}
