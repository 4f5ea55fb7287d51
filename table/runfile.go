package table

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Run files: record batches that do not fit the memory budget, put aside
// in a local spill folder and read back in order — a run's changes spilled
// by merge (by partition and, deduplicated, by chunk) and the data files
// a Delta optimize copies before it merges them.
//
// A run file is an Arrow IPC stream of batches of one schema, its buffers
// LZ4-frame compressed (LZ4 is the IPC codec with the smaller per-writer
// state and the faster one), written and read through a buffer of the
// size the caller gives. Nothing else knows the files: they live as long
// as the run that made them, and their format may change between
// releases.

// RunWriter writes one run file. It is not safe for concurrent use. Its
// errors wrap the operating system's (errors.Is finds syscall.ENOSPC in
// them), with the file's name.
type RunWriter struct {
	f     *os.File
	bw    *bufio.Writer
	w     *ipc.Writer
	n     int64 // bytes written to f
	ended bool  // the stream is finished (Finish)
}

// CreateRun creates the run file name (os.Create: a file of that name is
// truncated) for batches of schema sch; its batch buffers are allocated
// from mem. The caller closes it.
func CreateRun(mem memory.Allocator, name string, sch *arrow.Schema, bufSize int) (*RunWriter, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("create run file: %w", err)
	}
	return newRunWriter(mem, f, sch, bufSize), nil
}

// CreateTempRun creates a run file of a new name after pattern
// (os.CreateTemp) in dir and removes it from dir at once: the file goes
// when its writer, or the reader ReadBack returns, is closed (Linux keeps
// an open file), so that nothing is left behind whatever happens.
func CreateTempRun(mem memory.Allocator, dir, pattern string, sch *arrow.Schema, bufSize int) (*RunWriter, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("create run file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("create run file: %w", err)
	}
	return newRunWriter(mem, f, sch, bufSize), nil
}

func newRunWriter(mem memory.Allocator, f *os.File, sch *arrow.Schema, bufSize int) *RunWriter {
	w := &RunWriter{f: f}
	w.bw = bufio.NewWriterSize(writeCounter{f, &w.n}, bufSize)
	w.w = ipc.NewWriter(w.bw, ipc.WithSchema(sch), ipc.WithAllocator(mem), ipc.WithLZ4())
	return w
}

// writeCounter counts the bytes written through it into *n.
type writeCounter struct {
	w io.Writer
	n *int64
}

func (c writeCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// Name is the file's name (a removed one's, for CreateTempRun).
func (w *RunWriter) Name() string { return w.f.Name() }

// Write appends rec (borrowed), of the writer's schema.
func (w *RunWriter) Write(rec arrow.RecordBatch) error {
	if err := w.w.Write(rec); err != nil {
		return fmt.Errorf("write run file %s: %w", w.f.Name(), err)
	}
	return nil
}

// Bytes is how many bytes the file has so far: all of them after Finish.
func (w *RunWriter) Bytes() int64 { return w.n }

// Finish ends the stream and writes what is buffered; the file stays open
// (ReadBack, Close). A second call does nothing.
func (w *RunWriter) Finish() error {
	if w.ended {
		return nil
	}
	w.ended = true
	err := w.w.Close()
	if err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write run file %s: %w", w.f.Name(), err)
	}
	return nil
}

// ReadBack finishes the file and returns a reader of it from its start,
// which takes the file over: closing the writer then does nothing, and
// the reader closes the file. On error the writer still has the file.
func (w *RunWriter) ReadBack(mem memory.Allocator, bufSize int) (*RunReader, error) {
	if err := w.Finish(); err != nil {
		return nil, err
	}
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read run file %s: %w", w.f.Name(), err)
	}
	r, err := newRunReader(mem, w.f, bufSize)
	if err != nil {
		return nil, err
	}
	w.f = nil
	return r, nil
}

// Close finishes the file (when Finish was not called) and closes it: the
// first error of the two. A writer whose file ReadBack took, or that is
// closed, does nothing.
func (w *RunWriter) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.Finish()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close run file %s: %w", w.f.Name(), cerr)
	}
	w.f = nil
	return err
}

// RunReader reads the batches of a run file in the order they were
// written. It is not safe for concurrent use.
type RunReader struct {
	f *os.File
	r *ipc.Reader
}

// OpenRun opens the run file name; its batches are allocated from mem.
// The caller closes it.
func OpenRun(mem memory.Allocator, name string, bufSize int) (*RunReader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read run file: %w", err)
	}
	r, err := newRunReader(mem, f, bufSize)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func newRunReader(mem memory.Allocator, f *os.File, bufSize int) (*RunReader, error) {
	r, err := ipc.NewReader(bufio.NewReaderSize(f, bufSize), ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("read run file %s: %w", f.Name(), err)
	}
	return &RunReader{f: f, r: r}, nil
}

// Next returns the next batch, which the caller releases; nil after the
// last.
func (r *RunReader) Next() (arrow.RecordBatch, error) {
	if !r.r.Next() {
		if err := r.r.Err(); err != nil {
			return nil, fmt.Errorf("read run file %s: %w", r.f.Name(), err)
		}
		return nil, nil
	}
	rec := r.r.RecordBatch()
	rec.Retain()
	return rec, nil
}

// Close releases what the reader holds and closes the file.
func (r *RunReader) Close() error {
	r.r.Release()
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("close run file %s: %w", r.f.Name(), err)
	}
	return nil
}
