package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// writeTo stops sampling and writes the peak profile to w.
func (p *peakHeapProfile) writeTo(w io.Writer) error {
	close(p.stop)
	<-p.done
	p.check() // a command shorter than one interval still gets a profile
	_, err := w.Write(p.best.Bytes())
	return err
}

// profiles are the files of --cpuprofile and --memprofile. Both are
// created before the command's work, so that a path that cannot be
// written stops the command before it does anything (a usage error, exit
// 2); they are written when the command ends, whether it failed or not,
// and a profile that cannot be written then fails the command (stop's
// error: exit 1, after the command printed what it did).
type profiles struct {
	cpu      *profileFile // nil: no CPU profile
	mem      *profileFile // nil: no heap profile
	memPeaks *peakHeapProfile
}

// profileFile is a profile's file and the first error of writing it
// (pprof's CPU profile writer drops its write errors).
type profileFile struct {
	flag string
	f    *os.File
	err  error
}

func (w *profileFile) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if w.err == nil && err != nil {
		w.err = err
	}
	return n, err
}

// close closes the file and returns the first error of writing and
// closing it, naming the flag.
func (w *profileFile) close() error {
	if err := w.f.Close(); w.err == nil {
		w.err = err
	}
	if w.err != nil {
		return fmt.Errorf("%s: %w: %w", w.flag, errProfile, w.err)
	}
	return nil
}

// startProfiles creates the profile files named ("" for none) and starts
// the CPU profile and the heap sampling.
func startProfiles(cpuPath, memPath string) (*profiles, error) {
	p := &profiles{}
	create := func(flag, path string) (*profileFile, error) {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return &profileFile{flag: flag, f: f}, nil
	}
	var err error
	if memPath != "" {
		if p.mem, err = create("--memprofile", memPath); err != nil {
			return nil, err
		}
	}
	if cpuPath != "" {
		if p.cpu, err = create("--cpuprofile", cpuPath); err == nil {
			if err = pprof.StartCPUProfile(p.cpu); err != nil {
				p.cpu.f.Close()
				err = fmt.Errorf("--cpuprofile: %w", err)
			}
		}
		if err != nil {
			if p.mem != nil {
				p.mem.f.Close()
			}
			return nil, err
		}
	}
	if p.mem != nil {
		p.memPeaks = startPeakHeapProfile(100 * time.Millisecond)
	}
	return p, nil
}

// stop ends the CPU profile and writes the heap profile taken at the
// peak; the error says which could not be written. A nil p has none.
func (p *profiles) stop() error {
	if p == nil {
		return nil
	}
	var errs []error
	if p.cpu != nil {
		pprof.StopCPUProfile() // waits for the profile's last write
		errs = append(errs, p.cpu.close())
	}
	if p.mem != nil {
		_ = p.memPeaks.writeTo(p.mem) // p.mem keeps the error
		errs = append(errs, p.mem.close())
	}
	return errors.Join(errs...)
}
