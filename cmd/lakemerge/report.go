package main

import (
	"encoding/json"
	"io"
)

// tableReport writes what a per-table command (maintain, vacuum, register,
// rebuild) did as one JSON object per table, and remembers whether a table
// failed: the command goes on with the other tables and exits 1 at the end
// (errTablesFailed).
type tableReport struct {
	enc    *json.Encoder
	failed bool
}

func newTableReport(w io.Writer) *tableReport {
	return &tableReport{enc: json.NewEncoder(w)}
}

// add writes one table's object; failed marks the table as failed.
func (r *tableReport) add(v any, failed bool) error {
	r.failed = r.failed || failed
	return r.enc.Encode(v)
}

// err is errTablesFailed when a table failed, else nil.
func (r *tableReport) err() error {
	if r.failed {
		return errTablesFailed
	}
	return nil
}
