#!/usr/bin/env bash
# Checks everything under deploy/ the way a platform engineer would meet it:
#   - cfn-lint (pinned in requirements.txt) on the CloudFormation template;
#   - dockerfile-utils lint on the Dockerfile (no Docker daemon here);
#   - the template created as a stack on the moto server, its outputs,
#     resources and IAM checked through the services' APIs (test/stack_test.py);
#   - asl-validator on both state machines as CloudFormation substituted them;
#   - both state machines run in moto's ASL interpreter with mocked ECS task
#     exits: exit code 1 retried, 2 not (test/statemachine_test.py);
#   - the container image built daemonless (a static binary with the SQL
#     engine) and run in a chroot of its root filesystem (imagebuild's Go
#     test): `lakemerge version` names the SQL engine, `lakemerge demo`
#     keeps its prepared mirror tables, and a host name from the image's
#     /etc/hosts reaches the moto server (Go's resolver, -tags netgo).
# The Node tools are pinned by tools/package-lock.json and installed with
# npm ci into a cache folder once per lock file.
#
# scripts/test.sh calls it with the moto server running
# (LAKEMERGE_PYTHON, LAKEMERGE_AWS_ENDPOINT set). By hand:
#   LAKEMERGE_PYTHON=.venv/bin/python LAKEMERGE_AWS_ENDPOINT=http://127.0.0.1:PORT deploy/check.sh
set -euo pipefail
cd "$(dirname "$0")"
: "${LAKEMERGE_PYTHON:?set LAKEMERGE_PYTHON (scripts/test.sh does)}"
: "${LAKEMERGE_AWS_ENDPOINT:?set LAKEMERGE_AWS_ENDPOINT (scripts/test.sh starts the moto server)}"
cache=${LAKEMERGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lakemerge}
mkdir -p "$cache"
step() { echo "== deploy: $*"; }
t0=$SECONDS

# cfn-lint: the interop venv's when it is the pinned version, else our own.
want=$(sed -n 's/^cfn-lint==//p' requirements.txt)
have=$("$LAKEMERGE_PYTHON" -c 'import importlib.metadata as m; print(m.version("cfn-lint"))' 2>/dev/null || true)
if [[ $have == "$want" && -x $(dirname "$LAKEMERGE_PYTHON")/cfn-lint ]]; then
	cfnlint=("$(dirname "$LAKEMERGE_PYTHON")/cfn-lint")
else
	venv=$cache/cfn-lint-$want
	if [[ ! -x $venv/bin/cfn-lint ]]; then
		step "installing cfn-lint $want into $venv"
		rm -rf "$venv"
		python3 -m venv "$venv"
		"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
	fi
	cfnlint=("$venv/bin/cfn-lint")
fi
step "cfn-lint $want"
"${cfnlint[@]}" cloudformation/lakemerge.yaml

tools=$cache/node-tools-$(sha256sum tools/package-lock.json | cut -c1-16)
if [[ ! -x $tools/node_modules/.bin/asl-validator || ! -x $tools/node_modules/.bin/dockerfile-utils ]]; then
	step "installing asl-validator and dockerfile-utils (tools/package-lock.json) into $tools"
	rm -rf "$tools"
	mkdir -p "$tools"
	cp tools/package.json tools/package-lock.json "$tools/"
	(cd "$tools" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
step "dockerfile-utils lint Dockerfile"
"$tools/node_modules/.bin/dockerfile-utils" lint Dockerfile

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
step "CloudFormation stack on the moto server"
"$LAKEMERGE_PYTHON" test/stack_test.py "$out"
step "asl-validator"
for f in "$out"/*.asl.json; do
	"$tools/node_modules/.bin/asl-validator" --json-path "$f"
done
step "state machines in moto's ASL interpreter"
"$LAKEMERGE_PYTHON" test/statemachine_test.py "$out"

step "container image (deploy/imagebuild)"
# (the static build of lakemerge has a build cache of its own: -trimpath,
# cgo, netgo; cold, it is the whole compile, hence the timeout)
(cd imagebuild && go vet ./... && go test -count=1 -timeout 30m ./...)
step "done in $((SECONDS - t0)) s"
