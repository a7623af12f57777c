#!/usr/bin/env bash
# run-sentinel.sh (`make run-sentinel`): a local Sentinel sandbox: three
# masters on 127.0.0.1:7201-7203 (Sentinel names shard1-shard3), one replica
# each on 7204-7206, three sentinels on 26381-26383 (quorum 2,
# down-after-milliseconds 1000), and shardproxy on 127.0.0.1:6382 with
# metrics on 127.0.0.1:9124. Data lives in a temporary directory; Ctrl-C or
# SIGTERM stops every process and removes it. It can run next to `make run`
# and `make run-cluster` (different ports).
#
# Environment:
#   SHARDPROXY_BIN  use this proxy binary instead of building bin/shardproxy
#   LOG_LEVEL       passed to the proxy's --log-level (default info)
#   DOWN_AFTER      down-after-milliseconds (default 1000)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
script=run-sentinel.sh
# shellcheck source=deploy/local/lib.sh
. "$here/lib.sh"

config=deploy/local/shardproxy-sentinel.yml
master_ports=(7201 7202 7203)
replica_ports=(7204 7205 7206)
sentinel_ports=(26381 26382 26383)
proxy_port=6382
metrics_addr=127.0.0.1:9124
down_after=${DOWN_AFTER:-1000}

"$here/ensure-deps.sh"
if ! command -v redis-sentinel >/dev/null; then
	echo "$script: redis-sentinel not found; install it with: sudo apt-get install -y redis-sentinel" >&2
	exit 1
fi

proxy_bin=${SHARDPROXY_BIN:-}
if [[ -z $proxy_bin ]]; then
	make --no-print-directory build
	proxy_bin=bin/shardproxy
fi

require_free_ports "$proxy_port" "${metrics_addr##*:}" "${master_ports[@]}" "${replica_ports[@]}" "${sentinel_ports[@]}"
"$proxy_bin" -t -c "$config"

sandbox_start shardproxy-sentinel

declare -A pid_of
start_redis() { # port [replicaof-port]
	local port=$1
	mkdir -p "$tmp/$port"
	local extra=()
	if [[ $# -gt 1 ]]; then
		extra=(--replicaof 127.0.0.1 "$2")
	fi
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--repl-diskless-sync-delay 0 --dir "$tmp/$port" --daemonize no \
		--logfile "$tmp/$port/redis.log" "${extra[@]}" &
	pids+=($!)
	pid_of[$port]=$!
}
for i in 0 1 2; do
	start_redis "${master_ports[$i]}"
	start_redis "${replica_ports[$i]}" "${master_ports[$i]}"
done
wait_redis "${master_ports[@]}" "${replica_ports[@]}"

for port in "${sentinel_ports[@]}"; do
	mkdir -p "$tmp/$port"
	conf=$tmp/$port/sentinel.conf
	{
		echo "port $port"
		echo "bind 127.0.0.1"
		echo "daemonize no"
		echo "dir $tmp/$port"
		echo "logfile $tmp/$port/redis.log"
		for i in 0 1 2; do
			name=shard$((i + 1))
			echo "sentinel monitor $name 127.0.0.1 ${master_ports[$i]} 2"
			echo "sentinel down-after-milliseconds $name $down_after"
			echo "sentinel failover-timeout $name 10000"
			echo "sentinel parallel-syncs $name 1"
		done
	} >"$conf"
	redis-sentinel "$conf" &
	pids+=($!)
	pid_of[$port]=$!
done
wait_redis "${sentinel_ports[@]}"

# Wait until every sentinel knows the two others and every replica, so that
# a failover can be voted from the start.
sentinels_ok() {
	local port i out
	for port in "${sentinel_ports[@]}"; do
		for i in 1 2 3; do
			out=$(redis-cli -p "$port" sentinel master "shard$i" 2>/dev/null) || return 1
			grep -A1 -x 'num-other-sentinels' <<<"$out" | tail -1 | grep -qx 2 || return 1
			grep -A1 -x 'num-slaves' <<<"$out" | tail -1 | grep -qx 1 || return 1
		done
	done
}
for _ in $(seq 300); do
	if sentinels_ok; then
		break
	fi
	sleep 0.1
done
if ! sentinels_ok; then
	echo "$script: the sentinels did not discover each other in 30 s; SENTINEL MASTER shard1 of 127.0.0.1:${sentinel_ports[0]}:" >&2
	redis-cli -p "${sentinel_ports[0]}" sentinel master shard1 >&2 || true
	exit 1
fi

"$proxy_bin" -c "$config" --metrics-listen "$metrics_addr" --log-level "${LOG_LEVEL:-info}" &
proxy_pid=$!
pids+=("$proxy_pid")

cat <<MSG

shardproxy Sentinel sandbox is up (data and logs in $tmp):
  masters    shard1-3 on 127.0.0.1:7201-7203 (pids ${pid_of[7201]} ${pid_of[7202]} ${pid_of[7203]})
  replicas   127.0.0.1:7204-7206
  sentinels  127.0.0.1:26381-26383, quorum 2, down-after-milliseconds $down_after
             redis-cli -p 26381 sentinel get-master-addr-by-name shard1
  proxy      redis-cli -p $proxy_port
  metrics    curl -s http://$metrics_addr/metrics | grep -E 'failovers_total|backend_up'
Try, with a client writing through the proxy
(e.g. redis-benchmark -p $proxy_port -t set,get -n 10000000 -r 100000 -l -q):
  kill a master   kill -9 ${pid_of[7201]}                  (shard1 on 7201)
  watch           redis-cli -p 26381 psubscribe '*'         (+odown, +switch-master)
                  watch -n 0.5 'redis-cli -p 26381 sentinel get-master-addr-by-name shard1'
                  the proxy logs "shard master switched" once a majority of sentinels agree
  planned         redis-cli -p 26381 sentinel failover shard2
  kill sentinel   kill ${pid_of[26383]}                     (a majority is left: nothing changes)
Press Ctrl-C to stop.

MSG

# Block until the proxy exits (or a signal runs the traps). A master that
# dies does not end the sandbox: that is what Sentinel is for.
set +e
wait "$proxy_pid"
status=$?
set -e
echo "$script: the proxy exited (status $status); stopping the servers" >&2
exit "$status"
