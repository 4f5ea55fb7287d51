package values

import "errors"

// Errors of the date and time parsers. Each names the syntax it wants, for
// a reader who has to fix the value.
var (
	ErrDate           = errors.New("not a date (yyyy-mm-dd)")
	ErrTimestamp      = errors.New("not a timestamp (yyyy-mm-dd hh:mm:ss[.fffffffff])")
	ErrZonedTimestamp = errors.New("not an ISO-8601 timestamp (yyyy-mm-ddThh:mm:ss[.f][Z|±hh:mm])")
	ErrTime           = errors.New("not an ISO-8601 time (hh:mm:ss[.f][Z])")
)

// ParseDate reads yyyy-mm-dd (a proleptic Gregorian date, year 0000 to
// 9999) as days since 1970-01-01.
func ParseDate(b []byte) (int32, error) {
	if len(b) != 10 {
		return 0, ErrDate
	}
	days, ok := dateAt(b)
	if !ok {
		return 0, ErrDate
	}
	return int32(days), nil
}

// ParseTimestamp reads "yyyy-mm-dd hh:mm:ss[.f]" ('T' may stand for the
// space) with 1 to 9 fraction digits and no zone, as microseconds since the
// epoch. subMicro reports non-zero digits below a microsecond, which the
// result drops.
func ParseTimestamp(b []byte) (micros int64, subMicro bool, err error) {
	micros, subMicro, ok := timestamp(b, false)
	if !ok {
		return 0, false, ErrTimestamp
	}
	return micros, subMicro, nil
}

// ParseZonedTimestamp reads an ISO-8601 timestamp
// yyyy-mm-dd(T| )hh:mm:ss[.f{1,9}][zone] as microseconds since the epoch in
// UTC. The zone is Z (or z), ±hh, ±hhmm or ±hh:mm (at most 18 hours); none
// means UTC. subMicro reports non-zero digits below a microsecond, which the
// result drops.
func ParseZonedTimestamp(b []byte) (micros int64, subMicro bool, err error) {
	micros, subMicro, ok := timestamp(b, true)
	if !ok {
		return 0, false, ErrZonedTimestamp
	}
	return micros, subMicro, nil
}

// ParseTime reads hh:mm:ss[.f{1,9}][Z] as microseconds since midnight.
// subMicro reports non-zero digits below a microsecond, which the result
// drops.
func ParseTime(b []byte) (micros int64, subMicro bool, err error) {
	nanos, i, ok := clockAt(b, 0)
	if !ok || i < len(b) && !(i == len(b)-1 && (b[i] == 'Z' || b[i] == 'z')) {
		return 0, false, ErrTime
	}
	return nanos / 1000, nanos%1000 != 0, nil
}

func timestamp(b []byte, zoned bool) (micros int64, subMicro, ok bool) {
	if len(b) < 19 || (b[10] != 'T' && b[10] != ' ') {
		return 0, false, false
	}
	days, ok := dateAt(b)
	if !ok {
		return 0, false, false
	}
	nanos, i, ok := clockAt(b, 11)
	if !ok {
		return 0, false, false
	}
	var off int64
	switch {
	case zoned:
		if off, ok = zoneAt(b, i); !ok {
			return 0, false, false
		}
	case i != len(b):
		return 0, false, false
	}
	secs := days*86400 - off
	return secs*1_000_000 + nanos/1000, nanos%1000 != 0, true
}

// digitsAt reads exactly n decimal digits from b at i.
func digitsAt(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + int(d)
	}
	return v, true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// dateAt reads yyyy-mm-dd at the start of b as days since the epoch.
func dateAt(b []byte) (int64, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digitsAt(b, 0, 4)
	m, ok2 := digitsAt(b, 5, 2)
	d, ok3 := digitsAt(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// clockAt reads hh:mm:ss[.fffffffff] at b[i:] and returns the time of day
// in nanoseconds and the index after it.
func clockAt(b []byte, i int) (int64, int, bool) {
	if len(b)-i < 8 || b[i+2] != ':' || b[i+5] != ':' {
		return 0, i, false
	}
	hh, ok1 := digitsAt(b, i, 2)
	mm, ok2 := digitsAt(b, i+3, 2)
	ss, ok3 := digitsAt(b, i+6, 2)
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return 0, i, false
	}
	i += 8
	nanos := int64(0)
	if i < len(b) && b[i] == '.' {
		i++
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if n == 9 {
				return 0, i, false
			}
			nanos = nanos*10 + int64(b[i]-'0')
			n++
			i++
		}
		if n == 0 {
			return 0, i, false
		}
		nanos *= int64(pow10u64[9-n])
	}
	return int64(hh*3600+mm*60+ss)*1e9 + nanos, i, true
}

// zoneAt reads Z, ±hh, ±hhmm or ±hh:mm at b[i:] to the end of b and returns
// the offset east of UTC in seconds; nothing there means UTC.
func zoneAt(b []byte, i int) (int64, bool) {
	rest := b[i:]
	switch {
	case len(rest) == 0:
		return 0, true
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
		return 0, true
	case rest[0] != '+' && rest[0] != '-':
		return 0, false
	}
	sign := int64(1)
	if rest[0] == '-' {
		sign = -1
	}
	rest = rest[1:]
	var hh, mm int
	var ok bool
	switch len(rest) {
	case 2:
		hh, ok = digitsAt(rest, 0, 2)
	case 4:
		var ok2 bool
		hh, ok = digitsAt(rest, 0, 2)
		mm, ok2 = digitsAt(rest, 2, 2)
		ok = ok && ok2
	case 5:
		var ok2 bool
		hh, ok = digitsAt(rest, 0, 2)
		mm, ok2 = digitsAt(rest, 3, 2)
		ok = ok && ok2 && rest[2] == ':'
	}
	if !ok || hh > 18 || mm > 59 {
		return 0, false
	}
	return sign * int64(hh*3600+mm*60), true
}
