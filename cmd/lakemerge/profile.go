package main

import (
	"bytes"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"
)

// peakHeapProfile keeps the Go heap profile taken when the heap held the
// most objects so far: the profile that answers "what filled memory". A
// profile written at exit would show only what is left at the end.
// (Arrow buffers come from Go's heap, so they are in it.)
type peakHeapProfile struct {
	stop   chan struct{}
	done   chan struct{}
	peak   uint64
	best   bytes.Buffer
	sample []metrics.Sample
}

// startPeakHeapProfile samples the heap every interval until writeTo.
func startPeakHeapProfile(interval time.Duration) *peakHeapProfile {
	p := &peakHeapProfile{
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}},
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.check()
			}
		}
	}()
	return p
}

// check profiles the heap when it is 5% above the last profiled peak (or
// was never profiled).
func (p *peakHeapProfile) check() {
	metrics.Read(p.sample)
	v := p.sample[0].Value.Uint64()
	if p.best.Len() > 0 && v <= p.peak+p.peak/20 {
		return
	}
	p.peak = v
	p.best.Reset()
	_ = pprof.Lookup("heap").WriteTo(&p.best, 0)
}

// writeTo stops sampling and writes the peak profile to path.
func (p *peakHeapProfile) writeTo(path string) error {
	close(p.stop)
	<-p.done
	p.check() // a command shorter than one interval still gets a profile
	return os.WriteFile(path, p.best.Bytes(), 0o644)
}
