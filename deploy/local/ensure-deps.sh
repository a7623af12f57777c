#!/usr/bin/env bash
# ensure-deps.sh: make sure the system packages that the tests and the local
# sandbox need are installed (redis-server, redis-cli, redis-benchmark,
# redis-sentinel, nutcracker, prometheus, promtool), with the client runtimes
# of the compatibility matrix (internal/compat: redis-py, redis-rb, hiredis
# and a C compiler, Node.js with npm) and the deployment checks' tools
# (systemd-analyze, podman with runc, the CA bundle copied into the image).
#
# Node.js: nodejs and npm come from Debian only when node or npm is missing,
# so an installation from elsewhere (NodeSource's nodejs, which conflicts
# with Debian's npm) is kept.
#
# Idempotent: does nothing when every binary is present. Otherwise, as root,
# runs apt-get update and installs the Debian packages without letting their
# services start (a packaged redis-server on 6379 or prometheus on 9090 would
# hold ports the tests and sandbox expect to be free); as another user, prints
# the command to run and exits 1.
#
# --always: install even when everything is present (used by .ci/run).
set -euo pipefail

# nutcracker lives in /usr/sbin, often missing from a non-root PATH.
export PATH="$PATH:/usr/sbin:/sbin"

PACKAGES=(redis-server redis-tools redis-sentinel nutcracker prometheus
	python3-redis ruby-redis libhiredis-dev gcc libc6-dev systemd podman runc ca-certificates)
# binary:package that provides it; an absolute path names a file instead of
# a command (a library or a header; a glob matches any version).
BINARIES=(
	/usr/lib/python3/dist-packages/redis/__init__.py:python3-redis
	/usr/share/rubygems-integration/all/gems/redis-*/lib/redis.rb:ruby-redis
	/usr/include/hiredis/hiredis.h:libhiredis-dev
	ruby:ruby-redis
	cc:gcc
	systemd-analyze:systemd
	podman:podman
	runc:runc
	/etc/ssl/certs/ca-certificates.crt:ca-certificates
	redis-server:redis-server
	redis-cli:redis-tools
	redis-benchmark:redis-tools
	redis-sentinel:redis-sentinel
	nutcracker:nutcracker
	prometheus:prometheus
	promtool:prometheus
)
SERVICES=(redis-server redis-sentinel nutcracker prometheus prometheus-node-exporter)

always=false
case "${1:-}" in
--always) always=true ;;
"") ;;
*)
	echo "usage: $0 [--always]" >&2
	exit 2
	;;
esac

# present NAME: a command on PATH, or an existing file for an absolute path.
present() {
	if [[ $1 == /* ]]; then
		compgen -G "$1" >/dev/null
	else
		command -v "$1" >/dev/null 2>&1
	fi
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	PACKAGES+=(nodejs npm)
	BINARIES+=(node:nodejs npm:npm)
fi

missing=()
for entry in "${BINARIES[@]}"; do
	bin=${entry%%:*}
	if ! present "$bin"; then
		missing+=("$bin (package ${entry#*:})")
	fi
done

if [[ ${#missing[@]} -eq 0 && $always == false ]]; then
	exit 0
fi

if [[ ${#missing[@]} -gt 0 ]]; then
	echo "ensure-deps: missing: ${missing[*]}" >&2
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "ensure-deps: not root; install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
	exit 1
fi

# Keep the packages' postinst scripts from starting their services: invoke-rc.d
# asks /usr/sbin/policy-rc.d, and exit status 101 means "action forbidden".
# Only install the guard when none exists, and always remove our own.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=true
fi
remove_policy() {
	if [[ $own_policy == true ]]; then
		rm -f "$policy"
	fi
}
trap remove_policy EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${PACKAGES[@]}"

# Belt and braces for systems where the guard is bypassed (systemd units
# started by deb-systemd-invoke): stop whatever did start.
for svc in "${SERVICES[@]}"; do
	if command -v service >/dev/null 2>&1; then
		service "$svc" stop >/dev/null 2>&1 || true
	fi
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		systemctl stop "$svc" >/dev/null 2>&1 || true
	fi
done

for entry in "${BINARIES[@]}"; do
	bin=${entry%%:*}
	if ! present "$bin"; then
		echo "ensure-deps: $bin still missing after installing ${PACKAGES[*]}" >&2
		exit 1
	fi
done
echo "ensure-deps: installed ${PACKAGES[*]}"
