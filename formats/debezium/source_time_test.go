package debezium

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/internal/testkit/decodetest"
)

// newestSourceMs is the reference for Decoder.SourceTime, written from the
// Debezium docs with encoding/json: the greatest source.ts_ms (or
// __source_ts_ms of a flattened row) over the lines that are row changes
// or truncates (op c, u, d, r, t; flattened rows), whatever else a line
// holds. 0 when none has one.
func newestSourceMs(t *testing.T, data []byte, flattened bool) int64 {
	t.Helper()
	if len(data) > 1 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	var newest int64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || string(line) == "null" {
			continue
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(line, &v); err != nil {
			continue // not an object: the decoder rejects or skips it
		}
		if p, ok := v["payload"]; ok && len(v) == 2 && v["schema"] != nil {
			v = nil
			if err := json.Unmarshal(p, &v); err != nil || v == nil {
				continue
			}
		}
		var ts json.Number
		var op string
		_ = json.Unmarshal(v["op"], &op)
		_, flat := v["__op"]
		_, deleted := v["__deleted"]
		switch {
		case strings.Contains("cudrt", op) && op != "":
			var src map[string]json.RawMessage
			if json.Unmarshal(v["source"], &src) != nil {
				continue
			}
			_ = json.Unmarshal(src["ts_ms"], &ts)
		case flattened || flat || deleted:
			_ = json.Unmarshal(v["__source_ts_ms"], &ts)
		default:
			continue
		}
		if ms, err := ts.Int64(); err == nil && ms > newest {
			newest = ms
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return newest
}

// TestSourceTime: for every golden input (real samples included), the
// decoder's SourceTime is the reference's newest source.ts_ms.
func TestSourceTime(t *testing.T) {
	withTime := 0
	for _, c := range loadGoldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			name, err := ParseName(c.in.key)
			if err != nil {
				t.Fatal(err)
			}
			f := File{Name: name, Generation: c.in.gen}
			if c.in.keys != nil {
				f.Keys = bytes.NewReader(c.in.keys)
			}
			dec, err := NewDecoder(bytes.NewReader(c.in.data), f, c.Options.options(t), mem)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			if err := decodetest.Drain(t, dec, batchRows(c.Options.options(t)), func(arrow.RecordBatch) {}); err != nil {
				t.Fatal(err)
			}
			want := newestSourceMs(t, c.in.data, c.Options.Flattened)
			if got := dec.Stats().NewestSourceMs; got != want {
				t.Errorf("NewestSourceMs %d, want %d", got, want)
			}
			got := dec.SourceTime()
			switch {
			case want == 0 && !got.IsZero():
				t.Errorf("SourceTime %v, want zero", got)
			case want != 0 && !got.Equal(time.UnixMilli(want)):
				t.Errorf("SourceTime %v, want %v", got, time.UnixMilli(want).UTC())
			case want != 0:
				withTime++
			}
		})
	}
	if withTime < 5 {
		t.Errorf("only %d inputs carry source.ts_ms: the test checks too little", withTime)
	}
}

// TestSourceTimeFlattenedEventTime: a flattened row's __ts_ms is when
// Debezium handled the event, not the commit: only __source_ts_ms counts.
func TestSourceTimeFlattenedEventTime(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	data := `{"id":1,"__op":"c","__lsn":10,"__ts_ms":1700000009000,"__source_ts_ms":1700000001000}
{"id":2,"__op":"u","__lsn":11,"__ts_ms":1700000009500,"__source_ts_ms":1700000002000}
{"id":3,"__op":"c","__lsn":12,"__ts_ms":1700000009900}
`
	name, err := ParseName("topics/pg.public.t/partition=0/pg.public.t+0+0000000000.json")
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(strings.NewReader(data), File{Name: name}, Options{Keys: []string{"id"}, Flattened: true}, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if got, want := dec.SourceTime(), time.UnixMilli(1700000002000); !got.Equal(want) {
		t.Fatalf("SourceTime %v, want %v", got, want.UTC())
	}
}
