// Package clitest runs the lakemerge binary as a process, the way a user or
// a scheduler runs it, for tests that check what they see: the exit code,
// the JSON summary on stdout and the messages on stderr. In-process calls
// cannot see what the process does (signal handling, exit codes, output
// that main writes), so every test of such an outcome goes through here.
//
// The binary is $LAKEMERGE_BIN when set (scripts/test.sh builds one for all
// packages); otherwise Main builds one from this module into a temporary
// folder before the package's tests run.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// EnvBinary names the environment variable holding the binary's path.
const EnvBinary = "LAKEMERGE_BIN"

// Main is a TestMain body: it makes sure $LAKEMERGE_BIN names a lakemerge
// binary (building one when it does not), runs the tests and returns their
// exit code. Use it as os.Exit(clitest.Main(m)).
func Main(m *testing.M) int {
	if os.Getenv(EnvBinary) != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "lakemerge-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "clitest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "lakemerge")
	// As scripts/test.sh builds it: with the SQL engine (duckdb_arrow).
	build := exec.Command("go", "build", "-tags", "grpcnotrace,duckdb_arrow", "-o", bin, "github.com/lakemerge/lakemerge/cmd/lakemerge")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "clitest: build lakemerge:", err)
		return 1
	}
	os.Setenv(EnvBinary, bin)
	return m.Run()
}

// Binary is the path of the lakemerge binary under test.
func Binary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		tb.Fatalf("$%s is not set: call clitest.Main from TestMain", EnvBinary)
	}
	return bin
}

// Result is what a finished process showed.
type Result struct {
	Stdout, Stderr string
	Code           int // exit code; -1 if it died of a signal it did not handle
	// MaxRSS is the process's peak resident set size in bytes (Linux
	// getrusage ru_maxrss); 0 when the system does not tell.
	MaxRSS int64
}

// String renders the result for test failure messages.
func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

// Cmd describes one invocation. The zero value runs in the test's working
// folder with the test process's environment.
type Cmd struct {
	Args []string
	Dir  string   // working folder; empty: the test's
	Env  []string // added to the test process's environment ("K=V")
	// Stdin is the process's standard input; nil means none.
	Stdin io.Reader
	// Terminal runs the process on a pseudo-terminal (120 columns), as in
	// a user's shell: its stdin, stdout and stderr are the terminal, and
	// Result.Stdout holds everything the terminal showed (with "\r\n"
	// turned into "\n"); Result.Stderr is empty. Stdin is ignored.
	Terminal bool
}

// Run runs lakemerge with args and waits for it.
func Run(tb testing.TB, args ...string) Result {
	tb.Helper()
	return Cmd{Args: args}.Run(tb)
}

// Run runs the command and waits for it (at most 10 minutes).
func (c Cmd) Run(tb testing.TB) Result {
	tb.Helper()
	p := c.Start(tb)
	return p.Wait(tb)
}

// Proc is a running lakemerge process.
type Proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	// copied is closed when all the terminal's output is in stdout (nil
	// without a terminal).
	copied chan struct{}
}

// Start starts the command without waiting for it.
func (c Cmd) Start(tb testing.TB) *Proc {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, Binary(tb), c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin = c.Stdin
	p := &Proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel}
	if c.Terminal {
		cmd.Stdin = nil
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
		if err != nil {
			cancel()
			tb.Fatalf("start lakemerge %s on a terminal: %v", strings.Join(c.Args, " "), err)
		}
		p.copied = make(chan struct{})
		go func() {
			// Reading ends with an error (EIO) once the process and
			// its children closed the terminal.
			_, _ = io.Copy(p.stdout, ptmx)
			ptmx.Close()
			close(p.copied)
		}()
	} else {
		cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
		if err := cmd.Start(); err != nil {
			cancel()
			tb.Fatalf("start lakemerge %s: %v", strings.Join(c.Args, " "), err)
		}
	}
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		cancel()
	})
	return p
}

// Signal sends sig to the process.
func (p *Proc) Signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("signal %v: %v", sig, err)
	}
}

// WaitStderr waits until the process's stderr contains substr (true), or
// the process exits or timeout passes without it (false).
func (p *Proc) WaitStderr(substr string, timeout time.Duration) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if strings.Contains(p.stderr.String(), substr) {
			return true
		}
		select {
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
}

// Wait waits for the process to exit and returns what it showed.
func (p *Proc) Wait(tb testing.TB) Result {
	tb.Helper()
	err := p.cmd.Wait()
	p.cancel()
	if p.copied != nil {
		<-p.copied
	}
	res := Result{Stdout: p.stdout.String(), Stderr: p.stderr.String()}
	if p.copied != nil {
		res.Stdout = strings.ReplaceAll(res.Stdout, "\r\n", "\n")
	}
	if ps := p.cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSS = int64(ru.Maxrss) << 10 // KiB on Linux
		}
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		tb.Fatalf("wait for lakemerge: %v\n%s", err, res)
	}
	return res
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
