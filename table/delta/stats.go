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
	var mins, maxs, nulls bytes.Buffer
	sep := func(b *bytes.Buffer) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
	}
	for i, c := range cols {
		arr := rec.Column(i)
		key := jsonString(c.phys)
		sep(&nulls)
		nulls.WriteString(key + ":" + strconv.Itoa(arr.NullN()))
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
	b.WriteString(`{"numRecords":` + strconv.FormatInt(rec.NumRows(), 10))
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
// timestamp_ntz); ok is false
// for types without min/max stats, for all-null arrays, and for floats with
// NaN or infinities (JSON cannot hold them). An empty side means that side
// is left out (a string too long to bound).
func minMax(arr arrow.Array, utc bool) (lo, hi string, ok bool) {
	n := arr.Len()
	first := -1
	for i := 0; i < n; i++ {
		if arr.IsValid(i) {
			first = i
			break
		}
	}
	if first < 0 {
		return "", "", false
	}
	switch a := arr.(type) {
	case *array.Int32:
		mn, mx := ordered(a, first, a.Value)
		return strconv.FormatInt(int64(mn), 10), strconv.FormatInt(int64(mx), 10), true
	case *array.Int64:
		mn, mx := ordered(a, first, a.Value)
		return strconv.FormatInt(mn, 10), strconv.FormatInt(mx, 10), true
	case *array.Date32:
		mn, mx := ordered(a, first, a.Value)
		return formatDate(int64(mn)), formatDate(int64(mx)), true
	case *array.Timestamp:
		mn, mx := ordered(a, first, a.Value)
		unit := a.DataType().(*arrow.TimestampType).Unit
		return formatTimestamp(int64(mn), unit, utc), formatTimestamp(int64(mx), unit, utc), true
	case *array.Float32:
		mn, mx := ordered(a, first, a.Value)
		for i := 0; i < n; i++ {
			if a.IsValid(i) && (math.IsNaN(float64(a.Value(i))) || math.IsInf(float64(a.Value(i)), 0)) {
				return "", "", false
			}
		}
		return strconv.FormatFloat(float64(mn), 'g', -1, 32), strconv.FormatFloat(float64(mx), 'g', -1, 32), true
	case *array.Float64:
		mn, mx := ordered(a, first, a.Value)
		for i := 0; i < n; i++ {
			if a.IsValid(i) && (math.IsNaN(a.Value(i)) || math.IsInf(a.Value(i), 0)) {
				return "", "", false
			}
		}
		return strconv.FormatFloat(mn, 'g', -1, 64), strconv.FormatFloat(mx, 'g', -1, 64), true
	case *array.Decimal128:
		mn, mx := a.Value(first), a.Value(first)
		for i := first + 1; i < n; i++ {
			if a.IsValid(i) {
				v := a.Value(i)
				if v.Less(mn) {
					mn = v
				}
				if mx.Less(v) {
					mx = v
				}
			}
		}
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return mn.ToString(scale), mx.ToString(scale), true
	case *array.String:
		mn, mx := ordered(a, first, a.Value)
		lo, hi := truncateMin(mn), ""
		if h, ok := truncateMax(mx); ok {
			hi = h
		}
		if !utf8.ValidString(lo) || !utf8.ValidString(hi) {
			return "", "", false
		}
		return jsonString(lo), ifSet(hi, jsonString), true
	}
	return "", "", false
}

func ifSet(s string, f func(string) string) string {
	if s == "" {
		return ""
	}
	return f(s)
}

// ordered returns the min and max valid values of a, starting at its first
// valid index.
func ordered[T int32 | int64 | float32 | float64 | string | arrow.Date32 | arrow.Timestamp](a arrow.Array, first int, value func(int) T) (T, T) {
	mn, mx := value(first), value(first)
	for i := first + 1; i < a.Len(); i++ {
		if a.IsValid(i) {
			v := value(i)
			if v < mn {
				mn = v
			}
			if v > mx {
				mx = v
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
