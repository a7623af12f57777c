#!/bin/bash
# cg.sh BIN TEST N OUTPREFIX [flags]: callgrind instruction count of the proxy for N requests
set -e
BIN=$1; TEST=$2; N=$3; OUT=$4; shift 4
D=$(mktemp -d /tmp/cg-XXXX)
ports=()
for i in 1 2 3; do p=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'); ports+=($p)
  redis-server --port $p --save '' --appendonly no --dir $D >/dev/null & echo $! >> $D/pids; done
PP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cat > $D/c.yml <<Y
bench:
  listen: 127.0.0.1:$PP
  hash: fnv1a_64
  distribution: ketama
  redis: true
  timeout: 2000
  servers:
    - 127.0.0.1:${ports[0]}:1 shard1
    - 127.0.0.1:${ports[1]}:1 shard2
    - 127.0.0.1:${ports[2]}:1 shard3
Y
sleep 0.5
GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file=$OUT.%p --collect-atstart=yes $BIN -c $D/c.yml --metrics-listen '' --log-level warn "$@" 2>$D/vg.log &
VP=$!
for i in $(seq 600); do redis-cli -p $PP ping >/dev/null 2>&1 && break; sleep 0.3; done
redis-cli -p $PP ping || { echo proxy not up; cat $D/vg.log | grep -v "^==" | tail; exit 1; }
redis-benchmark -p $PP -c 50 -r 100000 -n 2000 -t $TEST -q >/dev/null  # warm up
callgrind_control -z $VP >/dev/null
redis-benchmark -p $PP -c 50 -r 100000 -n $N -t $TEST | grep -a "per second" | tail -1
callgrind_control -d $VP >/dev/null; sleep 2
kill -TERM $VP; wait $VP || true
kill $(cat $D/pids); wait 2>/dev/null || true
f=$OUT.$VP.1
tot=$(callgrind_annotate $f 2>/dev/null | grep -m1 "PROGRAM TOTALS" | awk '{print $1}' | tr -d ,)
echo "$BIN $TEST $* : $tot Ir total, $((tot / N)) Ir/request  ($f)"
