package decodetest

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
)

// fake is a decoder of batches of one int32 column with the given row
// counts, then io.EOF (or err); eofAgain false breaks the contract after
// the end.
type fake struct {
	mem      memory.Allocator
	rows     []int
	err      error
	eofAgain bool
	done     bool
}

var fakeSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil)

func (f *fake) Schema() *arrow.Schema { return fakeSchema }
func (f *fake) Close() error          { return nil }
func (f *fake) Next() (arrow.RecordBatch, error) {
	if len(f.rows) == 0 {
		if f.err != nil {
			return nil, f.err
		}
		if f.done && !f.eofAgain {
			return nil, errors.New("called after the end")
		}
		f.done = true
		return nil, io.EOF
	}
	n := f.rows[0]
	f.rows = f.rows[1:]
	b := array.NewRecordBuilder(f.mem, fakeSchema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int32Builder).Append(int32(i))
	}
	return b.NewRecordBatch(), nil
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(r)
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func record(t *testing.T, f func(tb testing.TB)) []string {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		f(r)
	}()
	return r.errs
}

func TestDrainChecksTheContract(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, tc := range []struct {
		d    *fake
		want string // "" for no failure
	}{
		{&fake{rows: []int{2, 2, 1}, eofAgain: true}, ""},
		{&fake{rows: []int{3}, eofAgain: true}, "batch of 3 rows, BatchRows 2"},
		{&fake{rows: []int{0}, eofAgain: true}, "batch of 0 rows"},
		{&fake{rows: []int{1}}, "Next after io.EOF"},
	} {
		tc.d.mem = mem
		rows := 0
		errs := record(t, func(tb testing.TB) {
			if err := Drain(tb, tc.d, 2, func(rec arrow.RecordBatch) { rows += int(rec.NumRows()) }); err != nil {
				tb.Fatal(err)
			}
		})
		if got := strings.Join(errs, "; "); tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("rows %v: failures %q, want %q", tc.d.rows, got, tc.want)
		}
	}
	broken := errors.New("bad line")
	if err := Drain(t, &fake{mem: mem, rows: []int{1}, err: broken}, 2, func(arrow.RecordBatch) {}); err != broken {
		t.Errorf("Drain returned %v, want the decode error", err)
	}
}

func TestSameForSplitsFindsDifferences(t *testing.T) {
	same := func(s Split) (string, error) {
		b, err := io.ReadAll(s.Wrap(strings.NewReader("abc")))
		return string(b), err
	}
	if errs := record(t, func(tb testing.TB) { SameForSplits(tb, 1, 10, same) }); len(errs) != 0 {
		t.Fatalf("same output flagged: %q", errs)
	}
	bySize := func(s Split) (string, error) { return fmt.Sprint(s.BatchRows), nil }
	if errs := record(t, func(tb testing.TB) { SameForSplits(tb, 1, 10, bySize) }); len(errs) != 1 || !strings.Contains(errs[0], "BatchRows 10 differs") {
		t.Fatalf("batch-size dependence not flagged: %q", errs)
	}
}

func TestMalformed(t *testing.T) {
	err := fmt.Errorf("decode: %w", &change.MalformedError{File: "f.csv", Line: 3, Column: "c", Reason: "not a date"})
	if errs := record(t, func(tb testing.TB) { Malformed(tb, err, "f.csv", 3, "c", "date") }); len(errs) != 0 {
		t.Fatalf("a matching error flagged: %q", errs)
	}
	if errs := record(t, func(tb testing.TB) { Malformed(tb, err, "f.csv", 4, "c", "date") }); len(errs) != 1 {
		t.Fatalf("a wrong line not flagged: %q", errs)
	}
	if errs := record(t, func(tb testing.TB) { Malformed(tb, errors.New("f.csv: io"), "f.csv", 3, "c", "") }); len(errs) != 1 {
		t.Fatalf("an error of another type not flagged: %q", errs)
	}
}
