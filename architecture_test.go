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
// Deviation from ARCHITECTURE.md, on purpose: config imports change so the
// column type grammar exists once (change.ParseType).
var allowed = map[string][]string{
	"change":       {},
	"config":       {"change"},
	"formats/*":    {"change"},
	"merge/dedupe": {"change"},
	"merge":        {"change", "merge/dedupe", "bookmarks"},
	// prepared holds what a prepared table is (definition, checks,
	// fingerprint); prepared/transform evaluates its SQL with DuckDB. Both
	// are leaves over change, like the decoders: they do no I/O, and the
	// engine is reached through cmd, which translates the job file.
	"prepared":           {"change"},
	"prepared/transform": {"change"},
	"table/*":            {"change", "bookmarks", "objstore"},
	"catalog/*":          {},
	"bookmarks":          {},
	"objstore":           {},
	"objstore/*":         {"objstore", "objstore/*"},
	"benchmarks":         {"!cmd"},
	"benchmarks/*":       {"!cmd"},
	"cmd/*":              {"*"},
	"cmd/lakemerge":      {"*"},
	// deploy/imagebuild is a module of its own (the image builder): it
	// imports nothing of lakemerge's.
	"deploy/*": {},
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
			if !permitted(imps, imp) {
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
		{"table/iceberg", "objstore", true},
		{"catalog/local", "change", false},
		{"benchmarks", "cmd/lakemerge", false},
		{"benchmarks", "merge", true},
		{"cmd/lakemerge/wire", "table/iceberg", true},
		{"prepared/transform", "change", true},
		{"prepared/transform", "config", false},
		{"prepared", "prepared/transform", false},
	} {
		imps, _ := rule(c.pkg)
		if got := permitted(imps, c.imp); got != c.ok {
			t.Errorf("%s importing %s: permitted=%v, want %v", c.pkg, c.imp, got, c.ok)
		}
	}
}
