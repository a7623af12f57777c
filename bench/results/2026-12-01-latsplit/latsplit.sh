#!/bin/bash
# latsplit.sh PORT PROXY_PID [TEST] [SECONDS]
#
# Where the time of an unpipelined request goes, client to proxy and back.
# Runs redis-benchmark -c ${C:-50} -P 1 against PORT, records the read/write
# system calls of redis-benchmark and of the proxy (PROXY_PID) with perf,
# pairs each benchmark client socket with the proxy's socket of the same
# connection (by port, from /proc/net/tcp), and splits every request into:
#   inwait  benchmark send(2) of the request -> proxy read(2) returns it
#   proxy   that read -> proxy write(2) of the reply on the same socket
#   outwait that write -> benchmark recv(2) returns the reply
# Tracing slows both sides; compare proxies traced alike, not with untraced runs.
# Needs perf (linux-perf) and root or perf_event_paranoid <= 1.
set -e
PORT=$1 PP=$2 T=${3:-get} SECS=${4:-2} C=${C:-50}
DIR=$(mktemp -d)
redis-benchmark -p "$PORT" -c "$C" -r 100000 -n 400000 -t "$T" -q > "$DIR/bench.out" 2>/dev/null &
sleep 0.5
BP=$(pgrep -n redis-benchmar)
python3 "$(dirname "$0")/fdpairs.py" "$BP" "$PP" > "$DIR/pairs.txt"
perf record -q -o "$DIR/perf.data" -e syscalls:sys_enter_read,syscalls:sys_exit_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_recvfrom,syscalls:sys_exit_recvfrom,syscalls:sys_enter_sendto -p "$BP,$PP" -- sleep "$SECS" 2>/dev/null
wait
perf script -i "$DIR/perf.data" -F pid,tid,time,event,trace 2>/dev/null | python3 "$(dirname "$0")/split.py" "$BP" "$PP" "$DIR/pairs.txt"
tr '\r' '\n' < "$DIR/bench.out" | tail -1
rm -rf "$DIR"
