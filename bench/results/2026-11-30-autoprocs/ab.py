#!/usr/bin/env python3
"""Interleaved A/B of proxies on real shards: redis-benchmark -c 50 -r 100000,
SET/GET at -P 1 and -P 16; ops/s and proxy CPU seconds per million requests
(utime+stime of the proxy process from /proc/<pid>/stat).
usage: ab.py ROUNDS name=binary[:flags] ... (name 'twem' runs nutcracker)"""
import os, re, socket, subprocess, sys, tempfile, time, statistics

HZ = os.sysconf('SC_CLK_TCK')
def freeport():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p
def cpu(pid):
    f = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ
def wait(port):
    for _ in range(200):
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close(); return
        except OSError: time.sleep(0.05)
    raise SystemExit(f'port {port} not up')

rounds = int(sys.argv[1]); specs = sys.argv[2:]
d = tempfile.mkdtemp(prefix='ab-'); procs = []
shards = []
for i in range(3):
    p = freeport(); shards.append(p)
    procs.append(subprocess.Popen(['redis-server', '--port', str(p), '--save', '', '--appendonly', 'no', '--dir', d],
                                  stdout=subprocess.DEVNULL))
for p in shards: wait(p)
servers = ''.join(f'    - 127.0.0.1:{p}:1 shard{i+1}\n' for i, p in enumerate(shards))
targets = []
for spec in specs:
    name, _, rest = spec.partition('=')
    port = freeport()
    conf = f'{d}/{name}.yml'
    open(conf, 'w').write(f'bench:\n  listen: 127.0.0.1:{port}\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  timeout: 2000\n  servers:\n{servers}')
    if name == 'twem':
        cmd = ['nutcracker', '-c', conf, '-s', str(freeport()), '-v', '4']
    else:
        binary, _, flags = rest.partition(':')
        cmd = [binary, '-c', conf, '--metrics-listen', f'127.0.0.1:{freeport()}', '--log-level', 'warn'] + flags.split()
    print(name, " ".join(cmd), flush=True)
    pr = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(f'{d}/{name}.log', 'w'))
    procs.append(pr); wait(port); targets.append((name, port, pr))
res = {}
try:
    for r in range(rounds):
        for test in ('set', 'get'):
            for P, n in (((1, 100000),) if os.environ.get('ABP1') else ((1, 100000), (16, 400000))):
                for name, port, pr in targets:
                    c0 = cpu(pr.pid)
                    out = subprocess.run(['redis-benchmark', '-p', str(port), '-c', '50', '-r', '100000', '-n', str(n),
                                          '-P', str(P), '-t', test, '--csv'], capture_output=True, text=True).stdout
                    c1 = cpu(pr.pid)
                    row = [x.strip('"') for x in out.strip().splitlines()[-1].split(',')]
                    ops = float(row[1]); p99 = float(row[6])
                    res.setdefault((test, P, name), []).append((ops, (c1 - c0) / n * 1e6, p99))
                    print(f'round {r+1} {test} -P {P} {name}: {ops:.0f} ops/s, {(c1-c0)/n*1e6:.2f} s/Mreq, p99 {p99:.3f} ms', flush=True)
finally:
    for p in procs: p.terminate()
    for p in procs: p.wait()
ref = 'twem' if any(t[0] == 'twem' for t in targets) else targets[0][0]
print(f'\nmedians over {rounds} interleaved rounds; ratios vs {ref}')
print('| test | ' + ' | '.join(f'{t[0]} ops/s (x) | {t[0]} CPU s/Mreq (x)' for t in targets) + ' |')
for test in ('set', 'get'):
    for P in (1, 16):
        if (test, P, ref) not in res: continue
        ro = statistics.median(v[0] for v in res[(test, P, ref)]); rc = statistics.median(v[1] for v in res[(test, P, ref)])
        cells = []
        for name, _, _ in targets:
            o = statistics.median(v[0] for v in res[(test, P, name)]); c = statistics.median(v[1] for v in res[(test, P, name)])
            q = statistics.median(v[2] for v in res[(test, P, name)]); rq = statistics.median(v[2] for v in res[(test, P, ref)])
            cells.append(f'{o:.0f} ({o/ro:.2f}x) | {c:.2f} ({c/rc:.2f}x) | p99 {q:.2f} ({q/rq:.2f}x)')
        print(f'| {test.upper()} -P {P} | ' + ' | '.join(cells) + ' |')
