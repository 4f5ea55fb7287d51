package delta

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/lakemerge/lakemerge/change"
	"github.com/lakemerge/lakemerge/table"
)

// mergeShare is the part of an optimize's memory budget that the batches
// of the files it merges take together, by their decoded size (the
// footers' uncompressed bytes per row); a round of the merge copies what
// it takes of them twice (gathered, then in key order), and the writer
// holds up to one row group of them (the file it writes goes to a local
// file in the spill folder, then to the store).
const mergeShare = 16

// fileShare bounds the files written: under a budget they are of the
// target size or of this part of the budget, whichever is smaller, but
// never below twice the small-file size (a file the next pass would take
// for small again). (The bound dates from when the file being written
// was held in memory.)
const fileShare = 4

// Bounds of the read buffer of one column of a merged file.
const (
	minMergeBuffer = 16 << 10
	maxMergeBuffer = 1 << 20
)

// errUnsorted is a merged file whose rows are not in key order (written
// by another engine): the optimize then reads its files whole.
var errUnsorted = errors.New("data file not sorted by key")

// readerShare is the part of the budget the Parquet readers of the files
// a merge reads directly may hold together (readerBytes each); it copies
// the other files first, one at a time, into run files in the spill
// folder (Arrow IPC, LZ4), of which it holds a batch each.
const readerShare = 4

// mergeStats is what mergeFiles did: the rows it read, the most rows it
// held at once, the files it spilled.
type mergeStats struct {
	rows, held, spilled int64
}

// mergeFiles writes the rows of the data files small (each sorted by key;
// errUnsorted otherwise), partition by partition, in key order with w,
// into files of about the target size (see fileShare; p.SmallFileBytes is
// the small-file size), holding a bounded share of p.MemoryBudget (bytes,
// > 0; see mergeShare and readerShare), spilling to p.SpillDir.
//
// Each file is a run read a batch at a time. A round takes, of every
// run's current batch, the rows up to the lowest last key of those
// batches (no later row of any run is below it), sorts them by key and
// hands them to the file writer; a run whose batch is used up reads its
// next one. Every round uses up one batch at least.
func (t *Table) mergeFiles(ctx context.Context, w *fileWriter, small []*addAction, p table.Policy) (mergeStats, error) {
	byDir := map[string][]*addAction{}
	values := map[string]map[string]*string{}
	for _, a := range small {
		vals := make([]*string, len(w.pcols))
		for i, p := range w.pcols {
			vals[i] = a.PartitionValues[p]
		}
		dir := partitionDir(w.pcols, vals)
		byDir[dir] = append(byDir[dir], a)
		values[dir] = a.PartitionValues
	}
	var st mergeStats
	budget := p.MemoryBudget
	for _, dir := range slices.Sorted(maps.Keys(byDir)) {
		m := &merger{t: t, share: max(budget/mergeShare, 1), readers: budget / readerShare, spillDir: p.SpillDir,
			fileBytes: min(t.opts.TargetFileBytes, max(budget/fileShare, 2*p.SmallFileBytes))}
		err := m.merge(ctx, w, byDir[dir], dir, values[dir])
		st.rows += m.rows
		st.held = max(st.held, m.held)
		st.spilled += m.spilled
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// merger merges the files of one partition.
type merger struct {
	t     *Table
	share int64 // bytes the runs' batches may take together
	// readers bounds the bytes the Parquet readers of the runs read
	// directly hold together (readerBytes); spillDir is where the others
	// are copied first, in a folder of their own (tmp, "" before one).
	readers       int64
	spillDir, tmp string
	// fileBytes bounds the files written (compressed).
	fileBytes int64
	runs      []*sortedRun
	rows      int64 // rows read
	held      int64 // the most rows held at once
	spilled   int64 // files copied to a run file
	readHeld  int64 // readerBytes of the runs read directly
}

// runSource is what a sortedRun reads: a data file's Parquet reader, or
// the run file a data file was copied into.
type runSource interface {
	// next returns the next batch, nil after the last; the caller
	// releases it.
	next(ctx context.Context) (arrow.RecordBatch, error)
	// release releases what the source holds and closes its file.
	release()
}

// sortedRun is one data file read in key order, a batch at a time.
type sortedRun struct {
	path     string
	src      runSource
	rowBytes int64             // the file's uncompressed bytes per row (rowBytesOf)
	rec      arrow.RecordBatch // the current batch; nil when the file is read
	keys     [][]byte          // the keys of rec's rows
	pos      int               // rec's first row not yet merged
	last     []byte            // the key of the last row read
}

func (m *merger) merge(ctx context.Context, w *fileWriter, files []*addAction, dir string, values map[string]*string) error {
	defer m.close()
	var total int64
	for _, a := range files {
		n, err := m.open(ctx, w, a, len(files))
		if err != nil {
			return fmt.Errorf("read %s: %w", a.Path, err)
		}
		total += n
	}
	fw := &fileStream{w: w, dir: dir, values: values, left: total, maxBytes: m.fileBytes, tempFile: m.tempFile,
		groupRows: max(1, min(maxRowGroupRows, m.share/max(1, m.rowBytes()))), held: &m.held}
	defer fw.release()
	for _, r := range m.runs {
		if err := m.advance(ctx, r); err != nil {
			return err
		}
	}
	for {
		rec, err := m.round(ctx)
		if err != nil {
			return err
		}
		if rec == nil {
			break
		}
		err = fw.add(ctx, rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	if m.rows != total {
		return fmt.Errorf("read %d rows of files whose footers hold %d", m.rows, total)
	}
	return fw.finish(ctx)
}

// open opens data file a as one run of k, sized to the budget: read
// directly when its Parquet reader fits what the runs read directly may
// hold, else copied into a run file first. It returns the file's rows.
func (m *merger) open(ctx context.Context, w *fileWriter, a *addAction, k int) (int64, error) {
	props := parquet.NewReaderProperties(m.t.mem)
	props.BufferedStreamEnabled = true
	props.BufferSize = min(max(m.share/int64(k)/int64(max(1, len(w.cols))), minMergeBuffer), maxMergeBuffer)
	pr, err := m.t.openRanged(ctx, a.Path, a.Size, file.WithReadProps(props))
	if err != nil {
		return 0, err
	}
	rowBytes := rowBytesOf(pr)
	batch := max(1, min(64<<10, m.share/int64(k)/max(1, rowBytes)))
	br, err := m.t.newBatchReader(ctx, pr, w.cols, nil, batch)
	if err != nil {
		pr.Close()
		return 0, err
	}
	// From here the run's source closes pr (m.close releases it).
	r := &sortedRun{path: a.Path, src: &parquetRun{pr: pr, br: br}, rowBytes: rowBytes}
	m.runs = append(m.runs, r)
	cost := readerBytes(pr, w.cols, props.BufferSize)
	if m.readHeld+cost <= m.readers {
		m.readHeld += cost
		return pr.NumRows(), nil
	}
	// The copy reads the file with this reader, the only one reading.
	spilled, err := m.spill(ctx, br)
	if err != nil {
		return 0, err
	}
	r.src.release()
	r.src = spilled
	m.spilled++
	return pr.NumRows(), nil
}

// readerBytes estimates what a Parquet reader of pr, reading the columns
// cols with read buffers of bufSize bytes, holds: per column its read
// buffer, the data page it decodes and the decoded dictionary (arrow-go
// keeps each page and dictionary buffer for the whole column chunk). The
// footer has no page sizes: each is taken as the column chunk's
// uncompressed bytes at most, the largest of the file's row groups. (A
// 2M-row table's 3.3 MB files of 105,000 rows each: 21 MB estimated, 13
// MB held by the heap profile.)
func readerBytes(pr *file.Reader, cols []column, bufSize int64) int64 {
	md := pr.MetaData()
	var size int64
	for _, c := range cols {
		leaf := leafIndex(md.Schema, c.phys)
		if leaf < 0 {
			continue
		}
		var chunk int64
		for i := range md.NumRowGroups() {
			if cc, err := md.RowGroup(i).ColumnChunk(leaf); err == nil {
				chunk = max(chunk, cc.TotalUncompressedSize())
			}
		}
		size += bufSize + 2*chunk
	}
	return size
}

// spill copies the batches br reads into a new run file in m's spill
// folder (table.CreateTempRun) and returns the source that reads them
// back. The file is removed from the folder once made: it goes when the
// source is released.
func (m *merger) spill(ctx context.Context, br *batchReader) (runSource, error) {
	dir, err := m.folder()
	if err != nil {
		return nil, err
	}
	w, err := table.CreateTempRun(m.t.mem, dir, "run-*.arrow", br.sch, minMergeBuffer)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	defer w.Close() // a no-op once ReadBack has the file
	for {
		rec, err := br.next(ctx)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			break
		}
		err = w.Write(rec)
		rec.Release()
		if err != nil {
			return nil, fmt.Errorf("spill: %w", err)
		}
	}
	rd, err := w.ReadBack(m.t.mem, minMergeBuffer)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	return ipcRun{rd}, nil
}

// folder is m's folder in the spill folder, made on first use.
func (m *merger) folder() (string, error) {
	if m.tmp == "" {
		dir, err := os.MkdirTemp(m.spillDir, "lakemerge-optimize-*")
		if err != nil {
			return "", fmt.Errorf("spill: %w", err)
		}
		m.tmp = dir
	}
	return m.tmp, nil
}

// tempFile creates a file in m's folder in the spill folder and removes
// it from the folder: it goes when closed (Linux keeps an open file).
func (m *merger) tempFile(pattern string) (*os.File, error) {
	dir, err := m.folder()
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	os.Remove(f.Name())
	return f, nil
}

// parquetRun reads a data file directly: br reads pr.
type parquetRun struct {
	pr *file.Reader
	br *batchReader
}

func (p *parquetRun) next(ctx context.Context) (arrow.RecordBatch, error) { return p.br.next(ctx) }

func (p *parquetRun) release() {
	p.br.release()
	p.pr.Close()
}

// ipcRun reads the run file a data file was copied into.
type ipcRun struct{ rd *table.RunReader }

func (r ipcRun) next(context.Context) (arrow.RecordBatch, error) {
	rec, err := r.rd.Next()
	if err != nil {
		return nil, fmt.Errorf("spilled run: %w", err)
	}
	return rec, nil
}

func (r ipcRun) release() { r.rd.Close() } // the run is read: a close error loses nothing

// rowBytesOf is the uncompressed bytes per row of an open data file, by
// its footer.
func rowBytesOf(pr *file.Reader) int64 {
	var size int64
	for i := range pr.NumRowGroups() {
		size += pr.MetaData().RowGroup(i).TotalByteSize()
	}
	return size / max(1, pr.NumRows())
}

// rowBytes is the largest uncompressed bytes per row of the runs.
func (m *merger) rowBytes() int64 {
	var rb int64
	for _, r := range m.runs {
		rb = max(rb, r.rowBytes)
	}
	return rb
}

// advance reads r's next batch (none when the file is read), checking
// that its keys follow the last read.
func (m *merger) advance(ctx context.Context, r *sortedRun) error {
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
	for {
		rec, err := r.src.next(ctx)
		if err != nil {
			return fmt.Errorf("read %s: %w", r.path, err)
		}
		if rec == nil {
			return nil
		}
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		r.rec, r.pos = rec, 0
		break
	}
	m.rows += r.rec.NumRows()
	enc, err := change.NewKeyEncoder(r.rec, m.t.opts.Keys)
	if err != nil {
		return err
	}
	r.keys = r.keys[:0]
	var buf []byte // the keys, one after the other
	for i := range int(r.rec.NumRows()) {
		at := len(buf)
		buf = enc.Append(buf, i)
		k := buf[at:len(buf):len(buf)]
		if r.last != nil && bytes.Compare(k, r.last) < 0 {
			return fmt.Errorf("%w: %s", errUnsorted, r.path)
		}
		r.keys, r.last = append(r.keys, k), k
	}
	return nil
}

// round returns the next rows in key order, nil when every sortedRun is read;
// the caller releases them.
func (m *merger) round(ctx context.Context) (arrow.RecordBatch, error) {
	var bound []byte
	var held int64
	for _, r := range m.runs {
		if r.rec != nil {
			held += r.rec.NumRows()
			if last := r.keys[len(r.keys)-1]; bound == nil || bytes.Compare(last, bound) < 0 {
				bound = last
			}
		}
	}
	if bound == nil {
		return nil, nil
	}
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	var keys [][]byte
	var done []*sortedRun
	for _, r := range m.runs {
		if r.rec == nil {
			continue
		}
		end := r.pos + sort.Search(len(r.keys)-r.pos, func(i int) bool { return bytes.Compare(r.keys[r.pos+i], bound) > 0 })
		if end > r.pos {
			parts = append(parts, r.rec.NewSlice(int64(r.pos), int64(end)))
			keys = append(keys, r.keys[r.pos:end]...)
			r.pos = end
		}
		if r.pos == len(r.keys) {
			done = append(done, r)
		}
	}
	m.held = max(m.held, held+2*int64(len(keys)))
	rec, err := concatRecords(m.t.mem, parts[0].Schema(), parts)
	if err != nil {
		return nil, err
	}
	defer rec.Release()
	order := make([]int64, len(keys))
	for i := range order {
		order[i] = int64(i)
	}
	slices.SortFunc(order, func(a, b int64) int {
		return cmp.Or(bytes.Compare(keys[a], keys[b]), cmp.Compare(a, b))
	})
	sorted, err := m.t.takeRows(ctx, rec, order)
	if err != nil {
		return nil, err
	}
	for _, r := range done {
		if err := m.advance(ctx, r); err != nil {
			sorted.Release()
			return nil, err
		}
	}
	return sorted, nil
}

func (m *merger) close() {
	for _, r := range m.runs {
		if r.rec != nil {
			r.rec.Release()
		}
		r.src.release()
	}
	m.runs = nil
	if m.tmp != "" {
		os.RemoveAll(m.tmp)
	}
}

// fileStream writes sorted batches of one partition as data files of
// about the target size, a row group of groupRows rows at a time, each
// into a local file (tempFile) which it then stores, so that it holds one
// row group, not a file's rows nor the compressed file.
type fileStream struct {
	w         *fileWriter
	dir       string
	values    map[string]*string
	left      int64 // rows still to come, with those pending
	maxBytes  int64 // a file's bytes at most, by the writer's bytes per row
	groupRows int64
	held      *int64 // raised to the rows pending, at most

	pending []arrow.RecordBatch
	npend   int64

	// tempFile makes the local file a data file is written to before it
	// is stored (removed from its folder: it goes when closed).
	tempFile func(pattern string) (*os.File, error)
	pw       *pqarrow.FileWriter
	out      *os.File
	bw       *bufio.Writer // pw's writer, into out
	fileRows int64         // the rows the open file takes
	rows     int64         // the rows it has
	nulls    []int64
	exts     []arrow.Array // per column: its min and max so far (two rows, copied: no batch is kept); nil before one
	unbound  []bool        // per column: a NaN or infinity was written
}

// add takes rec (borrowed) and writes the row groups it completes.
func (f *fileStream) add(ctx context.Context, rec arrow.RecordBatch) error {
	rec.Retain()
	f.pending = append(f.pending, rec)
	f.npend += rec.NumRows()
	*f.held = max(*f.held, f.npend)
	for f.npend >= f.groupRows {
		if err := f.writeGroup(ctx); err != nil {
			return err
		}
	}
	return nil
}

// finish writes what is pending and closes the last file.
func (f *fileStream) finish(ctx context.Context) error {
	for f.npend > 0 {
		if err := f.writeGroup(ctx); err != nil {
			return err
		}
	}
	if f.pw != nil {
		return f.closeFile(ctx)
	}
	return nil
}

// writeGroup writes the next row group of the pending rows: groupRows of
// them, fewer when the file ends before.
func (f *fileStream) writeGroup(ctx context.Context) error {
	all, err := concatRecords(f.w.t.mem, f.pending[0].Schema(), f.pending)
	if err != nil {
		return err
	}
	defer all.Release()
	f.releasePending()
	if f.pw == nil {
		if err := f.openFile(all); err != nil {
			return err
		}
	}
	n := min(f.groupRows, all.NumRows(), f.fileRows-f.rows)
	group := all.NewSlice(0, n)
	defer group.Release()
	if n < all.NumRows() {
		rest := all.NewSlice(n, all.NumRows())
		f.pending, f.npend = []arrow.RecordBatch{rest}, rest.NumRows()
	}
	prec := physicalBatch(group, f.w.cols)
	err = f.pw.Write(prec)
	prec.Release()
	if err != nil {
		f.pw.Close()
		f.pw = nil
		return fmt.Errorf("write data file: %w", err)
	}
	if err := f.track(group); err != nil {
		return err
	}
	f.rows += n
	f.left -= n
	if f.rows == f.fileRows {
		return f.closeFile(ctx)
	}
	return nil
}

// openFile starts a data file, sized as fileWriter.writeSorted sizes
// them (by rec's rows, the first of it): no runt file at the end.
func (f *fileStream) openFile(rec arrow.RecordBatch) error {
	per := f.w.rowsPerFile(rec)
	if rb := f.w.rowBytes; rb > 0 {
		per = max(1, min(per, int64(float64(f.maxBytes)/rb)))
	}
	f.fileRows = min(per, f.left)
	if f.left-per < per/4 {
		f.fileRows = f.left
	}
	var err error
	if f.out, err = f.tempFile("data-*.parquet"); err != nil {
		return err
	}
	if f.bw == nil {
		f.bw = bufio.NewWriterSize(f.out, maxMergeBuffer)
	}
	f.bw.Reset(f.out)
	f.pw, err = f.w.newParquetWriter(f.bw)
	f.rows = 0
	n := len(f.w.cols)
	f.nulls, f.exts, f.unbound = make([]int64, n), make([]arrow.Array, n), make([]bool, n)
	return err
}

// track adds the null counts of rec's columns and their min and max to
// the file's stats.
func (f *fileStream) track(rec arrow.RecordBatch) error {
	for i, c := range rec.Columns() {
		f.nulls[i] += int64(c.NullN())
		mn, mx, ext := extremeRows(c)
		switch ext {
		case extremesUnbound:
			f.unbound[i] = true
		case extremesFound:
			ext, err := f.extremes(f.exts[i], c, []int{mn, mx})
			if err != nil {
				return fmt.Errorf("stats of column %s: %w", f.w.cols[i].name, err)
			}
			if f.exts[i] != nil {
				f.exts[i].Release()
			}
			f.exts[i] = ext
		}
	}
	return nil
}

// extremes returns a copy of the rows rows of c after those of prev (nil:
// none), reduced to the min and max of them when prev is set.
func (f *fileStream) extremes(prev, c arrow.Array, rows []int) (arrow.Array, error) {
	var picked []arrow.Array
	if prev != nil {
		prev.Retain()
		picked = append(picked, prev)
	}
	for _, r := range rows {
		picked = append(picked, array.NewSlice(c, int64(r), int64(r+1)))
	}
	cand, err := array.Concatenate(picked, f.w.t.mem)
	releaseAll(picked)
	if err != nil || prev == nil {
		return cand, err
	}
	defer cand.Release()
	mn, mx, _ := extremeRows(cand)
	return f.extremes(nil, cand, []int{mn, mx})
}

// closeFile stores the open file with its stats.
func (f *fileStream) closeFile(ctx context.Context) error {
	cols := make([]arrow.Array, len(f.w.cols))
	defer releaseAll(cols)
	for i, c := range f.w.cols {
		if f.unbound[i] || f.exts[i] == nil {
			cols[i] = array.MakeArrayOfNull(f.w.t.mem, c.typ, 0)
		} else {
			cols[i] = f.exts[i]
			cols[i].Retain()
		}
	}
	f.releaseExtremes()
	stats := statsJSON(f.rows, f.w.cols, func(i int) (int64, arrow.Array) { return f.nulls[i], cols[i] })
	pw, out := f.pw, f.out
	f.pw, f.out = nil, nil
	defer out.Close()
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write data file: %w", err)
	}
	if err := f.bw.Flush(); err != nil {
		return fmt.Errorf("write data file: %w", err)
	}
	size, err := out.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("write data file: %w", err)
	}
	var tail [12]byte // what footerSize reads of a file's end
	if _, err := out.ReadAt(tail[:], size-int64(len(tail))); err != nil {
		return fmt.Errorf("write data file: %w", err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("write data file: %w", err)
	}
	return f.w.storeFile(ctx, pw, out, size, footerSize(tail[:]), stats, f.dir, f.values)
}

func (f *fileStream) releasePending() {
	for _, p := range f.pending {
		p.Release()
	}
	f.pending, f.npend = nil, 0
}

func (f *fileStream) releaseExtremes() {
	releaseAll(f.exts)
	f.exts = nil
}

// release releases what an unfinished stream holds.
func (f *fileStream) release() {
	f.releasePending()
	f.releaseExtremes()
	if f.pw != nil {
		f.pw.Close()
		f.pw = nil
	}
	if f.out != nil {
		f.out.Close()
		f.out = nil
	}
}
