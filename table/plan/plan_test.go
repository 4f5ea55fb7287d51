package plan_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
	"github.com/lakemerge/lakemerge/table/plan"
)

// A case reads like the rule. Rows and changes are written "key@seq":
//
//	stored   data files in order, each "file: key@seq key@seq …" (positions 0, 1, …);
//	         "x" in place of a row is a position an earlier delete removed
//	tombs    the table's tombstones "key@seq", all written at now-1h
//	changes  one per key, "I|U|D key@seq", "+keep" for a partial row image
//	truncate a reload's truncateBefore seq (0: none)
//	horizon  the tombstone horizon (0: 7 days)
//	none     the table keeps no tombstones (Input.NoTombstones)
//
// and the plan must decide:
//
//	verdicts one per change, in order
//	removed  "file:pos,pos …" in file order
//	after    the tombstones after the changes, "key@seq"
//	stats    "inserted updated deleted stale absent kept_missing"
type planCase struct {
	name     string
	stored   []string
	tombs    string
	changes  string
	truncate uint64
	horizon  time.Duration
	none     bool

	verdicts string
	removed  string
	after    string
	stats    string
}

var planCases = []planCase{
	// Keys without a stored row or tombstone.
	{name: "an insert of a new key inserts",
		changes: "I 1@5", verdicts: "insert", stats: "1 0 0 0 0 0"},
	{name: "an update of a new key inserts (an upsert)",
		changes: "U 1@5", verdicts: "insert", stats: "1 0 0 0 0 0"},
	{name: "a delete of a new key is absent and leaves a tombstone",
		changes: "D 1@5", verdicts: "absent", after: "1@5", stats: "0 0 0 0 1 0"},

	// A newer change of a live row replaces it.
	{name: "a newer update replaces the stored row",
		stored: []string{"a: 1@3 2@3"}, changes: "U 2@4",
		verdicts: "update", removed: "a:1", stats: "0 1 0 0 0 0"},
	{name: "a newer insert of a live key replaces it too",
		stored: []string{"a: 1@3"}, changes: "I 1@4",
		verdicts: "update", removed: "a:0", stats: "0 1 0 0 0 0"},
	{name: "a newer delete removes the stored row and leaves a tombstone",
		stored: []string{"a: 1@3 2@3"}, changes: "D 1@9",
		verdicts: "delete", removed: "a:0", after: "1@9", stats: "0 0 1 0 0 0"},

	// Invariant 4: late changes never win.
	{name: "an older update of a live row is stale",
		stored: []string{"a: 1@7"}, changes: "U 1@6",
		verdicts: "stale", stats: "0 0 0 1 0 0"},
	{name: "an update as old as the stored row is stale",
		stored: []string{"a: 1@7"}, changes: "U 1@7",
		verdicts: "stale", stats: "0 0 0 1 0 0"},
	{name: "an older delete of a live row is stale and leaves no tombstone",
		stored: []string{"a: 1@7"}, changes: "D 1@2",
		verdicts: "stale", stats: "0 0 0 1 0 0"},
	{name: "an older update of a deleted key is stale while its tombstone lives",
		tombs: "1@30", changes: "U 1@20",
		verdicts: "stale", after: "1@30", stats: "0 0 0 1 0 0"},
	{name: "an older delete of a deleted key is stale and keeps the newer tombstone",
		tombs: "1@30", changes: "D 1@20",
		verdicts: "stale", after: "1@30", stats: "0 0 0 1 0 0"},
	{name: "a newer insert of a deleted key brings it back and clears the tombstone",
		tombs: "1@30 2@30", changes: "I 1@40",
		verdicts: "insert", after: "2@30", stats: "1 0 0 0 0 0"},
	{name: "a newer delete of a deleted key moves its tombstone",
		tombs: "1@30", changes: "D 1@40",
		verdicts: "absent", after: "1@40", stats: "0 0 0 0 1 0"},
	{name: "a tombstone past the horizon still decides this change set, and is dropped after it",
		tombs: "1@30", horizon: 30 * time.Minute, changes: "U 1@20",
		verdicts: "stale", stats: "0 0 0 1 0 0"},
	{name: "a tombstone past the horizon is dropped even without changes of its key",
		tombs: "1@30 2@30", horizon: 30 * time.Minute, changes: "U 3@1",
		verdicts: "insert", stats: "1 0 0 0 0 0"},
	{name: "a live row and a tombstone of one key: the live row decides",
		stored: []string{"a: 1@10"}, tombs: "1@30", changes: "U 1@20",
		verdicts: "update", removed: "a:0", stats: "0 1 0 0 0 0"},

	// Rows an earlier delete removed are not live.
	{name: "a removed position is not the key's live row",
		stored: []string{"a: x 1@3"}, changes: "U 1@4",
		verdicts: "update", removed: "a:1", stats: "0 1 0 0 0 0"},
	{name: "a key whose only row was removed is inserted",
		stored: []string{"a: x x"}, changes: "U 1@4",
		verdicts: "insert", stats: "1 0 0 0 0 0"},

	// Several files, several changes.
	{name: "changes find their rows in any file",
		stored:   []string{"a: 1@1 2@1 3@1", "b: 4@1 5@8"},
		changes:  "U 2@5 D 3@5 U 5@5 D 6@5 I 7@5",
		verdicts: "update delete stale absent insert", removed: "a:1,2", after: "3@5 6@5",
		stats: "1 1 1 1 1 0"},

	// Reloads: truncateBefore.
	{name: "a reload removes the older rows it does not hold",
		stored: []string{"a: 1@3 2@3", "b: 3@3"}, truncate: 5, changes: "I 2@6",
		verdicts: "update", removed: "a:0,1 b:0", stats: "0 1 2 0 0 0"},
	{name: "a reload keeps rows newer than it",
		stored: []string{"a: 1@3 2@9"}, truncate: 5, changes: "I 3@6",
		verdicts: "insert", removed: "a:0", stats: "1 0 1 0 0 0"},
	{name: "a reload drops the tombstones older than it",
		tombs: "1@3 2@9", truncate: 5, changes: "I 3@6",
		verdicts: "insert", after: "2@9", stats: "1 0 0 0 0 0"},
	{name: "a reload keeps the tombstones its own deletes leave",
		truncate: 5, changes: "D 1@6",
		verdicts: "absent", after: "1@6", stats: "0 0 0 0 1 0"},

	// A table that keeps no tombstones (a prepared table).
	{name: "without tombstones a delete removes the stored row and leaves none",
		none: true, stored: []string{"a: 1@3 2@3"}, changes: "D 1@9 D 3@9",
		verdicts: "delete absent", removed: "a:0", stats: "0 0 1 0 1 0"},
	{name: "without tombstones the table's are neither consulted nor kept",
		none: true, tombs: "1@30 2@30", changes: "U 1@20",
		verdicts: "insert", stats: "1 0 0 0 0 0"},
	{name: "without tombstones a late change of a live row is still stale",
		none: true, stored: []string{"a: 1@7 2@7"}, changes: "U 1@6 D 2@5",
		verdicts: "stale stale", stats: "0 0 0 2 0 0"},

	// Partial row images.
	{name: "a partial insert of a key without a stored row counts its missing columns",
		changes: "U 1@5+keep I 2@5", verdicts: "insert insert", stats: "2 0 0 0 0 1"},
	{name: "a partial update of a live row takes the stored values (nothing missing)",
		stored: []string{"a: 1@3"}, changes: "U 1@5+keep",
		verdicts: "update", removed: "a:0", stats: "0 1 0 0 0 0"},
	{name: "a stale partial change counts nothing missing",
		stored: []string{"a: 1@8"}, changes: "U 1@5+keep",
		verdicts: "stale", stats: "0 0 0 1 0 0"},
}

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func seq(v uint64) []byte {
	var b change.SeqBuilder
	return b.Uint64(v).Bytes()
}

// keySeq parses "key@seq".
func keySeq(t *testing.T, s string) (int64, uint64) {
	t.Helper()
	k, sq, ok := strings.Cut(s, "@")
	key, err1 := strconv.ParseInt(k, 10, 64)
	n, err2 := strconv.ParseUint(sq, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad key@seq %q", s)
	}
	return key, n
}

func encKey(key int64) []byte {
	return []byte{1, byte(uint64(key)>>56 ^ 0x80), byte(key >> 48), byte(key >> 40), byte(key >> 32), byte(key >> 24), byte(key >> 16), byte(key >> 8), byte(key)}
}

var keyed = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: change.ColSeq, Type: arrow.BinaryTypes.Binary},
}, nil)

// run decides the case with the stored rows handed over via "match"
// (Plan.Match, a row at a time), "found" (Plan.MatchFound with the rows
// whose key KeyIndex finds, as table.ScanMatches hands them) or "older"
// (the same, rows whose _seq is below Plan.MinSeq marked Older, without
// their _seq).
func (c planCase) run(t *testing.T, mem memory.Allocator, via string) {
	// The changes: id, v, _op, _seq, _keep.
	sch := arrow.NewSchema(append(change.Schema([]change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "v", Type: arrow.BinaryTypes.String}}).Fields(),
		arrow.Field{Name: change.ColKeep, Type: arrow.BinaryTypes.Binary, Nullable: true}), nil)
	cb := array.NewRecordBuilder(mem, sch)
	defer cb.Release()
	f := strings.Fields(c.changes)
	for i := 0; i < len(f); i += 2 {
		spec, keep := strings.CutSuffix(f[i+1], "+keep")
		key, sq := keySeq(t, spec)
		op, err := change.ParseOp(f[i])
		if err != nil {
			t.Fatal(err)
		}
		cb.Field(0).(*array.Int64Builder).Append(key)
		cb.Field(1).(*array.StringBuilder).AppendNull()
		cb.Field(2).(*array.Int8Builder).Append(int8(op))
		cb.Field(3).(*array.BinaryBuilder).Append(seq(sq))
		if keep {
			cb.Field(4).(*array.BinaryBuilder).Append([]byte{2}) // v left out
		} else {
			cb.Field(4).(*array.BinaryBuilder).AppendNull()
		}
	}
	changes := cb.NewRecordBatch()
	defer changes.Release()

	var trunc []byte
	if c.truncate > 0 {
		trunc = seq(c.truncate)
	}
	tombs := &table.Tombstones{}
	for _, ts := range strings.Fields(c.tombs) {
		key, sq := keySeq(t, ts)
		tombs.Keys = append(tombs.Keys, encKey(key))
		tombs.Seqs = append(tombs.Seqs, seq(sq))
		tombs.At = append(tombs.At, now.Add(-time.Hour).UnixMicro())
	}
	horizon := c.horizon
	if horizon == 0 {
		horizon = table.DefaultTombstoneHorizon
	}
	p, err := plan.New(plan.Input{Changes: changes, Keys: []string{"id"}, TruncateBefore: trunc, Tombstones: tombs, Now: now, Horizon: horizon,
		NoTombstones: c.none})
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range c.stored {
		name, rows, _ := strings.Cut(file, ":")
		sb := array.NewRecordBuilder(mem, keyed)
		var dead []int64
		for pos, r := range strings.Fields(rows) {
			if r == "x" {
				dead = append(dead, int64(pos))
				sb.Field(0).(*array.Int64Builder).Append(-1)
				sb.Field(1).(*array.BinaryBuilder).Append(seq(0))
				continue
			}
			key, sq := keySeq(t, r)
			sb.Field(0).(*array.Int64Builder).Append(key)
			sb.Field(1).(*array.BinaryBuilder).Append(seq(sq))
		}
		rec := sb.NewRecordBatch()
		sb.Release()
		if via == "located" {
			err := matchLocated(mem, p, name, rec, dead)
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		if via != "match" {
			err := matchFound(p, name, rec, dead, via == "older")
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		// Matched in batches of one row, as a file read in small batches.
		for pos := int64(0); pos < rec.NumRows(); pos++ {
			one := rec.NewSlice(pos, pos+1)
			err := p.Match(name, one, pos, dead)
			one.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
		rec.Release()
	}
	d, err := p.Decide()
	if err != nil {
		t.Fatal(err)
	}

	var verdicts []string
	for i := range p.Len() {
		verdicts = append(verdicts, p.Verdict(i).String())
	}
	if got := strings.Join(verdicts, " "); got != c.verdicts {
		t.Errorf("verdicts %q, want %q", got, c.verdicts)
	}
	var removed []string
	for _, r := range p.Removed() {
		var ps []string
		for _, pos := range r.Positions {
			ps = append(ps, fmt.Sprint(pos))
		}
		removed = append(removed, strings.TrimSpace(r.File)+":"+strings.Join(ps, ","))
	}
	if got := strings.Join(removed, " "); got != c.removed {
		t.Errorf("removed %q, want %q", got, c.removed)
	}
	var after []string
	for i, k := range d.Tombstones.Keys {
		key := int64(uint64(k[1]^0x80)<<56 | uint64(k[2])<<48 | uint64(k[3])<<40 | uint64(k[4])<<32 | uint64(k[5])<<24 | uint64(k[6])<<16 | uint64(k[7])<<8 | uint64(k[8]))
		after = append(after, fmt.Sprintf("%d@%d", key, seqValue(d.Tombstones.Seqs[i])))
	}
	if got := strings.Join(after, " "); got != c.after {
		t.Errorf("tombstones after %q, want %q", got, c.after)
	}
	if d.TombstonesChanged != (c.after != c.tombs && !c.none) {
		t.Errorf("tombstones changed %v, but %q became %q", d.TombstonesChanged, c.tombs, c.after)
	}
	s := d.Stats
	if got := fmt.Sprint(s.Inserted, s.Updated, s.Deleted, s.Stale, s.Absent, s.KeptMissing); got != c.stats {
		t.Errorf("stats %q (inserted updated deleted stale absent kept_missing), want %q", got, c.stats)
	}
}

// matchFound hands the plan the live rows of rec (keyed) whose key a
// change has, through MatchFound; with older, those whose _seq is below
// every change's come as Older, without their _seq.
func matchFound(p *plan.Plan, file string, rec arrow.RecordBatch, dead []int64, older bool) error {
	x, err := p.KeyIndex()
	if err != nil || x == nil {
		return err
	}
	least := p.MinSeq()
	keys, seqs := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Binary)
	var found []table.Match
	for pos := range int(rec.NumRows()) {
		if slices.Contains(dead, int64(pos)) {
			continue
		}
		i, ok := x.LookupInt(keys.Value(pos))
		if !ok {
			continue
		}
		m := table.Match{Change: i, Pos: int64(pos), Seq: seqs.Value(pos)}
		if older && change.CompareSeq(m.Seq, least) < 0 {
			m.Seq, m.Older = nil, true
		}
		found = append(found, m)
	}
	return p.MatchFound(file, found, table.ScanCounts{Rows: rec.NumRows()})
}

func seqValue(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func TestRule(t *testing.T) {
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			c.run(t, mem, "match")
		})
	}
}

// TestRuleThroughMatchFound: the rule decides the same whether the stored
// rows come through Match or, as the writers' integer-key scan hands them,
// through MatchFound — with their _seq, or marked Older when it is below
// every change's. (A reload sees every row through Match only.)
func TestRuleThroughMatchFound(t *testing.T) {
	for _, via := range []string{"found", "older"} {
		for _, c := range planCases {
			if c.truncate > 0 {
				continue
			}
			t.Run(via+"/"+c.name, func(t *testing.T) {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer mem.AssertSize(t, 0)
				c.run(t, mem, via)
			})
		}
	}
}

// TestRuleThroughMatchLocated: the rule decides the same whether the
// stored rows come through Match or, as a history run hands its writer
// the rows it read, through MatchLocated: the live rows of each file
// with their positions. A count of rows that is not the count of
// positions is refused.
func TestRuleThroughMatchLocated(t *testing.T) {
	for _, c := range planCases {
		if c.truncate > 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			c.run(t, mem, "located")
		})
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, stored, release := planOfKey1(t, mem, []int64{1, 2})
	defer release()
	if err := p.MatchLocated(stored, table.Located{Files: []table.LocatedFile{{Path: "a", Pos: []int64{4}}}}); err == nil {
		t.Error("2 rows located at 1 position accepted")
	}
}

// matchLocated hands p the live rows of rec (keyed; dead: the positions
// of the others) of file name with their positions, as a located read
// does.
func matchLocated(mem memory.Allocator, p *plan.Plan, name string, rec arrow.RecordBatch, dead []int64) error {
	b := array.NewRecordBuilder(mem, rec.Schema())
	defer b.Release()
	ids, seqs := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Binary)
	var pos []int64
	for r := range int(rec.NumRows()) {
		if !slices.Contains(dead, int64(r)) {
			pos = append(pos, int64(r))
			b.Field(0).(*array.Int64Builder).Append(ids.Value(r))
			b.Field(1).(*array.BinaryBuilder).Append(seqs.Value(r))
		}
	}
	rows := b.NewRecordBatch()
	defer rows.Release()
	return p.MatchLocated(rows, table.Located{Files: []table.LocatedFile{{Path: name, Pos: pos}}})
}

// planOfKey1 returns the plan of one change (key 1, _seq 2) and stored
// rows of ids (_seq 1); release releases the batches.
func planOfKey1(t *testing.T, mem memory.Allocator, ids []int64) (p *plan.Plan, stored arrow.RecordBatch, release func()) {
	t.Helper()
	changes := keyedBatch(mem, change.Schema([]change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}), 2, []int64{1})
	stored = keyedBatch(mem, keyed, 1, ids)
	release = func() {
		changes.Release()
		stored.Release()
	}
	p, err := plan.New(plan.Input{Changes: changes, Keys: []string{"id"}})
	if err != nil {
		release()
		t.Fatal(err)
	}
	return p, stored, release
}

// TestTwoLiveRowsOfOneKey: a table that holds two live rows of a changed
// key violates invariant 3; the plan refuses to decide for it.
func TestTwoLiveRowsOfOneKey(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	p, stored, release := planOfKey1(t, mem, []int64{1, 1})
	defer release()
	err := p.Match("a", stored, 0, nil)
	if err == nil || !strings.Contains(err.Error(), "two live rows (the second in a at 1)") {
		t.Fatalf("two live rows of key 1: %v", err)
	}
}

// TestOneChangePerKey: a change set with two changes of one key is
// refused, sorted or not, before any stored row is read.
func TestOneChangePerKey(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, ids := range [][]int64{{1, 2, 2}, {2, 1, 2}} {
		changes := keyedBatch(mem, change.Schema([]change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}), 2, ids)
		if _, err := plan.New(plan.Input{Changes: changes, Keys: []string{"id"}}); err == nil {
			t.Errorf("changes of keys %v accepted", ids)
		}
		changes.Release()
	}
}

// TestIntKeyMatchesLongRows: a key column that is int in the changes
// matches the long column of rows written after it was widened, and the
// other way round.
func TestIntKeyMatchesLongRows(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	i32 := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: change.ColSeq, Type: arrow.BinaryTypes.Binary}}, nil)
	for _, c := range []struct {
		name            string
		changes, stored *arrow.Schema
	}{
		{"int changes, long rows", change.Schema([]change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}), keyed},
		{"long changes, int rows", change.Schema([]change.Column{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}), i32},
	} {
		changes := keyedBatch(mem, c.changes, 2, []int64{1, 2})
		p, err := plan.New(plan.Input{Changes: changes, Keys: []string{"id"}})
		if err != nil {
			t.Fatal(err)
		}
		stored := keyedBatch(mem, c.stored, 1, []int64{2, 3})
		if err := p.Match("a", stored, 0, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Decide(); err != nil {
			t.Fatal(err)
		}
		if p.Verdict(0) != plan.Insert || p.Verdict(1) != plan.Update || !slices.Equal(p.Removed()[0].Positions, []int64{0}) {
			t.Errorf("%s: verdicts %v %v, removed %v", c.name, p.Verdict(0), p.Verdict(1), p.Removed())
		}
		stored.Release()
		changes.Release()
	}
}

// keyedBatch builds rows with the given ids (column 0, int32 or int64),
// _op U and _seq sq where the schema has them.
func keyedBatch(mem memory.Allocator, sch *arrow.Schema, sq uint64, ids []int64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, sch)
	defer b.Release()
	for _, id := range ids {
		for i, f := range sch.Fields() {
			switch fb := b.Field(i).(type) {
			case *array.Int64Builder:
				fb.Append(id)
			case *array.Int32Builder:
				fb.Append(int32(id))
			case *array.Int8Builder:
				fb.Append(int8(change.OpUpdate))
			case *array.BinaryBuilder:
				if f.Name == change.ColSeq {
					fb.Append(seq(sq))
				}
			}
		}
	}
	return b.NewRecordBatch()
}
