// Package pyrun runs the interop Python's scripts for a test in one
// long-lived interpreter (interop/pyserver.py) instead of one process a
// script. A test that reads its tables back with pyiceberg, deltalake and
// DuckDB after every run would otherwise pay their imports — about two
// CPU-seconds — at every read; the scripts themselves, their arguments,
// their environment and their exit status are the same as a separate
// `python SCRIPT ARG...` (pyserver.py's doc says how a script runs there).
// Only test code imports it (architecture_test.go).
package pyrun

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Python is one test's interpreter. It starts at the first Run and stops
// when the test ends. Runs are serialised; it is safe for concurrent use.
// A nil *Python (no interop Python: see testenv.Optional) must not run.
type Python struct {
	t    testing.TB
	path string

	mu      sync.Mutex
	cmd     *exec.Cmd
	in      io.WriteCloser
	replies *bufio.Reader
	log     lockedBuffer // the interpreter's own stdout and stderr
}

// lockedBuffer is a bytes.Buffer that the interpreter's output copier
// writes while a failed Run reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// New returns the interpreter at path (LAKEMERGE_PYTHON) for t, started
// on first use.
func New(t testing.TB, path string) *Python {
	return &Python{t: t, path: path}
}

// Path is the interpreter's executable, for what must run as its own
// process.
func (p *Python) Path() string { return p.path }

// Output runs args (a script and its arguments, or "-c" and code) and
// returns what it printed on stdout; an exit status other than 0 is an
// error that carries its stderr.
func (p *Python) Output(args ...string) ([]byte, error) {
	stdout, stderr, err := p.Run(args...)
	if err != nil {
		return stdout, fmt.Errorf("%w\n%s", err, stderr)
	}
	return stdout, nil
}

// CombinedOutput runs args like Output and returns stdout followed by
// stderr, with an error for an exit status other than 0.
func (p *Python) CombinedOutput(args ...string) ([]byte, error) {
	stdout, stderr, err := p.Run(args...)
	return append(stdout, stderr...), err
}

// Run runs args in the interpreter with the test process's environment
// and returns what the script printed on stdout and on stderr, and an
// error for an exit status other than 0 or a broken interpreter.
func (p *Python) Run(args ...string) (stdout, stderr []byte, err error) {
	if len(args) == 0 {
		return nil, nil, fmt.Errorf("pyrun: nothing to run")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.start(); err != nil {
		return nil, nil, err
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	req, err := json.Marshal(struct {
		Argv []string          `json:"argv"`
		Env  map[string]string `json:"env"`
	}{args, env})
	if err != nil {
		return nil, nil, err
	}
	if _, err := p.in.Write(append(req, '\n')); err != nil {
		return nil, nil, p.broken("send request", err)
	}
	line, err := p.replies.ReadBytes('\n')
	if err != nil {
		return nil, nil, p.broken("read reply", err)
	}
	var reply struct {
		Code   int    `json:"code"`
		Stdout string `json:"stdout"`
		Stderr string `json:"stderr"`
	}
	if err := json.Unmarshal(line, &reply); err != nil {
		return nil, nil, p.broken("decode reply", err)
	}
	if reply.Code != 0 {
		err = fmt.Errorf("%s: exit status %d", filepath.Base(args[0]), reply.Code)
	}
	return []byte(reply.Stdout), []byte(reply.Stderr), err
}

// start starts the interpreter unless it runs; p.mu is held.
func (p *Python) start() error {
	if p.cmd != nil {
		return nil
	}
	_, file, _, _ := runtime.Caller(0)
	server := filepath.Join(filepath.Dir(file), "..", "..", "..", "interop", "pyserver.py")
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(p.path, server)
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	cmd.ExtraFiles = []*os.File{w} // descriptor 3: the replies
	in, err := cmd.StdinPipe()
	if err != nil {
		r.Close()
		w.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("pyrun: start %s: %w", p.path, err)
	}
	w.Close()
	p.cmd, p.in, p.replies = cmd, in, bufio.NewReader(r)
	p.t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		in.Close()
		cmd.Wait()
		r.Close()
	})
	return nil
}

// broken reports a failed exchange with the interpreter, with its log.
func (p *Python) broken(what string, err error) error {
	return fmt.Errorf("pyrun: %s: %v; the interpreter's output:\n%s", what, err, p.log.String())
}
