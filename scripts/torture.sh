#!/usr/bin/env bash
# Runs the storage fault-injection test (TestFaultInjection in
# cmd/lakemerge/wire) far longer than CI does: the reference-model workload
# of each seed in every scenario (local folders + SQLite and S3 + Glue on
# the moto server; Iceberg and Delta; DMS and Debezium files), with faults
# injected into the stores' calls in every run, each run checked against
# the model and followed by a clean re-run.
#
# Usage: scripts/torture.sh SEEDS [DURATION] [SCENARIOS]
#   scripts/torture.sh 1-500                  seeds 1 to 500
#   scripts/torture.sh 1000 30m               seeds from 1000 on, for 30 minutes
#   scripts/torture.sh 1 10m local/delta/dms,aws/iceberg/debezium
#
# It prints the figures (seeds, workloads, faulty runs, fault points passed,
# faults injected, divergences with their seed and fault plan, wall time)
# and exits 1 when a run diverged. A divergence names its seed and scenario:
# re-run that one with
#   go test ./cmd/lakemerge/wire -run 'TestFaultInjection/seed=N/' -v -args -fault.seeds=N-N -fault.scenarios=S
# (with LAKEMERGE_AWS_ENDPOINT for aws scenarios). Fault points are numbered
# in call order, which concurrent decoding and writing vary, so a seed
# reproduces its fault plan but not always the exact call it hit.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=${1:?usage: scripts/torture.sh SEEDS [DURATION] [SCENARIOS]}
duration=${2:-0}
scenarios=${3:-}
if [[ $duration != 0 ]]; then
	seeds=${seeds%%-*}-${seeds%%-*}
elif [[ $seeds != *-* ]]; then
	seeds=$seeds-$seeds
fi

# The moto server needs the interop virtualenv (see scripts/test.sh).
venv=${LAKEMERGE_VENV:-.venv}
stamp=$venv/.requirements.sha256
want=$(sha256sum interop/requirements.txt | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
	echo "== creating $venv (interop/requirements.txt)"
	rm -rf "$venv"
	python3 -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r interop/requirements.txt
	echo "$want" >"$stamp"
fi
python=$(cd "$venv" && pwd)/bin/python

work=$(mktemp -d "${TMPDIR:-/tmp}/lakemerge-torture-XXXXXX")
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" interop/moto_server.py -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
	if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
export LAKEMERGE_AWS_ENDPOINT=http://127.0.0.1:$port
export LAKEMERGE_S3_ENDPOINT=$LAKEMERGE_AWS_ENDPOINT

echo "== building the test binary"
go test -c -o "$work/wire.test" ./cmd/lakemerge/wire
echo "== seeds $seeds, duration $duration, scenarios ${scenarios:-all}; log in $work/test.log"
status=0
(cd cmd/lakemerge/wire && "$work/wire.test" -test.run '^TestFaultInjection$' -test.timeout 0 \
	-fault.seeds="$seeds" -fault.duration="$duration" -fault.scenarios="$scenarios" \
	-fault.report="$work/report.json") >"$work/test.log" 2>&1 || status=$?

if [[ ! -f $work/report.json ]]; then
	tail -50 "$work/test.log"
	echo "== the test stopped before writing its report (exit $status)"
	exit 1
fi
"$python" - "$work/report.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"seeds            {r['seeds']}")
print(f"workloads        {r['workloads']}  (seed x scenario)")
print(f"faulty runs      {r['faulty_runs']}  ({r['runs_failed']} failed, {r['runs_committed']} committed, {r['runs_unknown']} failed with the outcome unknown and landed)")
print(f"fault points     {r['fault_points']}  (store calls of the faulty runs)")
print(f"faults injected  {r['faults_injected']}  {r['faults_by_kind']}")
print(f"errors without the injected fault in their chain: {r['errors_without_injected_cause']}")
for d in r['errors_without_injected_cause_samples'] or []:
    print("  - " + d)
print(f"wall time        {r['wall_seconds']:.0f} s")
print(f"divergences      {len(r['divergences'] or [])}")
for d in r['divergences'] or []:
    print("  - " + d.replace("\n", "\n    "))
EOF
exit $status
