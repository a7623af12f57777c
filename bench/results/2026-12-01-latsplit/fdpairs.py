# fdpairs.py BENCH_PID PROXY_PID: "bench_fd proxy_fd" for each connection
# between them, matched by port pairs in /proc/net/tcp.
import os, sys

def sockets(pid):
    out = {}
    for fd in os.listdir('/proc/%s/fd' % pid):
        try:
            link = os.readlink('/proc/%s/fd/%s' % (pid, fd))
        except OSError:
            continue
        if link.startswith('socket:['):
            out[int(link[8:-1])] = int(fd)
    return out

ports = {}
for line in open('/proc/net/tcp').read().splitlines()[1:]:
    f = line.split()
    ports[int(f[9])] = (int(f[1].split(':')[1], 16), int(f[2].split(':')[1], 16))
bench, proxy = sockets(sys.argv[1]), sockets(sys.argv[2])
byports = {ports[i]: fd for i, fd in proxy.items() if i in ports}
for inode, fd in bench.items():
    if inode in ports:
        local, remote = ports[inode]
        if (remote, local) in byports:
            print(fd, byports[(remote, local)])
