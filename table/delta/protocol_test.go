package delta

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/objstore/mem"
)

func TestRequiredProtocol(t *testing.T) {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond}
	id := column{name: "id", phys: "id", typ: arrow.PrimitiveTypes.Int64}
	ntz := column{name: "at", phys: "at", typ: ts}
	utc := column{name: "at", phys: "at", typ: ts, utc: true}
	v12 := &protocolAction{MinReaderVersion: 1, MinWriterVersion: 2}
	ntz37 := &protocolAction{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"timestampNtz"}, WriterFeatures: []string{"timestampNtz"}}
	for _, c := range []struct {
		name string
		cur  *protocolAction
		cols []column
		want *protocolAction
	}{
		{"new table without timestamps", nil, []column{id}, v12},
		{"new table with a timestamp", nil, []column{id, ntz}, ntz37},
		{"old table, old timestamp column", v12, []column{id, utc}, nil},
		{"old table gains a timestamp_ntz column", v12, []column{id, utc, ntz},
			&protocolAction{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"timestampNtz"}, WriterFeatures: []string{"appendOnly", "invariants", "timestampNtz"}}},
		{"writer 7 table keeps its features", &protocolAction{MinReaderVersion: 1, MinWriterVersion: 7, WriterFeatures: []string{"appendOnly"}}, []column{ntz},
			&protocolAction{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"timestampNtz"}, WriterFeatures: []string{"appendOnly", "timestampNtz"}}},
		{"feature there already", ntz37, []column{id, ntz}, nil},
	} {
		got := requiredProtocol(c.cur, c.cols)
		if (got == nil) != (c.want == nil) || (got != nil && (got.MinReaderVersion != c.want.MinReaderVersion ||
			got.MinWriterVersion != c.want.MinWriterVersion || !slices.Equal(got.ReaderFeatures, c.want.ReaderFeatures) ||
			!slices.Equal(got.WriterFeatures, c.want.WriterFeatures))) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		if got != nil {
			if err := checkProtocol(got, true); err != nil {
				t.Errorf("%s: lakemerge refuses the protocol it writes: %v", c.name, err)
			}
		}
	}
}

// TestTimestampTableUpgrade: a table written before timestamp_ntz (reader
// 1 / writer 2, a Delta timestamp column) keeps its protocol and its
// column's type, written isAdjustedToUTC; a timestamp column added later
// is timestamp_ntz, written without isAdjustedToUTC, and its commit
// upgrades the protocol to reader 3 / writer 7 with timestampNtz.
func TestTimestampTableUpgrade(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	schemaString := `{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}},{\"name\":\"at\",\"type\":\"timestamp\",\"nullable\":true,\"metadata\":{}},{\"name\":\"_seq\",\"type\":\"binary\",\"nullable\":true,\"metadata\":{}}]}`
	log := `{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}` + "\n" +
		`{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":"` + schemaString + `","partitionColumns":[],"configuration":{},"createdTime":1}}` + "\n"
	if err := store.Put(ctx, "t/"+commitName(0), strings.NewReader(log)); err != nil {
		t.Fatal(err)
	}
	m := checkedMem(t)
	tb := New(store, "t/", Options{Keys: []string{"id"}}, m)
	ts := &arrow.TimestampType{Unit: arrow.Microsecond}
	cols := []change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "at", Type: ts}}
	var bm bookmarks.Bookmark
	commit := func(cols []change.Column, rows []chg) []action {
		t.Helper()
		rec := buildChanges(t, m, cols, rows, false)
		defer rec.Release()
		bm = bm.Advance(nil)
		_, x := run(t, tb, cols, rec, nil, bm)
		acts, err := tb.readCommit(ctx, x.Version())
		if err != nil {
			t.Fatal(err)
		}
		return acts
	}
	physical := func(acts []action, col string) bool { // isAdjustedToUTC of col in the commit's data file
		t.Helper()
		for _, a := range acts {
			if a.Add == nil {
				continue
			}
			pr, err := tb.openParquet(ctx, a.Add.Path)
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			i := pr.MetaData().Schema.ColumnIndexByName(col)
			lt, ok := pr.MetaData().Schema.Column(i).LogicalType().(schema.TimestampLogicalType)
			if !ok {
				t.Fatalf("%s is not a Parquet timestamp", col)
			}
			return lt.IsAdjustedToUTC()
		}
		t.Fatal("commit has no add")
		return false
	}

	acts := commit(cols, []chg{{Op: change.OpInsert, Seq: 1, Vals: map[string]any{"id": int64(1), "at": int64(1_054_736)}}})
	for _, a := range acts {
		if a.Protocol != nil || a.MetaData != nil {
			t.Fatalf("a commit without schema change wrote %+v %+v", a.Protocol, a.MetaData)
		}
	}
	if !physical(acts, "at") {
		t.Fatal("Delta timestamp column written without isAdjustedToUTC")
	}

	wide := append(slices.Clone(cols), change.Column{Name: "seen", Type: ts})
	acts = commit(wide, []chg{{Op: change.OpInsert, Seq: 2, Vals: map[string]any{"id": int64(2), "at": int64(-1), "seen": int64(7)}}})
	var prot *protocolAction
	var meta *metadataAction
	for _, a := range acts {
		prot, meta = cmpOr(a.Protocol, prot), cmpOr(a.MetaData, meta)
	}
	if prot == nil || prot.MinReaderVersion != 3 || prot.MinWriterVersion != 7 ||
		!slices.Equal(prot.ReaderFeatures, []string{"timestampNtz"}) || !slices.Equal(prot.WriterFeatures, []string{"appendOnly", "invariants", "timestampNtz"}) {
		t.Fatalf("protocol after adding a timestamp_ntz column: %+v", prot)
	}
	if meta == nil || !strings.Contains(meta.SchemaString, `"name":"at","type":"timestamp"`) || !strings.Contains(meta.SchemaString, `"name":"seen","type":"timestamp_ntz"`) {
		t.Fatalf("schema after upgrade: %v", meta)
	}
	if !physical(acts, "at") || physical(acts, "seen") {
		t.Fatal("physical timestamp types after upgrade: want at adjusted to UTC, seen not")
	}
	// A checkpoint keeps the features, and the table reads back whole.
	if err := tb.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := tb.load(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if s.checkpoint < 0 || !s.protocol.supports(featureTimestampNtz) || !slices.Contains(s.protocol.WriterFeatures, "invariants") {
		t.Fatalf("protocol from the checkpoint: %+v (checkpoint %d)", s.protocol, s.checkpoint)
	}
	got := readRows(t, tb)
	if len(got) != 2 {
		t.Fatalf("rows %v", got)
	}
}

func cmpOr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}
