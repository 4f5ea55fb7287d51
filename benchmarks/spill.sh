#!/usr/bin/env bash
# Memory-budget benchmark: one generated DMS workload absorbed by
# `lakemerge run` under different memory budgets (memory_mb), and by the
# binary of another commit for a before/after. Prints a markdown table:
# wall time, CPU time (user + system) and peak RSS from /usr/bin/time -v,
# the run's phases (summary phases_ms: read, dedupe, write), the spilled rows
# and bytes, and /proc/loadavg just before each run (the machine is
# shared: read the figures beside it).
#
# Usage: benchmarks/spill.sh [ROWS] [CHANGES] [DIR] [BUDGETS] [BASE_REV]
#   defaults: 10000000 0 /tmp/lakemerge-spill "default 256" ""
#   CHANGES 0: the measured run is the full load of ROWS rows. Otherwise
#   the measured run is the merge of CHANGES changes (70% updates, 20%
#   inserts, 10% deletes; a CDC backfill) into the table that each binary
#   loaded first (unmeasured).
#   BUDGETS: memory_mb values, "default" for none in the job file (60% of
#   the container's or machine's memory).
#   BASE_REV: a commit whose binary also runs, with its own defaults (e.g.
#   main), built from `git archive` in a temporary folder.
# The workload folder is deleted at the end (KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
changes=${2:-0}
dir=${3:-/tmp/lakemerge-spill}
budgets=${4:-default 256}
base=${5:-}

mkdir -p bin
go build -o bin/lakemerge ./cmd/lakemerge
go build -o bin/lmbench ./benchmarks/lmbench
bins=("after:$PWD/bin/lakemerge")
if [[ -n $base ]]; then
	src=$(mktemp -d)
	git archive "$base" | tar -x -C "$src"
	(cd "$src" && go build -o "$PWD/../lakemerge-base-bin" ./cmd/lakemerge)
	mv "$src/../lakemerge-base-bin" bin/lakemerge-base
	rm -rf "$src"
	bins=("before ($(git rev-parse --short "$base")):$PWD/bin/lakemerge-base" "${bins[@]}")
fi
cleanup() { [[ ${KEEP:-} == 1 ]] || rm -rf "$dir"; }
trap cleanup EXIT
rm -rf "$dir"
bin/lmbench gen --dir "$dir" --rows "$rows" --changes "$((changes > 0 ? changes : 1))" >/dev/null
if ((changes > 0)); then
	echo "merge: $(du -sh "$dir/cdc" | cut -f1) of DMS CSV, $changes changes into $rows rows, $(nproc) cores"
else
	echo "full load: $(du -sh "$dir/raw" | cut -f1) of DMS CSV, $rows rows, $(nproc) cores"
fi
echo
echo "| binary | memory_mb | wall (s) | CPU (s) | peak RSS (MiB) | read / dedupe / write (s) | spilled rows | spilled (MiB) | loadavg before |"
echo "|---|---|---:|---:|---:|---|---:|---:|---|"
for entry in "${bins[@]}"; do
	name=${entry%%:*}
	bin=${entry#*:}
	for budget in $budgets; do
		if [[ $name == before* && $budget != default ]]; then
			continue # the base binary has no memory_mb
		fi
		rm -rf "$dir/warehouse" "$dir/catalog.db" "$dir/spill"
		mkdir -p "$dir/spill"
		job=$dir/job-$budget.yaml
		{
			[[ $budget == default ]] || echo "memory_mb: $budget"
			[[ $name == before* ]] || echo "spill_dir: $dir/spill"
			cat "$dir/job.yaml"
		} >"$job"
		if ((changes > 0)); then
			# The table to merge into, loaded by the same binary; then
			# the CDC files join the raw zone (hard links).
			find "$dir/raw/public/orders" -mindepth 1 -not -name 'LOAD*' -delete
			"$bin" run --config "$job" --log-format json >/dev/null 2>"$dir/load.log" || {
				cat "$dir/load.log" >&2
				exit 1
			}
			ln "$dir"/cdc/public/orders/* "$dir/raw/public/orders/"
		fi
		load=$(cut -d' ' -f1-3 /proc/loadavg)
		/usr/bin/time -v "$bin" run --config "$job" --log-format json >"$dir/summary.json" 2>"$dir/time.txt" || {
			cat "$dir/time.txt" >&2
			exit 1
		}
		wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; printf "%.2f", s}' "$dir/time.txt")
		cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s+=$2} END {printf "%.1f", s}' "$dir/time.txt")
		rss=$(awk -F': ' '/Maximum resident set size/ {printf "%d", $2/1024}' "$dir/time.txt")
		read -r phases srows sbytes < <(python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["tables"][0]
p = t["phases_ms"]
print("%.1f/%.1f/%.1f" % (p["read"]/1e3, p["dedupe"]/1e3, p["write"]/1e3),
      t.get("spilled_rows", "-"), round(t["spilled_bytes"]/2**20) if "spilled_bytes" in t else "-")' "$dir/summary.json")
		left=$(find "$dir/spill" -mindepth 1 | wc -l)
		if [[ $left != 0 ]]; then
			echo "spill folder not empty after the run: $left entries" >&2
			exit 1
		fi
		echo "| $name | $budget | $wall | $cpu | $rss | $phases | $srows | $sbytes | $load |"
	done
done
