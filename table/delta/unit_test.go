package delta

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
)

func TestTruncateStrings(t *testing.T) {
	long := strings.Repeat("a", 40)
	if got := truncateMin(long); got != strings.Repeat("a", 32) {
		t.Errorf("truncateMin = %q", got)
	}
	if got := truncateMin(strings.Repeat("é", 40)); utf8.RuneCountInString(got) != 32 {
		t.Errorf("truncateMin cuts inside a character: %q", got)
	}
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"short", "short", true},
		{long, strings.Repeat("a", 32) + "\x7f", true},
		{strings.Repeat("a", 32) + "é" + "zz", strings.Repeat("a", 32) + string(utf8.MaxRune), true},
		// U+10FFFF at the cut point is kept and the cut moves on.
		{strings.Repeat("a", 32) + string(utf8.MaxRune) + "b" + "cc", strings.Repeat("a", 32) + string(utf8.MaxRune) + "\x7f", true},
		{strings.Repeat("a", 32) + strings.Repeat(string(utf8.MaxRune), 40), "", false},
	} {
		got, ok := truncateMax(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("truncateMax(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
		if ok && got < c.in {
			t.Errorf("truncateMax(%q) = %q is below the value", c.in, got)
		}
	}
}

func TestStatsFormats(t *testing.T) {
	if got := formatTimestamp(-1, arrow.Microsecond, true); got != `"1969-12-31T23:59:59.999Z"` {
		t.Errorf("negative µs truncate down: %s", got)
	}
	if got := formatTimestamp(1_500, arrow.Microsecond, true); got != `"1970-01-01T00:00:00.001Z"` {
		t.Errorf("µs truncate down: %s", got)
	}
	if got := formatTimestamp(-1_054_736, arrow.Microsecond, false); got != `"1969-12-31T23:59:58.945"` {
		t.Errorf("timestamp_ntz: %s", got)
	}
	if got := formatDate(-1); got != `"1969-12-31"` {
		t.Errorf("date: %s", got)
	}
}

func TestPrunerBounds(t *testing.T) {
	p := &pruner{phys: "id", isInt: true, ints: []int64{5, 20}}
	for stats, want := range map[string]bool{
		`{"minValues":{"id":1},"maxValues":{"id":4}}`:   false,
		`{"minValues":{"id":1},"maxValues":{"id":5}}`:   true,
		`{"minValues":{"id":6},"maxValues":{"id":19}}`:  false,
		`{"minValues":{"id":20},"maxValues":{"id":30}}`: true,
		`{"minValues":{"id":21},"maxValues":{"id":30}}`: false,
		`{"minValues":{},"maxValues":{}}`:               true, // no stats: read it
		``:                                              true,
	} {
		if got := p.mayHold(stats); got != want {
			t.Errorf("ints mayHold(%s) = %v", stats, got)
		}
	}
	s := &pruner{phys: "k", strs: []string{"b", "m"}}
	for stats, want := range map[string]bool{
		`{"minValues":{"k":"c"},"maxValues":{"k":"l"}}`: false,
		`{"minValues":{"k":"c"},"maxValues":{"k":"m"}}`: true,
		`{"minValues":{"k":"n"}}`:                       false,
		`{"minValues":{"k":"a"}}`:                       true, // max left out: unbounded
	} {
		if got := s.mayHold(stats); got != want {
			t.Errorf("strings mayHold(%s) = %v", stats, got)
		}
	}
}

func TestSchemaRoundTrip(t *testing.T) {
	cols, _, _, err := evolveColumns(nil, []change.Column{
		{Name: "OrderID", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: &arrow.Decimal128Type{Precision: 38, Scale: 9}},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := formatSchema(cols)
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 4 || back[0].name != "OrderID" || back[0].phys != "orderid" || back[3].name != change.ColSeq ||
		!arrow.TypeEqual(back[1].typ, cols[1].typ) || !arrow.TypeEqual(back[2].typ, cols[2].typ) {
		t.Fatalf("round trip: %+v", back)
	}
	for _, bad := range []string{"a b", "x,y", "p(q)", "t=1", ""} {
		if _, _, _, err := evolveColumns(nil, []change.Column{{Name: bad, Type: arrow.PrimitiveTypes.Int64}}); err == nil {
			t.Errorf("column name %q accepted", bad)
		}
	}
	if _, _, _, err := evolveColumns(nil, []change.Column{{Name: "u", Type: arrow.PrimitiveTypes.Uint64}}); err == nil {
		t.Error("uint64 accepted")
	}
}

// TestDecodeForeignCommitInfo: commitInfo of other writers (delta-rs
// writes numbers in operationMetrics) and unknown actions decode.
func TestDecodeForeignCommitInfo(t *testing.T) {
	log := `{"commitInfo":{"timestamp":1,"operation":"WRITE","operationMetrics":{"num_added_files":1},"engineInfo":"delta-rs"}}
{"add":{"path":"a.parquet","partitionValues":{},"size":1,"modificationTime":1,"dataChange":true,"stats":null,"tags":null,"baseRowId":null}}

{"commitInfo":{"lakemerge":"not an object"}}
{"sidecar":{"path":"x"}}
`
	acts, err := decodeActions(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 4 || acts[0].CommitInfo == nil || acts[1].Add == nil || acts[2].CommitInfo.Lakemerge != nil || acts[3].other != "sidecar" {
		t.Fatalf("decoded %+v", acts)
	}
}
