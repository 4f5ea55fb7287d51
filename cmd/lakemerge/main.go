// Command lakemerge keeps lakehouse tables in sync with operational
// databases: it absorbs the AWS DMS and Debezium change files a table has not
// absorbed yet and upserts the latest change per primary key into Apache
// Iceberg or Delta Lake tables.
//
// This is the only package that knows every concrete type: it reads the job
// file, wires objstore, formats/dmscsv, formats/debezium, table/iceberg,
// table/delta and catalog/local or catalog/glue into merge's interfaces and
// table.Table (package wire; the commands never ask which format a table
// is), turns merge events into structured logs, progress bars and
// CloudWatch EMF metric lines, prints a machine-readable summary and
// chooses the exit code. It reads the job file from a path, S3 or SSM
// (configsrc.go), checks the SQL of its prepared tables with
// prepared/transform when it loads it (prepared.go, `lakemerge check`),
// keeps the prepared tables after each base commit with prepared/apply
// (keep.go, `lakemerge rebuild`), plans runs for a scheduler (plan.go) and reports its
// build (version.go).
//
// Exit codes: 0 success (also when nothing was pending), 1 at least one
// table failed, or another failure (a profile asked for that could not be
// written at the end included), 2 usage or job-file error, 130
// interrupted. A panic is not recovered: the Go runtime exits 2 (README,
// exit codes).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lakemerge/lakemerge/cmd/lakemerge/wire"
)

// Exit codes.
const (
	exitOK          = 0
	exitTableFailed = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// errUsage marks errors that are the user's input (flags, job file).
var errUsage = errors.New("usage")

// errCommandLine marks the usage errors of the command line itself (an
// unknown command or flag, a flag's value, a missing --config): their
// last line says where the command's usage is (app.hint).
var errCommandLine = fmt.Errorf("%w", errUsage)

// errTablesFailed is returned when a run finished but some table failed.
var errTablesFailed = errors.New("some tables failed")

// errProfile marks a --cpuprofile or --memprofile that could not be
// written when a command that did its work ended: the command fails (exit
// 1), its output printed.
var errProfile = errors.New("profile not written")

func main() {
	wire.RegisterFileIO()
	setMemoryLimit(cgroupFiles())
	if setGCPercent() > 0 {
		startGCFloor(gcPercent, heapFloor)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitCode maps the error of a command to the process exit code and tells
// the user why on stderr, through say (lastLine). interrupted says whether
// SIGINT or SIGTERM arrived while the command ran; a command that still
// finished without error exits 0.
func exitCode(interrupted bool, err error, say func(code int, msg string, err error)) int {
	switch {
	case err == nil:
		return exitOK
	case interrupted:
		say(exitInterrupted, "interrupted", err)
		return exitInterrupted
	case errors.Is(err, errTablesFailed):
		say(exitTableFailed, "the summary on stdout names each error", err)
		return exitTableFailed
	case errors.Is(err, errUsage):
		say(exitUsage, "usage or job-file error", err)
		return exitUsage
	case errors.Is(err, errProfile):
		say(exitTableFailed, "the command's work is done, stdout says what it did", err)
		return exitTableFailed
	}
	say(exitTableFailed, "", err)
	return exitTableFailed
}
