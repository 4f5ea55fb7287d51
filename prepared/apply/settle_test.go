package apply

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// TestSettle: the interval rule on one key's entries (sorted by order
// key), table cases: each entry written as "op@time" ("D@40", "U@-" for no
// commit time, a leading * for a stored entry with its stored interval
// "to/current"), the result as "from-to current" per entry and which
// entries are written.
func TestSettle(t *testing.T) {
	cases := []struct {
		name    string
		entries []string // "I@10", "*U@30:NULL/true" (stored: to/current as stored)
		want    string   // per entry "from-to current", then "!" when written
	}{
		{"one version is current", []string{"I@10"},
			"10-NULL true!"},
		{"an update closes the version before it", []string{"*I@10:NULL/true", "U@30"},
			"10-30 false! | 30-NULL true!"},
		{"a late version lands in the middle", []string{"*I@10:30/false", "U@20", "*U@30:NULL/true"},
			"10-20 false! | 20-30 false! | 30-NULL true"},
		{"a delete closes the version and is never current", []string{"*I@10:NULL/true", "D@40"},
			"10-40 false! | 40-40 false!"},
		{"a late version before a delete is closed by it", []string{"*I@10:40/false", "U@35", "*D@40:40/false"},
			"10-35 false! | 35-40 false! | 40-40 false"},
		{"a re-insert after a delete is current", []string{"*I@10:40/false", "*D@40:40/false", "I@50"},
			"10-40 false | 40-40 false | 50-NULL true!"},
		{"a late delete between two versions", []string{"*I@10:30/false", "D@25", "*U@30:NULL/true"},
			"10-25 false! | 25-25 false! | 30-NULL true"},
		{"a version without a commit time closes the one before at NULL", []string{"*I@10:NULL/true", "U@-"},
			"10-NULL false! | NULL-NULL true!"},
		{"nothing changed, nothing written", []string{"*I@10:30/false", "*U@30:NULL/true"},
			"10-30 false | 30-NULL true"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var es []*entry
			for i, s := range c.entries {
				e := &entry{seq: []byte{byte(i)}}
				if strings.HasPrefix(s, "*") {
					e.stored = true
					s = s[1:]
					var st string
					s, st, _ = strings.Cut(s, ":")
					to, cur, _ := strings.Cut(st, "/")
					e.to, e.current = parseTime(t, to), cur == "true"
				}
				op, at, _ := strings.Cut(s, "@")
				e.op, e.gap, e.from = op, op == "D", parseTime(t, at)
				es = append(es, e)
			}
			settle(es)
			var got []string
			for _, e := range es {
				s := fmt.Sprintf("%s-%s %t", timeText(e.from), timeText(e.to), e.current)
				if e.changed {
					s += "!"
				}
				got = append(got, s)
			}
			if g := strings.Join(got, " | "); g != c.want {
				t.Fatalf("got  %s\nwant %s", g, c.want)
			}
		})
	}
}

func parseTime(t *testing.T, s string) nullTime {
	t.Helper()
	if s == "-" || s == "NULL" {
		return nullTime{}
	}
	var v int64
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return nullTime{v, true}
}

func timeText(v nullTime) string {
	if !v.ok {
		return "NULL"
	}
	return fmt.Sprint(v.us)
}

// TestEntrySize: a run holds an entry for each stored and new version of
// the keys it touches; entry's doc gives its size.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n != 88 {
		t.Errorf("an entry takes %d bytes, entry's doc says 88", n)
	}
}
