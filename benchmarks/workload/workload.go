// Package workload generates change workloads: a base table of N rows as an
// AWS DMS full load and M changes as DMS CDC files, with a chosen mix of
// inserts (of new keys or of deleted ones), updates and deletes, key
// distribution, row width and file size.
// Output is deterministic for a Spec (same seed, same bytes), so benchmark
// runs and tests can regenerate identical data.
//
// The table is orders(id long, customer_id long, status string,
// amount decimal(12,2), qty int, updated_at timestamp, note string), written
// the way DMS writes it with default settings: no header, full-load rows
// without the Op column, CDC rows starting with I, U or D, and key-only
// deletes.
package workload

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Dist is how changes pick the keys they touch.
type Dist string

const (
	Uniform Dist = "uniform" // every live key equally likely
	Recent  Dist = "recent"  // recently inserted keys much more likely (exponential)
	Zipf    Dist = "zipf"    // a few hot keys take most changes (Zipf s=1.1)
)

// Spec describes one workload.
type Spec struct {
	Seed     uint64
	BaseRows int     // rows of the full load (keys 0..BaseRows-1)
	Changes  int     // CDC change rows
	Inserts  float64 // fraction of changes that insert new keys
	Deletes  float64 // fraction that delete live keys; the rest update
	// Reinserts is the fraction of inserts that bring back a deleted key
	// instead of a new one (when some key is deleted); 0 draws nothing
	// from the random source, so older specs keep their bytes.
	Reinserts   float64
	Dist        Dist
	NoteBytes   int // width of the note column (row width knob)
	RowsPerFile int // rows per LOAD or CDC file
}

// Columns is the table's column list as a job file writes it.
const Columns = `      - { name: id, type: long }
      - { name: customer_id, type: long }
      - { name: status, type: string }
      - { name: amount, type: "decimal(12,2)" }
      - { name: qty, type: int }
      - { name: updated_at, type: timestamp }
      - { name: note, type: string }
`

// Result says what was written.
type Result struct {
	LoadFiles, CDCFiles    []string // paths, in apply order
	LoadBytes, CDCBytes    int64
	Inserts, Updates, Dels int
	Reinserts              int // of Inserts: keys deleted before
	FinalRows              int
}

var statuses = []string{"open", "paid", "shipped", "cancelled", "returned"}

// gen holds the generator state: the live-key bitset and the random source.
type gen struct {
	s      Spec
	rng    *rand.Rand
	zipf   *rand.Zipf
	live   []uint64 // bitset over keys
	maxKey int64    // next new key
	nlive  int
	clock  time.Time
	note   []byte
}

func (g *gen) isLive(k int64) bool { return g.live[k>>6]&(1<<(k&63)) != 0 }
func (g *gen) setLive(k int64, v bool) {
	for int(k>>6) >= len(g.live) {
		g.live = append(g.live, 0)
	}
	if v {
		g.live[k>>6] |= 1 << (k & 63)
	} else {
		g.live[k>>6] &^= 1 << (k & 63)
	}
}

// pick returns a live key by the distribution, or -1 when none is live.
func (g *gen) pick() int64 {
	if g.nlive == 0 {
		return -1
	}
	for try := 0; try < 64; try++ {
		var k int64
		switch g.s.Dist {
		case Recent:
			k = g.maxKey - 1 - int64(g.rng.ExpFloat64()*float64(g.maxKey)/50)
		case Zipf:
			k = int64(g.zipf.Uint64())
			// Spread the hot keys over the key space deterministically.
			k = int64((uint64(k) * 0x9E3779B97F4A7C15) % uint64(g.maxKey))
		default:
			k = g.rng.Int64N(g.maxKey)
		}
		if k >= 0 && k < g.maxKey && g.isLive(k) {
			return k
		}
	}
	// Dense fallback: scan forward from a random point.
	start := g.rng.Int64N(g.maxKey)
	for i := int64(0); i < g.maxKey; i++ {
		if k := (start + i) % g.maxKey; g.isLive(k) {
			return k
		}
	}
	return -1
}

// pickDeleted returns a key that was inserted and is deleted now, or -1
// when there is none.
func (g *gen) pickDeleted() int64 {
	if int64(g.nlive) == g.maxKey {
		return -1
	}
	for try := 0; try < 64; try++ {
		if k := g.rng.Int64N(g.maxKey); !g.isLive(k) {
			return k
		}
	}
	start := g.rng.Int64N(g.maxKey)
	for i := int64(0); i < g.maxKey; i++ {
		if k := (start + i) % g.maxKey; !g.isLive(k) {
			return k
		}
	}
	return -1
}

func (g *gen) row(w *bufio.Writer, k int64) {
	w.WriteString(strconv.FormatInt(k, 10))
	w.WriteByte(',')
	w.WriteString(strconv.FormatInt(g.rng.Int64N(1_000_000), 10))
	w.WriteByte(',')
	w.WriteString(statuses[g.rng.IntN(len(statuses))])
	w.WriteByte(',')
	fmt.Fprintf(w, "%d.%02d", g.rng.IntN(100_000), g.rng.IntN(100))
	w.WriteByte(',')
	w.WriteString(strconv.Itoa(g.rng.IntN(100)))
	w.WriteByte(',')
	w.WriteString(g.clock.Format("2006-01-02 15:04:05.000000"))
	w.WriteByte(',')
	n := g.rng.IntN(g.s.NoteBytes + 1)
	for i := range n {
		g.note[i] = 'a' + byte(g.rng.IntN(26))
	}
	if n > 0 && g.rng.IntN(8) == 0 {
		g.note[0] = ','
		w.WriteByte('"')
		w.Write(g.note[:n])
		w.WriteByte('"')
	} else {
		w.Write(g.note[:n])
	}
	w.WriteByte('\n')
}

// Write generates the workload: LOAD files into loadDir and CDC files into
// cdcDir (both created). A benchmark merges loadDir first, then cdcDir.
func Write(s Spec, loadDir, cdcDir string) (Result, error) {
	res, err := WriteSets(s, loadDir, []Set{{Changes: s.Changes, Dir: cdcDir}})
	if err != nil {
		return Result{}, err
	}
	return res[0], nil
}

// Set is one change set of WriteSets: how many changes, and the folder of
// its CDC files.
type Set struct {
	Changes int
	Dir     string
}

// WriteSets writes the full load of s once into loadDir and then each
// change set into its folder, every set starting from the state right after
// the load: each set's files are the bytes Write writes for s with
// Spec.Changes set to that set's count (s.Changes is not used), so a table
// loaded once can take any of them. With the same distribution a smaller
// set's changes are the first changes of a larger one (but for zipf, whose
// key range depends on the count). The results share LoadFiles and LoadBytes.
func WriteSets(s Spec, loadDir string, sets []Set) ([]Result, error) {
	if s.RowsPerFile <= 0 {
		s.RowsPerFile = 1_000_000
	}
	if s.Inserts+s.Deletes > 1 || s.Inserts < 0 || s.Deletes < 0 {
		return nil, fmt.Errorf("workload: inserts %.2f + deletes %.2f must be within 0..1", s.Inserts, s.Deletes)
	}
	src := rand.NewPCG(s.Seed, s.Seed^0xda3e39cb94b95bdb)
	g := &gen{s: s, rng: rand.New(src),
		clock: time.Date(2024, 5, 28, 19, 40, 0, 0, time.UTC), note: make([]byte, s.NoteBytes+1)}
	if err := os.MkdirAll(loadDir, 0o755); err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	var load Result
	for part := 0; part*s.RowsPerFile < s.BaseRows; part++ {
		path := filepath.Join(loadDir, fmt.Sprintf("LOAD%08X.csv", part+1))
		n, err := writeFile(path, func(w *bufio.Writer) {
			for k := int64(part * s.RowsPerFile); k < int64(min((part+1)*s.RowsPerFile, s.BaseRows)); k++ {
				g.row(w, k)
				g.setLive(k, true)
			}
		})
		if err != nil {
			return nil, err
		}
		load.LoadFiles = append(load.LoadFiles, path)
		load.LoadBytes += n
	}
	g.maxKey, g.nlive = int64(s.BaseRows), s.BaseRows
	var out []Result
	for _, set := range sets {
		// Each set goes on from a copy of the state after the load.
		srcCopy := *src
		c := *g
		c.s.Changes = set.Changes
		c.rng = rand.New(&srcCopy)
		c.zipf = rand.NewZipf(c.rng, 1.1, 1, uint64(max(s.BaseRows, 1)+set.Changes))
		c.live = slices.Clone(g.live)
		c.note = make([]byte, s.NoteBytes+1)
		res := load
		res.LoadFiles = slices.Clone(load.LoadFiles)
		if err := c.writeCDC(set.Dir, &res); err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// writeCDC writes g.s.Changes changes into dir (created) and adds them to res.
func (g *gen) writeCDC(dir string, res *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	s := g.s
	for done := 0; done < s.Changes; {
		g.clock = g.clock.Add(time.Minute)
		path := filepath.Join(dir, g.clock.Format("20060102-150405000")+".csv")
		n, err := writeFile(path, func(w *bufio.Writer) {
			for i := 0; i < s.RowsPerFile && done < s.Changes; i++ {
				done++
				g.clock = g.clock.Add(time.Microsecond)
				r := g.rng.Float64()
				k := int64(-1)
				if r >= s.Inserts {
					k = g.pick()
				}
				switch {
				case k < 0:
					if s.Reinserts > 0 && g.rng.Float64() < s.Reinserts {
						k = g.pickDeleted()
					}
					if k >= 0 {
						res.Reinserts++
					} else {
						k = g.maxKey
						g.maxKey++
					}
					g.nlive++
					g.setLive(k, true)
					res.Inserts++
					w.WriteString("I,")
					g.row(w, k)
				case r < s.Inserts+s.Deletes:
					g.setLive(k, false)
					g.nlive--
					res.Dels++
					fmt.Fprintf(w, "D,%d,,,,,,\n", k)
				default:
					res.Updates++
					w.WriteString("U,")
					g.row(w, k)
				}
			}
		})
		if err != nil {
			return err
		}
		res.CDCFiles = append(res.CDCFiles, path)
		res.CDCBytes += n
	}
	res.FinalRows = g.nlive
	return nil
}

func writeFile(path string, body func(*bufio.Writer)) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("workload: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	body(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("workload: write %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return st.Size(), f.Close()
}
