// Package golden compares a test's text output with a golden file, or
// rewrites the file when the test is run with its update flag. Only test
// code imports it (architecture_test.go).
package golden

import (
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
	gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
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
	t.Fatalf("%s differs at line %d (if the new text is right, run the test with its update flag):\n got: %s\nwant: %s\n--- got\n%s\n--- want\n%s",
		path, line+1, g, w, got, want)
}
