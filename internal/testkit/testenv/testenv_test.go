package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRequire: a set variable is returned; an unset one skips the test
// (run in a subtest, with CI cleared so that it skips rather than fails).
func TestRequire(t *testing.T) {
	t.Setenv("LAKEMERGE_TESTENV_PROBE", "x")
	if got := Require(t, "LAKEMERGE_TESTENV_PROBE", "a probe"); got != "x" {
		t.Fatalf("Require = %q", got)
	}
	t.Setenv("CI", "")
	t.Setenv("LAKEMERGE_TESTENV_PROBE", "")
	ran := false
	t.Run("unset", func(t *testing.T) {
		Require(t, "LAKEMERGE_TESTENV_PROBE", "a probe")
		ran = true
	})
	if ran {
		t.Fatal("Require did not stop a test without the variable")
	}
	if got := Optional(t, "LAKEMERGE_TESTENV_PROBE", "a probe"); got != "" {
		t.Fatalf("Optional = %q", got)
	}
}

func TestAWSSetsCredentials(t *testing.T) {
	t.Setenv("LAKEMERGE_AWS_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "real")
	if ep := AWS(t); ep != "http://127.0.0.1:1" || os.Getenv("AWS_ACCESS_KEY_ID") != "test" || os.Getenv("AWS_REGION") == "" {
		t.Fatalf("endpoint %q, key %q", ep, os.Getenv("AWS_ACCESS_KEY_ID"))
	}
}

func TestBlockFolder(t *testing.T) {
	dir := t.TempDir()
	if !BlockFolder(t, dir) {
		t.Skip("this machine cannot make a folder refuse new files")
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err == nil {
		t.Fatal("BlockFolder reported a block, but a file was created")
	}
}
