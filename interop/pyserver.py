#!/usr/bin/env python3
"""Run Python scripts for a Go test in one interpreter, so that a test that
reads its tables back after every run pays the heavy imports (pyiceberg,
pyarrow, deltalake, DuckDB: about 2 CPU-seconds) once, not once a read.
The Go side is internal/testkit/pyrun.

Protocol: one request a line on stdin, a JSON object
  {"argv": [SCRIPT, ARG...] or ["-c", CODE, ARG...], "env": {NAME: VALUE}}
and one response a line on file descriptor 3,
  {"code": EXIT_STATUS, "stdout": TEXT, "stderr": TEXT}.
A script runs as `python SCRIPT ARG...` runs it: __name__ is "__main__",
sys.argv and os.environ are the request's, its folder is first on sys.path,
its exit status comes from SystemExit (a message exits 1 and goes to
stderr, as the interpreter prints it), an uncaught exception exits 1 with
its traceback on stderr; os._exit ends the script, not the interpreter
(the reader scripts call it to skip a teardown where delta-rs can abort). Only what the script prints through sys.stdout and
sys.stderr is captured; the interpreter's own descriptors 1 and 2 go to the
Go side's log of the server.
"""
import contextlib
import faulthandler
import io
import json
import os
import runpy
import signal
import sys
import traceback


class _Exit(BaseException):
    """os._exit(code) of a script, which must not end the server."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _exit(code):
    raise _Exit(code)


def run(argv, env):
    os.environ.clear()
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    saved_argv, saved_path, saved_exit = sys.argv, list(sys.path), os._exit
    os._exit = _exit
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if argv[0] == "-c":
                sys.argv = ["-c"] + argv[2:]
                exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
            else:
                sys.argv = list(argv)
                sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
                runpy.run_path(argv[0], run_name="__main__")
        except _Exit as e:
            code = e.code
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.argv, sys.path[:], os._exit = saved_argv, saved_path, saved_exit
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main():
    # kill -USR1 prints every thread's stack on the server's stderr (the Go
    # side's log of it), for a script that hangs.
    faulthandler.register(signal.SIGUSR1)
    replies = os.fdopen(3, "w", encoding="utf-8")
    for line in sys.stdin:
        req = json.loads(line)
        replies.write(json.dumps(run(req["argv"], req["env"])) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
