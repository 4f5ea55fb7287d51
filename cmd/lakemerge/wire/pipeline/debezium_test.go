package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/formats/debezium"
	"github.com/lakemerge/lakemerge/merge"
)

// dbzTopic is the topic of the Debezium scenarios: PostgreSQL connector
// "pg", table public.items.
const dbzTopic = "pg.public.items"

// dbzSink writes Debezium change events the way the Kafka Connect S3 sink
// does: per partition, files named <topic>+<partition>+<startOffset>.json
// holding consecutive offsets.
type dbzSink struct {
	e      *env
	offset [2]int64
}

// event renders one change as a PostgreSQL connector envelope without a
// schema; its LSN is the change's seq, so source positions order the
// changes across partitions exactly as the model does.
func dbzEvent(c change1) string {
	row := func(withValues bool) map[string]any {
		m := map[string]any{"id": c.id, "name": nil, "amount": nil}
		if withValues {
			m["name"] = c.name
			if c.keepName {
				m["name"] = "__debezium_unavailable_value"
			}
			if c.amount != "" {
				m["amount"] = c.amount
			}
		}
		return m
	}
	lsn := 1000 + c.seq*16
	ev := map[string]any{
		"source": map[string]any{"version": "2.7.0.Final", "connector": "postgresql", "name": "pg", "ts_ms": 1700000000000 + c.seq,
			"snapshot": "false", "db": "shop", "schema": "public", "table": "items", "txId": 500 + c.seq, "lsn": lsn,
			"sequence": fmt.Sprintf(`["%d","%d"]`, lsn-8, lsn)},
		"ts_ms": 1700000000100 + c.seq, "transaction": nil,
	}
	switch c.op {
	case 'I':
		ev["op"], ev["before"], ev["after"] = "c", nil, row(true)
	case 'U':
		ev["op"], ev["before"], ev["after"] = "u", nil, row(true)
	case 'D':
		ev["op"], ev["before"], ev["after"] = "d", row(false), nil
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

// write puts changes into one file of partition p; deletes are followed
// by their tombstone line, as Debezium emits them.
func (s *dbzSink) write(p int, cs []change1) {
	var b strings.Builder
	lines := int64(0)
	for _, c := range cs {
		b.WriteString(dbzEvent(c) + "\n")
		lines++
		if c.op == 'D' {
			b.WriteString("null\n")
			lines++
		}
	}
	key := fmt.Sprintf("topics/%s/partition=%d/%s+%d+%010d.json", dbzTopic, p, dbzTopic, p, s.offset[p])
	s.offset[p] += lines
	if err := s.e.store.Put(context.Background(), key, bytes.NewReader([]byte(b.String()))); err != nil {
		s.e.t.Fatal(err)
	}
}

func (e *env) debeziumTable() *merge.Table {
	return &merge.Table{
		Name:    "items",
		Prefix:  "topics/" + dbzTopic + "/",
		Keys:    []string{"id"},
		Columns: columns[:3],
		Raw:     wire.RawStore{Store: e.store},
		Format: wire.DebeziumFormat(debezium.Options{
			Columns: columns[:3], Keys: []string{"id"}, Encodings: map[string]string{"amount": "string"}}, e.store),
		Target: wire.IcebergTarget{Table: e.iceberg()},
		Mem:    e.mem,
	}
}

func (e *env) runDebezium() merge.Result {
	e.t.Helper()
	res, err := e.debeziumTable().Run(context.Background())
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return res
}

// TestDebeziumRandomRunsMatchModel: random changes spread over two Kafka
// partitions, several files per partition and run, tombstones after
// deletes; after every run the table equals the model that applies the
// changes in commit (LSN) order.
func TestDebeziumRandomRunsMatchModel(t *testing.T) {
	for _, b := range backends(t) {
		for _, seed := range []uint64{31, 32} {
			t.Run(fmt.Sprintf("backend=%s/seed=%d", b, seed), func(t *testing.T) {
				e := newEnvOn(t, b)
				s := &dbzSink{e: e}
				g := newGen(seed, 40)
				m := model{}
				var deletes, skipped int64
				for run := 0; run < 4; run++ {
					var parts [2][]change1
					for n := 20 + g.rng.IntN(40); n > 0; n-- {
						c := g.next()
						if c.op == 'U' && g.rng.IntN(3) == 0 {
							c.keepName = true // unchanged TOAST value
						}
						if c.op == 'D' {
							deletes++ // each delete is followed by a tombstone line
						}
						p := g.rng.IntN(2)
						parts[p] = append(parts[p], c)
						m.apply([]change1{c})
					}
					for p := range parts {
						// one or two files per partition
						cut := len(parts[p]) / (1 + g.rng.IntN(2))
						if cut > 0 {
							s.write(p, parts[p][:cut])
						}
						if cut < len(parts[p]) {
							s.write(p, parts[p][cut:])
						}
					}
					skipped += e.runDebezium().Skipped
					diff(t, fmt.Sprint("run ", run), e.read(), m.render())
				}
				if skipped != deletes || deletes == 0 {
					t.Fatalf("skipped %d events, want the %d tombstones", skipped, deletes)
				}
				if len(m) < 10 {
					t.Fatalf("model holds only %d rows: the scenario tests little", len(m))
				}
				if res := e.runDebezium(); !res.UpToDate {
					t.Fatalf("run without new files did something: %+v", res)
				}
			})
		}
	}
}

// TestDebeziumTruncate: a truncate event removes every row older than it,
// stored or in the same run, and later changes apply on top.
func TestDebeziumTruncate(t *testing.T) {
	e := newEnv(t)
	s := &dbzSink{e: e}
	s.write(0, []change1{{op: 'I', id: 1, name: "a", amount: "1.00", seq: 1}, {op: 'I', id: 2, name: "b", amount: "2.00", seq: 2}})
	e.runDebezium()
	trunc := `{"before":null,"after":null,"source":{"version":"2.7.0.Final","connector":"postgresql","name":"pg","ts_ms":1700000000010,"snapshot":"false","db":"shop","schema":"public","table":"items","txId":600,"lsn":1160,"sequence":"[\"1152\",\"1160\"]"},"op":"t","ts_ms":1700000000011,"transaction":null}`
	body := dbzEvent(change1{op: 'I', id: 3, name: "c", amount: "3.00", seq: 5}) + "\n" + trunc + "\n" +
		dbzEvent(change1{op: 'I', id: 4, name: "d", amount: "", seq: 20}) + "\n"
	key := fmt.Sprintf("topics/%s/partition=0/%s+0+%010d.json", dbzTopic, dbzTopic, s.offset[0])
	if err := e.store.Put(context.Background(), key, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	res := e.runDebezium()
	if res.Stats.Deleted != 2 || res.Stats.Inserted != 1 {
		t.Fatalf("stats %+v, want 2 deleted by the truncate, 1 inserted after it", res.Stats)
	}
	diff(t, "after truncate", e.read(), "4|\"d\"|NULL\n")
}

// TestDebeziumPartialImages: an update that leaves a column out (an
// unchanged TOAST value) keeps the stored value, or the value of an earlier
// change in the same run; with no row to keep from, the column is NULL and
// counted.
func TestDebeziumPartialImages(t *testing.T) {
	e := newEnv(t)
	s := &dbzSink{e: e}
	s.write(0, []change1{{op: 'I', id: 1, name: "long text", amount: "1.00", seq: 1}})
	e.runDebezium()
	s.write(0, []change1{
		{op: 'U', id: 1, amount: "2.00", seq: 2, keepName: true},            // from the stored row
		{op: 'I', id: 5, name: "n5", amount: "1.00", seq: 3},                // same run:
		{op: 'U', id: 5, amount: "5.00", seq: 4, keepName: true},            // from the insert above
		{op: 'U', id: 9, name: "x", amount: "9.00", seq: 5, keepName: true}, // nothing to keep
	})
	res := e.runDebezium()
	if res.Stats.KeptMissing != 1 {
		t.Fatalf("stats %+v, want 1 kept_missing", res.Stats)
	}
	diff(t, "table", e.read(), "1|\"long text\"|2.00\n5|\"n5\"|5.00\n9|\"\"|9.00\n")
}
