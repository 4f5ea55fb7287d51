// Package decodetest is the test harness both decoders (formats/dmscsv,
// formats/debezium) run: draining a decoder with the batch contract checked
// on the way, the same rows whatever the read and batch sizes, golden case
// folders, fuzz seed files, the check of a malformed-input error, and the
// decode benchmark. Only test code imports it (architecture_test.go).
package decodetest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// Decoder is what the harness uses of a decoder: batches valid until
// released, io.EOF after the last, the same error after an error.
type Decoder interface {
	Schema() *arrow.Schema
	Next() (arrow.RecordBatch, error)
	Close() error
}

// Drain reads d to the end, passing each batch to each and releasing it
// after, and checks the contract on the way: every batch has d's schema,
// 1 to batchRows rows and columns of that length, and after io.EOF the
// next call returns io.EOF again. It returns the decode error, if any;
// the batches before it have been passed to each. It does not close d.
func Drain(t testing.TB, d Decoder, batchRows int, each func(arrow.RecordBatch)) error {
	t.Helper()
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if !rec.Schema().Equal(d.Schema()) {
			t.Errorf("batch schema %s differs from the decoder's %s", rec.Schema(), d.Schema())
		}
		if rec.NumRows() == 0 || rec.NumRows() > int64(batchRows) {
			t.Errorf("batch of %d rows, BatchRows %d", rec.NumRows(), batchRows)
		}
		for i, c := range rec.Columns() {
			if c.Len() != int(rec.NumRows()) {
				t.Errorf("column %d has %d rows, batch %d", i, c.Len(), rec.NumRows())
			}
		}
		each(rec)
		rec.Release()
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("Next after io.EOF: %v, want io.EOF", err)
	}
	return nil
}

// Split is how a test's decode reads its input: wrap wraps every reader it
// decodes from, and batchRows is its batch size.
type Split struct {
	Wrap      func(io.Reader) io.Reader
	BatchRows int
}

// SameForSplits decodes (rows rendered as text, and the error) with every
// reader read one byte at a time, and with batches of bigBatch rows, and
// demands what decode gives at batchRows read whole: the same rows and the
// same error — with bigger batches the same error after fewer of the rows
// before it.
func SameForSplits(t testing.TB, batchRows, bigBatch int, decode func(Split) (string, error)) {
	t.Helper()
	whole := func(r io.Reader) io.Reader { return r }
	got, err := decode(Split{whole, batchRows})
	got1, err1 := decode(Split{iotest.OneByteReader, batchRows})
	if got1 != got || errText(err1) != errText(err) {
		t.Fatalf("one-byte reads differ:\n%s %v\nvs\n%s %v", got1, err1, got, err)
	}
	got2, err2 := decode(Split{whole, bigBatch})
	if errText(err2) != errText(err) || (err == nil && got2 != got) || !strings.HasPrefix(got, got2) {
		t.Fatalf("BatchRows %d differs:\n%s %v\nvs\n%s %v", bigBatch, got2, err2, got, err)
	}
}

// SameForBatchSizes decodes with each of sizes and demands the same text,
// without an error.
func SameForBatchSizes(t testing.TB, decode func(batchRows int) (string, error), sizes ...int) {
	t.Helper()
	var first string
	for i, n := range sizes {
		got, err := decode(n)
		if err != nil {
			t.Fatalf("BatchRows %d: %v", n, err)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Errorf("BatchRows %d:\n%s\nBatchRows %d:\n%s", n, got, sizes[0], first)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Malformed checks that err is a *change.MalformedError (matching
// change.ErrMalformed) for file, line and column whose reason contains
// reason, and whose message names the file.
func Malformed(t testing.TB, err error, file string, line int64, column, reason string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var me *change.MalformedError
	if !errors.Is(err, change.ErrMalformed) || !errors.As(err, &me) {
		t.Fatalf("error %v is not a *change.MalformedError", err)
	}
	if me.File != file || me.Line != line || me.Column != column || !strings.Contains(me.Reason, reason) {
		t.Errorf("got %+v\nwant file %s line %d column %q reason containing %q", *me, file, line, column, reason)
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("message %q does not name the file", err)
	}
}

// Case is one golden case: a folder holding options.json (the decoder's
// options as the test reads them), expected.txt and its input files.
type Case[O any] struct {
	Dir     string            // the folder
	Name    string            // the folder below testdata/, for the subtest
	Options O                 // options.json, read strictly (unknown keys fail)
	Inputs  map[string][]byte // every other file, by name; README.md aside
}

// Expected is the path of the case's expected output.
func (c Case[O]) Expected() string { return filepath.Join(c.Dir, "expected.txt") }

// Cases loads the golden cases whose options.json files match each of
// patterns (globs); a pattern that matches none fails: a missing folder is
// a broken test, not fewer cases.
func Cases[O any](t testing.TB, patterns ...string) []Case[O] {
	t.Helper()
	var cases []Case[O]
	for _, p := range Inputs(t, patterns...) {
		c := Case[O]{Dir: filepath.Dir(p), Inputs: map[string][]byte{}}
		c.Name = strings.TrimPrefix(filepath.ToSlash(c.Dir), "testdata/")
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c.Options); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		entries, err := os.ReadDir(c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch n := e.Name(); {
			case e.IsDir(), n == "options.json", n == "expected.txt", n == "README.md":
			default:
				if c.Inputs[n], err = os.ReadFile(filepath.Join(c.Dir, n)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(c.Inputs) == 0 {
			t.Fatalf("%s: no input file", c.Dir)
		}
		cases = append(cases, c)
	}
	return cases
}

// Inputs returns the files matching each of patterns (globs), sorted per
// pattern; a pattern that matches none fails t.
func Inputs(t testing.TB, patterns ...string) []string {
	t.Helper()
	var out []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil || len(m) == 0 {
			t.Fatalf("no files match %s: %v", p, err)
		}
		slices.Sort(m)
		out = append(out, m...)
	}
	return out
}

// Bench times decoding data, which holds rows rows, with open, reporting
// bytes/s and rows/s; a checked allocator finds leaks. Compare runs with
//
//	go test ./formats/<package> -run - -bench Decode -count 10 > new.txt; benchstat old.txt new.txt
func Bench(b *testing.B, data []byte, rows int, open func(io.Reader, memory.Allocator) (Decoder, error)) {
	// The checked allocator records a stack per allocation, which costs
	// about 5%; it stays so that the benchmark also checks for leaks.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(b, 0)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	decoded := 0
	for b.Loop() {
		d, err := open(bytes.NewReader(data), mem)
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			decoded += int(rec.NumRows())
			rec.Release()
		}
		d.Close()
	}
	if decoded != rows*b.N {
		b.Fatalf("%d rows in %d runs, want %d a run", decoded, b.N, rows)
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// Columns turns [name, type] pairs, types as a job file names them, into
// columns; a bad type fails t.
func Columns(t testing.TB, pairs [][2]string) []change.Column {
	t.Helper()
	var cols []change.Column
	for _, c := range pairs {
		typ, err := change.ParseType(c[1])
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, change.Column{Name: c[0], Type: typ})
	}
	return cols
}

// Gzip returns s compressed with gzip, as a DMS task or the S3 sink writes
// a compressed file.
func Gzip(tb testing.TB, s string) []byte {
	tb.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
