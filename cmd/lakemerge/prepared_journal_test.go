package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// staleFiles is a runFiles that writes one CDC file of late changes only:
// for each key the base table holds a row or a tombstone of, a change
// whose order key is below the stored one (an update or a delete of a
// live key, a re-insert of a deleted one), which the base table finds
// stale. The run changes no row of the base table; a history keeps each
// change as a version in its place.
func staleFiles(t *testing.T, dir string, rng *rand.Rand, m *mirrorModel, _ *int64, used map[int64]bool, files *int) []clChange {
	t.Helper()
	*files++
	at := fmt.Sprintf("2024-06-01T00:00:%02d", *files)
	var out []clChange
	for _, id := range slices.Sorted(maps.Keys(m.seqs)) {
		stored := m.seqs[id]
		late := stored - 1
		for late > stored-10 && late > 0 && used[late] {
			late--
		}
		if late <= stored-10 || late <= 0 {
			continue
		}
		used[late] = true
		a := account{id: id, name: fmt.Sprintf("holder %d", id), email: fmt.Sprintf("u%d@example.com", rng.IntN(5)),
			balance: int64(rng.IntN(60)), status: statuses[rng.IntN(len(statuses))]}
		op := byte('U')
		cur, live := m.live[id]
		switch {
		case !live:
			op = 'I'
		case rng.IntN(3) == 0:
			op, a = 'D', cur
		}
		a.seq = late
		out = append(out, clChange{op: op, a: a, time: at})
	}
	if len(out) == 0 {
		t.Fatal("no key to change late")
	}
	writeDMSFile(t, dir, *files, out)
	return out
}

// TestPreparedHistoryStaleRunCrashThenRerun is
// TestPreparedHistoryCrashThenRerun of a run whose every change is stale:
// its base commit changes no row (an Iceberg commit writes no data or
// delete file), and its journal is all the history has of the late
// versions a clean run keeps. A re-run after a fault at any write from
// the base commit on leaves the history as the clean run does.
func TestPreparedHistoryStaleRunCrashThenRerun(t *testing.T) {
	for _, b := range accountBases {
		t.Run(b.format, func(t *testing.T) {
			historyCrashThenRerun(t, b.name, b.format, historyRuns{first: changelogFiles, next: staleFiles})
		})
	}
}

// TestPreparedHistoryDebeziumCrashThenRerun is
// TestPreparedHistoryCrashThenRerun of Debezium changes (PostgreSQL
// envelopes in Kafka Connect S3 sink files, writeDebeziumFile): the
// journal carries each change's source.ts_ms, deletes whose before image
// holds the key only, and order keys built from source positions and
// offsets; a re-run after a fault at any write from the base commit on
// leaves the history as one clean run does.
func TestPreparedHistoryDebeziumCrashThenRerun(t *testing.T) {
	for _, b := range accountBases {
		t.Run(b.format, func(t *testing.T) {
			historyCrashThenRerun(t, b.name, b.format, historyRuns{debezium: true, first: debeziumFiles, next: debeziumFiles})
		})
	}
}

// debeziumFiles is changelogFiles of Debezium topics (writeDebeziumFile).
func debeziumFiles(t *testing.T, dir string, rng *rand.Rand, m *mirrorModel, seq *int64, used map[int64]bool, files *int) []clChange {
	t.Helper()
	return accountFiles(t, dir, rng, m, seq, used, files, writeDebeziumFile)
}

// accountsTopic is the Debezium topic of the source of base table base.
func accountsTopic(base string) string { return "pg.bank." + base }

// writeDebeziumFile is an accountWriter of the files the Kafka Connect S3
// sink writes of a PostgreSQL connector's topic (partition 0, offsets
// running on from the files before; schemaless JSON envelopes, the shape
// of formats/debezium/testdata/real/postgres_all_types): an insert is op
// c, an update op u without a before image, a delete op d whose before
// image holds the key only (the default replica identity). source.lsn is
// the change's order key (change_seq), so that a late change in a later
// file orders before the stored one, as its commit did; source.ts_ms is
// the change's own commit time, a minute apart within a file, which the
// change's time is set to. The sink writes no empty file.
func writeDebeziumFile(t *testing.T, dir string, file int, changes []clChange) {
	t.Helper()
	if len(changes) == 0 {
		return
	}
	ops := map[byte]string{'I': "c", 'U': "u", 'D': "d"}
	for _, base := range accountBases {
		var b strings.Builder
		for i := range changes {
			c := &changes[i]
			at := time.Date(2024, 6, 1, file, i, 0, 0, time.UTC)
			c.time = at.Format("2006-01-02T15:04:05")
			a := c.a
			var status any
			if a.status != "" {
				status = a.status
			}
			row := map[string]any{"id": a.id, "name": a.name, "email": a.email, "balance": a.balance, "status": status, "change_seq": fmt.Sprintf("%035d", a.seq)}
			ev := map[string]any{"op": ops[c.op], "before": nil, "after": row, "ts_ms": at.UnixMilli() + 250,
				"source": map[string]any{"version": "2.7.0.Final", "connector": "postgresql", "name": "pg", "ts_ms": at.UnixMilli(),
					"snapshot": "false", "db": "bank", "schema": "bank", "table": base.name, "txId": 700 + a.seq, "lsn": 1000 + a.seq, "xmin": nil}}
			if c.op == 'D' {
				ev["before"], ev["after"] = map[string]any{"id": a.id, "name": nil, "email": nil, "balance": nil, "status": nil, "change_seq": nil}, nil
			}
			line, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		topic := accountsTopic(base.name)
		folder := filepath.Join(dir, "raw", "topics", topic, "partition=0")
		if err := os.MkdirAll(folder, 0o755); err != nil {
			t.Fatal(err)
		}
		// The offsets before: the lines of the files written so far.
		offset := 0
		sinkFiles, err := filepath.Glob(filepath.Join(folder, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range sinkFiles {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			offset += bytes.Count(body, []byte("\n"))
		}
		name := fmt.Sprintf("%s+0+%010d.json", topic, offset)
		if err := os.WriteFile(filepath.Join(folder, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
