#!/usr/bin/env bash
# End-to-end benchmark: lakemerge against the tools a user would pick
# instead (deltalake MERGE, pyiceberg upsert), on the same generated DMS
# workload and machine. Prints a markdown table and writes results.md,
# results.json and results.png into the workload folder.
#
# Usage: benchmarks/run.sh [ROWS] [CHANGES] [DIR] [TOOLS] [DIST]
#   defaults: 1000000 100000 /tmp/lakemerge-bench lakemerge,delta,pyiceberg,spark (spark needs Java) uniform
#   DIST is how the changes pick their keys: uniform, recent (mostly the newest keys) or zipf.
# The peers run in .venv-bench (benchmarks/requirements.txt), or in $LMBENCH_PYTHON when set.
# The issue's target workload: benchmarks/run.sh 10000000 1000000
# A scheduled CDC microbatch: benchmarks/run.sh 10000000 1000
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
changes=${2:-100000}
dir=${3:-/tmp/lakemerge-bench}
tools=${4:-lakemerge,delta,pyiceberg,spark}
dist=${5:-uniform}

python=$(benchmarks/venv.sh)
mkdir -p bin
# Built as the README says users build it (First steps).
go build -tags grpcnotrace,duckdb_arrow -o bin/lakemerge ./cmd/lakemerge
go build -o bin/lmbench ./benchmarks/lmbench
rm -rf "$dir"
bin/lmbench gen --dir "$dir" --rows "$rows" --changes "$changes" --inserts 0.2 --deletes 0.1 --dist "$dist"
bin/lmbench compare --dir "$dir" --lakemerge "$PWD/bin/lakemerge" --python "$python" --tools "$tools"
"$python" benchmarks/peers/chart.py "$dir/results.json" "$dir/results.png" \
	"merge $changes changes ($dist keys; 70% upd, 20% ins, 10% del) into $rows rows, $(nproc) cores"
echo "chart: $dir/results.png"
