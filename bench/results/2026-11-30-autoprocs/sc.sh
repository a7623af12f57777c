#!/bin/bash
# sc.sh BIN TEST N: syscalls per request (strace -c -f) and alloc profile of the proxy
BIN=$1; TEST=$2; N=$3; TAG=$4
D=$(mktemp -d /tmp/sc-XXXX)
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
ports=(); for i in 1 2 3; do p=$(fp); ports+=($p); redis-server --port $p --save '' --appendonly no --dir $D >/dev/null & echo $! >> $D/pids; done
PP=$(fp); MP=$(fp)
printf "bench:\n  listen: 127.0.0.1:$PP\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  timeout: 2000\n  servers:\n    - 127.0.0.1:${ports[0]}:1 shard1\n    - 127.0.0.1:${ports[1]}:1 shard2\n    - 127.0.0.1:${ports[2]}:1 shard3\n" > $D/c.yml
sleep 0.5
$BIN -c $D/c.yml --metrics-listen 127.0.0.1:$MP --pprof --log-level warn "${@:5}" 2>$D/log & VP=$!
for i in $(seq 100); do redis-cli -p $PP ping >/dev/null 2>&1 && break; sleep 0.2; done
redis-benchmark -p $PP -c 50 -r 100000 -n 5000 -t $TEST -q >/dev/null
strace -f -c -o $D/strace.txt -p $VP & SP=$!; sleep 1
redis-benchmark -p $PP -c 50 -r 100000 -n $N -t $TEST -q >/dev/null
kill -INT $SP; wait $SP 2>/dev/null
curl -s -o /tmp/perfw/allocs-$TAG.pb.gz 127.0.0.1:$MP/debug/pprof/allocs
kill $VP; wait $VP; kill $(cat $D/pids); wait 2>/dev/null
echo "== $TAG: syscalls per request"; awk -v n=$N '$1 ~ /^[0-9.]+$/ && NF>=5 {c=$4; name=$NF; printf "%-16s %.3f\n", name, c/n}' $D/strace.txt | sort -k2 -rn | head -12
grep total $D/strace.txt
