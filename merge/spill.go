package merge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// ErrSpillDiskFull is matched by the error of a run whose spill folder ran
// out of space.
var ErrSpillDiskFull = errors.New("spill folder is full")

// Spill partition counts (see spillParts). Each open partition holds a
// small write buffer.
const (
	minSpillParts = 4
	maxSpillParts = 512
	// spillBufBytes is each partition file's write buffer.
	spillBufBytes = 32 << 10
)

// spiller holds a run's decoded changes in files under one temporary
// folder, partitioned by a function of the primary key, so that every
// change of a key is in the same partition, in the order it was added
// (apply order). The function is the target table's bucket of the key
// (bucket, see Bucketer) modulo the partition count, so that a partition
// holds whole buckets, or else a hash of the key. Batches are staged in
// memory up to flushBytes, then split into partitions and appended to each
// partition's run file (table.RunWriter: Arrow IPC, LZ4; a new file
// whenever the batches' schema changes). Each open partition file has its
// own compressor and write buffer. close removes the folder, whatever
// happened before.
type spiller struct {
	mem        memory.Allocator
	keys       []string
	dir        string
	seed       maphash.Seed
	bucket     bucketFunc // nil: the hash of the key
	parts      []*spillPart
	flushBytes int64

	staged      []arrow.RecordBatch // one schema
	stagedBytes int64

	rows, bytes int64 // rows spilled, bytes written
}

// bucketFunc appends to dst the bucket of each row of b, by its key
// columns alone (Bucketer.AppendBuckets).
type bucketFunc func(dst []int32, b arrow.RecordBatch) ([]int32, error)

// spillPart is one partition: its files in order, the open one last, and
// the rows and (in-memory) bytes added to it.
type spillPart struct {
	rows, memBytes int64
	files          []string
	w              *table.RunWriter // the open file; nil when none
	sch            *arrow.Schema    // its schema
}

// newSpiller creates a spill folder under dir (os.TempDir() when empty)
// with nparts partitions; batches are flushed to disk flushBytes at a time.
func newSpiller(mem memory.Allocator, keys []string, dir string, nparts int, flushBytes int64) (*spiller, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	d, err := os.MkdirTemp(dir, "lakemerge-spill-")
	if err != nil {
		return nil, fmt.Errorf("create spill folder: %w", spillErr(dir, err))
	}
	s := &spiller{mem: mem, keys: keys, dir: d, seed: maphash.MakeSeed(), flushBytes: flushBytes}
	for range nparts {
		s.parts = append(s.parts, &spillPart{})
	}
	return s, nil
}

// spillErr marks an out-of-space error so that it says what to do.
func spillErr(dir string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %s: free space there, point spill_dir (or TMPDIR) at a larger disk, or raise memory_mb: %w",
			ErrSpillDiskFull, dir, err)
	}
	return err
}

// add takes b (the spiller releases it) and spills it once enough is
// staged.
func (s *spiller) add(b arrow.RecordBatch) error {
	if len(s.staged) > 0 && !s.staged[0].Schema().Equal(b.Schema()) {
		if err := s.flush(); err != nil {
			b.Release()
			return err
		}
	}
	s.staged = append(s.staged, b)
	s.stagedBytes += change.RecordBytes(b)
	if s.stagedBytes >= s.flushBytes {
		return s.flush()
	}
	return nil
}

// flush writes the staged batches to their partitions: it orders their
// rows by partition (stable, so each partition keeps apply order) and
// appends each partition's slice.
func (s *spiller) flush() error {
	staged := s.staged
	s.staged, s.stagedBytes = nil, 0
	defer func() {
		for _, b := range staged {
			b.Release()
		}
	}()
	if len(staged) == 0 {
		return nil
	}
	// Partition of every row, then the rows grouped by partition.
	counts := make([]int64, len(s.parts)+1)
	var total, bytes int64
	var parts []int32
	for _, b := range staged {
		from := len(parts)
		var err error
		if parts, err = s.buckets(parts, b); err != nil {
			return fmt.Errorf("spill changes: %w", err)
		}
		for i, bk := range parts[from:] {
			if bk < 0 {
				return fmt.Errorf("spill changes: negative bucket %d", bk)
			}
			p := bk % int32(len(s.parts))
			parts[from+i] = p
			counts[p+1]++
		}
		total += b.NumRows()
		bytes += change.RecordBytes(b)
	}
	if total == 0 {
		return nil
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	start := append([]int64(nil), counts...)
	idx := make([]int64, total)
	for r, p := range parts {
		idx[counts[p]] = int64(r)
		counts[p]++
	}
	rec, err := takeConcat(s.mem, staged, idx)
	if err != nil {
		return fmt.Errorf("spill changes: %w", err)
	}
	defer rec.Release()
	for p, part := range s.parts {
		lo, hi := start[p], start[p+1]
		if lo == hi {
			continue
		}
		part.rows += hi - lo
		part.memBytes += bytes * (hi - lo) / total
		slice := rec.NewSlice(lo, hi)
		err := s.write(p, part, slice)
		slice.Release()
		if err != nil {
			return err
		}
	}
	s.rows += total
	return nil
}

// buckets appends the bucket of each row of b to dst: s.bucket's, or a
// hash of the key into as many buckets as partitions.
func (s *spiller) buckets(dst []int32, b arrow.RecordBatch) ([]int32, error) {
	if s.bucket != nil {
		n := len(dst)
		dst, err := s.bucket(dst, b)
		if err == nil && len(dst)-n != int(b.NumRows()) {
			err = fmt.Errorf("%d buckets for %d rows", len(dst)-n, b.NumRows())
		}
		return dst, err
	}
	enc, err := change.NewKeyEncoder(b, s.keys)
	if err != nil {
		return dst, err
	}
	var key []byte
	for r := range int(b.NumRows()) {
		key = enc.Append(key[:0], r)
		dst = append(dst, int32(maphash.Bytes(s.seed, key)%uint64(len(s.parts))))
	}
	return dst, nil
}

// takeConcat concatenates batches (one schema) and takes the rows idx.
func takeConcat(mem memory.Allocator, batches []arrow.RecordBatch, idx []int64) (arrow.RecordBatch, error) {
	sch := batches[0].Schema()
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(idx, nil)
	indices := ib.NewArray()
	ib.Release()
	defer indices.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	cols := make([]arrow.Array, 0, sch.NumFields())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for c := range sch.NumFields() {
		parts := make([]arrow.Array, len(batches))
		for i, b := range batches {
			parts[i] = b.Column(c)
		}
		whole := parts[0]
		whole.Retain()
		if len(parts) > 1 {
			whole.Release()
			var err error
			if whole, err = array.Concatenate(parts, mem); err != nil {
				return nil, fmt.Errorf("concatenate %s: %w", sch.Field(c).Name, err)
			}
		}
		taken, err := compute.TakeArray(ctx, whole, indices)
		whole.Release()
		if err != nil {
			return nil, fmt.Errorf("take %s: %w", sch.Field(c).Name, err)
		}
		cols = append(cols, taken)
	}
	return array.NewRecordBatch(sch, cols, int64(len(idx))), nil
}

// write appends rec to partition p, starting a new file when its schema
// differs from the open file's.
func (s *spiller) write(p int, part *spillPart, rec arrow.RecordBatch) error {
	if part.w != nil && !part.sch.Equal(rec.Schema()) {
		if err := s.closePart(part); err != nil {
			return err
		}
	}
	if part.w == nil {
		name := filepath.Join(s.dir, fmt.Sprintf("p%04d-%04d.arrows", p, len(part.files)))
		w, err := table.CreateRun(s.mem, name, rec.Schema(), spillBufBytes)
		if err != nil {
			return fmt.Errorf("spill changes: %w", spillErr(s.dir, err))
		}
		part.w, part.files, part.sch = w, append(part.files, name), rec.Schema()
	}
	if err := part.w.Write(rec); err != nil {
		return fmt.Errorf("spill changes: %w", spillErr(s.dir, err))
	}
	return nil
}

// closePart finishes the open file of part.
func (s *spiller) closePart(part *spillPart) error {
	if part.w == nil {
		return nil
	}
	err := part.w.Close()
	s.bytes += part.w.Bytes()
	part.w, part.sch = nil, nil
	if err != nil {
		return fmt.Errorf("spill changes: %w", spillErr(s.dir, err))
	}
	return nil
}

// finish writes what is staged and closes every partition's file.
func (s *spiller) finish() error {
	if err := s.flush(); err != nil {
		return err
	}
	for _, part := range s.parts {
		if err := s.closePart(part); err != nil {
			return err
		}
	}
	return nil
}

// read returns the batches of partition p in the order they were added,
// and removes its files; the caller releases the batches.
func (s *spiller) read(p int) (out []arrow.RecordBatch, err error) {
	defer func() {
		if err != nil {
			for _, b := range out {
				b.Release()
			}
			out = nil
		}
	}()
	for _, name := range s.parts[p].files {
		if err := readSpillFile(s.mem, name, &out); err != nil {
			return out, err
		}
		if err := os.Remove(name); err != nil {
			return out, fmt.Errorf("remove spilled changes: %w", err)
		}
	}
	s.parts[p].files = nil
	return out, nil
}

// readSpillFile appends the batches of one spill file to out.
func readSpillFile(mem memory.Allocator, name string, out *[]arrow.RecordBatch) error {
	return eachSpillBatch(mem, name, func(rec arrow.RecordBatch) error {
		rec.Retain()
		*out = append(*out, rec)
		return nil
	})
}

// eachSpillBatch calls fn with each batch of one spill file in order; a
// batch is valid during the call (fn retains what it keeps).
func eachSpillBatch(mem memory.Allocator, name string, fn func(arrow.RecordBatch) error) (err error) {
	r, err := table.OpenRun(mem, name, spillBufBytes)
	if err != nil {
		return fmt.Errorf("read spilled changes: %w", err)
	}
	defer func() {
		if cerr := r.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("read spilled changes: %w", cerr)
		}
	}()
	for {
		rec, err := r.Next()
		if err != nil {
			return fmt.Errorf("read spilled changes: %w", err)
		}
		if rec == nil {
			return nil
		}
		err = fn(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
}

// ranges is how many pieces of at most about limit bytes in memory rows
// of a partition that takes memBytes make: 1 when they fit, at most one
// per row and maxSpillParts.
func ranges(rows, memBytes, limit int64) int {
	n := (memBytes + limit - 1) / max(limit, 1)
	return int(max(min(n, rows, maxSpillParts), 1))
}

// tooLarge reports whether partition p takes more than limit bytes in
// memory: it is read back range by range (splitByRange).
func (s *spiller) tooLarge(p int, limit int64) bool {
	return ranges(s.parts[p].rows, s.parts[p].memBytes, limit) > 1
}

// rangeSample is how many sort keys per range splitByRange samples.
const rangeSample = 1024

// splitByRange spreads the changes of partition p over a new spiller
// whose partitions are ranges of (bucket, key), in that order, of at most
// about limit bytes each, and removes p's files; the caller reads the new
// partitions in order (buckets first to last, keys ascending within a
// bucket: the ranges follow the order dedupe sorts keys in) and closes
// it. A first pass over p's files counts each bucket's rows and draws a
// uniform sample (reservoir) of the sort keys of all its rows: a sample
// of part of the input would not do, as a DMS full load arrives in key
// order. Each bucket is a range of its own when its share of p's bytes
// fits limit, else it is cut into as many key ranges as it needs at the
// quantiles of its keys in the sample, so no range spans two buckets.
// Every change of a key goes to the same range, so no key is in two of
// them; a range can exceed its share only by the changes of keys repeated
// more often than the others (one key's changes are never split).
func (s *spiller) splitByRange(p int, limit int64) (*spiller, error) {
	part := s.parts[p]
	// sortKey calls each with the (bucket, key) sort key of each row of b
	// (valid during the call).
	var bks []int32
	bucketRows := map[int32]int64{}
	sortKey := func(b arrow.RecordBatch, each func(key []byte)) error {
		var err error
		if bks, err = s.buckets(bks[:0], b); err != nil {
			return err
		}
		enc, err := change.NewKeyEncoder(b, s.keys)
		if err != nil {
			return err
		}
		var key []byte
		for r := range int(b.NumRows()) {
			key = enc.Append(binary.BigEndian.AppendUint32(key[:0], uint32(bks[r])), r)
			each(key)
		}
		return nil
	}
	n := ranges(part.rows, part.memBytes, limit)
	// A fixed seed: the same input splits the same way.
	rng := rand.New(rand.NewPCG(uint64(p), uint64(n)))
	sample := make([][]byte, 0, min(int64(n)*rangeSample, part.rows))
	var seen int
	for _, name := range part.files {
		err := eachSpillBatch(s.mem, name, func(b arrow.RecordBatch) error {
			return sortKey(b, func(key []byte) {
				bucketRows[int32(binary.BigEndian.Uint32(key))]++
				seen++
				switch {
				case len(sample) < cap(sample):
					sample = append(sample, slices.Clone(key))
				default:
					if j := rng.IntN(seen); j < len(sample) {
						sample[j] = slices.Clone(key)
					}
				}
			})
		})
		if err != nil {
			return nil, fmt.Errorf("split spilled changes by key range: %w", err)
		}
	}
	slices.SortFunc(sample, bytes.Compare)
	// Range i holds the keys in [bounds[i-1], bounds[i]): the start of
	// every bucket but the first, and within a bucket too large for one
	// range, the quantiles of its sampled keys.
	var bounds [][]byte
	for i, b := range slices.Sorted(maps.Keys(bucketRows)) {
		start := binary.BigEndian.AppendUint32(nil, uint32(b))
		if i > 0 {
			bounds = append(bounds, start)
		}
		rows := bucketRows[b]
		k := ranges(rows, part.memBytes*rows/max(part.rows, 1), limit)
		lo, _ := slices.BinarySearchFunc(sample, start, bytes.Compare)
		hi, _ := slices.BinarySearchFunc(sample, binary.BigEndian.AppendUint32(nil, uint32(b)+1), bytes.Compare)
		seg := sample[lo:hi]
		for j := 1; j < k && len(seg) > 0; j++ {
			q := seg[j*len(seg)/k]
			if len(bounds) == 0 || bytes.Compare(bounds[len(bounds)-1], q) < 0 {
				bounds = append(bounds, q)
			}
		}
	}
	sub, err := newSpiller(s.mem, s.keys, s.dir, len(bounds)+1, s.flushBytes)
	if err != nil {
		return nil, err
	}
	sub.bucket = func(dst []int32, b arrow.RecordBatch) ([]int32, error) {
		err := sortKey(b, func(key []byte) {
			i, _ := slices.BinarySearchFunc(bounds, key, func(bd, k []byte) int {
				if bytes.Compare(bd, k) <= 0 {
					return -1
				}
				return 1
			})
			dst = append(dst, int32(i))
		})
		return dst, err
	}
	files := part.files
	err = func() error {
		for _, name := range files {
			err := eachSpillBatch(s.mem, name, func(b arrow.RecordBatch) error {
				b.Retain()
				return sub.add(b)
			})
			if err != nil {
				return err
			}
			if err := os.Remove(name); err != nil {
				return fmt.Errorf("remove spilled changes: %w", err)
			}
		}
		return sub.finish()
	}()
	if err != nil {
		_ = sub.close() // an error here only leaves files in the spill folder
		return nil, fmt.Errorf("split spilled changes by key range: %w", err)
	}
	s.parts[p].files = nil
	return sub, nil
}

// chunkSet is a spilled run's deduplicated change set: one file per
// partition that kept rows, each holding one batch sorted by key, one row
// per key, no key in two files. The run applies it file by file
// (Chunker); the files stay until close, so a retried commit attempt
// reads them again. close removes the spill folder.
type chunkSet struct {
	sp    *spiller
	files []string
	rows  int64 // keys, over all files
}

// add writes rec (borrowed) as the next chunk.
func (c *chunkSet) add(mem memory.Allocator, rec arrow.RecordBatch) error {
	name := filepath.Join(c.sp.dir, fmt.Sprintf("chunk%04d.arrows", len(c.files)))
	w, err := table.CreateRun(mem, name, rec.Schema(), spillBufBytes)
	if err != nil {
		return fmt.Errorf("spill deduplicated changes: %w", spillErr(c.sp.dir, err))
	}
	err = w.Write(rec)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spill deduplicated changes: %w", spillErr(c.sp.dir, err))
	}
	c.files = append(c.files, name)
	c.rows += rec.NumRows()
	return nil
}

// read returns the batches of chunk i; the caller releases them.
func (c *chunkSet) read(mem memory.Allocator, i int) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	if err := readSpillFile(mem, c.files[i], &out); err != nil {
		for _, b := range out {
			b.Release()
		}
		return nil, err
	}
	return out, nil
}

// close removes the spill folder; nil c is a no-op.
func (c *chunkSet) close() {
	if c != nil {
		// An error here only leaves files in a temporary folder.
		_ = c.sp.close()
	}
}

// close releases what is staged, closes the open files and removes the
// spill folder.
func (s *spiller) close() error {
	for _, b := range s.staged {
		b.Release()
	}
	s.staged = nil
	for _, part := range s.parts {
		if part.w != nil {
			_ = part.w.Close() // its file goes with the folder
			part.w = nil
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove spill folder: %w", err)
	}
	return nil
}
