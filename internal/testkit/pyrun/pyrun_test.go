package pyrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakemerge/lakemerge/internal/testkit/testenv"
)

// TestRunsLikeAProcess: a script run in the shared interpreter sees its
// arguments, the environment of the moment and its own folder on
// sys.path; its stdout, stderr and exit status come back as a process's
// would, for an exit code, an exit message, an exception, os._exit and
// "-c"; one
// run's state does not leak into the next.
func TestRunsLikeAProcess(t *testing.T) {
	py := New(t, testenv.Require(t, "LAKEMERGE_PYTHON", "the interop Python"))
	t.Setenv("PYRUN_TEST", "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "helper.py"), []byte("WORD = 'sibling'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "s.py")
	body := `import os, sys
import helper
if __name__ != "__main__":
    raise RuntimeError("not main")
print(helper.WORD, *sys.argv[1:], os.environ.get("PYRUN_TEST", "-"))
print("to stderr", file=sys.stderr)
what = sys.argv[1]
if what == "code":
    sys.exit(3)
if what == "message":
    sys.exit("gave up")
if what == "raise":
    raise ValueError("bad value")
if what == "os_exit":
    sys.stdout.flush()
    os._exit(4)
globals()["leak"] = 1
`
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args           []string
		env            string
		stdout, stderr string
		fail           string
	}{
		{args: []string{script, "ok", "x"}, env: "one", stdout: "sibling ok x one\n", stderr: "to stderr\n"},
		{args: []string{script, "ok"}, stdout: "sibling ok -\n", stderr: "to stderr\n"},
		{args: []string{script, "code"}, stdout: "sibling code -\n", stderr: "to stderr\n", fail: "s.py: exit status 3"},
		{args: []string{script, "message"}, stdout: "sibling message -\n", stderr: "to stderr\ngave up\n", fail: "exit status 1"},
		{args: []string{script, "raise"}, stdout: "sibling raise -\n", stderr: "ValueError: bad value", fail: "exit status 1"},
		{args: []string{script, "os_exit"}, stdout: "sibling os_exit -\n", stderr: "to stderr\n", fail: "exit status 4"},
		{args: []string{"-c", "import sys; print(sys.argv, 'leak' in globals())", "a"}, stdout: "['-c', 'a'] False\n"},
	} {
		if c.env != "" {
			os.Setenv("PYRUN_TEST", c.env)
		} else {
			os.Unsetenv("PYRUN_TEST")
		}
		stdout, stderr, err := py.Run(c.args...)
		if string(stdout) != c.stdout || !strings.Contains(string(stderr), c.stderr) {
			t.Errorf("%v: stdout %q stderr %q, want %q and %q", c.args, stdout, stderr, c.stdout, c.stderr)
		}
		if (err == nil) != (c.fail == "") || err != nil && !strings.Contains(err.Error(), c.fail) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.fail)
		}
	}
}
