// Package golden compares a test's text output with a golden file, or
// rewrites the file when the test is run with its update flag. Only test
// code imports it (architecture_test.go).
package golden

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Check compares got with the file at path and fails t, naming the first
// line that differs and showing both texts, when they differ or the file
// is missing. With update set it writes got to path instead: the caller
// passes its -update flag, and reviews the diff.
func Check(t testing.TB, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with its update flag to create it)", err)
	}
	if got == string(want) {
		return
	}
	t.Fatalf("%s: %s (if the new text is right, run the test with its update flag)\n--- got\n%s\n--- want\n%s",
		path, FirstDiff(got, string(want)), got, want)
}

// FirstDiff names the first line where two texts differ and shows both
// versions of it and the line counts, or returns "" when they are equal.
func FirstDiff(got, want string) string {
	if got == want {
		return ""
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	line := 0
	for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
		line++
	}
	var g, w string
	if line < len(gl) {
		g = gl[line]
	}
	if line < len(wl) {
		w = wl[line]
	}
	return fmt.Sprintf("first difference at line %d:\n got: %s\nwant: %s\n(%d vs %d lines)", line+1, g, w, len(gl), len(wl))
}
