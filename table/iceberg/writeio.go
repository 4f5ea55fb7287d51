package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	iceio "github.com/apache/iceberg-go/io"
	icetable "github.com/apache/iceberg-go/table"
)

// failureIO is the file IO iceberg-go's data-file writers get from
// writeRows: the table's IO, remembering every failure to create, write or
// close a file, so that writeRows fails with it whatever iceberg-go reports.
//
// iceberg-go v0.7.0 loses such errors on partitioned tables: a partition's
// rolling writer that fails (its file cannot be created, written or
// uploaded) removes itself from the writer factory when it stops
// (RollingDataWriter.stream's deferred writers.CompareAndDelete), and the
// final closeAll reads the errors of the writers still registered only. A
// failure after the partition's last batch was queued therefore ends
// table.WriteRecords without an error and without that partition's file:
// the rows are silently missing (an update became a delete). The race
// loses the error about half the time (48 of 100 trials of a one-row write
// into a partition whose folder is a regular file).
type failureIO struct {
	iceio.WriteFileIO

	mu   sync.Mutex
	errs []error
}

// Create opens name through the table's IO, remembering a failure.
func (f *failureIO) Create(name string) (iceio.FileWriter, error) {
	w, err := f.WriteFileIO.Create(name)
	if err != nil {
		return nil, f.fail(fmt.Errorf("create %s: %w", name, err))
	}
	return &failureWriter{FileWriter: w, io: f, name: name}, nil
}

func (f *failureIO) fail(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
	return err
}

// err returns every failure seen so far, joined; nil when there was none.
func (f *failureIO) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.errs...)
}

// failureWriter is one file opened through failureIO.
type failureWriter struct {
	iceio.FileWriter
	io   *failureIO
	name string
}

func (w *failureWriter) Write(p []byte) (int, error) {
	n, err := w.FileWriter.Write(p)
	if err != nil {
		w.io.fail(fmt.Errorf("write %s: %w", w.name, err))
	}
	return n, err
}

func (w *failureWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := w.FileWriter.ReadFrom(r)
	if err != nil {
		w.io.fail(fmt.Errorf("write %s: %w", w.name, err))
	}
	return n, err
}

func (w *failureWriter) Close() error {
	if err := w.FileWriter.Close(); err != nil {
		return w.io.fail(fmt.Errorf("close %s: %w", w.name, err))
	}
	return nil
}

// withFailureIO returns tbl as a table whose file IO is a failureIO over
// tbl's, for iceberg-go's writers; fio is nil when tbl's IO cannot write.
func withFailureIO(ctx context.Context, tbl *icetable.Table) (*icetable.Table, *failureIO, error) {
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("open table io: %w", err)
	}
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return nil, nil, fmt.Errorf("table io %T cannot write files", fs)
	}
	fio := &failureIO{WriteFileIO: wfs}
	out := icetable.New(tbl.Identifier(), tbl.Metadata(), tbl.MetadataLocation(),
		func(context.Context) (iceio.IO, error) { return fio, nil }, nil)
	return out, fio, nil
}
