// Package lakemerge_test holds the test that keeps the package layout of
// ARCHITECTURE.md true: each package may import only the module packages its
// row allows. Test files are exempt (end-to-end tests wire real parts).
package lakemerge_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/lakemerge/lakemerge/"

// allowed maps a package pattern to the module packages it may import. A
// pattern ending in "/*" matches every package below it. "*" allows all.
// Deviations from ARCHITECTURE.md, on purpose:
//   - config imports change so the column type grammar exists once
//     (change.ParseType);
//   - merge imports table, for the vocabulary its Txn contract is written
//     in (table.ApplyStats, the commit error categories table.ErrConflict,
//     ErrCommitUnknown, ErrTransient); never a writer, table/plan or
//     table/tabletest.
var allowed = map[string][]string{
	"change":             {},
	"config":             {"change"},
	"formats/*":          {"change", "formats/internal/*"},
	"formats/internal/*": {"change"},
	"merge/dedupe":       {"change"},
	"merge":              {"change", "merge/dedupe", "bookmarks", "table"},
	"table":              {"change", "bookmarks", "objstore"},
	"table/plan":         {"change", "table"},
	"table/*":            {"change", "bookmarks", "objstore", "table", "table/plan"},
	"table/tabletest":    {"change", "bookmarks", "objstore/fault", "table"},
	// prepared holds what a prepared table is (definition, checks,
	// fingerprint); prepared/transform evaluates its SQL with DuckDB. Both
	// are leaves over change, like the decoders: they do no I/O, and the
	// engine is reached through cmd, which translates the job file.
	"prepared":           {"change"},
	"prepared/transform": {"change"},
	// prepared/apply keeps prepared tables in step with their base table:
	// it reaches the writers through its own Target/Txn (merge's contract)
	// and the base table through Base, never a writer; it sorts a catch-up's
	// rows with merge/dedupe.
	"prepared/apply": {"change", "bookmarks", "table", "prepared", "prepared/transform", "merge/dedupe"},
	"catalog/*":      {},
	"bookmarks":      {},
	"objstore":       {},
	"objstore/*":     {"objstore", "objstore/*"},
	"benchmarks":     {"!cmd"},
	"benchmarks/*":   {"!cmd"},
	"cmd/*":          {"*"},
	"cmd/lakemerge":  {"*"},
	// deploy/imagebuild is a module of its own (the image builder): it
	// imports nothing of lakemerge's.
	"deploy/*": {},
	// Test support: golden files, Arrow as text, the test environment,
	// the decoders' harness. Only test code imports it (testOnly).
	"internal/testkit/*": {"change", "internal/testkit/*"},
}

// testOnly are the packages only test files may import (and they each
// other): no production package depends on test support.
var testOnly = []string{"internal/testkit/*", "table/tabletest"}

// forTestsOnly reports whether imp is a test-support package that pkg, a
// production package, may not import.
func forTestsOnly(pkg, imp string) bool {
	return isTestOnly(imp) && !isTestOnly(pkg)
}

func isTestOnly(pkg string) bool {
	for _, p := range testOnly {
		if match(p, pkg) {
			return true
		}
	}
	return false
}

func match(pattern, pkg string) bool {
	if strings.HasSuffix(pattern, "/*") {
		return strings.HasPrefix(pkg, strings.TrimSuffix(pattern, "*"))
	}
	return pattern == pkg
}

func rule(pkg string) ([]string, bool) {
	best, found := "", false
	var r []string
	for p, imps := range allowed {
		if match(p, pkg) && len(p) > len(best) {
			best, r, found = p, imps, true
		}
	}
	return r, found
}

func permitted(imps []string, imp string) bool {
	for _, a := range imps {
		switch {
		case a == "*":
			return true
		case strings.HasPrefix(a, "!"):
			if !match(a[1:], imp) && !match(a[1:]+"/*", imp) {
				return true
			}
		case match(a, imp):
			return true
		}
	}
	return false
}

func TestPackageImports(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != "." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		imps, ok := rule(pkg)
		if !ok {
			t.Errorf("%s: package %s has no row in the import rules; add one (and to ARCHITECTURE.md)", path, pkg)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, is := range f.Imports {
			imp, _ := strconv.Unquote(is.Path.Value)
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			if forTestsOnly(pkg, imp) {
				t.Errorf("%s: package %s may not import %s, which is for tests only", path, pkg, imp)
			} else if !permitted(imps, imp) {
				t.Errorf("%s: package %s may not import %s", path, pkg, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked only %d files: walking the wrong directory?", checked)
	}
}

func TestRulesCatchViolations(t *testing.T) {
	for _, c := range []struct {
		pkg, imp string
		ok       bool
	}{
		{"merge", "table/iceberg", false},
		{"merge", "bookmarks", true},
		{"formats/dmscsv", "merge", false},
		{"formats/debezium", "formats/internal/values", true},
		{"formats/internal/values", "formats/dmscsv", false},
		{"table/iceberg", "objstore", true},
		{"catalog/local", "change", false},
		{"benchmarks", "cmd/lakemerge", false},
		{"benchmarks", "merge", true},
		{"cmd/lakemerge/wire", "table/iceberg", true},
		{"cmd/lakemerge", "internal/testkit/golden", false},
		{"formats/dmscsv", "internal/testkit/arrowtext", false},
		{"internal/testkit/decodetest", "internal/testkit/arrowtext", true},
		{"internal/testkit/arrowtext", "formats/dmscsv", false},
		{"merge", "table", true},
		{"merge", "table/plan", false},
		{"merge", "table/delta", false},
		{"table", "table/plan", false},
		{"table/plan", "objstore", false},
		{"table/plan", "table", true},
		{"table/delta", "table/plan", true},
		{"table/iceberg", "table/delta", false},
		{"table/iceberg", "table/tabletest", false},
		{"table/tabletest", "table/iceberg", false},
		{"table/tabletest", "merge", false},
		{"prepared/transform", "change", true},
		{"prepared/transform", "config", false},
		{"prepared", "prepared/transform", false},
	} {
		imps, _ := rule(c.pkg)
		if got := permitted(imps, c.imp) && !forTestsOnly(c.pkg, c.imp); got != c.ok {
			t.Errorf("%s importing %s: permitted=%v, want %v", c.pkg, c.imp, got, c.ok)
		}
	}
}
