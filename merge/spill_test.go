package merge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/merge"
)

// spillEnv is an env whose runs have a memory budget (0: none) and spill
// to a folder of their own, which the tests check is empty after every
// run.
type spillEnv struct {
	*env
	budget int64
	dir    string
}

func newSpillEnv(t *testing.T, budget int64) *spillEnv {
	return &spillEnv{env: newEnv(t), budget: budget, dir: t.TempDir()}
}

func (e *spillEnv) table() *merge.Table {
	tb := e.env.table(e.tbl)
	tb.MemoryBudget, tb.SpillDir, tb.KeepChanges = e.budget, e.dir, true
	return tb
}

// run runs the table and returns its result and applied change set
// rendered as text ("" when none); it fails the test when the spill
// folder is not empty afterwards.
func (e *spillEnv) run() (merge.Result, string, error) {
	e.t.Helper()
	res, err := e.table().Run(context.Background())
	applied := ""
	if res.Applied != nil {
		applied = renderRecord(res.Applied)
		res.Applied.Release()
	}
	e.checkEmpty()
	return res, applied, err
}

func (e *spillEnv) checkEmpty() {
	e.t.Helper()
	left, err := os.ReadDir(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(left) > 0 {
		e.t.Fatalf("spill folder not removed: %s holds %s", e.dir, left[0].Name())
	}
}

// renderRecord is every row of rec, column by column as text.
func renderRecord(rec arrow.RecordBatch) string {
	var b strings.Builder
	fmt.Fprintln(&b, rec.Schema())
	for r := range int(rec.NumRows()) {
		for c := range int(rec.NumCols()) {
			col := rec.Column(c)
			if col.IsNull(r) {
				b.WriteString("NULL|")
			} else {
				fmt.Fprintf(&b, "%s|", col.ValueStr(r))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// spillBudgets are the budgets the spill tests compare: none (the
// in-memory path, the reference), one byte (every batch spills), and a
// few KiB (the run spills part way, after holding some batches).
var spillBudgets = []int64{0, 1, 3 << 10, 12 << 10}

// TestSpillMatchesInMemory: the same changes through runs with different
// memory budgets — in memory, spilling from the first batch, spilling part
// way — and split into files differently (one change per line of a
// handful of files, or many small files) give the same table, equal to
// the reference model, and the same applied change set (one row per key,
// _keep and _ts included) as the in-memory path; the runs that spilled
// say so, the in-memory ones do not; no spill file is left behind.
func TestSpillMatchesInMemory(t *testing.T) {
	for _, seed := range []uint64{11, 12} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			g := newGen(seed, 400)
			var load []change1
			for id := int64(0); id < 300; id++ {
				g.live[id] = true
				load = append(load, change1{op: 'I', id: id, name: fmt.Sprint("load", id)})
			}
			// runs[r] are the files of run r.
			var runs [][][]change1
			for range 3 {
				var files [][]change1
				for range 2 + g.rng.IntN(4) {
					var cs []change1
					for range 50 + g.rng.IntN(200) {
						cs = append(cs, g.next())
					}
					files = append(files, cs)
				}
				runs = append(runs, files)
			}
			type variant struct {
				budget  int64
				split   bool // every file cut into files of at most 7 changes
				chunked bool // the table takes a spilled change set in chunks
				buckets int  // the chunked table's key buckets (merge.Bucketer)
			}
			var variants []variant
			for _, b := range spillBudgets {
				variants = append(variants, variant{b, false, false, 0}, variant{b, true, false, 0})
				if b > 0 {
					variants = append(variants, variant{b, false, true, 0}, variant{b, true, true, 0},
						variant{b, true, true, 5})
				}
			}
			m := model{}
			m.apply(load)
			envs := make([]*spillEnv, len(variants))
			for i, v := range variants {
				envs[i] = newSpillEnv(t, v.budget)
				envs[i].tbl.chunked, envs[i].tbl.buckets = v.chunked, v.buckets
				envs[i].raw.put(prefix+"load-1", body(load[:150]))
				envs[i].raw.put(prefix+"load-2", body(load[150:]))
			}
			for r := range len(runs) + 1 {
				if r > 0 {
					for _, cs := range runs[r-1] {
						m.apply(cs)
					}
				}
				// The applied set of the in-memory run per split (_seq
				// names the file, so it differs between splits).
				wantApplied := map[bool]string{}
				for i, v := range variants {
					e := envs[i]
					if r > 0 {
						for _, cs := range runs[r-1] {
							if !v.split {
								e.writeCDC(cs)
								continue
							}
							for len(cs) > 0 {
								n := min(7, len(cs))
								e.writeCDC(cs[:n])
								cs = cs[n:]
							}
						}
					}
					chunks, spans := e.tbl.chunks, len(e.tbl.spans)
					res, applied, err := e.run()
					what := fmt.Sprintf("run %d, budget %d, split %v, chunked %v, buckets %d", r, v.budget, v.split, v.chunked, v.buckets)
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					diff(t, what, e.tbl.render(), m.render())
					checkSpans(t, what, e.tbl.spans[spans:])
					chunks = e.tbl.chunks - chunks
					switch {
					case v.budget == 0:
						wantApplied[v.split] = applied
					case v.chunked && res.SpilledRows > 0:
						// Never whole in memory: the prepared tables
						// get no change set and catch up.
						if applied != "" {
							t.Fatalf("%s: a chunked run handed over its change set", what)
						}
						if v.budget == 1 && chunks < 2 {
							t.Fatalf("%s: %d keys went in %d chunks", what, res.Keys, chunks)
						}
					default:
						if chunks != 0 {
							t.Fatalf("%s: a run that did not spill applied %d chunks", what, chunks)
						}
						diff(t, what+": applied change set", applied, wantApplied[v.split])
					}
					switch spilled := res.SpilledRows > 0 && res.SpilledBytes > 0; {
					case v.budget == 0 && (res.SpilledRows != 0 || res.SpilledBytes != 0):
						t.Fatalf("%s: a run without a budget spilled: %+v", what, res)
					case v.budget == 1 && (!spilled || res.SpilledRows != res.Changes):
						t.Fatalf("%s: a one-byte budget spilled %d of %d changes (%d bytes)", what, res.SpilledRows, res.Changes, res.SpilledBytes)
					}
				}
			}
		})
	}
}

// checkSpans fails the test unless the chunks of one run of a bucketed
// table (spans, in the order applied) follow its buckets: a bucket is in
// one chunk, or in several that hold only it, one key range each, in
// ascending key order.
func checkSpans(t *testing.T, what string, spans []chunkSpan) {
	t.Helper()
	in := map[int32][]chunkSpan{} // bucket → the chunks holding it
	for _, sp := range spans {
		for b := range sp.buckets {
			in[b] = append(in[b], sp)
		}
	}
	for b, sps := range in {
		if len(sps) == 1 {
			continue
		}
		for i, sp := range sps {
			if len(sp.buckets) != 1 {
				t.Fatalf("%s: bucket %d is in %d chunks, one of which holds %d buckets", what, b, len(sps), len(sp.buckets))
			}
			if i > 0 && sp.min <= sps[i-1].max {
				t.Fatalf("%s: bucket %d: chunk of keys %d..%d after one of %d..%d", what, b, sp.min, sp.max, sps[i-1].min, sps[i-1].max)
			}
		}
	}
}

// TestSpillTruncate: a truncate among spilled changes cuts them as it
// does in memory (dropOlder runs on every partition).
func TestSpillTruncate(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) { testSpillTruncate(t, chunked) })
	}
}

// testSpillTruncate is TestSpillTruncate; chunked: the table takes the
// spilled change set in chunks, and the truncate spans all of them.
func testSpillTruncate(t *testing.T, chunked bool) {
	var want string
	for _, budget := range spillBudgets {
		e := newSpillEnv(t, budget)
		e.tbl.chunked = chunked
		var lines strings.Builder
		for i := range 200 {
			fmt.Fprintf(&lines, "I,%d,v%d,%d\n", i%70, i, i+1)
			if i == 120 {
				lines.WriteString("T,,,121\n")
			}
		}
		e.writeCDC([]change1{{op: 'I', id: 500, name: "old", seq: 0}})
		if _, _, err := e.run(); err != nil {
			t.Fatal(err)
		}
		key := e.writeCDC(nil)
		e.raw.put(key, lines.String())
		res, applied, err := e.run()
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		if budget == 1 && res.SpilledRows == 0 {
			t.Fatalf("budget %d did not spill", budget)
		}
		if chunked && res.SpilledRows > 0 {
			applied = want[len(e.tbl.render()):] // none handed over
		}
		got := e.tbl.render() + applied
		if budget == 0 {
			want = got
			if strings.Contains(want, "500|") || !strings.Contains(want, "59|v199\n60|v130\n") {
				t.Fatalf("in-memory truncate gave\n%s", want)
			}
			continue
		}
		diff(t, fmt.Sprint("budget ", budget), got, want)
	}
}

// TestSpillFolderGoneAfterError: a spilling run that fails — a malformed
// file after spilled ones, a spill folder that cannot be created — leaves
// no spill file, moves no bookmark and releases every Arrow buffer (the
// env's checked allocator); the fixed input then goes through.
func TestSpillFolderGoneAfterError(t *testing.T) {
	e := newSpillEnv(t, 1)
	g := newGen(5, 100)
	m := model{}
	for range 3 {
		var cs []change1
		for range 80 {
			cs = append(cs, g.next())
		}
		e.writeCDC(cs)
		m.apply(cs)
	}
	bad := e.writeCDC(nil)
	e.raw.put(bad, "I,1,a,100000\nI,x,b,100001\n")
	var spilling bool
	tb := e.table()
	tb.Observe = func(ev merge.Event) { spilling = spilling || ev.Kind == merge.EventSpilling }
	_, err := tb.Run(context.Background())
	if !errors.Is(err, change.ErrMalformed) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("got %v, want the malformed file's error", err)
	}
	if !spilling {
		t.Fatal("the run did not spill before the bad file")
	}
	e.checkEmpty()
	if len(e.bookmark().Entries) != 0 {
		t.Fatal("bookmark moved past a malformed file")
	}

	// A spill folder that cannot be created: the run says where.
	e.raw.put(bad, "I,1,a,100000\n")
	tb = e.table()
	tb.SpillDir = e.dir + "/missing"
	if _, err := tb.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "create spill folder") || !strings.Contains(err.Error(), tb.SpillDir) {
		t.Fatalf("got %v, want the spill folder's error", err)
	}

	if _, _, err := e.run(); err != nil {
		t.Fatal(err)
	}
	m.apply([]change1{{op: 'I', id: 1, name: "a", seq: 100000}})
	diff(t, "after the fix", e.tbl.render(), m.render())
}
