package dmscsv

import (
	"fmt"
	"strings"
	"time"

	"github.com/lakemerge/lakemerge/formats/internal/gunzip"
	"github.com/lakemerge/lakemerge/formats/internal/values"
)

// Kind of a DMS file, from its name.
type Kind int

const (
	// KindLoad is a full-load file: LOAD<hex>.csv or SEGMENT<n>_LOAD<hex>.csv.
	KindLoad Kind = iota
	// KindCDC is a change file named by its write time: 20230905-151244585.csv.
	KindCDC
)

func (k Kind) String() string {
	switch k {
	case KindLoad:
		return "LOAD"
	case KindCDC:
		return "CDC"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Name is a parsed DMS object name.
type Name struct {
	Key     string    // full object key as given
	Kind    Kind      // LOAD or CDC
	Instant time.Time // CDC: the file-name timestamp (UTC); zero for LOAD
}

// The instants a CDC name may carry: _seq stores them as uint64 Unix
// nanoseconds, which must neither wrap below 1970 nor overflow int64.
var (
	minInstant = time.Unix(0, 0).UTC()
	maxInstant = time.Unix(0, 1<<63-1).UTC()
)

// ParseName classifies an object key by its base name: LOAD<hex>.csv[.gz],
// SEGMENT<n>_LOAD<hex>.csv[.gz] (full load, any number of hex digits), or
// <yyyyMMdd>-<HHmmssSSS or HHmmssSSSS>.csv[.gz] (CDC; the name's time is
// read as UTC). Anything else is an error; callers decide whether to skip.
func ParseName(key string) (Name, error) {
	stem, ok := gunzip.Stem(key, ".csv")
	if !ok {
		return Name{}, fmt.Errorf("dms file %q: name does not end in .csv or .csv.gz", key)
	}
	if strings.HasPrefix(stem, "CDC_TXN-") {
		return Name{}, fmt.Errorf("dms file %q: transaction files (PreserveTransactions, CDC_TXN-*) are not supported yet", key)
	}
	if rest, ok := strings.CutPrefix(stem, "SEGMENT"); ok {
		n, hex, found := strings.Cut(rest, "_LOAD")
		if found && values.Numeral(n) && isHex(hex) {
			return Name{Key: key, Kind: KindLoad}, nil
		}
		return Name{}, fmt.Errorf("dms file %q: not SEGMENT<n>_LOAD<hex>.csv", key)
	}
	if hex, ok := strings.CutPrefix(stem, "LOAD"); ok {
		if isHex(hex) {
			return Name{Key: key, Kind: KindLoad}, nil
		}
		return Name{}, fmt.Errorf("dms file %q: not LOAD<hex>.csv", key)
	}
	t, err := parseCDCStem(stem)
	if err != nil {
		return Name{}, fmt.Errorf("dms file %q: %v", key, err)
	}
	return Name{Key: key, Kind: KindCDC, Instant: t}, nil
}

// parseCDCStem reads yyyyMMdd-HHmmssSSS (milliseconds) or yyyyMMdd-HHmmssSSSS
// (tenths of milliseconds, the AWS doc example).
func parseCDCStem(s string) (time.Time, error) {
	const want = "name is not LOAD<hex>, SEGMENT<n>_LOAD<hex> or yyyyMMdd-HHmmssSSS"
	if len(s) != 18 && len(s) != 19 || s[8] != '-' || !values.OnlyDigits(s[:8]) || !values.OnlyDigits(s[9:]) {
		return time.Time{}, fmt.Errorf("%s", want)
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range s[i : i+n] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(4, 2), num(6, 2)
	hour, minute, sec := num(9, 2), num(11, 2), num(13, 2)
	frac, fracDigits := num(15, len(s)-15), len(s)-15
	nsec := frac
	for i := fracDigits; i < 9; i++ {
		nsec *= 10
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Year() != year || int(t.Month()) != month || t.Day() != day || t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		return time.Time{}, fmt.Errorf("name time %s is not a valid date and time", s)
	}
	if t.Before(minInstant) || t.After(maxInstant) {
		return time.Time{}, fmt.Errorf("name time %s is outside 1970..2262", s)
	}
	return t, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Compare orders files in apply order: all LOAD files before CDC files; LOAD
// files by key; CDC files by Instant, then key. It returns -1, 0 or +1.
func Compare(a, b Name) int {
	if a.Kind != b.Kind {
		if a.Kind < b.Kind {
			return -1
		}
		return 1
	}
	if a.Kind == KindCDC {
		if c := a.Instant.Compare(b.Instant); c != 0 {
			return c
		}
	}
	return strings.Compare(a.Key, b.Key)
}
