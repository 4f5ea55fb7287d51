package delta

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// stringPrefix is how many characters of a string min/max Spark keeps
// (spark.databricks.io.skipping.stringPrefixLength).
const stringPrefix = 32

// fileStats returns the stats JSON of an add action for rec, whose columns
// are cols (logical types). Keys are Delta names, in schema order. min/max
// are written for numbers, dates, timestamps and strings, as Spark collects
// them; nullCount for every column.
func fileStats(rec arrow.RecordBatch, cols []column) string {
	return statsJSON(rec.NumRows(), cols, func(i int) (int64, arrow.Array) {
		return int64(rec.Column(i).NullN()), rec.Column(i)
	})
}

// statsJSON is fileStats of a file of rows rows: col(i) gives column i's
// null count and an array of its values holding the min and max of them.
func statsJSON(rows int64, cols []column, col func(i int) (nulls int64, values arrow.Array)) string {
	var mins, maxs, nulls bytes.Buffer
	sep := func(b *bytes.Buffer) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
	}
	for i, c := range cols {
		n, arr := col(i)
		key := jsonString(c.phys)
		sep(&nulls)
		nulls.WriteString(key + ":" + strconv.FormatInt(n, 10))
		lo, hi, ok := minMax(arr, c.utc)
		if !ok {
			continue
		}
		if lo != "" {
			sep(&mins)
			mins.WriteString(key + ":" + lo)
		}
		if hi != "" {
			sep(&maxs)
			maxs.WriteString(key + ":" + hi)
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"numRecords":` + strconv.FormatInt(rows, 10))
	b.WriteString(`,"minValues":{` + mins.String() + `}`)
	b.WriteString(`,"maxValues":{` + maxs.String() + `}`)
	b.WriteString(`,"nullCount":{` + nulls.String() + `}}`)
	return b.String()
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// minMax returns the JSON min and max of arr's valid values (timestamps
// with the zone "Z" when utc, for Delta's timestamp, without it for
// timestamp_ntz); ok is false for what extremeRows has no rows for. An
// empty side means that side is left out (a string too long to bound).
func minMax(arr arrow.Array, utc bool) (lo, hi string, ok bool) {
	mn, mx, ext := extremeRows(arr)
	if ext != extremesFound {
		return "", "", false
	}
	switch a := arr.(type) {
	case *array.Int32:
		return strconv.FormatInt(int64(a.Value(mn)), 10), strconv.FormatInt(int64(a.Value(mx)), 10), true
	case *array.Int64:
		return strconv.FormatInt(a.Value(mn), 10), strconv.FormatInt(a.Value(mx), 10), true
	case *array.Date32:
		return formatDate(int64(a.Value(mn))), formatDate(int64(a.Value(mx))), true
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return formatTimestamp(int64(a.Value(mn)), unit, utc), formatTimestamp(int64(a.Value(mx)), unit, utc), true
	case *array.Float32:
		return strconv.FormatFloat(float64(a.Value(mn)), 'g', -1, 32), strconv.FormatFloat(float64(a.Value(mx)), 'g', -1, 32), true
	case *array.Float64:
		return strconv.FormatFloat(a.Value(mn), 'g', -1, 64), strconv.FormatFloat(a.Value(mx), 'g', -1, 64), true
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return a.Value(mn).ToString(scale), a.Value(mx).ToString(scale), true
	case *array.String:
		lo, hi := truncateMin(a.Value(mn)), ""
		if h, ok := truncateMax(a.Value(mx)); ok {
			hi = h
		}
		if !utf8.ValidString(lo) || !utf8.ValidString(hi) {
			return "", "", false
		}
		return jsonString(lo), ifSet(hi, jsonString), true
	}
	return "", "", false
}

// What extremeRows found in an array.
type extremes int

const (
	extremesNone    extremes = iota // no valid value, or a type without min/max stats
	extremesFound                   // the rows of the min and max
	extremesUnbound                 // a float NaN or infinity (JSON cannot hold them): no min/max for the column
)

// extremeRows returns the rows of the min and max valid values of arr,
// for the types with min/max stats (numbers, dates, timestamps, strings,
// as Spark collects them).
func extremeRows(arr arrow.Array) (mn, mx int, ext extremes) {
	first := -1
	for i := 0; i < arr.Len(); i++ {
		if arr.IsValid(i) {
			first = i
			break
		}
	}
	if first < 0 {
		return 0, 0, extremesNone
	}
	switch a := arr.(type) {
	case *array.Int32:
		mn, mx = ordered(a, first, a.Value)
	case *array.Int64:
		mn, mx = ordered(a, first, a.Value)
	case *array.Date32:
		mn, mx = ordered(a, first, a.Value)
	case *array.Timestamp:
		mn, mx = ordered(a, first, a.Value)
	case *array.String:
		mn, mx = ordered(a, first, a.Value)
	case *array.Float32:
		if unbounded(a, func(i int) float64 { return float64(a.Value(i)) }) {
			return 0, 0, extremesUnbound
		}
		mn, mx = ordered(a, first, a.Value)
	case *array.Float64:
		if unbounded(a, a.Value) {
			return 0, 0, extremesUnbound
		}
		mn, mx = ordered(a, first, a.Value)
	case *array.Decimal128:
		mn, mx = first, first
		for i := first + 1; i < a.Len(); i++ {
			if a.IsValid(i) {
				v := a.Value(i)
				if v.Less(a.Value(mn)) {
					mn = i
				}
				if a.Value(mx).Less(v) {
					mx = i
				}
			}
		}
	default:
		return 0, 0, extremesNone
	}
	return mn, mx, extremesFound
}

// unbounded reports whether a holds a NaN or an infinity.
func unbounded(a arrow.Array, value func(int) float64) bool {
	for i := 0; i < a.Len(); i++ {
		if a.IsValid(i) && (math.IsNaN(value(i)) || math.IsInf(value(i), 0)) {
			return true
		}
	}
	return false
}

func ifSet(s string, f func(string) string) string {
	if s == "" {
		return ""
	}
	return f(s)
}

// ordered returns the rows of the min and max valid values of a,
// starting at its first valid index.
func ordered[T int32 | int64 | float32 | float64 | string | arrow.Date32 | arrow.Timestamp](a arrow.Array, first int, value func(int) T) (int, int) {
	mn, mx := first, first
	for i := first + 1; i < a.Len(); i++ {
		if a.IsValid(i) {
			v := value(i)
			if v < value(mn) {
				mn = i
			}
			if v > value(mx) {
				mx = i
			}
		}
	}
	return mn, mx
}

func formatDate(days int64) string {
	return `"` + time.Unix(days*86400, 0).UTC().Format("2006-01-02") + `"`
}

// formatTimestamp writes a timestamp truncated down to milliseconds, as
// the protocol's stats want (readers add 1 ms to a max): with the zone "Z"
// for a timestamp (UTC), without one for a timestamp_ntz, as Spark and
// Delta Kernel write and read them (yyyy-MM-ddTHH:mm:ss.SSS).
func formatTimestamp(v int64, unit arrow.TimeUnit, utc bool) string {
	var ms int64
	switch unit {
	case arrow.Second:
		ms = v * 1000
	case arrow.Millisecond:
		ms = v
	case arrow.Microsecond:
		ms = floorDiv(v, 1000)
	case arrow.Nanosecond:
		ms = floorDiv(v, 1000_000)
	}
	if !utc {
		return `"` + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000") + `"`
	}
	return `"` + time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// truncateMin cuts s to its first stringPrefix characters: the prefix is ≤
// every string it starts.
func truncateMin(s string) string {
	n := 0
	for i := range s {
		if n == stringPrefix {
			return s[:i]
		}
		n++
	}
	return s
}

// truncateMax cuts s to a string ≥ every string s bounds, as Spark's
// truncateMaxStringAgg: a prefix plus a tie-breaker (U+007F when the next
// character is below it, else U+10FFFF), extending the prefix over
// U+10FFFF characters up to twice the prefix length. ok is false when no
// bound fits (the max is then left out).
func truncateMax(s string) (string, bool) {
	runes := []rune(s)
	if len(runes) <= stringPrefix {
		return s, true
	}
	for cur := stringPrefix; cur <= 2*stringPrefix; {
		switch {
		case cur >= len(runes):
			return s, true
		case runes[cur] == utf8.MaxRune:
			cur++
		case runes[cur] < 0x7F:
			return string(runes[:cur]) + "\x7f", true
		default:
			return string(runes[:cur]) + string(utf8.MaxRune), true
		}
	}
	return "", false
}

// parsedStats is what lakemerge reads back from an add's stats.
type parsedStats struct {
	NumRecords *int64                     `json:"numRecords"`
	MinValues  map[string]json.RawMessage `json:"minValues"`
	MaxValues  map[string]json.RawMessage `json:"maxValues"`
}

func parseStats(s string) (parsedStats, bool) {
	var p parsedStats
	if s == "" || json.Unmarshal([]byte(s), &p) != nil {
		return parsedStats{}, false
	}
	return p, true
}
