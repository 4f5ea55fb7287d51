package change

import (
	"errors"
	"fmt"
)

// ErrMalformed is the category of every input error: a file that cannot be
// decoded as its format says. It stops the table; the bookmark does not move
// past the file.
var ErrMalformed = errors.New("malformed input")

// MalformedError says which file, which line and why. It matches ErrMalformed
// with errors.Is.
type MalformedError struct {
	File   string // object key or path
	Line   int64  // 1-based physical line where the bad record starts; 0 if unknown
	Column string // column name, if the error is about one value
	Reason string
}

func (e *MalformedError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Column != "" {
		s += fmt.Sprintf(" column %s", e.Column)
	}
	return s + ": " + e.Reason
}

// Unwrap lets errors.Is(err, ErrMalformed) hold.
func (e *MalformedError) Unwrap() error { return ErrMalformed }
