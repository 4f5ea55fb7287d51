#!/usr/bin/env bash
# Builds the lakemerge container image without a Docker daemon or a base
# image: a static lakemerge binary (CGO_ENABLED=0, -trimpath, -tags
# grpcnotrace: gRPC without its debug pages; the commit stamped by Go when
# built from a git clone) packed FROM scratch by deploy/imagebuild into an
# OCI image layout tarball (or, with --format docker, a docker save
# archive). The same commit and Go version give the same image digest on
# any machine.
#
# Usage: deploy/build-image.sh OUT.tar [imagebuild flags: --tag, --format, --created, --source]
#   GOARCH=arm64 deploy/build-image.sh lakemerge-arm64.tar   (for Graviton tasks)
# Push it with e.g. skopeo copy oci-archive:OUT.tar docker://<registry>/lakemerge:<tag>
# (the README's "Deploying on AWS" has the ECR steps).
set -euo pipefail
if [[ $# -lt 1 || $1 == -* ]]; then
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
out=$1
shift
case $out in /*) ;; *) out=$PWD/$out ;; esac
arch=${GOARCH:-$(go env GOARCH)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch \
	go build -trimpath -buildvcs=auto -tags grpcnotrace -ldflags='-s -w' -o "$work/lakemerge" ./cmd/lakemerge)
(cd "$root/deploy/imagebuild" && go build -o "$work/imagebuild" .)
"$work/imagebuild" --binary "$work/lakemerge" --out "$out" "$@"
