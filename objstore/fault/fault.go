// Package fault wraps an objstore store and makes its calls fail, as
// pebble's vfs/errorfs does for a file system, so that tests see what a
// writer or reader does when the storage under it fails, at every call.
//
// Every call through a Store is a fault point: List, Open, Stat, OpenRange,
// Put, CreateExclusive, Delete, and each Read on a reader that Open or
// OpenRange returned. Points are numbered from 1 in the order they are
// passed. For each point the Store asks its Injector how it fails (a Kind):
// not at all, before reaching the store, after the store did the work (the
// unknown outcome of a request that timed out after it landed), part-way (a
// body or a read that stops with an error), with a permission error, slowly,
// or with a not-found answer (which no real store gives; see Missing).
// Injectors target the Nth point, every Nth point, points at random, or the
// points a predicate picks (operation, key glob), and compose.
//
// Given its Injector and seed, a Store injects the same faults into the same
// sequence of calls: whatever varies with the point (where a partial body is
// cut, how long a slow call waits, whether a random injector fires) is a
// hash of the seed and the point's index. Concurrent callers make the
// sequence itself vary from run to run; tests that need it fixed call from
// one goroutine.
//
// # What a store-level fault covers, and why there is no file-system layer
//
// objstore/local writes a temporary file, syncs it, renames or hard-links it
// into place and syncs the folder. Every failure inside that sequence ends
// in one of two states the caller can see: nothing changed (the temporary
// file is removed, or left under a name List never reports), or the object
// is in place, when only the final folder sync or the temporary file's
// removal failed. Fail and FailAfter inject exactly those two states, so a
// layer below the store (rename, fsync) would add no state a caller can see.
// What it could add is losing writes that were not synced before a power
// cut, which an error injector cannot model either; the store's sync
// discipline is its answer.
package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lakemerge/lakemerge/objstore"
)

// ErrInjected is matched by every error a Store injects.
var ErrInjected = errors.New("injected fault")

// Op is the kind of call at a fault point.
type Op uint8

const (
	OpList Op = iota + 1
	OpOpen
	OpRead // one Read on a reader Open or OpenRange returned
	OpStat
	OpOpenRange
	OpPut
	OpCreateExclusive
	OpDelete
)

var opNames = [...]string{OpList: "list", OpOpen: "open", OpRead: "read", OpStat: "stat",
	OpOpenRange: "open-range", OpPut: "put", OpCreateExclusive: "create", OpDelete: "delete"}

func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", o)
}

// IsWrite reports whether the call changes the store.
func (o Op) IsWrite() bool { return o == OpPut || o == OpCreateExclusive || o == OpDelete }

// Point is one call through a Store.
type Point struct {
	Index int64 // from 1, in the order points are passed
	Op    Op
	Key   string // the object's key; List's prefix
}

func (p Point) String() string { return fmt.Sprintf("#%d %s %s", p.Index, p.Op, p.Key) }

// Kind is how a point fails.
type Kind uint8

const (
	// None: the call goes through unchanged.
	None Kind = iota
	// Fail: the call fails before it reaches the store; nothing is read,
	// written or deleted.
	Fail
	// FailAfter: the call reaches the store and completes there, then the
	// caller gets an error: a write that landed, a delete that happened,
	// a read whose answer is lost. When the store itself fails the call,
	// the caller gets the store's error.
	FailAfter
	// Partial: a write's body stops with an error part-way (the store
	// must then store nothing); a read returns part of what was asked,
	// then an error. Other calls fail as with Fail.
	Partial
	// Denied: as Fail, with an error that also matches fs.ErrPermission
	// (S3's AccessDenied, a folder without write permission).
	Denied
	// Slow: the call waits 1 to 20 milliseconds (or until its context
	// ends), then goes through unchanged.
	Slow
	// Missing: a read (Open, Stat, OpenRange) answers objstore.ErrNotExist
	// although the object may exist; other calls fail as with Fail. No
	// store lakemerge runs on does this: S3 has been strongly consistent
	// for reads after writes, deletes and lists since December 2020, and a
	// folder always was. It is in no mix of the randomized tests; it is
	// here to show, in a test that asks for it, what a reader makes of a
	// false "not found".
	Missing
)

var kindNames = [...]string{None: "none", Fail: "fail", FailAfter: "fail-after", Partial: "partial",
	Denied: "denied", Slow: "slow", Missing: "missing"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Injector decides how each fault point fails.
type Injector interface {
	// Fault is called once for each point, in the order of their Index,
	// never concurrently.
	Fault(p Point) Kind
	// String describes the injector, for reproducing a failure.
	String() string
}

// Event is one fault point after its call, for Config.Observe.
type Event struct {
	Point
	Fault Kind
	Err   error // what the caller got
}

// Config configures a Store.
type Config struct {
	// Injector decides the faults; nil injects none (a recording store).
	Injector Injector
	// Seed varies where Partial cuts and how long Slow waits.
	Seed uint64
	// Observe, when set, is called after every point's call with its
	// outcome, from the caller's goroutine (so concurrently).
	Observe func(Event)
}

// Store is an objstore.Store whose calls fail as its Injector says. It
// also reads ranges (Stat, OpenRange), through the wrapped store when it
// can, else by listing and by reading from the start. Safe for concurrent
// use.
type Store struct {
	inner objstore.Store
	cfg   Config

	mu struct {
		sync.Mutex
		points int64
	}
	injected atomic.Int64
}

var _ objstore.Store = (*Store)(nil)

// New wraps inner.
func New(inner objstore.Store, cfg Config) *Store {
	return &Store{inner: inner, cfg: cfg}
}

// Points is the number of fault points passed so far.
func (s *Store) Points() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.points
}

// Injected is the number of points that failed or were slowed so far.
func (s *Store) Injected() int64 { return s.injected.Load() }

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() objstore.Store { return s.inner }

// point numbers the next point and asks the injector about it.
func (s *Store) point(op Op, key string) (Point, Kind) {
	s.mu.Lock()
	s.mu.points++
	p := Point{Index: s.mu.points, Op: op, Key: key}
	k := None
	if s.cfg.Injector != nil {
		k = s.cfg.Injector.Fault(p)
	}
	s.mu.Unlock()
	if k != None {
		s.injected.Add(1)
	}
	return p, k
}

func (s *Store) observe(p Point, k Kind, err error) {
	if s.cfg.Observe != nil {
		s.cfg.Observe(Event{Point: p, Fault: k, Err: err})
	}
}

// hash mixes the seed and a point's index (splitmix64's finalizer).
func hash(seed uint64, index int64) uint64 {
	z := seed ^ uint64(index)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// injected is the error of point p failing as k.
func injected(p Point, k Kind) error {
	if k == Denied {
		return fmt.Errorf("%s %s: %w (%s at point %d): %w", p.Op, p.Key, ErrInjected, k, p.Index, fs.ErrPermission)
	}
	return fmt.Errorf("%s %s: %w (%s at point %d)", p.Op, p.Key, ErrInjected, k, p.Index)
}

// missing is the false "not found" of Missing.
func missing(p Point) error {
	return fmt.Errorf("%s %s: %w (%w: %s at point %d)", p.Op, p.Key, objstore.ErrNotExist, ErrInjected, Missing, p.Index)
}

// delay waits as Slow says, or until ctx ends.
func (s *Store) delay(ctx context.Context, p Point) error {
	d := time.Duration(1+hash(s.cfg.Seed, p.Index)%20) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// before applies the part of fault k that comes before the call: it
// returns the error the caller gets instead of the call, or nil to go on.
func (s *Store) before(ctx context.Context, p Point, k Kind, read bool) error {
	switch k {
	case None, FailAfter:
		return nil
	case Slow:
		return s.delay(ctx, p)
	case Missing:
		if read {
			return missing(p)
		}
	case Partial:
		if p.Op == OpOpen || p.Op == OpOpenRange || p.Op == OpPut || p.Op == OpCreateExclusive {
			return nil // applied to the reader or body
		}
	}
	return injected(p, k)
}

// after applies FailAfter once the call succeeded.
func after(p Point, k Kind, err error) error {
	if err == nil && k == FailAfter {
		return injected(p, k)
	}
	return err
}

// List lists the wrapped store.
func (s *Store) List(ctx context.Context, prefix string) (objs []objstore.ObjectInfo, err error) {
	p, k := s.point(OpList, prefix)
	defer func() { s.observe(p, k, err) }()
	if err := s.before(ctx, p, k, true); err != nil {
		return nil, err
	}
	objs, err = s.inner.List(ctx, prefix)
	if err = after(p, k, err); err != nil {
		return nil, err
	}
	return objs, nil
}

// Open opens an object of the wrapped store; each Read on it is a point.
func (s *Store) Open(ctx context.Context, key string) (rc io.ReadCloser, err error) {
	p, k := s.point(OpOpen, key)
	defer func() { s.observe(p, k, err) }()
	if err := s.before(ctx, p, k, true); err != nil {
		return nil, err
	}
	r, err := s.inner.Open(ctx, key)
	return s.reader(ctx, p, k, r, err)
}

// reader finishes Open and OpenRange: FailAfter closes what was opened
// and fails; Partial cuts the reader.
func (s *Store) reader(ctx context.Context, p Point, k Kind, r io.ReadCloser, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	if k == FailAfter {
		r.Close()
		return nil, injected(p, k)
	}
	fr := &reader{s: s, ctx: ctx, key: p.Key, r: r, cut: -1}
	if k == Partial {
		fr.cut = int64(hash(s.cfg.Seed, p.Index) % 4096)
		fr.cutAt = p
	}
	return fr, nil
}

// Stat reads one object's info.
func (s *Store) Stat(ctx context.Context, key string) (info objstore.ObjectInfo, err error) {
	p, k := s.point(OpStat, key)
	defer func() { s.observe(p, k, err) }()
	if err := s.before(ctx, p, k, true); err != nil {
		return objstore.ObjectInfo{}, err
	}
	info, err = s.stat(ctx, key)
	if err = after(p, k, err); err != nil {
		return objstore.ObjectInfo{}, err
	}
	return info, nil
}

func (s *Store) stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if st, ok := s.inner.(interface {
		Stat(context.Context, string) (objstore.ObjectInfo, error)
	}); ok {
		return st.Stat(ctx, key)
	}
	objs, err := s.inner.List(ctx, key)
	if err != nil {
		return objstore.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	for _, o := range objs {
		if o.Key == key {
			return o, nil
		}
	}
	return objstore.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, objstore.ErrNotExist)
}

// OpenRange reads part of an object; each Read on it is a point.
func (s *Store) OpenRange(ctx context.Context, key string, offset, length int64) (rc io.ReadCloser, err error) {
	p, k := s.point(OpOpenRange, key)
	defer func() { s.observe(p, k, err) }()
	if err := s.before(ctx, p, k, true); err != nil {
		return nil, err
	}
	r, err := s.openRange(ctx, key, offset, length)
	return s.reader(ctx, p, k, r, err)
}

func (s *Store) openRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if rr, ok := s.inner.(interface {
		OpenRange(context.Context, string, int64, int64) (io.ReadCloser, error)
	}); ok {
		return rr.OpenRange(ctx, key, offset, length)
	}
	r, err := s.inner.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, offset); err != nil && err != io.EOF {
		r.Close()
		return nil, fmt.Errorf("open %s at %d: %w", key, offset, err)
	}
	if length < 0 {
		return r, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(r, length), r}, nil
}

// Put stores through the wrapped store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (err error) {
	p, k := s.point(OpPut, key)
	defer func() { s.observe(p, k, err) }()
	if err := s.before(ctx, p, k, false); err != nil {
		return err
	}
	return after(p, k, s.inner.Put(ctx, key, s.body(p, k, r)))
}

// CreateExclusive creates through the wrapped store.
func (s *Store) CreateExclusive(ctx context.Context, key string, r io.Reader) (err error) {
	p, k := s.point(OpCreateExclusive, key)
	defer func() { s.observe(p, k, err) }()
	if err := s.before(ctx, p, k, false); err != nil {
		return err
	}
	return after(p, k, s.inner.CreateExclusive(ctx, key, s.body(p, k, r)))
}

// body is r, cut for Partial: after up to 4 KiB it fails instead of
// reaching its end.
func (s *Store) body(p Point, k Kind, r io.Reader) io.Reader {
	if k != Partial {
		return r
	}
	cut := int64(hash(s.cfg.Seed, p.Index) % 4096)
	b := &cutBody{r: r, cut: cut, left: cut, err: injected(p, k)}
	if _, ok := r.(io.Seeker); ok {
		return seekableCutBody{b}
	}
	return b
}

// Delete deletes through the wrapped store.
func (s *Store) Delete(ctx context.Context, key string) (err error) {
	p, k := s.point(OpDelete, key)
	defer func() { s.observe(p, k, err) }()
	if err := s.before(ctx, p, k, false); err != nil {
		return err
	}
	return after(p, k, s.inner.Delete(ctx, key))
}

// reader is an opened object whose Reads are fault points; with cut ≥ 0
// (Partial at its open) it fails after cut bytes.
type reader struct {
	s     *Store
	ctx   context.Context // of the Open
	key   string
	r     io.ReadCloser
	cut   int64
	cutAt Point
}

func (r *reader) Read(b []byte) (n int, err error) {
	p, k := r.s.point(OpRead, r.key)
	defer func() { r.s.observe(p, k, err) }()
	if r.cut == 0 {
		return 0, injected(r.cutAt, Partial)
	}
	if r.cut > 0 && int64(len(b)) > r.cut {
		b = b[:r.cut]
	}
	switch k {
	case None:
	case Slow:
		if err := r.s.delay(r.ctx, p); err != nil {
			return 0, err
		}
	case Partial:
		n, err = r.r.Read(b[:len(b)/2])
		if err == nil || err == io.EOF {
			err = injected(p, k)
		}
		return n, err
	case FailAfter:
		r.r.Read(b)
		return 0, injected(p, k)
	default:
		return 0, injected(p, k)
	}
	n, err = r.r.Read(b)
	if r.cut > 0 {
		r.cut -= int64(n)
		if err == io.EOF {
			err = injected(r.cutAt, Partial)
		}
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }

// cutBody passes left bytes of r, then fails with err, also where r would
// have ended.
type cutBody struct {
	r         io.Reader
	cut, left int64 // bytes passed before failing: in all, still
	err       error
}

func (c *cutBody) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, c.err
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.r.Read(b)
	c.left -= int64(n)
	if err == io.EOF {
		err = c.err
	}
	return n, err
}

// seekableCutBody is a cutBody of a reader that seeks, so that stores
// that re-send bodies (S3 after a conflicting write) see a seeker, as they
// would without the fault.
type seekableCutBody struct{ *cutBody }

func (c seekableCutBody) Seek(offset int64, whence int) (int64, error) {
	pos, err := c.r.(io.Seeker).Seek(offset, whence)
	if err == nil {
		c.left = c.cut - pos
	}
	return pos, err
}

// ---- injectors ---------------------------------------------------------------

// Always fails every point it sees as k.
func Always(k Kind) Injector { return always(k) }

type always Kind

func (a always) Fault(Point) Kind { return Kind(a) }
func (a always) String() string   { return fmt.Sprintf("Always(%s)", Kind(a)) }

// Nth fails the nth point it sees (from 1) as k.
func Nth(n int64, k Kind) Injector { return &nth{n: n, k: k} }

type nth struct {
	n, seen int64
	k       Kind
}

func (i *nth) Fault(Point) Kind {
	i.seen++
	if i.seen == i.n {
		return i.k
	}
	return None
}
func (i *nth) String() string { return fmt.Sprintf("Nth(%d, %s)", i.n, i.k) }

// EveryNth fails the nth, 2nth, 3nth... point it sees as k.
func EveryNth(n int64, k Kind) Injector { return &everyNth{n: n, k: k} }

type everyNth struct {
	n, seen int64
	k       Kind
}

func (i *everyNth) Fault(Point) Kind {
	i.seen++
	if i.n > 0 && i.seen%i.n == 0 {
		return i.k
	}
	return None
}
func (i *everyNth) String() string { return fmt.Sprintf("EveryNth(%d, %s)", i.n, i.k) }

// Random fails each point it sees with probability prob, as one of kinds
// (each as likely), by a hash of seed and the point's place among those it
// sees.
func Random(seed uint64, prob float64, kinds ...Kind) Injector {
	return &random{seed: seed, prob: prob, kinds: kinds}
}

type random struct {
	seed  uint64
	prob  float64
	kinds []Kind
	seen  int64
}

func (i *random) Fault(Point) Kind {
	i.seen++
	h := hash(i.seed, i.seen)
	if len(i.kinds) == 0 || float64(h>>11)/(1<<53) >= i.prob {
		return None
	}
	return i.kinds[hash(i.seed+1, i.seen)%uint64(len(i.kinds))]
}

func (i *random) String() string {
	return fmt.Sprintf("Random(%d, %g, %s)", i.seed, i.prob, kindList(i.kinds))
}

func kindList(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = k.String()
	}
	return strings.Join(s, "|")
}

// Predicate picks fault points.
type Predicate struct {
	desc  string
	match func(Point) bool
}

// Ops picks the points of the given operations.
func Ops(ops ...Op) Predicate {
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = o.String()
	}
	return Predicate{"ops " + strings.Join(names, "|"), func(p Point) bool {
		for _, o := range ops {
			if p.Op == o {
				return true
			}
		}
		return false
	}}
}

// Writes picks Put, CreateExclusive and Delete points.
func Writes() Predicate { return Predicate{"writes", func(p Point) bool { return p.Op.IsWrite() }} }

// Reads picks the points that do not change the store.
func Reads() Predicate { return Predicate{"reads", func(p Point) bool { return !p.Op.IsWrite() }} }

// KeyGlob picks the points whose key matches pattern, by path.Match: "*"
// does not cross a "/". A malformed pattern picks nothing; check it with
// path.Match first.
func KeyGlob(pattern string) Predicate {
	return Predicate{fmt.Sprintf("key %q", pattern), func(p Point) bool {
		ok, _ := path.Match(pattern, p.Key)
		return ok
	}}
}

// And picks the points every one of ps picks.
func And(ps ...Predicate) Predicate {
	descs := make([]string, len(ps))
	for i, p := range ps {
		descs[i] = p.desc
	}
	return Predicate{strings.Join(descs, " and "), func(pt Point) bool {
		for _, p := range ps {
			if !p.match(pt) {
				return false
			}
		}
		return true
	}}
}

// Matching passes to next only the points pred picks; next sees them as
// its first, second, ... points, so Matching(Writes(), Nth(3, Fail))
// fails the third write.
func Matching(pred Predicate, next Injector) Injector { return matching{pred, next} }

type matching struct {
	pred Predicate
	next Injector
}

func (m matching) Fault(p Point) Kind {
	if !m.pred.match(p) {
		return None
	}
	return m.next.Fault(p)
}
func (m matching) String() string { return fmt.Sprintf("Matching(%s, %s)", m.pred.desc, m.next) }

// Any asks each of injs in turn (each sees every point) and returns the
// first fault one of them gives.
func Any(injs ...Injector) Injector { return anyOf(injs) }

type anyOf []Injector

func (a anyOf) Fault(p Point) Kind {
	k := None
	for _, inj := range a {
		if f := inj.Fault(p); k == None {
			k = f
		}
	}
	return k
}

func (a anyOf) String() string {
	s := make([]string, len(a))
	for i, inj := range a {
		s[i] = inj.String()
	}
	return "Any(" + strings.Join(s, ", ") + ")"
}
