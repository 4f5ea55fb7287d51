package workload_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/benchmarks/workload"
)

// concat returns the files' bytes, in order.
func concat(t *testing.T, paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(filepath.Base(p) + "\n")
		b.Write(data)
	}
	return b.String()
}

// TestWriteSetsMatchesWrite: each change set WriteSets writes beside one
// load is the workload Write writes with that change count — whatever the
// sets before it — so a scaling benchmark can load a table once and merge
// every set into a copy of it.
func TestWriteSetsMatchesWrite(t *testing.T) {
	for _, dist := range []workload.Dist{workload.Uniform, workload.Recent, workload.Zipf} {
		spec := workload.Spec{Seed: 3, BaseRows: 2000, Inserts: 0.2, Deletes: 0.1, Reinserts: 0.3,
			Dist: dist, NoteBytes: 8, RowsPerFile: 700}
		counts := []int{1500, 10, 300}
		var sets []workload.Set
		for range counts {
			sets = append(sets, workload.Set{Dir: t.TempDir()})
		}
		for i, n := range counts {
			sets[i].Changes = n
		}
		got, err := workload.WriteSets(spec, t.TempDir(), sets)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range counts {
			spec.Changes = n
			want, err := workload.Write(spec, t.TempDir(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if concat(t, got[i].LoadFiles) != concat(t, want.LoadFiles) {
				t.Fatalf("%s, %d changes: the load differs", dist, n)
			}
			if concat(t, got[i].CDCFiles) != concat(t, want.CDCFiles) {
				t.Fatalf("%s, %d changes: the change set differs from Write's", dist, n)
			}
			if got[i].Inserts+got[i].Updates+got[i].Dels != n || got[i].FinalRows != want.FinalRows {
				t.Fatalf("%s, %d changes: counts %+v, want %+v", dist, n, got[i], want)
			}
		}
		if dist == workload.Uniform {
			small, large := concat(t, got[1].CDCFiles), concat(t, got[0].CDCFiles)
			if !strings.HasPrefix(large, small) {
				t.Fatal("the 10 uniform changes are not the first of the 1500")
			}
		}
	}
}

// TestWriteKeepsItsBytes: a Spec gives the bytes it gave before change sets
// (the digest of the output of Write at commit 92853ba), so figures measured on
// regenerated data stay comparable.
func TestWriteKeepsItsBytes(t *testing.T) {
	spec := workload.Spec{Seed: 5, BaseRows: 3000, Changes: 2500, Inserts: 0.2, Deletes: 0.1, Reinserts: 0.2,
		Dist: workload.Zipf, NoteBytes: 10, RowsPerFile: 1000}
	res, err := workload.Write(spec, t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(concat(t, res.LoadFiles) + concat(t, res.CDCFiles)))
	if got := hex.EncodeToString(sum[:]); got != wantBytes {
		t.Fatalf("digest %s, want %s", got, wantBytes)
	}
}

const wantBytes = "1a5efe8b1da8bfc19dc34716b0ab6df6eaadbef7e94148d145253f7bb20a38a0"
