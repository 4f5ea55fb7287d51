#!/usr/bin/env bash
# What keeping a prepared mirror table costs a run: the benchmark workload
# (lmbench gen) run twice by lakemerge — full load, then the merge of the
# changes — once without and once with a mirror table of the base table
# (a realistic select: CAST, upper, sha256, a derived date, and a where),
# and, as variant history, with the mirror and a history table (SCD type
# 2) of the same select, printing wall time and peak RSS of each run (GNU
# time) with /proc/loadavg beside.
#
# Usage: benchmarks/prepared.sh ROWS CHANGES [DIR [VARIANTS]]
#
# VARIANTS (default "base prepared") picks the runs among base, prepared
# and history; with VARIANTS given, the workload already generated under
# DIR/gen is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
changes=${2:-100000}
dir=${3:-/tmp/lakemerge-bench-prepared}
mkdir -p bin
go build -tags grpcnotrace,duckdb_arrow -o bin/lakemerge ./cmd/lakemerge
go build -o bin/lmbench ./benchmarks/lmbench
variants=${4:-}
if [[ -z $variants || ! -f $dir/gen/job.yaml ]]; then
	rm -rf "$dir"
	bin/lmbench gen --dir "$dir/gen" --rows "$rows" --changes "$changes" --inserts 0.2 --deletes 0.1
fi
prepared='    prepared:
      - target: { table: orders_open }
        mode: mirror
        select:
          - id
          - customer_id
          - upper(status) AS status
          - CAST(amount AS double) AS amount
          - qty
          - CAST(updated_at AS date) AS updated_on
          - sha256(note) AS note_sha256
        where: status <> '"'"'cancelled'"'"''
history='      - target: { table: orders_history }
        mode: history
        select:
          - id
          - customer_id
          - upper(status) AS status
          - CAST(amount AS double) AS amount
          - qty
          - CAST(updated_at AS date) AS updated_on
          - sha256(note) AS note_sha256
        where: status <> '"'"'cancelled'"'"''
for variant in ${variants:-base prepared}; do
	d=$dir/$variant
	rm -rf "$d"
	mkdir -p "$d"
	cp -r "$dir/gen/raw" "$dir/gen/cdc" "$d/"
	sed "s|$dir/gen|$d|g" "$dir/gen/job.yaml" >"$d/job.yaml"
	if [[ $variant == prepared || $variant == history ]]; then
		printf '%s\n' "$prepared" >>"$d/job.yaml"
	fi
	if [[ $variant == history ]]; then
		printf '%s\n' "$history" >>"$d/job.yaml"
	fi
	for phase in load merge; do
		if [[ $phase == merge ]]; then
			cp -r "$d/cdc/." "$d/raw/"
		fi
		before=$(cut -d' ' -f1-3 /proc/loadavg)
		/usr/bin/time -f "%e %M" -o "$d/$phase.time" bin/lakemerge run --config "$d/job.yaml" --log-level warn >"$d/$phase.json"
		read -r wall rss <"$d/$phase.time"
		echo "$variant $phase: wall ${wall}s, peak RSS $((rss / 1024)) MiB (loadavg $before → $(cut -d' ' -f1-3 /proc/loadavg))"
	done
done
