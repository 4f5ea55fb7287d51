package delta

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/lakemerge/lakemerge/bookmarks"
	"github.com/lakemerge/lakemerge/change"
	testkitgolden "github.com/lakemerge/lakemerge/internal/testkit/golden"
	"github.com/lakemerge/lakemerge/objstore/mem"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	testkitgolden.Check(t, filepath.Join("testdata", name), got, *update)
}

var (
	uuidRE  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	shaRE   = regexp.MustCompile(`[0-9a-f]{64}`)
	sizeRE  = regexp.MustCompile(`("size(InBytes)?":)\d+`)
	bytesRE = regexp.MustCompile(`("numTargetBytes(Added|Removed)":)"\d+"`)
)

// normalize replaces what changes from run to run (uuids, digests) or with
// the Parquet library (file sizes) by placeholders.
func normalize(s string) string {
	s = uuidRE.ReplaceAllString(s, "<uuid>")
	s = shaRE.ReplaceAllString(s, "<sha256>")
	s = sizeRE.ReplaceAllString(s, "${1}<n>")
	s = bytesRE.ReplaceAllString(s, `${1}"<n>"`)
	return s
}

// TestLogGolden writes a small table in three commits (create with rows;
// update, delete, insert; a new column and a late change) plus a
// checkpoint, and compares every log file lakemerge wrote with
// testdata/log.golden: the exact actions, their order, the stats JSON and
// the checkpoint's Parquet schema.
func TestLogGolden(t *testing.T) {
	ctx := context.Background()
	m := checkedMem(t)
	store := mem.New()
	clock := newClock()
	tb := New(store, "sales/orders/", Options{Keys: []string{"id"}}, m)
	tb.now = clock.now
	cols := []change.Column{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "Customer", Type: arrow.BinaryTypes.String},
		{Name: "amount", Type: decType},
		{Name: "ts", Type: tsType},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32},
		{Name: "paid", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "blob", Type: arrow.BinaryTypes.Binary},
	}
	row := func(op change.Op, seq uint64, id int64, customer string, cents int64) chg {
		return chg{Op: op, Seq: seq, Vals: map[string]any{
			"id": id, "Customer": customer, "amount": cents, "ts": int64(1_767_225_600_123_456) + id*1000,
			"day": int32(20454), "paid": id%2 == 0, "blob": []byte{byte(id)},
		}}
	}
	var bm bookmarks.Bookmark
	commit := func(cols []change.Column, rows []chg) {
		t.Helper()
		rec := buildChanges(t, m, cols, rows, false)
		defer rec.Release()
		bm = bm.Advance([]bookmarks.Entry{{Key: fmt.Sprintf("raw/%d.csv", bm.Runs), ETag: "etag", Size: 10}})
		run(t, tb, cols, rec, nil, bm)
	}
	commit(cols, []chg{
		row(change.OpInsert, 1, 1, "ada", 1050),
		row(change.OpInsert, 2, 2, "bob", -20),
		row(change.OpInsert, 3, 3, strings.Repeat("z", 40), 99999),
	})
	commit(cols, []chg{
		row(change.OpUpdate, 4, 1, "ada lovelace", 1100),
		{Op: change.OpDelete, Seq: 5, Vals: map[string]any{"id": int64(2)}},
		row(change.OpInsert, 6, 4, "cy", 0),
	})
	cols2 := append(cols, change.Column{Name: "note", Type: arrow.BinaryTypes.String})
	late := row(change.OpUpdate, 3, 3, "late", 1) // older than the row's _seq 3: stale
	fresh := row(change.OpUpdate, 7, 4, "cy", 5)
	fresh.Vals["note"] = "first note"
	commit(cols2, []chg{late, fresh})
	if err := tb.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	objs, err := store.List(ctx, "sales/orders/_delta_log/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, "sales/orders/")
		fmt.Fprintf(&out, "-- %s --\n", normalize(name))
		b, err := tb.readAll(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, ".checkpoint.parquet"):
			out.WriteString(describeCheckpoint(t, b))
		case strings.HasSuffix(name, ".parquet"):
			out.WriteString("(tombstones)\n")
		case strings.Contains(name, "/state-"):
			var sf stateFile
			if err := json.Unmarshal(b, &sf); err != nil {
				t.Fatal(err)
			}
			got, err := bookmarks.Decode(sf.Bookmark)
			if err != nil {
				t.Fatal(err)
			}
			sf.Bookmark = got.Summary()
			js, _ := json.Marshal(sf)
			out.WriteString(normalize(string(js)) + "\n")
		default:
			out.WriteString(normalize(string(b)))
			if !bytes.HasSuffix(b, []byte("\n")) {
				out.WriteString("\n")
			}
		}
	}
	golden(t, "log.golden", out.String())
}

// describeCheckpoint renders a checkpoint: its Parquet schema, then its
// rows as log actions.
func describeCheckpoint(t *testing.T, b []byte) string {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	schema.PrintSchema(pr.MetaData().Schema.Root(), &out, 2)
	pr.Close()
	s := newSnapshot()
	tb := &Table{mem: checkedMem(t)}
	if err := tb.replayCheckpointFile(context.Background(), s, b); err != nil {
		t.Fatal(err)
	}
	acts := []action{{Protocol: s.protocol}, {MetaData: s.meta}}
	for _, txn := range s.txns {
		acts = append(acts, action{Txn: &txn})
	}
	for _, p := range s.paths() {
		acts = append(acts, action{Add: s.files[p]})
	}
	for _, r := range s.removes {
		acts = append(acts, action{Remove: r})
	}
	js, err := encodeActions(acts)
	if err != nil {
		t.Fatal(err)
	}
	// Adds and removes are in path order, which normalizing hides: sort
	// them by their normalized lines.
	lines := strings.Split(strings.TrimSuffix(normalize(string(js)), "\n"), "\n")
	slices.Sort(lines[len(acts)-len(s.removes)-len(s.files) : len(acts)-len(s.removes)])
	slices.Sort(lines[len(acts)-len(s.removes):])
	out.WriteString(strings.Join(lines, "\n") + "\n")
	return out.String()
}
