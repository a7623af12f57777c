#!/usr/bin/env bash
# build.sh [TAG]: build the shardproxy container image from
# deploy/container/Containerfile with no base image to pull. It compiles a
# static binary (CGO_ENABLED=0), copies the host's CA bundle and the
# passwd/group files into a temporary build context, then runs
# `podman build --format docker` (docker build when podman is missing).
#
# Environment: CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt),
# BUILDER (podman or docker), SHARDPROXY_BINARY (a static binary to use
# instead of building one; the tests pass the one they built).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(git -C "$root" describe --always --dirty 2>/dev/null || echo dev)
tag=${1:-localhost/shardproxy:$version}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
builder=${BUILDER:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

if [[ -n ${SHARDPROXY_BINARY:-} ]]; then
	cp "$SHARDPROXY_BINARY" "$ctx/shardproxy"
else
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$ctx/shardproxy" ./cmd/proxy)
fi
cp "$ca" "$ctx/ca-certificates.crt"
cp "$here/passwd" "$here/group" "$ctx/"

format=()
[[ $builder == podman ]] && format=(--format docker)
"$builder" build "${format[@]}" -f "$here/Containerfile" -t "$tag" "$ctx"
echo "built $tag"
