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
script=run.sh
# shellcheck source=deploy/local/lib.sh
. "$here/lib.sh"

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

require_free_ports "${shard_ports[@]}" "$proxy_port" "${metrics_addr##*:}"

"$proxy_bin" -t -c "$config"

sandbox_start shardproxy-local

for port in "${shard_ports[@]}"; do
	mkdir -p "$tmp/$port"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$tmp/$port" --daemonize no --logfile "$tmp/$port/redis.log" &
	pids+=($!)
done
wait_redis "${shard_ports[@]}"

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
