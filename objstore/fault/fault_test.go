package fault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/objstore"
	"github.com/lakemerge/lakemerge/objstore/mem"
	"github.com/lakemerge/lakemerge/objstore/objstoretest"
)

// plain hides mem's Stat and OpenRange, so that Store emulates them.
type plain struct{ objstore.Store }

// TestConformance: without faults, and with every call slowed, a Store is
// an objstore.Store like the one it wraps; it reads ranges also of a store
// that cannot.
func TestConformance(t *testing.T) {
	for name, cfg := range map[string]Config{"none": {}, "slow": {Injector: Always(Slow), Seed: 7}} {
		t.Run(name, func(t *testing.T) {
			objstoretest.Run(t, func(*testing.T) objstore.Store { return New(mem.New(), cfg) })
			objstoretest.RunRanges(t, func(*testing.T) objstoretest.RangeStore { return New(mem.New(), cfg) })
		})
	}
	t.Run("emulated-ranges", func(t *testing.T) {
		objstoretest.RunRanges(t, func(*testing.T) objstoretest.RangeStore { return New(plain{mem.New()}, Config{}) })
	})
}

func put(t *testing.T, s objstore.Store, key, body string) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func keys(t *testing.T, s objstore.Store) string {
	t.Helper()
	objs, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return strings.Join(ks, " ")
}

func read(s objstore.Store, key string) (string, error) {
	r, err := s.Open(context.Background(), key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// TestWriteKinds: what each kind does to Put, CreateExclusive and Delete,
// seen in the wrapped store.
func TestWriteKinds(t *testing.T) {
	body := strings.Repeat("x", 10_000)
	for _, c := range []struct {
		kind   Kind
		landed bool
		perm   bool
	}{
		{Fail, false, false},
		{Denied, false, true},
		{Partial, false, false},
		{FailAfter, true, false},
		{Missing, false, false},
	} {
		t.Run(c.kind.String(), func(t *testing.T) {
			for _, op := range []Op{OpPut, OpCreateExclusive, OpDelete} {
				inner := mem.New()
				put(t, inner, "old", "old")
				s := New(inner, Config{Injector: Matching(Ops(op), Always(c.kind)), Seed: 1})
				var err error
				switch op {
				case OpPut:
					err = s.Put(t.Context(), "new", strings.NewReader(body))
				case OpCreateExclusive:
					err = s.CreateExclusive(t.Context(), "new", strings.NewReader(body))
				case OpDelete:
					err = s.Delete(t.Context(), "old")
				}
				if !errors.Is(err, ErrInjected) {
					t.Errorf("%s: %v, want an injected error", op, err)
				}
				if got := errors.Is(err, fs.ErrPermission); got != c.perm {
					t.Errorf("%s: error %v matches fs.ErrPermission: %v", op, err, got)
				}
				want := "old"
				if c.landed {
					want = map[Op]string{OpPut: "new old", OpCreateExclusive: "new old", OpDelete: ""}[op]
				}
				if got := keys(t, inner); got != want {
					t.Errorf("%s: the store holds %q, want %q", op, got, want)
				}
				if c.landed && op != OpDelete {
					if got, _ := read(inner, "new"); got != body {
						t.Errorf("%s: landed %d bytes, want %d", op, len(got), len(body))
					}
				}
			}
		})
	}
	// FailAfter on a create the store refuses: the store's answer.
	inner := mem.New()
	put(t, inner, "k", "v")
	s := New(inner, Config{Injector: Always(FailAfter)})
	if err := s.CreateExclusive(t.Context(), "k", strings.NewReader("w")); !errors.Is(err, objstore.ErrExists) || errors.Is(err, ErrInjected) {
		t.Errorf("create over an object: %v, want ErrExists from the store", err)
	}
}

// TestReadKinds: what each kind does to Open, Stat, OpenRange and to the
// Reads of an opened object.
func TestReadKinds(t *testing.T) {
	inner := mem.New()
	body := strings.Repeat("0123456789", 1000)
	put(t, inner, "k", body)
	open := map[Op]func(s *Store) (io.ReadCloser, error){
		OpOpen:      func(s *Store) (io.ReadCloser, error) { return s.Open(t.Context(), "k") },
		OpOpenRange: func(s *Store) (io.ReadCloser, error) { return s.OpenRange(t.Context(), "k", 0, -1) },
	}
	for op, call := range open {
		for _, k := range []Kind{Fail, Denied, FailAfter} {
			if _, err := call(New(inner, Config{Injector: Always(k)})); !errors.Is(err, ErrInjected) {
				t.Errorf("%s %s: %v", op, k, err)
			}
		}
		if _, err := call(New(inner, Config{Injector: Always(Missing)})); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("%s missing: %v", op, err)
		}
		// Partial at the open: a prefix, then an error, never a clean end.
		for seed := range uint64(20) {
			r, err := call(New(inner, Config{Injector: Nth(1, Partial), Seed: seed}))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if !errors.Is(err, ErrInjected) || !strings.HasPrefix(body, string(got)) || len(got) >= len(body) {
				t.Errorf("%s partial, seed %d: read %d bytes, %v", op, seed, len(got), err)
			}
		}
		// A fault at the second Read: what the first read is kept.
		for _, k := range []Kind{Fail, Partial, FailAfter, Denied} {
			r, err := call(New(inner, Config{Injector: Nth(3, k)}))
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 100)
			if n, err := r.Read(b); n != 100 || err != nil {
				t.Fatalf("%s %s: first read %d %v", op, k, n, err)
			}
			n, err := r.Read(b)
			if !errors.Is(err, ErrInjected) || n > 50 || string(b[:n]) != body[100:100+n] {
				t.Errorf("%s %s: second read %d bytes, %v", op, k, n, err)
			}
			r.Close()
		}
	}
	for _, k := range []Kind{Fail, Denied, FailAfter, Partial} {
		if _, err := New(inner, Config{Injector: Always(k)}).Stat(t.Context(), "k"); !errors.Is(err, ErrInjected) {
			t.Errorf("stat %s: %v", k, err)
		}
		if _, err := New(inner, Config{Injector: Always(k)}).List(t.Context(), ""); !errors.Is(err, ErrInjected) {
			t.Errorf("list %s: %v", k, err)
		}
	}
	if _, err := New(inner, Config{Injector: Always(Missing)}).Stat(t.Context(), "k"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("stat missing: %v", err)
	}
}

// TestPoints: every call and every Read is a numbered point, reported to
// Observe with its outcome.
func TestPoints(t *testing.T) {
	var events []Event
	s := New(mem.New(), Config{Injector: Nth(4, Fail), Observe: func(e Event) { events = append(events, e) }})
	ctx := t.Context()
	s.Put(ctx, "a/x", strings.NewReader("x"))
	s.List(ctx, "a/")
	r, _ := s.Open(ctx, "a/x")
	io.ReadAll(r)
	r.Close()
	s.Delete(ctx, "a/x")
	var got []string
	for _, e := range events {
		line := e.Point.String() + " " + e.Fault.String()
		if e.Err != nil {
			line += " err"
		}
		got = append(got, line)
	}
	want := "#1 put a/x none|#2 list a/ none|#3 open a/x none|#4 read a/x fail err|#5 delete a/x none"
	if strings.Join(got, "|") != want {
		t.Errorf("points:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if s.Points() != 5 || s.Injected() != 1 {
		t.Errorf("Points %d Injected %d", s.Points(), s.Injected())
	}
}

// TestInjectors: which points each injector fails, and that a seed gives
// the same faults again.
func TestInjectors(t *testing.T) {
	pts := []Point{{Op: OpPut, Key: "t/data/a.parquet"}, {Op: OpOpen, Key: "t/metadata/v1.json"},
		{Op: OpPut, Key: "t/metadata/v2.json"}, {Op: OpDelete, Key: "t/data/a.parquet"},
		{Op: OpPut, Key: "t/data/b.parquet"}, {Op: OpList, Key: "t/"}, {Op: OpPut, Key: "t/data/c.parquet"}}
	run := func(inj Injector) string {
		var b strings.Builder
		for i, p := range pts {
			p.Index = int64(i + 1)
			b.WriteString(inj.Fault(p).String()[:1])
		}
		return b.String()
	}
	for _, c := range []struct {
		inj  Injector
		want string
	}{
		{Nth(3, Fail), "nnfnnnn"},
		{EveryNth(2, Denied), "ndndndn"},
		{Matching(Writes(), Nth(3, FailAfter)), "nnnfnnn"},
		{Matching(KeyGlob("t/data/*.parquet"), EveryNth(2, Partial)), "nnnpnnp"},
		{Matching(And(Ops(OpPut), KeyGlob("t/data/*")), Nth(2, Fail)), "nnnnfnn"},
		{Matching(Reads(), Always(Slow)), "nsnnnsn"},
		{Any(Nth(1, Fail), Nth(1, Slow), Nth(2, Denied)), "fdnnnnn"},
	} {
		if got := run(c.inj); got != c.want {
			t.Errorf("%s: %s, want %s", c.inj, got, c.want)
		}
	}
	// Random: deterministic by seed, about prob of the points, and
	// different seeds differ.
	many := func(seed uint64) ([]Kind, map[Kind]int) {
		inj := Random(seed, 0.2, Fail, FailAfter)
		var ks []Kind
		n := map[Kind]int{}
		for i := range 10_000 {
			k := inj.Fault(Point{Index: int64(i + 1)})
			ks = append(ks, k)
			n[k]++
		}
		return ks, n
	}
	a, n := many(42)
	b, _ := many(42)
	c, _ := many(43)
	if !slices.Equal(a, b) {
		t.Error("Random with one seed gave two fault sequences")
	}
	if slices.Equal(a, c) {
		t.Error("Random with two seeds gave one fault sequence")
	}
	if n[Fail] < 900 || n[Fail] > 1100 || n[FailAfter] < 900 || n[FailAfter] > 1100 || n[None] != 10_000-n[Fail]-n[FailAfter] {
		t.Errorf("Random(0.2, fail, fail-after) over 10000 points: %v", n)
	}
}

// TestPartialBodyIsReSendable: a Partial body still seeks, so a store that
// re-sends bodies (S3's conflict retry) gets the same cut body again.
func TestPartialBodyIsReSendable(t *testing.T) {
	s := New(mem.New(), Config{})
	b := s.body(Point{Index: 9, Op: OpPut, Key: "k"}, Partial, bytes.NewReader(make([]byte, 10_000)))
	n1, err1 := io.Copy(io.Discard, b)
	if _, err := b.(io.Seeker).Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	n2, err2 := io.Copy(io.Discard, b)
	if !errors.Is(err1, ErrInjected) || n1 >= 10_000 || n2 != n1 || !errors.Is(err2, ErrInjected) {
		t.Fatalf("cut body: %d bytes, %v; sent again: %d bytes, %v", n1, err1, n2, err2)
	}
	// A body that cannot seek stays one that cannot.
	pr, _ := io.Pipe()
	if _, ok := s.body(Point{Index: 9, Op: OpPut, Key: "k"}, Partial, pr).(io.Seeker); ok {
		t.Error("a cut pipe seeks")
	}
}
