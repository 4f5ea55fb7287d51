#!/usr/bin/env bash
# Prints the Python of the benchmarks: $LMBENCH_PYTHON when set, else
# .venv-bench, created (or re-created when benchmarks/requirements.txt
# changed) with the pinned peers. Run from the repository root.
set -euo pipefail
if [[ -n ${LMBENCH_PYTHON:-} ]]; then
	echo "$LMBENCH_PYTHON"
	exit 0
fi
venv=.venv-bench
stamp=$venv/.requirements.sha256
want=$(sha256sum benchmarks/requirements.txt | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
	rm -rf "$venv"
	python3 -m venv "$venv" >&2
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt >&2
	echo "$want" >"$stamp"
fi
echo "$PWD/$venv/bin/python"
