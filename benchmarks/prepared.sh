#!/usr/bin/env bash
# What keeping a prepared mirror table costs a run: the benchmark workload
# (lmbench gen) run twice by lakemerge — full load, then the merge of the
# changes — once without and once with a mirror table of the base table
# (a realistic select: CAST, upper, sha256, a derived date, and a where),
# and, as variant history, with the mirror and a history table (SCD type
# 2) of the same select, printing wall time, CPU time (user + system) and
# peak RSS of each run (GNU time) with /proc/loadavg beside, and the
# summary's figures of each prepared table (how, duration_ms, and for a
# history what its read of the stored versions read).
#
# Usage: benchmarks/prepared.sh ROWS CHANGES [DIR [VARIANTS]]
#
# VARIANTS (default "base prepared") picks the runs among base, prepared
# and history; with VARIANTS given, the workload already generated under
# DIR/gen is reused. LAKEMERGE_BIN runs that binary instead of building
# this checkout's (to compare two commits on the same workload);
# PHASES (default "load merge") picks the runs of each variant: "load" alone
# leaves the loaded tables, and a copy of them in DIR/VARIANT.loaded; a
# later PHASES=merge of that variant restores that copy first, so that the
# merges of several binaries (LAKEMERGE_BIN, alternated) start from one
# state.
# LAKEMERGE_PROFILE=1 writes each run's CPU profile to DIR/VARIANT/PHASE.cpu
# (go tool pprof -top BINARY FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
changes=${2:-100000}
dir=${3:-/tmp/lakemerge-bench-prepared}
mkdir -p bin
lakemerge=${LAKEMERGE_BIN:-bin/lakemerge}
if [[ -z ${LAKEMERGE_BIN:-} ]]; then
	go build -tags grpcnotrace,duckdb_arrow -o bin/lakemerge ./cmd/lakemerge
fi
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
	if [[ ${PHASES:-} == merge && -d $d.loaded ]]; then
		cp -a "$d.loaded" "$d"
	else
		mkdir -p "$d"
		cp -r "$dir/gen/raw" "$dir/gen/cdc" "$d/"
		sed "s|$dir/gen|$d|g" "$dir/gen/job.yaml" >"$d/job.yaml"
		if [[ $variant == prepared || $variant == history ]]; then
			printf '%s\n' "$prepared" >>"$d/job.yaml"
		fi
		if [[ $variant == history ]]; then
			printf '%s\n' "$history" >>"$d/job.yaml"
		fi
	fi
	for phase in ${PHASES:-load merge}; do
		if [[ $phase == merge ]]; then
			cp -r "$d/cdc/." "$d/raw/"
		fi
		before=$(cut -d' ' -f1-3 /proc/loadavg)
		profile=()
		if [[ -n ${LAKEMERGE_PROFILE:-} ]]; then
			profile=(--cpuprofile "$d/$phase.cpu")
		fi
		/usr/bin/time -f "%e %M %U %S" -o "$d/$phase.time" "$lakemerge" run --config "$d/job.yaml" --log-level warn "${profile[@]}" >"$d/$phase.json"
		read -r wall rss user sys <"$d/$phase.time"
		cpu=$(echo "$user + $sys" | bc)
		echo "$variant $phase: wall ${wall}s, CPU ${cpu}s, peak RSS $((rss / 1024)) MiB (loadavg $before → $(cut -d' ' -f1-3 /proc/loadavg))"
		python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["tables"]:
    print("  %s: write %s ms" % (t["table"], t.get("phases_ms", {}).get("write")))
    for p in t.get("prepared") or []:
        print("  %s (%s): %s, %s ms, stats %s%s" % (p["table"], p["mode"], p["how"], p["duration_ms"],
              json.dumps(p["stats"]), (", read " + json.dumps(p["stored_read"])) if p.get("stored_read") else ""))
' "$d/$phase.json"
	done
	if [[ ${PHASES:-} == load ]]; then
		rm -rf "$d.loaded"
		cp -a "$d" "$d.loaded"
	fi
done
