#!/bin/bash
# turns.sh PORT PROXY_PID: how long the proxy's event-loop turns are.
# A turn runs from one epoll wait that returned events to the next; the
# reads in between are counted. Needs perf.
set -e
PORT=$1 PP=$2 C=${C:-50}
DIR=$(mktemp -d)
redis-benchmark -p "$PORT" -c "$C" -r 100000 -n 300000 -t get -q > /dev/null 2>&1 &
sleep 0.5
perf record -q -o "$DIR/perf.data" -e syscalls:sys_exit_epoll_pwait,syscalls:sys_exit_epoll_wait,syscalls:sys_enter_read -p "$PP" -- sleep 2 2>/dev/null
wait
perf script -i "$DIR/perf.data" -F time,event,trace 2>/dev/null | python3 -c '
import re, sys
turns, start, reads = [], None, 0
for line in sys.stdin:
    m = re.match(r"^\s*(\d+\.\d+):\s+(\S+):\s*(.*)$", line)
    if not m:
        continue
    ts, ev, rest = float(m.group(1)) * 1e6, m.group(2), m.group(3)
    if "sys_exit_epoll" in ev:
        if int(re.search(r"(0x[0-9a-f]+|-?\d+)\s*$", rest).group(1), 0) in range(1, 1 << 31):
            if start is not None:
                turns.append((ts - start, reads))
            start, reads = ts, 0
    elif ev.endswith("sys_enter_read"):
        reads += 1
n = len(turns)
d = sorted(t[0] for t in turns); r = sorted(t[1] for t in turns)
print("turns %d: length us p50 %.0f p90 %.0f p99 %.0f; reads per turn p50 %d p90 %d p99 %d" % (n, d[n//2], d[int(n*.9)], d[int(n*.99)], r[n//2], r[int(n*.9)], r[int(n*.99)]))
'
rm -rf "$DIR"
