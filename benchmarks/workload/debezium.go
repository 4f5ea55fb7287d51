package workload

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Topic is the Kafka topic of the Debezium form of a workload.
const Topic = "bench.public.orders"

// Partitions is how many Kafka partitions the Debezium form spreads keys
// over (by key modulo).
const Partitions = 4

// DebeziumEncodings are the job-file encodings of the Debezium form
// (decimal.handling.mode=string; timestamps are MicroTimestamp).
var DebeziumEncodings = map[string]string{"amount": "string"}

// WriteDebezium writes the same workload as Write, as Debezium PostgreSQL
// connector events the way the Kafka Connect S3 sink stores them: the full
// load as snapshot reads (op r) under loadDir, the changes as c/u/d events
// (a delete followed by its tombstone) under cdcDir, each in
// topics/<Topic>/partition=<p>/<Topic>+<p>+<offset>.json, keys spread over
// Partitions partitions, LSNs in commit order. It generates the DMS form
// first (into a temporary folder) and converts it row by row, so both forms
// hold exactly the same changes.
func WriteDebezium(s Spec, loadDir, cdcDir string) (Result, error) {
	tmp, err := os.MkdirTemp("", "lmbench-dms-")
	if err != nil {
		return Result{}, fmt.Errorf("workload: %w", err)
	}
	defer os.RemoveAll(tmp)
	res, err := Write(s, filepath.Join(tmp, "load"), filepath.Join(tmp, "cdc"))
	if err != nil {
		return res, err
	}
	c := &converter{lsn: 1_000_000}
	loads, cdcs := res.LoadFiles, res.CDCFiles
	res.LoadFiles, res.CDCFiles, res.LoadBytes, res.CDCBytes = nil, nil, 0, 0
	for _, f := range loads {
		files, n, err := c.convert(f, loadDir, true)
		if err != nil {
			return res, err
		}
		res.LoadFiles, res.LoadBytes = append(res.LoadFiles, files...), res.LoadBytes+n
	}
	for _, f := range cdcs {
		files, n, err := c.convert(f, cdcDir, false)
		if err != nil {
			return res, err
		}
		res.CDCFiles, res.CDCBytes = append(res.CDCFiles, files...), res.CDCBytes+n
	}
	return res, nil
}

// converter turns DMS files into sink files, keeping each partition's
// offsets consecutive and the LSN growing.
type converter struct {
	offset [Partitions]int64
	lsn    int64
}

type orderRow struct {
	ID         int64   `json:"id"`
	CustomerID *int64  `json:"customer_id"`
	Status     *string `json:"status"`
	Amount     *string `json:"amount"`
	Qty        *int64  `json:"qty"`
	UpdatedAt  *int64  `json:"updated_at"` // µs since the epoch (MicroTimestamp)
	Note       *string `json:"note"`
}

func (c *converter) convert(path, dir string, load bool) ([]string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("workload: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.FieldsPerRecord = -1
	var bufs [Partitions][]byte
	var lines [Partitions]int64
	snapLSN := c.lsn
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("workload: read %s: %w", path, err)
		}
		op := "r"
		if !load {
			op, rec = map[string]string{"I": "c", "U": "u", "D": "d"}[rec[0]], rec[1:]
		}
		row, err := parseRow(rec, op == "d")
		if err != nil {
			return nil, 0, fmt.Errorf("workload: %s: %w", path, err)
		}
		lsn := snapLSN
		if !load {
			c.lsn += 8
			lsn = c.lsn
		}
		ev := map[string]any{"op": op, "ts_ms": 1716925200000, "transaction": nil,
			"source": map[string]any{"version": "2.7.0.Final", "connector": "postgresql", "name": "bench", "ts_ms": 1716925200000,
				"snapshot": strconv.FormatBool(load), "db": "shop", "schema": "public", "table": "orders",
				"lsn": lsn, "sequence": fmt.Sprintf(`["%d","%d"]`, lsn-8, lsn)}}
		if op == "d" {
			ev["before"], ev["after"] = row, nil
		} else {
			ev["before"], ev["after"] = nil, row
		}
		line, err := json.Marshal(ev)
		if err != nil {
			return nil, 0, err
		}
		p := row.ID % Partitions
		bufs[p] = append(append(bufs[p], line...), '\n')
		lines[p]++
		if op == "d" {
			bufs[p] = append(bufs[p], "null\n"...)
			lines[p]++
		}
	}
	var files []string
	var size int64
	for p := range bufs {
		if lines[p] == 0 {
			continue
		}
		name := fmt.Sprintf("%s+%d+%010d.json", Topic, p, c.offset[p])
		out := filepath.Join(dir, "topics", Topic, fmt.Sprintf("partition=%d", p), name)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return nil, 0, fmt.Errorf("workload: %w", err)
		}
		if err := os.WriteFile(out, bufs[p], 0o644); err != nil {
			return nil, 0, fmt.Errorf("workload: %w", err)
		}
		c.offset[p] += lines[p]
		files, size = append(files, out), size+int64(len(bufs[p]))
	}
	return files, size, nil
}

// parseRow reads the seven columns of a DMS row; a delete carries the key
// only, as PostgreSQL's default replica identity sends it.
func parseRow(rec []string, keyOnly bool) (orderRow, error) {
	if len(rec) != 7 {
		return orderRow{}, fmt.Errorf("row has %d fields, want 7", len(rec))
	}
	id, err := strconv.ParseInt(rec[0], 10, 64)
	if err != nil {
		return orderRow{}, err
	}
	row := orderRow{ID: id}
	if keyOnly {
		return row, nil
	}
	cust, err := strconv.ParseInt(rec[1], 10, 64)
	if err != nil {
		return row, err
	}
	qty, err := strconv.ParseInt(rec[4], 10, 64)
	if err != nil {
		return row, err
	}
	at, err := time.Parse("2006-01-02 15:04:05.000000", rec[5])
	if err != nil {
		return row, err
	}
	us := at.UnixMicro()
	row.CustomerID, row.Status, row.Amount, row.Qty, row.UpdatedAt = &cust, &rec[2], &rec[3], &qty, &us
	if rec[6] != "" { // an empty unquoted DMS field is NULL
		row.Note = &rec[6]
	}
	return row, nil
}
