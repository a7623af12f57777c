# split.py BENCH_PID PROXY_PID PAIRS < perf script output
# (-F pid,tid,time,event,trace): inwait / proxy / outwait per request.
import re, sys

bp, pp = int(sys.argv[1]), int(sys.argv[2])
pairs = dict(tuple(map(int, l.split())) for l in open(sys.argv[3]))
proxy_fds = set(pairs.values())
line_re = re.compile(r'^\s*(\d+)/\s*(\d+)\s+(\d+\.\d+):\s+syscalls:(\w+):\s*(.*)$')
reading = {}            # tid -> fd of the read in progress
sent, got, answered = {}, {}, {}
reqs = []
for line in sys.stdin:
    m = line_re.match(line)
    if not m:
        continue
    pid, tid, ts, ev, rest = int(m.group(1)), m.group(2), float(m.group(3)) * 1e6, m.group(4), m.group(5)
    if ev.startswith('sys_enter'):
        fd = int(re.search(r'fd: (0x[0-9a-f]+)', rest).group(1), 16)
        if ev in ('sys_enter_read', 'sys_enter_recvfrom'):
            reading[tid] = fd
        elif pid == bp and fd in pairs:
            sent[fd] = ts
        elif pid == pp and fd in proxy_fds and fd in got:
            answered[fd] = ts
        continue
    fd = reading.pop(tid, None)
    ret = int(re.search(r'(-?\d+|0x[0-9a-f]+)\s*$', rest).group(1), 0)
    if ret > 0x7fffffff:
        ret -= 1 << 64
    if fd is None or ret <= 0:
        continue
    if pid == pp and fd in proxy_fds:
        got.setdefault(fd, ts)
    elif pid == bp and fd in pairs:
        q = pairs[fd]
        if fd in sent and q in got and q in answered and sent[fd] <= got[q] <= answered[q] <= ts:
            reqs.append((ts - sent[fd], got[q] - sent[fd], answered[q] - got[q], ts - answered[q]))
        sent.pop(fd, None); got.pop(q, None); answered.pop(q, None)
reqs.sort()
n = len(reqs)
print('requests %d (us)' % n)
def mean_row(name, sel):
    k = len(sel)
    print('%-14s total %5.0f  inwait %5.0f  proxy %5.0f  outwait %5.0f' % ((name,) + tuple(sum(s[i] for s in sel) / k for i in range(4))))
mean_row('all, mean', reqs)
mean_row('p40-p60', reqs[int(n * .4):int(n * .6)])
mean_row('p90-p95', reqs[int(n * .9):int(n * .95)])
mean_row('p98-p99', reqs[int(n * .98):int(n * .99)])
mean_row('slowest 1%', reqs[int(n * .99):])
for i, name in ((1, 'inwait'), (2, 'proxy'), (3, 'outwait')):
    v = sorted(s[i] for s in reqs)
    print('%-8s p50 %5.0f  p90 %5.0f  p99 %5.0f' % (name, v[n // 2], v[int(n * .9)], v[int(n * .99)]))
