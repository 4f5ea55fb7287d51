// Package testenv gives tests the services scripts/test.sh starts — the
// moto server (S3 and Glue), the interop Python, Trino — through the
// environment variables it sets, and what the machine allows (a folder
// that refuses new files) and tells (the files the process has open). Without one, a test is skipped on a
// developer's quick `go test`, and fails under CI (CI set), where nothing
// may be skipped. Only test code imports it (architecture_test.go).
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Require returns the environment variable name, which scripts/test.sh
// sets for what (the thing a test needs, said in the skip message).
// Without it the test is skipped, or fails under CI.
func Require(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		missing(t, name, what)
		t.Skipf("%s is not set (%s); run the tests through scripts/test.sh", name, what)
	}
	return v
}

// Optional returns the environment variable name, or "" for a test that
// runs the part needing what only when it is set (logged). Under CI an
// unset variable fails the test.
func Optional(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		missing(t, name, what)
		t.Logf("%s is not set: %s is left out; run the tests through scripts/test.sh", name, what)
	}
	return v
}

func missing(t testing.TB, name, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not set under CI: %s would not run; run the tests through scripts/test.sh", name, what)
	}
}

// AWS returns the moto server's endpoint (LAKEMERGE_AWS_ENDPOINT: S3 and
// Glue on one port), after Require, and puts test credentials and a region
// in the test's environment, where the default AWS chain finds them.
func AWS(t testing.TB) string {
	t.Helper()
	ep := Require(t, "LAKEMERGE_AWS_ENDPOINT", "the S3 and Glue server for the AWS tests")
	Credentials(t)
	return ep
}

// S3 returns the S3 endpoint (LAKEMERGE_S3_ENDPOINT), after Require, with
// test credentials in the environment like AWS.
func S3(t testing.TB) string {
	t.Helper()
	ep := Require(t, "LAKEMERGE_S3_ENDPOINT", "the S3 server for the S3 tests")
	Credentials(t)
	return ep
}

// Credentials puts the test credentials and region of the moto server in
// the test's environment (restored after it), and keeps the AWS SDK from
// asking the EC2 metadata service.
func Credentials(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Python returns the interop Python (LAKEMERGE_PYTHON: a virtualenv with
// interop/requirements.txt), after Require, checking that it imports
// modules; a Python without them is skipped like a missing one, and fails
// under CI.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	py := Require(t, "LAKEMERGE_PYTHON", "the Python that reads tables back with independent engines")
	if len(modules) == 0 {
		return py
	}
	if out, err := exec.Command(py, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput(); err != nil {
		what := "LAKEMERGE_PYTHON=" + py + " cannot import " + strings.Join(modules, ", ")
		if os.Getenv("CI") != "" {
			t.Fatalf("%s under CI: %v\n%s", what, err, out)
		}
		t.Skipf("%s: %v", what, err)
	}
	return py
}

// BlockFolder makes creating files in dir fail, and reports whether that
// worked on this machine: by permissions for a user; for root, whom
// permissions do not stop, by the immutable attribute (chattr +i), where
// the file system has one. The test's cleanup lifts the block.
func BlockFolder(t testing.TB, dir string) bool {
	t.Helper()
	probe := filepath.Join(dir, "probe")
	blocked := func() bool {
		err := os.WriteFile(probe, nil, 0o644)
		os.Remove(probe)
		return err != nil
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if blocked() {
		return true
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Logf("chattr +i %s: %v: %s", dir, err, out)
		return false
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	return blocked()
}

// OpenFiles is how many files the process has open (/proc/self/fd), for a
// test that checks it leaves none open; a test is skipped where the
// machine does not tell.
func OpenFiles(t testing.TB) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("open files: %v", err)
	}
	return len(fds)
}
