# lib.sh: what run.sh and run-cluster.sh share. Source it after setting
# `script` (the caller's name, for messages). It sets `tmp` and `pids` once
# sandbox_start has run.

# port_busy reports whether something accepts connections on a port.
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# require_free_ports exits with a message naming every busy port given.
require_free_ports() {
	local busy=() port
	for port in "$@"; do
		if port_busy "$port"; then
			busy+=("$port")
		fi
	done
	if [[ ${#busy[@]} -gt 0 ]]; then
		echo "$script: port(s) ${busy[*]} on 127.0.0.1 already in use; stop what holds them (e.g. an earlier sandbox) and retry" >&2
		exit 1
	fi
}

# sandbox_start makes the temporary directory ($tmp) and the traps that stop
# every process in $pids and remove it on exit, Ctrl-C or SIGTERM.
sandbox_start() {
	tmp=$(mktemp -d -t "$1.XXXXXX")
	pids=()
	trap sandbox_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

sandbox_cleanup() {
	trap - EXIT INT TERM
	if [[ ${#pids[@]} -gt 0 ]]; then
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	echo "$script: stopped; removed $tmp"
}

# wait_redis waits until the redis-server on each port answers PING, or
# exits showing the end of its log ($tmp/<port>/redis.log).
wait_redis() {
	local port
	for port in "$@"; do
		for _ in $(seq 100); do
			if [[ $(redis-cli -p "$port" ping 2>/dev/null) == PONG ]]; then
				continue 2
			fi
			sleep 0.05
		done
		echo "$script: redis-server on 127.0.0.1:$port did not start; log:" >&2
		tail -n 20 "$tmp/$port/redis.log" >&2 || true
		exit 1
	done
}
