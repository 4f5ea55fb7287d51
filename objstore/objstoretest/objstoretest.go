// Package objstoretest is the conformance suite every objstore.Store
// implementation passes: the contract of objstore.Store, as tests.
//
// Call Run from the implementation's tests, and RunRanges for a store that
// also reads ranges (Stat, OpenRange; see RangeStore):
//
//	func TestConformance(t *testing.T) {
//		objstoretest.Run(t, func(t *testing.T) objstore.Store { return mem.New() })
//		objstoretest.RunRanges(t, func(t *testing.T) objstoretest.RangeStore { return mem.New() })
//	}
//
// The suite uses only keys every implementation accepts (S3, a folder, in
// memory) and checks only what the objstore.Store docs promise. In
// particular it never rewrites an object with content of the same length,
// since a folder's ETag (modification time and size) may miss such a
// rewrite within one timestamp tick, and S3's ETag (a content digest)
// misses a rewrite with equal bytes.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/lakemerge/lakemerge/objstore"
)

// Run runs the suite as subtests of t. newStore returns a new, empty store
// for each subtest; it may call t.Skip, t.Cleanup and t.Setenv (Run never
// calls t.Parallel).
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	for _, c := range []struct {
		name string
		test func(t *testing.T, s objstore.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"OpenMissing", testOpenMissing},
		{"List", testList},
		{"ListInfo", testListInfo},
		{"PutReplaces", testPutReplaces},
		{"OpenReaderKeepsContent", testOpenReaderKeepsContent},
		{"FailedWriteStoresNothing", testFailedWrite},
		{"CreateExclusive", testCreateExclusive},
		{"CreateExclusiveRace", testCreateExclusiveRace},
		{"ConcurrentPuts", testConcurrentPuts},
		{"Delete", testDelete},
		{"CanceledContext", testCanceled},
		{"UnusualKeys", testUnusualKeys},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, newStore(t)) })
	}
}

// testRoundTrip: what Put stores, Open returns, for sizes from empty to
// beyond common buffer sizes, and for a reader that returns one byte at a
// time.
func testRoundTrip(t *testing.T, s objstore.Store) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 4095, 4096, 4097, 1<<20 + 1} {
		key := fmt.Sprintf("rt/%d.bin", n)
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(rng.Uint32())
		}
		put(t, s, key, body)
		if got := read(t, s, key); !bytes.Equal(got, body) {
			t.Errorf("%s: read %d bytes that differ from the %d put", key, len(got), n)
		}
	}
	if err := s.Put(t.Context(), "rt/slow", iotest.OneByteReader(strings.NewReader("one byte at a time"))); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, s, "rt/slow")); got != "one byte at a time" {
		t.Errorf("read %q", got)
	}
}

// testOpenMissing: a missing key, or one that is only the start of other
// keys (a "folder"), gives ErrNotExist.
func testOpenMissing(t *testing.T, s objstore.Store) {
	put(t, s, "dir/sub/x", []byte("x"))
	for _, key := range []string{"missing", "missing/key", "dir", "dir/sub", "dir/sub/x/y", "dir/su"} {
		r, err := s.Open(t.Context(), key)
		if err == nil {
			r.Close()
		}
		if !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want an error matching ErrNotExist", key, err)
		}
	}
}

// testList: recursive, sorted in byte order (not folder-walk order), any
// prefix including one ending mid-name, the empty prefix lists all, and a
// prefix that matches nothing gives an empty list.
func testList(t *testing.T, s objstore.Store) {
	for _, k := range []string{
		"public/customers/2024/05/01/a.csv",
		"public/customers/b.csv",
		"public/cust.csv",
		"public/orders/c.csv",
		"a/b",
		"a-c", // '-' < '/': sorts before "a/b", though folder "a" is read first
		"a.d",
		"z",
	} {
		put(t, s, k, []byte(k))
	}
	for _, c := range []struct{ prefix, want string }{
		{"", "a-c a.d a/b public/cust.csv public/customers/2024/05/01/a.csv public/customers/b.csv public/orders/c.csv z"},
		{"public/", "public/cust.csv public/customers/2024/05/01/a.csv public/customers/b.csv public/orders/c.csv"},
		{"public", "public/cust.csv public/customers/2024/05/01/a.csv public/customers/b.csv public/orders/c.csv"},
		{"public/cust", "public/cust.csv public/customers/2024/05/01/a.csv public/customers/b.csv"},
		{"public/customers/", "public/customers/2024/05/01/a.csv public/customers/b.csv"},
		{"public/customers/2024/05/01/a.csv", "public/customers/2024/05/01/a.csv"},
		{"public/customers/2024/0", "public/customers/2024/05/01/a.csv"},
		{"a", "a-c a.d a/b"},
		{"a/", "a/b"},
		{"z", "z"},
		{"missing/", ""},
		{"missing/deeper/", ""},
		{"public/customers/b.csv/", ""},
		{"public/x", ""},
		{"zz", ""},
	} {
		got, err := s.List(t.Context(), c.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", c.prefix, err)
			continue
		}
		if keys(got) != c.want {
			t.Errorf("List(%q) = %q, want %q", c.prefix, keys(got), c.want)
		}
	}
}

// testListInfo: List reports each object's size, a non-empty ETag and a
// modification time, and an unchanged object keeps its ETag.
func testListInfo(t *testing.T, s objstore.Store) {
	sizes := map[string]int{"info/empty": 0, "info/one": 1, "info/k": 1000}
	for k, n := range sizes {
		put(t, s, k, bytes.Repeat([]byte("x"), n))
	}
	first := list(t, s, "info/")
	if len(first) != len(sizes) {
		t.Fatalf("listed %q", keys(first))
	}
	for _, o := range first {
		if o.Size != int64(sizes[o.Key]) || o.ETag == "" || o.LastModified.IsZero() {
			t.Errorf("%+v: want size %d, an ETag and a modification time", o, sizes[o.Key])
		}
	}
	second := list(t, s, "info/")
	for i := range second {
		a, b := first[i], second[i]
		if a.Key != b.Key || a.Size != b.Size || a.ETag != b.ETag || !a.LastModified.Equal(b.LastModified) {
			t.Errorf("unchanged object listed as %+v, then %+v", a, b)
		}
	}
}

// testPutReplaces: Put over an object replaces it, and the ETag and size
// change with content of another length.
func testPutReplaces(t *testing.T, s objstore.Store) {
	put(t, s, "r/x", []byte("one"))
	before := list(t, s, "r/")
	put(t, s, "r/x", []byte("three"))
	after := list(t, s, "r/")
	if len(before) != 1 || len(after) != 1 {
		t.Fatalf("listed %q, then %q", keys(before), keys(after))
	}
	if before[0].Size != 3 || after[0].Size != 5 {
		t.Errorf("sizes %d then %d, want 3 then 5", before[0].Size, after[0].Size)
	}
	if before[0].ETag == after[0].ETag {
		t.Errorf("ETag %q did not change on rewrite", after[0].ETag)
	}
	if got := string(read(t, s, "r/x")); got != "three" {
		t.Errorf("read %q after rewrite", got)
	}
}

// testOpenReaderKeepsContent: a reader opened before a Put reads the old
// content in full, never a mix.
func testOpenReaderKeepsContent(t *testing.T, s objstore.Store) {
	old := bytes.Repeat([]byte("old "), 1000)
	put(t, s, "snap/x", old)
	r, err := s.Open(t.Context(), "snap/x")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	put(t, s, "snap/x", []byte("new"))
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, old) {
		t.Errorf("reader opened before a Put read %d bytes, not the %d old ones", len(got), len(old))
	}
}

// testFailedWrite: when the body cannot be read to the end, Put and
// CreateExclusive fail and leave no trace: the old object is intact and no
// new one appears.
func testFailedWrite(t *testing.T, s objstore.Store) {
	errRead := errors.New("read failed")
	failing := func() io.Reader {
		return io.MultiReader(strings.NewReader("partial content"), iotest.ErrReader(errRead))
	}
	put(t, s, "fail/x", []byte("old"))
	if err := s.Put(t.Context(), "fail/x", failing()); err == nil {
		t.Error("Put with a failing reader succeeded")
	}
	if err := s.Put(t.Context(), "fail/new", failing()); err == nil {
		t.Error("Put with a failing reader succeeded")
	}
	if err := s.CreateExclusive(t.Context(), "fail/excl", failing()); err == nil {
		t.Error("CreateExclusive with a failing reader succeeded")
	}
	if got := string(read(t, s, "fail/x")); got != "old" {
		t.Errorf("read %q after a failed Put, want the old content", got)
	}
	if got := keys(list(t, s, "")); got != "fail/x" {
		t.Errorf("after failed writes the store lists %q", got)
	}
}

// testCreateExclusive: CreateExclusive creates a missing key and refuses
// an existing one, whether created or Put, leaving it unchanged.
func testCreateExclusive(t *testing.T, s objstore.Store) {
	if err := s.CreateExclusive(t.Context(), "x/1", bytes.NewReader([]byte("first"))); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateExclusive(t.Context(), "x/1", bytes.NewReader([]byte("second"))); !errors.Is(err, objstore.ErrExists) {
		t.Errorf("second create: %v, want an error matching ErrExists", err)
	}
	if got := string(read(t, s, "x/1")); got != "first" {
		t.Errorf("read %q, want the first create's content", got)
	}
	put(t, s, "x/2", []byte("put"))
	if err := s.CreateExclusive(t.Context(), "x/2", bytes.NewReader([]byte("create"))); !errors.Is(err, objstore.ErrExists) {
		t.Errorf("create over Put: %v, want an error matching ErrExists", err)
	}
	if got := string(read(t, s, "x/2")); got != "put" {
		t.Errorf("read %q, want the Put's content", got)
	}
	if got := keys(list(t, s, "")); got != "x/1 x/2" {
		t.Errorf("listed %q", got)
	}
}

// testCreateExclusiveRace: of 16 concurrent creators of one key exactly one
// succeeds, the others get ErrExists, and the object holds the winner's
// content. Bodies are bytes.Readers, which implementations may re-send.
func testCreateExclusiveRace(t *testing.T, s objstore.Store) {
	const n = 16
	const key = "race/00001.json"
	body := func(i int) []byte { return fmt.Appendf(nil, `{"writer":%d}`, i) }
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateExclusive(t.Context(), key, bytes.NewReader(body(i)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, objstore.ErrExists):
			t.Errorf("writer %d: %v, want nil or an error matching ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	if got := read(t, s, key); !bytes.Equal(got, body(winner)) {
		t.Errorf("content %q is not the winner's %q", got, body(winner))
	}
	if got := keys(list(t, s, "")); got != key {
		t.Errorf("listed %q", got)
	}
}

// testConcurrentPuts: concurrent Puts of distinct keys, in folders that do
// not exist yet, all land.
func testConcurrentPuts(t *testing.T, s objstore.Store) {
	const n = 16
	var want []string
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		key := fmt.Sprintf("conc/%d/sub/k%02d", i%4, i)
		want = append(want, key)
		wg.Go(func() { errs[i] = s.Put(t.Context(), key, strings.NewReader(key)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("put %s: %v", want[i], err)
		}
	}
	got := list(t, s, "conc/")
	if len(got) != n {
		t.Fatalf("listed %d objects, want %d: %q", len(got), n, keys(got))
	}
	for _, o := range got {
		if string(read(t, s, o.Key)) != o.Key {
			t.Errorf("%s has another key's content", o.Key)
		}
	}
}

// testDelete: a deleted object is gone from List and Open, its neighbours
// stay, and deleting a missing key (again) is not an error.
func testDelete(t *testing.T, s objstore.Store) {
	put(t, s, "d/x", []byte("x"))
	put(t, s, "d/y", []byte("y"))
	put(t, s, "d/x2/z", []byte("z"))
	for range 2 {
		if err := s.Delete(t.Context(), "d/x"); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if got := keys(list(t, s, "d/")); got != "d/x2/z d/y" {
		t.Errorf("after delete listed %q", got)
	}
	if _, err := s.Open(t.Context(), "d/x"); !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("open deleted: %v, want an error matching ErrNotExist", err)
	}
	for _, key := range []string{"missing", "missing/key", "d/x2"} {
		if err := s.Delete(t.Context(), key); err != nil {
			t.Errorf("delete missing %q: %v", key, err)
		}
	}
	if got := keys(list(t, s, "d/")); got != "d/x2/z d/y" {
		t.Errorf("deleting missing keys changed the store: %q", got)
	}
}

// testCanceled: with a canceled context every call fails with an error
// matching context.Canceled, and writes store nothing.
func testCanceled(t *testing.T, s objstore.Store) {
	put(t, s, "c/x", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"List": func() error { _, err := s.List(ctx, ""); return err },
		"Open": func() error {
			r, err := s.Open(ctx, "c/x")
			if err == nil {
				r.Close()
			}
			return err
		},
		"Put":             func() error { return s.Put(ctx, "c/put", strings.NewReader("p")) },
		"CreateExclusive": func() error { return s.CreateExclusive(ctx, "c/create", strings.NewReader("c")) },
		"Delete":          func() error { return s.Delete(ctx, "c/x") },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want an error matching context.Canceled", name, err)
		}
	}
	if got := keys(list(t, s, "")); got != "c/x" {
		t.Errorf("after canceled calls the store lists %q", got)
	}
}

// testUnusualKeys: spaces, non-ASCII, characters URLs and shells treat
// specially, and dots inside names all round-trip and list.
func testUnusualKeys(t *testing.T, s objstore.Store) {
	ks := []string{
		"sp ace/with space.csv",
		"ünï/日本語 ß.csv",
		"sym/a+b=c&d;e,f@g$h'(i)!*~#[].csv",
		"pct/%41%2F%zz.csv",
		"dots/a..b/.hidden",
		"dots/...x",
	}
	for _, k := range ks {
		put(t, s, k, []byte(k))
	}
	for _, k := range ks {
		if got := string(read(t, s, k)); got != k {
			t.Errorf("read %q: %q", k, got)
		}
		if got := keys(list(t, s, k)); got != k {
			t.Errorf("List(%q) = %q", k, got)
		}
	}
	if got := keys(list(t, s, "ünï/日本")); got != "ünï/日本語 ß.csv" {
		t.Errorf("List mid-name in UTF-8 = %q", got)
	}
	if got := len(list(t, s, "")); got != len(ks) {
		t.Errorf("listed %d objects, want %d", got, len(ks))
	}
}

func put(t *testing.T, s objstore.Store, key string, body []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	r, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

func list(t *testing.T, s objstore.Store, prefix string) []objstore.ObjectInfo {
	t.Helper()
	infos, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

func keys(infos []objstore.ObjectInfo) string {
	ks := make([]string, len(infos))
	for i, o := range infos {
		ks[i] = o.Key
	}
	return strings.Join(ks, " ")
}

// RangeStore is a Store that can also read an object's info and part of
// its content: objstore/icebergio's Store, restated here so that this
// package stays a leaf.
type RangeStore interface {
	objstore.Store
	Stat(ctx context.Context, key string) (objstore.ObjectInfo, error)
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// RunRanges runs the suite of Stat and OpenRange as subtests of t, with a
// new, empty store for each, as Run does.
func RunRanges(t *testing.T, newStore func(t *testing.T) RangeStore) {
	for _, c := range []struct {
		name string
		test func(t *testing.T, s RangeStore)
	}{
		{"StatMatchesList", testStat},
		{"StatMissing", testStatMissing},
		{"OpenRange", testOpenRange},
		{"OpenRangeMissing", testOpenRangeMissing},
		{"RangeCanceledContext", testRangeCanceled},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, newStore(t)) })
	}
}

// testStat: Stat reports what List reports for the same object.
func testStat(t *testing.T, s RangeStore) {
	for k, n := range map[string]int{"st/empty": 0, "st/one": 1, "st/big": 70000} {
		put(t, s, k, bytes.Repeat([]byte("s"), n))
	}
	for _, o := range list(t, s, "st/") {
		got, err := s.Stat(t.Context(), o.Key)
		if err != nil {
			t.Errorf("Stat(%q): %v", o.Key, err)
			continue
		}
		if got.Key != o.Key || got.Size != o.Size || got.ETag != o.ETag || !got.LastModified.Equal(o.LastModified) {
			t.Errorf("Stat(%q) = %+v, List says %+v", o.Key, got, o)
		}
	}
}

// testStatMissing: a missing key or a "folder" gives ErrNotExist.
func testStatMissing(t *testing.T, s RangeStore) {
	put(t, s, "dir/sub/x", []byte("x"))
	for _, key := range []string{"missing", "dir", "dir/sub", "dir/sub/x/y"} {
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want an error matching ErrNotExist", key, err)
		}
	}
}

// testOpenRange: every range of a small object, and ranges at the ends
// of a large one, read exactly the bytes they name; a range past the end
// stops at the end; length < 0 reads to the end.
func testOpenRange(t *testing.T, s RangeStore) {
	rng := rand.New(rand.NewPCG(3, 4))
	small := []byte("0123456789")
	big := make([]byte, 1<<20+3)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	put(t, s, "rg/small", small)
	put(t, s, "rg/big", big)
	put(t, s, "rg/empty", nil)
	check := func(key string, content []byte, off, length int64) {
		t.Helper()
		want := content[min(off, int64(len(content))):]
		if length >= 0 && length < int64(len(want)) {
			want = want[:length]
		}
		r, err := s.OpenRange(t.Context(), key, off, length)
		if err != nil {
			t.Errorf("OpenRange(%s, %d, %d): %v", key, off, length, err)
			return
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil {
			t.Errorf("read range %s %d+%d: %v", key, off, length, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("range %s %d+%d read %d bytes that differ from the %d wanted", key, off, length, len(got), len(want))
		}
	}
	for off := int64(0); off <= int64(len(small)); off++ {
		for length := int64(-1); off+length <= int64(len(small))+1; length++ {
			check("rg/small", small, off, length)
		}
	}
	n := int64(len(big))
	for _, c := range [][2]int64{{0, 8}, {n - 8, 8}, {n - 8, 100}, {n - 1, -1}, {4095, 4098}, {1 << 19, -1}, {n, 10}, {n + 5, -1}} {
		check("rg/big", big, c[0], c[1])
	}
	check("rg/empty", nil, 0, -1)
	check("rg/empty", nil, 0, 10)
}

// testOpenRangeMissing: a missing key gives ErrNotExist.
func testOpenRangeMissing(t *testing.T, s RangeStore) {
	r, err := s.OpenRange(t.Context(), "missing", 0, 10)
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, objstore.ErrNotExist) {
		t.Errorf("OpenRange of a missing key: %v, want an error matching ErrNotExist", err)
	}
}

// testRangeCanceled: Stat and OpenRange fail with a canceled context.
func testRangeCanceled(t *testing.T, s RangeStore) {
	put(t, s, "c/x", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Stat(ctx, "c/x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with a canceled context: %v", err)
	}
	r, err := s.OpenRange(ctx, "c/x", 0, 1)
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("OpenRange with a canceled context: %v", err)
	}
}
