package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDMSFileCutShortFails: an uncompressed DMS file whose last record has
// no line break (cut inside its last field) stops the table, exit 1, with
// the file, its line and "cut short?" in the summary; the bookmark does
// not move, and the file once complete is absorbed whole.
func TestDMSFileCutShortFails(t *testing.T) {
	dir := t.TempDir()
	job := demoJobAt(t, dir, "job.yaml")
	if out, errs, code := lakemerge(t, "run", "--config", job, "--table", "orders"); code != 0 {
		t.Fatalf("first run: exit %d\n%s\n%s", code, out, errs)
	}
	const key = "public/orders/20240530-090000000.csv"
	path := filepath.Join(dir, "raw", filepath.FromSlash(key))
	complete := "I,1009,42,new,12.50,\nU,1009,42,paid,12.50,gift wrap\n"
	if err := os.WriteFile(path, []byte(strings.TrimSuffix(complete, "p\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := lakemerge(t, "run", "--config", job, "--table", "orders")
	var sum summary
	if err := json.Unmarshal([]byte(out), &sum); code != 1 || err != nil || len(sum.Tables) != 1 {
		t.Fatalf("cut file: exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	tr := sum.Tables[0]
	if !strings.Contains(tr.Error, key+" line 2") || !strings.Contains(tr.Error, "ends without a newline: cut short?") || tr.Files != 0 {
		t.Fatalf("cut file: error %q, files %d", tr.Error, tr.Files)
	}
	if err := os.WriteFile(path, []byte(complete), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code = lakemerge(t, "run", "--config", job, "--table", "orders")
	if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || sum.Tables[0].Files != 1 || sum.Tables[0].Stats.Inserted != 1 {
		t.Fatalf("complete file: exit %d: %v\n%s\n%s", code, err, out, errs)
	}
}
