#!/usr/bin/env bash
# run.sh (`make run`): a local sandbox of three redis-server shards on
# 127.0.0.1:7001-7003 behind shardproxy on 127.0.0.1:6380, with metrics on
# 127.0.0.1:9122. Data lives in a temporary directory; Ctrl-C or SIGTERM
# stops every process and removes it.
#
# Environment:
#   SHARDPROXY_BIN  use this proxy binary instead of building bin/shardproxy
#   LOG_LEVEL       passed to the proxy's --log-level (default info)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

config=deploy/local/shardproxy.yml
shard_ports=(7001 7002 7003)
proxy_port=6380
metrics_addr=127.0.0.1:9122

"$here/ensure-deps.sh"

proxy_bin=${SHARDPROXY_BIN:-}
if [[ -z $proxy_bin ]]; then
	make --no-print-directory build
	proxy_bin=bin/shardproxy
fi

# A port is busy when something accepts a connection on it.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
busy=()
for port in "${shard_ports[@]}" "$proxy_port" "${metrics_addr##*:}"; do
	if port_busy "$port"; then
		busy+=("$port")
	fi
done
if [[ ${#busy[@]} -gt 0 ]]; then
	echo "run.sh: port(s) ${busy[*]} on 127.0.0.1 already in use; stop what holds them (e.g. an earlier make run) and retry" >&2
	exit 1
fi

"$proxy_bin" -t -c "$config"

tmp=$(mktemp -d -t shardproxy-local.XXXXXX)
pids=()
cleanup() {
	trap - EXIT INT TERM
	if [[ ${#pids[@]} -gt 0 ]]; then
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	echo "run.sh: stopped; removed $tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for port in "${shard_ports[@]}"; do
	mkdir -p "$tmp/$port"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$tmp/$port" --daemonize no --logfile "$tmp/$port/redis.log" &
	pids+=($!)
done
for port in "${shard_ports[@]}"; do
	for _ in $(seq 100); do
		if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then
			continue 2
		fi
		sleep 0.05
	done
	echo "run.sh: redis-server on 127.0.0.1:$port did not start; log:" >&2
	tail -n 20 "$tmp/$port/redis.log" >&2 || true
	exit 1
done

"$proxy_bin" -c "$config" --metrics-listen "$metrics_addr" --log-level "${LOG_LEVEL:-info}" &
proxy_pid=$!
pids+=("$proxy_pid")

cat <<MSG

shardproxy sandbox is up (data and logs in $tmp):
  shards   127.0.0.1:7001 (shard1)  127.0.0.1:7002 (shard2)  127.0.0.1:7003 (shard3)
  proxy    redis-cli -p $proxy_port
  metrics  curl http://$metrics_addr/metrics
Press Ctrl-C to stop.

MSG

# Block until any child exits (or a signal runs the traps); a child that
# exits on its own ends the sandbox.
set +e
wait -n "${pids[@]}"
status=$?
set -e
echo "run.sh: a sandbox process exited (status $status); stopping the rest" >&2
exit "$status"
