#!/usr/bin/env bash
# Microbatch-scaling benchmark: how a merge's cost grows with the change
# count and with the table, for lakemerge and delta-rs (deltalake MERGE).
# Per table size it generates one DMS load and one change set per count
# (lmbench gen --sets, seed 1, 70% updates / 20% inserts / 10% deletes,
# uniform keys), loads each tool's table once, then merges each change set
# into a fresh copy of that table (cp -r of the table folder and its
# catalog), recording wall time, CPU time (user+sys), peak RSS, files
# written and /proc/loadavg at the start of each merge, and checks with a
# digest of all rows that the tools produced the same table. lakemerge's
# job has memory_mb: 1024 and its maintenance pass off (a cell measures the
# merge alone). A process tree over 8 GiB resident is killed.
#
# Usage: benchmarks/scaling.sh [ROWS_LIST] [CHANGES_LIST] [TOOLS] [DIR]
#   defaults: 1000000,10000000 1000,10000,100000,1000000 lakemerge,delta /tmp/lakemerge-scaling
# Writes DIR/results.md (the matrix and the loads) and DIR/results.json,
# rewritten after every step. A re-run with the same DIR keeps the
# generated data, the loaded tables and the cells it has, and measures the
# rest (so a list can grow: ROWS_LIST 1000000,10000000,100000000 after a
# run of the first two). Other lmbench scaling flags go in $LMBENCH_FLAGS
# (e.g. --verify-max-rows 10000000 to skip the digests of larger tables).
# The issue's table: benchmarks/scaling.sh 1000000,10000000,100000000
# (100M rows: 7.9 GB of CSV and about 3 GB per loaded table, twice per tool).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000,10000000}
changes=${2:-1000,10000,100000,1000000}
tools=${3:-lakemerge,delta}
dir=${4:-/tmp/lakemerge-scaling}

python=$(benchmarks/venv.sh)
mkdir -p bin "$dir"
go build -tags grpcnotrace,duckdb_arrow -o bin/lakemerge ./cmd/lakemerge
go build -o bin/lmbench ./benchmarks/lmbench
# shellcheck disable=SC2086
bin/lmbench scaling --dir "$dir" --rows "$rows" --changes "$changes" --tools "$tools" \
	--lakemerge "$PWD/bin/lakemerge" --python "$python" ${LMBENCH_FLAGS:-}
