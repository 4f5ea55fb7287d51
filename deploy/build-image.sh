#!/usr/bin/env bash
# Builds the lakemerge container image without a Docker daemon or a base
# image: a lakemerge binary with the SQL engine of prepared tables (DuckDB
# through duckdb-go, -tags duckdb_arrow, cgo) linked fully statically, so
# that it needs no C library at run time, packed FROM scratch by
# deploy/imagebuild into an OCI image layout tarball (or, with --format
# docker, a docker save archive). The same commit, Go version and C
# toolchain give the same image digest.
#
# Usage: deploy/build-image.sh OUT.tar [imagebuild flags: --tag, --format, --created, --source]
#   GOARCH=arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ deploy/build-image.sh lakemerge-arm64.tar
#   (Graviton; Debian: g++-aarch64-linux-gnu. Fails today at the static link:
#   "too many GOT entries for -fpic" in Debian 12's aarch64 libc.a.)
# Push it with e.g. skopeo copy oci-archive:OUT.tar docker://<registry>/lakemerge:<tag>
# (the README's "Deploying on AWS" has the ECR steps).
#
# Needs a C/C++ toolchain with static glibc and libstdc++ (Debian:
# build-essential). The link prints three glibc warnings, that dlopen,
# getpwuid and getaddrinfo in a static binary need glibc's shared
# libraries at run time: DuckDB calls them only to load extensions, to name
# the holder of a locked database file and to fetch over HTTP, none of
# which lakemerge's engine does (transform.Open: an in-memory database, no
# external access, no extension loading).
# Go's own lookups do not use them: -tags netgo,osusergo.
set -euo pipefail
if [[ $# -lt 1 || $1 == -* ]]; then
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
shift
case $out in /*) ;; *) out=$PWD/$out ;; esac
arch=${GOARCH:-$(go env GOARCH)}
if [[ $arch != "$(go env GOHOSTARCH)" && -z ${CC:-} ]]; then
	echo "build-image.sh: GOARCH=$arch on a $(go env GOHOSTARCH) machine: set CC and CXX to a C/C++ cross compiler for $arch (e.g. aarch64-linux-gnu-gcc, aarch64-linux-gnu-g++)" >&2
	exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && CGO_ENABLED=1 GOOS=linux GOARCH=$arch \
	go build -trimpath -buildvcs=auto -tags grpcnotrace,duckdb_arrow,netgo,osusergo \
	-ldflags='-s -w -linkmode external -extldflags "-static"' -o "$work/lakemerge" ./cmd/lakemerge)
(cd "$root/deploy/imagebuild" && go build -o "$work/imagebuild" .)
"$work/imagebuild" --binary "$work/lakemerge" --out "$out" "$@"
