#!/usr/bin/env bash
# Runs every lakemerge test: Go unit, fuzz-seed, end-to-end and crash tests,
# and the interop tests that read our tables back with independent engines
# (pyiceberg) from a Python virtualenv this script creates from the pinned
# interop/requirements.txt.
#
# Usage: scripts/test.sh [go test flags...]   e.g. scripts/test.sh -run Interop -v
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp=$venv/.requirements.sha256
want=$(sha256sum interop/requirements.txt | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
	echo "== creating $venv for the interop tests (interop/requirements.txt)"
	rm -rf "$venv"
	python3 -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt
	echo "$want" >"$stamp"
fi
export LAKEMERGE_PYTHON=$PWD/$venv/bin/python

echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 30m "$@" ./...
