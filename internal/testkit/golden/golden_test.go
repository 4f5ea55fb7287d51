package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records a failure instead of stopping the
// test that checks Check.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("fatal") }

func check(t *testing.T, path, got string, update bool) (failed string) {
	r := &recorder{TB: t}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		failed = r.failed
	}()
	Check(r, path, got, update)
	return ""
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "case.golden")
	if f := check(t, path, "a\nb\n", false); !strings.Contains(f, "update flag to create it") {
		t.Fatalf("missing file: %q", f)
	}
	if f := check(t, path, "a\nb\n", true); f != "" {
		t.Fatalf("update: %q", f)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "a\nb\n" {
		t.Fatalf("written %q, %v", b, err)
	}
	if f := check(t, path, "a\nb\n", false); f != "" {
		t.Fatalf("same text: %q", f)
	}
	if f := check(t, path, "a\nc\n", false); !strings.Contains(f, "differs at line") || !strings.Contains(f, path) {
		t.Fatalf("different text: %q", f)
	}
}
