package dmscsv

import (
	"encoding/hex"
	"errors"
	"unicode/utf8"
)

// The value parsers DMS needs beyond formats/internal/values: its textual
// booleans, UTF-8 text and hex binary. They take the raw bytes of a field
// and never allocate on success. Their errors are short reasons; the
// decoder adds file, line and column.

var (
	errBool = errors.New("not a boolean (true/false, t/f, 1/0, yes/no)")
	errUTF8 = errors.New("not valid UTF-8")
	errHex  = errors.New("not hexadecimal binary")
)

func parseBool(b []byte) (bool, error) {
	switch len(b) {
	case 1:
		switch b[0] {
		case 't', 'T', '1':
			return true, nil
		case 'f', 'F', '0':
			return false, nil
		}
	case 2:
		if lower(b[0]) == 'n' && lower(b[1]) == 'o' {
			return false, nil
		}
	case 3:
		if lower(b[0]) == 'y' && lower(b[1]) == 'e' && lower(b[2]) == 's' {
			return true, nil
		}
	case 4:
		if lower(b[0]) == 't' && lower(b[1]) == 'r' && lower(b[2]) == 'u' && lower(b[3]) == 'e' {
			return true, nil
		}
	case 5:
		if lower(b[0]) == 'f' && lower(b[1]) == 'a' && lower(b[2]) == 'l' && lower(b[3]) == 's' && lower(b[4]) == 'e' {
			return false, nil
		}
	}
	return false, errBool
}

func lower(c byte) byte { return c | 0x20 }

func checkUTF8(b []byte) error {
	// utf8.Valid checks 8 bytes at a time on ASCII already.
	if !utf8.Valid(b) {
		return errUTF8
	}
	return nil
}

// appendHex decodes hex text (case-insensitive, optional 0x prefix) onto
// dst; on error it returns dst as it was.
func appendHex(dst, b []byte) ([]byte, error) {
	if len(b) >= 2 && b[0] == '0' && (b[1] == 'x' || b[1] == 'X') {
		b = b[2:]
	}
	out, err := hex.AppendDecode(dst, b)
	if err != nil {
		return dst, errHex
	}
	return out, nil
}
