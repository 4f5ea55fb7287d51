package debezium

import (
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRepeatedSchemaWrapper checks the line that repeats the last schema
// wrapper byte for byte, which is parsed without validating the schema
// again (sameSchemaPayload), against the same lines with the wrapper's
// members swapped, which are always parsed whole: the same rows and the
// same error (a syntax error at the same line, for the same reason).
func TestRepeatedSchemaWrapper(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := func(idType string) string {
		return `{"type":"struct","fields":[{"type":"struct","field":"after","fields":[{"type":"` + idType + `","field":"id"},{"type":"string","field":"v"}]}]}`
	}
	s32, s64 := schema("int32"), schema("int64")
	row := func(id int, v string) string {
		return pgLine("c", "null", fmt.Sprintf(`{"id":%d,"v":%s}`, id, v), 100+id)
	}
	for _, tc := range []struct {
		name  string
		lines [][2]string // schema, payload
		// a line given as-is, not made from lines
		raw map[int]string
	}{
		{name: "same schema", lines: [][2]string{{s32, row(1, `"a"`)}, {s32, row(2, `"b"`)}, {s32, row(3, `"c\"d"`)}}},
		{name: "schema changes", lines: [][2]string{{s32, row(1, `"a"`)}, {s64, row(2, `"b"`)}, {s64, row(3, `"c"`)}, {s32, row(4, `"d"`)}}},
		{name: "null schema between", lines: [][2]string{{s32, row(1, `"a"`)}, {"null", row(2, `"b"`)}, {s32, row(3, `"c"`)}}},
		{name: "bad payload JSON", lines: [][2]string{{s32, row(1, `"a"`)}, {s32, row(2, `"b`)}, {s32, row(3, `"c"`)}}},
		{name: "payload not a change", lines: [][2]string{{s32, row(1, `"a"`)}, {s32, `{"x":1}`}}},
		{name: "payload mistyped", lines: [][2]string{{s32, row(1, `"a"`)}, {s32, row(2, `7`)}}},
		{name: "field not in the schema", lines: [][2]string{{s32, row(1, `"a"`)}, {s32, pgLine("c", "null", `{"id":2,"w":1}`, 102)}}},
		{name: "third member", lines: [][2]string{{s32, row(1, `"a"`)}, {s32, row(2, `"b"`) + `,"x":1`}}},
		{name: "trailing garbage", lines: [][2]string{{s32, row(1, `"a"`)}, {s32, row(2, `"b"`) + `}`}}},
		{name: "prefix of a longer schema", lines: [][2]string{{s32, row(1, `"a"`)}, {s32[:len(s32)-1] + `,"name":"x"}`, row(2, `"b"`)}}},
		{name: "spaces", lines: [][2]string{{s32, row(1, `"a"`)}, {s32, row(2, `"b"`) + " "}, {s32, " " + row(3, `"c"`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fast, whole strings.Builder
			for _, l := range tc.lines {
				fast.WriteString(`{"schema":` + l[0] + `,"payload":` + l[1] + "}\n")
				whole.WriteString(`{"payload":` + l[1] + `,"schema":` + l[0] + "}\n")
			}
			opts := testOptions{Keys: []string{"id"}}.options(t)
			got, err := decodeAll(t, mem, input{key: decKey, data: []byte(fast.String())}, opts)
			want, wantErr := decodeAll(t, mem, input{key: decKey, data: []byte(whole.String())}, opts)
			if got != want {
				t.Errorf("rows:\n%s\nwith the members swapped:\n%s", got, want)
			}
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("error %v, with the members swapped %v", err, wantErr)
			}
			if err != nil && !sameError(err.Error(), wantErr.Error()) {
				t.Errorf("error %v, with the members swapped %v", err, wantErr)
			}
		})
	}
}

// sameError compares two error messages up to the detail of a JSON syntax
// error (its byte offset and what it found there), which moves when the
// members are swapped.
func sameError(a, b string) bool {
	cut := func(s string) string {
		if i := strings.Index(s, "bad JSON at byte "); i >= 0 {
			return s[:i]
		}
		return s
	}
	return cut(a) == cut(b)
}

// TestLSNPair checks that source.sequence read by lsnPair gives the
// position the JSON parser gives for the same text with a space in it
// (which lsnPair leaves to the parser), and the same error.
func TestLSNPair(t *testing.T) {
	for _, seq := range []string{
		`["24000000","24000005"]`, `[null,"24000005"]`, `["24000000",null]`, `[null,null]`,
		`["0","0"]`, `["18446744073709551615","1"]`, `["18446744073709551616","1"]`, `["","1"]`,
		`["1","2","3"]`, `["1"]`, `["-1","2"]`, `["1",2]`, `["0x1","2"]`, `[]`, `["1","\u0032"]`, `["1","\\"]`,
	} {
		spaced := strings.Replace(seq, "[", "[ ", 1)
		pos := func(text string) (string, error) {
			d := &Decoder{}
			var s srcFields
			s.lsn = jval{kind: jNumber, raw: []byte("7")}
			s.sequence = jval{kind: jString, esc: true, raw: []byte(strings.ReplaceAll(text, `"`, `\"`))}
			sb := &d.posBuf
			ok, err := d.postgresPos(sb, &s)
			return fmt.Sprintf("%v %x", ok, sb.Bytes()), err
		}
		got, err := pos(seq)
		want, wantErr := pos(spaced)
		if got != want || (err == nil) != (wantErr == nil) || err != nil && strings.Replace(wantErr.Error(), "[ ", "[", 1) != err.Error() {
			t.Errorf("sequence %s: %s %v; read by the parser: %s %v", seq, got, err, want, wantErr)
		}
	}
}
