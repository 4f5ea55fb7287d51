package debezium

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkJSON compares the package's JSON reader with encoding/json on one
// input: the same verdict on validity (for UTF-8 input within the nesting
// limit), the same decoded strings, and the same members and elements.
func checkJSON(t *testing.T, data []byte) {
	var p jsonParser
	v, err := p.parse(data)
	valid := json.Valid(data)
	switch {
	case err == nil && !valid:
		t.Fatalf("parseLine accepts %q, encoding/json does not", data)
	case err != nil && valid && utf8.Valid(data) && !strings.Contains(err.Error(), "nested deeper"):
		t.Fatalf("parseLine rejects %q (%v), encoding/json accepts it", data, err)
	case err != nil:
		return
	}
	checkValue(t, &p, v)
}

func checkValue(t *testing.T, p *jsonParser, v jval) {
	switch v.kind {
	case jString:
		var want string
		quoted := append(append([]byte{'"'}, v.raw...), '"')
		if err := json.Unmarshal(quoted, &want); err != nil {
			t.Fatalf("string %s: %v", quoted, err)
		}
		if got := string(appendString(nil, v)); got != want {
			t.Fatalf("string %s decodes to %q, encoding/json gives %q", quoted, got, want)
		}
		if gotEsc := bytes.IndexByte(v.raw, '\\') >= 0; gotEsc != v.esc {
			t.Fatalf("string %s: esc %v", quoted, v.esc)
		}
	case jObject:
		var members []json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(v.raw))
		dec.UseNumber()
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			k, _ := tok.(string)
			var m json.RawMessage
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			members = append(members, json.RawMessage(k), m)
		}
		type member struct{ key, val jval }
		var indexed []member
		for _, e := range p.members(v) {
			indexed = append(indexed, member{e.key(v.raw), e.value(v.raw)})
		}
		if len(indexed)*2 != len(members) {
			t.Fatalf("object %s: indexed %v with %d members, encoding/json finds %d", v.raw, v.indexed, len(indexed), len(members)/2)
		}
		it := newObjIter(v)
		i := 0
		for k, m, ok := it.next(); ok; k, m, ok = it.next() {
			if im := indexed[i/2]; !bytes.Equal(im.key.raw, k.raw) || im.key.esc != k.esc || !bytes.Equal(im.val.raw, m.raw) || im.val.kind != m.kind || im.val.esc != m.esc {
				t.Fatalf("object %s member %d: indexed %+v, walked %+v %+v", v.raw, i/2, im, k, m)
			}
			if i+1 >= len(members) {
				t.Fatalf("object %s: more members than encoding/json finds", v.raw)
			}
			if string(appendString(nil, k)) != string(members[i]) || !bytes.Equal(fullRaw(m), members[i+1]) {
				t.Fatalf("object %s member %d: %q:%s, want %q:%s", v.raw, i/2, appendString(nil, k), m.raw, members[i], members[i+1])
			}
			checkValue(t, p, indexed[i/2].val)
			i += 2
		}
		if i != len(members) {
			t.Fatalf("object %s: %d members, encoding/json finds %d", v.raw, i/2, len(members)/2)
		}
	case jArray:
		var elems []json.RawMessage
		if err := json.Unmarshal(v.raw, &elems); err != nil {
			t.Fatal(err)
		}
		it := newArrIter(v)
		i := 0
		for e, ok := it.next(); ok; e, ok = it.next() {
			if i >= len(elems) || !bytes.Equal(fullRaw(e), bytes.TrimSpace(elems[i])) {
				t.Fatalf("array %s element %d: %s", v.raw, i, e.raw)
			}
			checkValue(t, p, e)
			i++
		}
		if i != len(elems) {
			t.Fatalf("array %s: %d elements, encoding/json finds %d", v.raw, i, len(elems))
		}
	case jNumber:
		var n json.Number
		if err := json.Unmarshal(v.raw, &n); err != nil || string(n) != string(v.raw) {
			t.Fatalf("number %s: %v", v.raw, err)
		}
	}
}

var jsonSeeds = []string{
	`{"a":1,"b":[true,false,null,"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00"],"c":{"d":-0.5e+10}}`,
	` { "a" : [ 1 , 2 ] , "" : {} } `,
	`"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud83d\ude00\ud83d"`,
	`[]`, `[[]]`, `{}`, `[{"a":1},{"b":{"c":[{}]}}]`, `0`, `-0`, `1.0`, `1e5`, `1E-5`, `12345678901234567890123`,
	`01`, `1.`, `.5`, `-`, `+1`, `1e`, `[1,]`, `{"a":1,}`, `{"a"}`, `{1:2}`, `[1 2]`, `"a`, `"\x"`, `"\u12"`, "\"\x01\"", "\"\xff\"",
	`tru`, `nul`, `true false`, `{"a":"é"}`, strings.Repeat("[", 300) + strings.Repeat("]", 300),
}

func TestJSONAgainstEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkJSON(t, []byte(s))
	}
}

func FuzzJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkJSON(t, data)
	})
}

// fullRaw is the JSON text of v, quotes included for strings.
func fullRaw(v jval) []byte {
	if v.kind == jString {
		return append(append([]byte{'"'}, v.raw...), '"')
	}
	return v.raw
}
