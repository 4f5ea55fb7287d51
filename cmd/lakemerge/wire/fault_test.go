package wire_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/fault"
	"github.com/lakemerge/lakemerge/table"
)

// Flags of TestFaultInjection; scripts/torture.sh sets them.
var (
	faultSeeds     = flag.String("fault.seeds", "1-3", "seeds of TestFaultInjection, as first-last; each seed runs every scenario")
	faultDuration  = flag.Duration("fault.duration", 0, "with a duration, TestFaultInjection goes on from the first seed until this much time has passed, ignoring the last seed")
	faultScenarios = flag.String("fault.scenarios", "", "comma-separated scenarios (backend/target/input, e.g. local/delta/dms) TestFaultInjection runs; default all")
	faultReport    = flag.String("fault.report", "", "write TestFaultInjection's figures as JSON to this file")
)

// report is what TestFaultInjection did, for scripts/torture.sh.
type report struct {
	Seeds       int            `json:"seeds"`
	Workloads   int            `json:"workloads"`    // seed × scenario
	FaultyRuns  int            `json:"faulty_runs"`  // runs with faults injected
	Points      int64          `json:"fault_points"` // store calls the faulty runs made
	Injected    int64          `json:"faults_injected"`
	Failed      int            `json:"runs_failed"`    // faulty runs that returned an error
	Committed   int            `json:"runs_committed"` // faulty runs that committed
	Unknown     int            `json:"runs_unknown"`   // failed runs whose commit landed (error says unknown)
	LostCause   int            `json:"errors_without_injected_cause"`
	LostCauses  []string       `json:"errors_without_injected_cause_samples"` // the first 20
	Divergences []string       `json:"divergences"`
	ByKind      map[string]int `json:"faults_by_kind"`
	WallSeconds float64        `json:"wall_seconds"`
	mu          sync.Mutex
}

// kinds are the faults the randomized runs inject. Missing is not among
// them: no store lakemerge runs on answers "not found" for an object that
// exists (see fault.Missing).
var kinds = []fault.Kind{fault.Fail, fault.FailAfter, fault.Partial, fault.Denied, fault.Slow}

// faultPlan decides, for one run, which stores get which faults.
type faultPlan struct {
	desc string
	inj  map[string]fault.Injector // by zone
}

// newPlan draws the faults of run r of a workload from rng: mostly in the
// warehouse, sometimes in the raw zone or both; a single fault at call n,
// a fault at every nth call, or faults at random calls; n up to the calls
// such a run makes.
func newPlan(rng *rand.Rand, calls map[string]int64) faultPlan {
	zones := []string{wire.ZoneWarehouse}
	switch rng.IntN(10) {
	case 0:
		zones = []string{wire.ZoneRaw}
	case 1:
		zones = []string{wire.ZoneRaw, wire.ZoneWarehouse}
	}
	p := faultPlan{inj: map[string]fault.Injector{}}
	var descs []string
	for _, z := range zones {
		n := 1 + rng.Int64N(max(calls[z], 1))
		k := kinds[rng.IntN(len(kinds))]
		var inj fault.Injector
		switch rng.IntN(3) {
		case 0:
			inj = fault.Nth(n, k)
		case 1:
			inj = fault.EveryNth(n, k)
		default:
			inj = fault.Random(rng.Uint64(), 1/float64(n), kinds...)
		}
		p.inj[z] = inj
		descs = append(descs, z+": "+inj.String())
	}
	p.desc = strings.Join(descs, "; ")
	return p
}

// TestFaultInjection runs the reference-model workload of each seed in
// every scenario (local folders and SQLite, S3 and Glue; Iceberg and Delta;
// DMS and Debezium files), through exactly the wiring the binary runs, with
// faults injected into the stores' calls in every run. After each run it
// checks that the run either failed with an error and changed nothing
// (table and bookmark as before the run), or committed exactly the model's
// table (also when it failed saying the commit's outcome is unknown), and
// left no Arrow memory allocated; then that a re-run without faults gives
// the table of a run that never saw a fault.
//
// By default it runs seeds 1-3 (CI); scripts/torture.sh runs many more.
func TestFaultInjection(t *testing.T) {
	first, last, err := seedRange(*faultSeeds)
	if err != nil {
		t.Fatal(err)
	}
	var scs []scenario
	for _, sc := range scenarios(t) {
		if *faultScenarios == "" || strings.Contains(","+*faultScenarios+",", ","+sc.String()+",") {
			scs = append(scs, sc)
		}
	}
	if len(scs) == 0 {
		t.Fatalf("no scenario matches -fault.scenarios=%s", *faultScenarios)
	}
	rep := &report{ByKind: map[string]int{}}
	start := time.Now()
	for seed := first; ; seed++ {
		if *faultDuration > 0 {
			if time.Since(start) > *faultDuration {
				break
			}
		} else if seed > last {
			break
		}
		rep.Seeds++
		for _, sc := range scs {
			t.Run(fmt.Sprintf("seed=%d/%s", seed, sc), func(t *testing.T) {
				runFaultWorkload(t, sc, seed, rep)
			})
		}
	}
	rep.WallSeconds = time.Since(start).Seconds()
	t.Logf("fault injection: %d seeds, %d workloads, %d faulty runs (%d failed, %d committed, %d unknown outcome), %d fault points passed, %d faults injected %v, %d errors without the injected cause, %d divergences, %.1f s",
		rep.Seeds, rep.Workloads, rep.FaultyRuns, rep.Failed, rep.Committed, rep.Unknown, rep.Points, rep.Injected, rep.ByKind, rep.LostCause, len(rep.Divergences), rep.WallSeconds)
	if *faultReport != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*faultReport, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}

func seedRange(s string) (first, last uint64, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	if first, err = strconv.ParseUint(a, 10, 64); err == nil {
		last, err = strconv.ParseUint(b, 10, 64)
	}
	if err != nil || last < first {
		return 0, 0, fmt.Errorf("-fault.seeds=%s: want first-last", s)
	}
	return first, last, nil
}

// counter counts the calls of a run through a store (its fault.Store has
// no injector).
func counting(stores map[string]*fault.Store) func(string, objstore.Store) objstore.Store {
	return func(zone string, s objstore.Store) objstore.Store {
		f := fault.New(s, fault.Config{})
		stores[zone] = f
		return f
	}
}

// runFaultWorkload runs one seed's workload in one scenario, every run
// with faults, each followed by a clean re-run.
func runFaultWorkload(t *testing.T, sc scenario, seed uint64, rep *report) {
	e := newEnv(t, sc)
	p := makePlan(t, sc, workloadSpec(seed))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	// Calls per zone of a run that commits, to scale n: from the clean
	// re-runs that committed, at first a guess.
	calls := map[string]int64{wire.ZoneRaw: 40, wire.ZoneWarehouse: 150}
	before := ""
	var local report
	local.ByKind = map[string]int{}
	diverged := func(format string, args ...any) {
		msg := fmt.Sprintf("seed=%d %s: ", seed, sc) + fmt.Sprintf(format, args...)
		t.Error(msg)
		local.Divergences = append(local.Divergences, msg)
	}
	for r, files := range p.runs {
		e.put(files)
		want := p.wants[r]
		plan := newPlan(rng, calls)
		stores := map[string]*fault.Store{}
		var obsMu sync.Mutex
		_, err, leaked := e.runOnce(func(zone string, s objstore.Store) objstore.Store {
			inj := plan.inj[zone]
			f := fault.New(s, fault.Config{Injector: inj, Seed: seed ^ uint64(r),
				Observe: func(ev fault.Event) {
					if ev.Fault == fault.None {
						return
					}
					obsMu.Lock()
					defer obsMu.Unlock()
					local.ByKind[ev.Fault.String()]++
				}})
			stores[zone] = f
			return f
		})
		local.FaultyRuns++
		for _, f := range stores {
			local.Points += f.Points()
			local.Injected += f.Injected()
		}
		got := e.state()
		where := fmt.Sprintf("run %d with faults [%s]", r, plan.desc)
		switch {
		case leaked != 0:
			diverged("%s: %d Arrow bytes still allocated after the run (error: %v)", where, leaked, err)
		case err == nil && got == want:
			local.Committed++
		case err == nil:
			diverged("%s: succeeded, but the table is not the model's:\n%s", where, diffStates(got, want))
		case got == before:
			local.Failed++
		case got == want && errors.Is(err, table.ErrCommitUnknown):
			local.Failed++
			local.Unknown++
		case got == want && strings.HasPrefix(err.Error(), "table orders: committed, but "):
			// The commit stands; registering the table in the catalog
			// afterwards failed, and the error says both.
			local.Committed++
		case got == want:
			diverged("%s: committed, but failed without saying the outcome is unknown: %v", where, err)
		default:
			diverged("%s: failed (%v), and the table is neither the one before the run nor the model's:\n%s", where, err, diffStates(got, before))
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "table orders: ") {
				diverged("%s: the error does not name the table: %v", where, err)
			}
			if !errors.Is(err, fault.ErrInjected) {
				local.LostCause++
				msg := fmt.Sprintf("seed=%d %s: %s: the error does not wrap the injected fault: %v", seed, sc, where, err)
				t.Log(msg)
				local.LostCauses = append(local.LostCauses, msg)
			}
		}
		// The re-run, without faults, counting the calls.
		clean := map[string]*fault.Store{}
		res, err, leaked := e.runOnce(counting(clean))
		switch got := e.state(); {
		case err != nil:
			diverged("run %d: the re-run without faults failed: %v", r, err)
		case leaked != 0:
			diverged("run %d: the re-run left %d Arrow bytes allocated", r, leaked)
		case got != want:
			diverged("run %d: after the re-run without faults the table is not the model's:\n%s", r, diffStates(got, want))
		}
		if err == nil && !res.UpToDate {
			for z, f := range clean {
				calls[z] = max(calls[z], f.Points())
			}
		}
		if t.Failed() {
			break // later runs build on this one
		}
		before = want
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	rep.Workloads++
	rep.FaultyRuns += local.FaultyRuns
	rep.Points += local.Points
	rep.Injected += local.Injected
	rep.Failed += local.Failed
	rep.Committed += local.Committed
	rep.Unknown += local.Unknown
	rep.LostCause += local.LostCause
	rep.LostCauses = append(rep.LostCauses, local.LostCauses...)
	rep.LostCauses = rep.LostCauses[:min(len(rep.LostCauses), 20)]
	rep.Divergences = append(rep.Divergences, local.Divergences...)
	for k, n := range local.ByKind {
		rep.ByKind[k] += n
	}
}

// diffStates shows the first lines where two states differ.
func diffStates(got, want string) string {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return fmt.Sprintf("first difference at line %d:\n got: %s\nwant: %s\n(%d vs %d lines)", i+1, g, w, len(gl), len(wl))
		}
	}
	return "(equal)"
}
