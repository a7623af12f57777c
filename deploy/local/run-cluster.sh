#!/usr/bin/env bash
# run-cluster.sh (`make run-cluster`): a local Redis Cluster sandbox of six
# cluster-enabled redis-server nodes on 127.0.0.1:7101-7106 (three masters,
# one replica each, made by redis-cli --cluster create) behind shardproxy in
# cluster mode on 127.0.0.1:6381, with metrics on 127.0.0.1:9123. Data lives
# in a temporary directory; Ctrl-C or SIGTERM stops every process and
# removes it. It can run next to `make run` (different ports).
#
# Environment:
#   SHARDPROXY_BIN  use this proxy binary instead of building bin/shardproxy
#   LOG_LEVEL       passed to the proxy's --log-level (default info)
#   NODE_TIMEOUT    cluster-node-timeout in milliseconds (default 3000): how
#                   long a dead master goes unnoticed before failover starts
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
script=run-cluster.sh
# shellcheck source=deploy/local/lib.sh
. "$here/lib.sh"

config=deploy/local/shardproxy-cluster.yml
node_ports=(7101 7102 7103 7104 7105 7106)
proxy_port=6381
metrics_addr=127.0.0.1:9123
node_timeout=${NODE_TIMEOUT:-3000}

"$here/ensure-deps.sh"

proxy_bin=${SHARDPROXY_BIN:-}
if [[ -z $proxy_bin ]]; then
	make --no-print-directory build
	proxy_bin=bin/shardproxy
fi

# Each node also needs its cluster bus port, the client port + 10000.
ports=("$proxy_port" "${metrics_addr##*:}")
for port in "${node_ports[@]}"; do
	ports+=("$port" $((port + 10000)))
done
require_free_ports "${ports[@]}"

"$proxy_bin" -t -c "$config"

sandbox_start shardproxy-cluster

declare -A node_pid
for port in "${node_ports[@]}"; do
	mkdir -p "$tmp/$port"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--cluster-enabled yes --cluster-config-file nodes.conf \
		--cluster-node-timeout "$node_timeout" \
		--dir "$tmp/$port" --daemonize no --logfile "$tmp/$port/redis.log" &
	pids+=($!)
	node_pid[$port]=$!
done
wait_redis "${node_ports[@]}"

# The first three nodes become masters, the other three their replicas.
addrs=()
for port in "${node_ports[@]}"; do
	addrs+=("127.0.0.1:$port")
done
if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$tmp/create.log" 2>&1; then
	echo "run-cluster.sh: redis-cli --cluster create failed:" >&2
	tail -n 20 "$tmp/create.log" >&2 || true
	exit 1
fi

# Wait until every node sees all slots served; the proxy would start anyway
# (and answer CLUSTERDOWN for uncovered slots) but the sandbox should come
# up whole.
cluster_ok() {
	local port info
	for port in "${node_ports[@]}"; do
		info=$(redis-cli -p "$port" cluster info 2>/dev/null) || return 1
		grep -q '^cluster_state:ok' <<<"$info" || return 1
		grep -q '^cluster_slots_ok:16384' <<<"$info" || return 1
	done
}
for _ in $(seq 300); do
	if cluster_ok; then
		break
	fi
	sleep 0.1
done
if ! cluster_ok; then
	echo "run-cluster.sh: the cluster did not converge in 30 s; CLUSTER NODES of 127.0.0.1:${node_ports[0]}:" >&2
	redis-cli -p "${node_ports[0]}" cluster nodes >&2 || true
	exit 1
fi

"$proxy_bin" -c "$config" --metrics-listen "$metrics_addr" --log-level "${LOG_LEVEL:-info}" &
proxy_pid=$!
pids+=("$proxy_pid")

cat <<MSG

shardproxy cluster sandbox is up (data and logs in $tmp):
  nodes    127.0.0.1:7101-7103 masters, 127.0.0.1:7104-7106 replicas (cluster-node-timeout ${node_timeout} ms)
           redis-cli -p 7101 cluster nodes
  proxy    redis-cli -p $proxy_port          (no -c needed: the proxy follows MOVED/ASK)
  metrics  curl -s http://$metrics_addr/metrics | grep -E 'cluster_|backend_up'
Try, while a client runs against the proxy:
  failover    redis-cli -p <a replica's port> cluster failover
  crash       kill -9 <pid of a master>   (pids: $(for p in "${node_ports[@]}"; do printf '%s=%s ' "$p" "${node_pid[$p]}"; done))
  reshard     redis-cli --cluster reshard 127.0.0.1:7101 --cluster-from <id> --cluster-to <id> --cluster-slots 1000 --cluster-yes
  rebalance   redis-cli --cluster rebalance 127.0.0.1:7101
Press Ctrl-C to stop.

MSG

# Block until the proxy exits (or a signal runs the traps). A node that dies
# does not end the sandbox: that is what the cluster's replicas are for.
set +e
wait "$proxy_pid"
status=$?
set -e
echo "run-cluster.sh: the proxy exited (status $status); stopping the nodes" >&2
exit "$status"
