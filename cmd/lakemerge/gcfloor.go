package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// heapFloor is the least the heap grows between two collections. GOGC 25
// (gcPercent) alone collects after every quarter of the live heap, which
// for the small live heaps of a microbatch or a compaction pass (5–30 MB)
// means a collection every 1–8 MB allocated: a compaction of a
// 200,000-row Iceberg table ran 235 collections and spent half its CPU in
// the collector (3.3 s; with the floor 1.5 s, the same peak RSS within
// 20 MB). Above 256 MB of live heap (heapFloor*100/gcPercent) the floor
// changes nothing: large runs keep GOGC 25's peak memory.
const heapFloor = 64 << 20

// gcFloor keeps the collector from running before the heap has grown by
// floor bytes: after every collection it sets GOGC to the larger of base
// and the share of the live heap floor is. A soft memory limit
// (setMemoryLimit) still makes the collector run earlier near the limit.
type gcFloor struct {
	base  int
	floor uint64
	set   int // the GOGC last set
	live  []metrics.Sample
	done  atomic.Bool
}

// startGCFloor sets GOGC for the live heap now and from then on after
// each collection, as gcFloor says, until stop.
func startGCFloor(base int, floor uint64) *gcFloor {
	g := &gcFloor{base: base, floor: floor, live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	g.tune()
	g.arm()
	return g
}

// gcSentinel is garbage as soon as it is made: its finalizer runs after
// the next collection.
type gcSentinel struct{ g *gcFloor }

// arm makes tune and arm run again after the next collection.
func (g *gcFloor) arm() {
	runtime.SetFinalizer(&gcSentinel{g: g}, func(s *gcSentinel) {
		if s.g.done.Load() {
			return
		}
		s.g.tune()
		s.g.arm()
	})
}

// stop ends the tuning after the next collection; GOGC stays as last set.
func (g *gcFloor) stop() { g.done.Store(true) }

// percent is the GOGC that lets a heap of live bytes grow by at least
// floor before the next collection, and by at least base percent.
func (g *gcFloor) percent(live uint64) int {
	p := g.base
	if live > 0 && g.floor*100/live > uint64(p) {
		p = int(g.floor * 100 / live)
	}
	return p
}

// tune sets GOGC for the live heap the last collection left.
func (g *gcFloor) tune() {
	metrics.Read(g.live)
	var live uint64
	if g.live[0].Value.Kind() == metrics.KindUint64 {
		live = g.live[0].Value.Uint64()
	}
	if p := g.percent(live); p != g.set {
		debug.SetGCPercent(p)
		g.set = p
	}
}
