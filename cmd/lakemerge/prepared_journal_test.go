package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
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
