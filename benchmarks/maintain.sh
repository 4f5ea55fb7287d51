#!/usr/bin/env bash
# Microbatch benchmark of the maintenance policy: RUNS runs of CHANGES
# changes each (70% updates, 20% inserts, 10% deletes) into a ROWS-row
# table, once with the policy off (maintenance: { enabled: false }) and
# once with the defaults, for an Iceberg and a Delta target. Every EVERY
# runs it records, per target: data files, delete files, bytes (lakemerge
# status), and what a reader pays: SELECT count(*) and a filtered scan by
# DuckDB's iceberg_scan and pyiceberg (Iceberg, with its snapshots and
# manifests counted) or deltalake (Delta), best of 3. At the
# end the same rows are loaded into a fresh table in one run, the
# reference reader time. The average run time is the whole process's;
# the maintain column is the part the runs' summaries report as the
# maintain phase (Due, the pass, the file listing), both tables summed;
# cpu_ms the run processes' average user+system CPU (/usr/bin/time), the
# steadier figure on a shared machine.
# /proc/loadavg is recorded at the start and the end (the machine may be
# shared). Prints a markdown table; writes DIR/results.md and
# DIR/results.jsonl.
#
# Usage: benchmarks/maintain.sh [RUNS] [ROWS] [CHANGES] [EVERY] [DIR]
#   defaults: 300 1000000 1000 25 /tmp/lakemerge-maintain
# $POLICIES (default "off on") picks the policies to run: off is
# { enabled: false }, on the defaults ({ enabled: true }), any other NAME
# the maintenance section in $POLICY_NAME (for example
# POLICY_del4='{ enabled: true, compact_delete_files: 4 }'). The fresh
# reference always runs. $BINDIR, when set, holds lakemerge and lmbench
# already built (several runs of the script side by side share them;
# else it builds them into bin/). $TABLES (default "ice dl") picks the targets: ice
# (Iceberg), dl (Delta) or both. DIR/runs.jsonl has every run's maintain phase
# and compactions per table; benchmarks/maintain_chart.py draws
# results.jsonl (of one or several DIRs).
# Needs a Python with duckdb, duckdb-extension-iceberg, -avro, pyiceberg
# and deltalake (interop/requirements.txt): $LAKEMERGE_PYTHON, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
rows=${2:-1000000}
changes=${3:-1000}
every=${4:-25}
dir=${5:-/tmp/lakemerge-maintain}
py=${LAKEMERGE_PYTHON:-python3}
here=$PWD
tables=${TABLES:-ice dl}

bin=${BINDIR:-bin}
if [[ -z ${BINDIR:-} ]]; then
	mkdir -p bin
	go build -tags grpcnotrace,duckdb_arrow -o bin/lakemerge ./cmd/lakemerge
	go build -o bin/lmbench ./benchmarks/lmbench
fi
rm -rf "$dir"
mkdir -p "$dir"
# One generation: the full load (ROWS rows in one file) and RUNS change
# files of CHANGES rows each.
"$bin"/lmbench gen --dir "$dir/gen" --rows "$rows" --changes $((runs * changes)) --rows-per-file "$changes" >/dev/null
mkdir -p "$dir/gen/load"
cat "$dir"/gen/raw/public/orders/LOAD*.csv >"$dir/gen/load/LOAD00000001.csv"
mapfile -t cdc < <(ls "$dir/gen/cdc/public/orders/" | sort)
max_id=$((rows + runs * changes))

job() { # job DIR MAINTENANCE
	cat >"$1/job.yaml" <<YAML
raw: file://$1/raw
warehouse: file://$1/warehouse
catalog: { type: sqlite, path: $1/catalog.db }
defaults:
  buckets: 16
  maintenance: $2
tables:
YAML
	for t in $tables; do
		case $t in
		ice) target="{ database: bench, table: orders }" ;;
		dl) target="{ database: bench, table: orders_delta, format: delta }" ;;
		*)
			echo "unknown table $t in TABLES" >&2
			exit 2
			;;
		esac
		cat >>"$1/job.yaml" <<YAML
  - name: $t
    source: { schema: public, table: orders }
    primary_key: [id]
    target: $target
    columns:
$(sed -n '/^    columns:/,$p' "$dir/gen/job.yaml" | sed 1d)
YAML
	done
}

# measure DIR POLICY RUN RUN_MS MAINT_MS CPU_MS: one JSON line per target.
measure() {
	local d=$1 policy=$2 run=$3 run_ms=$4 maint_ms=$5 cpu_ms=$6
	local st
	st=$("$bin"/lakemerge status --config "$d/job.yaml" --json)
	for t in $tables; do
		local files meta q
		files=$(jq -c --arg t "$t" '.[] | select(.table == $t) | .files' <<<"$st")
		if [[ $t == ice ]]; then
			meta=$(ls "$d"/warehouse/bench.db/orders/metadata/*.metadata.json | sort -V | tail -1)
			set -- iceberg "$meta"
		else
			set -- delta "$d/warehouse/bench.db/orders_delta"
		fi
		# Once more when the reader fails (deltalake's Python binding
		# sometimes aborts at exit: "terminate called without an active
		# exception").
		q=$("$py" benchmarks/maintain_query.py "$@" "$max_id") || q=$("$py" benchmarks/maintain_query.py "$@" "$max_id")
		jq -c -n --arg policy "$policy" --arg t "$t" --argjson run "$run" --argjson run_ms "$run_ms" \
			--argjson maint_ms "$maint_ms" --argjson cpu_ms "$cpu_ms" --argjson files "$files" --argjson q "$q" \
			'{policy: $policy, table: $t, run: $run, run_ms: $run_ms, maint_ms: $maint_ms, cpu_ms: $cpu_ms, files: $files} + $q' | tee -a "$dir/results.jsonl"
	done
}

: >"$dir/results.jsonl"
: >"$dir/runs.jsonl"
load_start=$(cat /proc/loadavg)
for policy in ${POLICIES:-off on}; do
	d=$dir/$policy
	mkdir -p "$d/raw/public/orders"
	case $policy in
	off) job "$d" "{ enabled: false }" ;;
	on) job "$d" "{ enabled: true }" ;;
	*)
		v=POLICY_$policy
		job "$d" "${!v:?POLICY_$policy is not set}"
		;;
	esac
	cp "$dir/gen/load/LOAD00000001.csv" "$d/raw/public/orders/"
	"$bin"/lakemerge run --config "$d/job.yaml" --log-format json >/dev/null 2>"$d/run.log"
	total_ms=0 maint_total=0 cpu_total=0
	for ((r = 1; r <= runs; r++)); do
		cp "$dir/gen/cdc/public/orders/${cdc[r - 1]}" "$d/raw/public/orders/"
		start=$(date +%s%N)
		/usr/bin/time -f '%U %S' -o "$d/time.txt" "$bin"/lakemerge run --config "$d/job.yaml" --log-format json >"$d/last.json" 2>>"$d/run.log"
		ms=$((($(date +%s%N) - start) / 1000000))
		cpu=$(awk '{printf "%d", ($1 + $2) * 1000}' "$d/time.txt")
		cpu_total=$((cpu_total + cpu))
		total_ms=$((total_ms + ms))
		maint_total=$((maint_total + $(jq '[.tables[].phases_ms.maintain // 0] | add' "$d/last.json")))
		jq -c --arg policy "$policy" --argjson run "$r" --argjson ms "$ms" --argjson cpu "$cpu" --arg load "$(cut -d' ' -f1 /proc/loadavg)" \
			'{policy: $policy, run: $run, run_ms: $ms, cpu_ms: $cpu, load: ($load | tonumber), tables: [.tables[] | {table, maintain_ms: (.phases_ms.maintain // 0), compactions: (.maintenance.compactions // 0), files_rewritten: (.maintenance.files_rewritten // 0), delete_files_written: (.maintenance.delete_files_written // 0)}]}' \
			"$d/last.json" >>"$dir/runs.jsonl"
		if ((r % every == 0 || r == runs)); then
			measure "$d" "$policy" "$r" "$((total_ms / r))" "$((maint_total / r))" "$((cpu_total / r))"
		fi
	done
done

# The reference: the same rows written by one run into fresh tables.
d=$dir/fresh
mkdir -p "$d/raw/public/orders"
job "$d" "{ enabled: false }"
cp "$dir/gen/load/LOAD00000001.csv" "$d/raw/public/orders/"
for ((r = 1; r <= runs; r++)); do cp "$dir/gen/cdc/public/orders/${cdc[r - 1]}" "$d/raw/public/orders/"; done
"$bin"/lakemerge run --config "$d/job.yaml" --log-format json >/dev/null 2>"$d/run.log"
measure "$d" fresh "$runs" 0 0 0

jq -r -s '
  "| policy | table | run | avg run ms | avg run CPU ms | avg maintain ms | data files | delete files | small files | MB | snapshots | manifests (data+delete) | count(*) s | filtered s | pyiceberg count(*) s | pyiceberg filtered s | rows |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  (.[] | "| \(.policy) | \(.table) | \(.run) | \(.run_ms) | \(.cpu_ms // "—") | \(.maint_ms) | \(.files.data_files) | \(.files.delete_files) | \(.files.small_files) | \(.files.bytes / 1048576 * 10 | round / 10) | \(.snapshots // "—") | \(if .data_manifests then "\(.data_manifests)+\(.delete_manifests)" else "—" end) | \(.count_s) | \(.filter_s) | \(.py_count_s // "—") | \(.py_filter_s // "—") | \(.count) |")
' "$dir/results.jsonl" | tee "$dir/results.md"
echo "loadavg at the start: $load_start; at the end: $(cat /proc/loadavg)" | tee -a "$dir/results.md"
echo "results: $dir/results.md ($runs runs of $changes changes into $rows rows, $(nproc) cores)"
