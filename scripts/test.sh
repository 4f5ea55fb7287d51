#!/usr/bin/env bash
# Runs every lakemerge test: Go unit, fuzz-seed, end-to-end and crash tests,
# and the interop tests that read our tables back with independent engines
# (pyiceberg, deltalake, DuckDB) from a Python virtualenv this script creates
# from the pinned interop/requirements.txt, and Trino (Athena's engine) that
# scripts/trino.sh installs and starts.
#
# Usage: scripts/test.sh [go test flags...]   e.g. scripts/test.sh -run Interop -v
set -euo pipefail
cd "$(dirname "$0")/.."

# step TITLE CMD...: runs one phase, saying what it does before and how
# long it took after, so no step is a silent wait.
step() {
	local title=$1 t0=$SECONDS
	shift
	echo "== $title"
	"$@"
	echo "   done in $((SECONDS - t0)) s"
}

# LAKEMERGE_VENV chooses where the virtualenv lives (default .venv), so
# several checkouts can share one.
venv=${LAKEMERGE_VENV:-.venv}
stamp=$venv/.requirements.sha256
want=$(sha256sum interop/requirements.txt | cut -d' ' -f1)
create_venv() {
	rm -rf "$venv"
	python3 -m venv "$venv"
	# pip says what it collects, downloads and installs, a line each.
	"$venv/bin/python" -m pip install --disable-pip-version-check -r interop/requirements.txt
	echo "$want" >"$stamp"
	echo "   $venv: $(du -sh "$venv" | cut -f1)"
}
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
	step "creating $venv for the interop tests from interop/requirements.txt (first time only: downloads ~230 MB from the Python package index, ~850 MB on disk, 1-3 minutes)" create_venv
fi
export LAKEMERGE_PYTHON=$(cd "$venv" && pwd)/bin/python

# The moto server: the real Glue API and an S3 API on 127.0.0.1, for the
# AWS integration tests. Stopped when this script exits.
port=$("$LAKEMERGE_PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$LAKEMERGE_PYTHON" interop/moto_server.py -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/lakemerge-moto-$port.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true; rm -rf "${bindir:-}"' EXIT
for _ in $(seq 1 100); do
	if "$LAKEMERGE_PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
export LAKEMERGE_AWS_ENDPOINT=http://127.0.0.1:$port
export LAKEMERGE_S3_ENDPOINT=$LAKEMERGE_AWS_ENDPOINT
echo "== moto server (S3 + Glue) on $LAKEMERGE_AWS_ENDPOINT"

# One lakemerge binary for every package's process-level tests
# (cmd/lakemerge/clitest): they run it as a user or scheduler does.
bindir=$(mktemp -d)
# -tags grpcnotrace: see the README (First steps); the binary is ~30% smaller.
# -tags duckdb_arrow: the SQL engine of prepared tables (DuckDB through
# duckdb-go's Arrow interface; needs cgo). Tests and vet use it too.
step "go build ./cmd/lakemerge (first time: compiles ~720 packages, several minutes)" \
	go build -tags grpcnotrace,duckdb_arrow -o "$bindir/lakemerge" ./cmd/lakemerge
export LAKEMERGE_BIN=$bindir/lakemerge

# The deployment: CloudFormation template (cfn-lint, a stack on the moto
# server), state machines (asl-validator, run with mocked ECS exits),
# Dockerfile lint, and the container image built and run (deploy/check.sh).
step "deploy/check.sh" deploy/check.sh

# vet both builds: with the SQL engine and with its stand-in (none.go).
step "go vet ./... (with and without the SQL engine)" sh -c 'go vet -tags duckdb_arrow ./... && go vet ./prepared/...'
# The race detector on the packages whose code runs concurrently in every
# run (merge decodes files on several goroutines; dedupe and the plan are
# the kernels they feed). Under the detector merge's spill tests take
# about 8 minutes on the project's 2 cores (54 s without), past go test's
# default 10-minute limit beside another job: hence the explicit timeout.
step "go test -race ./merge ./merge/dedupe ./table/plan" go test -race -count=1 -timeout 30m ./merge/ ./merge/dedupe/ ./table/plan/
step "go test ./... (next to a Trino server: scripts/trino.sh)" scripts/trino.sh go test -tags duckdb_arrow -count=1 -timeout 30m "$@" ./...
# The build without the engine: prepared tables are refused, the rest works.
step "go test ./prepared/... without the SQL engine" env CGO_ENABLED=0 go test -count=1 ./prepared/...
