package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBinaryChunkedLoadDecimalAndTimestampKeys: a full load too large for
// memory_mb 64 into an Iceberg table whose key (the default layout's
// bucketed column, 16 buckets) is a decimal(12,2) or a timestamp spills by
// the table's key buckets, as an integer key's does (merge.Bucketer):
// the run exits 0, applies several chunks and writes at most chunks +
// buckets - 1 data files (a spill by a hash of the key writes about
// chunks × buckets), each holding the rows of one bucket by pyiceberg's
// own transform, in key order; and pyiceberg reads back exactly the rows
// loaded, one of them by a filter on its key.
func TestBinaryChunkedLoadDecimalAndTimestampKeys(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, key := range []struct {
		name, typ string
		// csv is the text of key k in a DMS file, read the text
		// pyiceberg's reader prints for it (read_iceberg.py).
		csv, read func(k int) string
	}{
		{
			name: "decimal", typ: "decimal(12,2)",
			csv:  func(k int) string { return fmt.Sprintf("%d.%02d", k-chunkKeys/2, k%100) },
			read: func(k int) string { return fmt.Sprintf("%d.%02d", k-chunkKeys/2, k%100) },
		},
		{
			name: "timestamp", typ: "timestamp",
			csv: func(k int) string {
				return base.Add(time.Duration(k) * 1_000_003 * time.Microsecond).Format("2006-01-02 15:04:05.000000")
			},
			read: func(k int) string {
				ts := base.Add(time.Duration(k) * 1_000_003 * time.Microsecond)
				if ts.Nanosecond() == 0 {
					return ts.Format("2006-01-02T15:04:05")
				}
				return ts.Format("2006-01-02T15:04:05.000000")
			},
		},
	} {
		t.Run(key.name, func(t *testing.T) {
			dir := t.TempDir()
			w := newChunkWorkload(t, dir, chunkKeys)
			name := func(k int) string { return fmt.Sprintf("load-%d-%s", k, w.pad) }
			writeRawFile(t, w.raw, "LOAD00000001.csv", func(b *bufio.Writer) {
				for k := range chunkKeys {
					fmt.Fprintf(b, "%s,%s\n", key.csv(k), name(k))
				}
			})
			spill := w.spill()
			job := spillJobKey(t, dir, "small", 64, key.typ)
			s := runChunkStep(t, "load", job, spill)
			const nb = 16
			if s.Chunks < 2 || s.SpilledRows == 0 || s.Stats.Inserted != chunkKeys {
				t.Fatalf("%d chunks, %d rows spilled, %d inserted: want several chunks and %d rows", s.Chunks, s.SpilledRows, s.Stats.Inserted, chunkKeys)
			}
			if s.Stats.DataFiles > int64(s.Chunks+nb-1) {
				t.Fatalf("%d chunks of %d buckets wrote %d data files: the spill did not follow the buckets", s.Chunks, nb, s.Stats.DataFiles)
			}
			t.Logf("%d chunks wrote %d data files", s.Chunks, s.Stats.DataFiles)
			py := pythonForInterop(t)
			if py == nil {
				t.Log("LAKEMERGE_PYTHON not set: the table is not read back by pyiceberg")
				return
			}
			one := key.read(7)
			o, err := py.Output(filepath.Join("..", "..", "interop", "partitions.py"), "iceberg",
				filepath.Join(dir, "small.db"), "file://"+filepath.Join(dir, "small"), "shop.items", "id", one)
			var l partLayout
			if err == nil {
				err = json.Unmarshal(o, &l)
			}
			if err != nil {
				t.Fatalf("partitions.py: %v\n%s", err, o)
			}
			if len(l.BadPartition)+len(l.UnsortedColumn) > 0 || len(l.PartitionFiles) != nb || l.DataFiles != int(s.Stats.DataFiles) || l.FilteredRows != 1 {
				t.Fatalf("the table's files as pyiceberg reads them: %+v", l)
			}
			var want []string
			for k := range chunkKeys {
				want = append(want, fmt.Sprintf("{\"id\": %q, \"name\": %q}", key.read(k), name(k)))
			}
			o, err = py.CombinedOutput(filepath.Join("..", "..", "interop", "read_iceberg.py"), "sqlite",
				filepath.Join(dir, "small.db"), "file://"+filepath.Join(dir, "small"), "shop.items", "id")
			if err != nil {
				t.Fatalf("pyiceberg read: %v\n%s", err, o)
			}
			// read_iceberg.py orders the rows by the key's text.
			got := strings.Split(strings.TrimSuffix(string(o), "\n"), "\n")
			slices.Sort(got)
			slices.Sort(want)
			if len(got) != len(want) {
				t.Fatalf("pyiceberg reads %d rows, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("pyiceberg reads %s, want %s", got[i], want[i])
				}
			}
		})
	}
}
