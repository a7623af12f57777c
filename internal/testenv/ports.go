package testenv

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// clusterBusOffset is the distance between a Redis Cluster node's client port
// and its cluster bus port.
const clusterBusOffset = 10000

// FreePort returns a TCP port on 127.0.0.1 that was free when probed. The
// probe socket is closed before returning, so the caller should bind the port
// soon; the Start helpers retry with another port if it was taken meanwhile.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: probe free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePortPair returns a port P on 127.0.0.1 such that P and P+10000 (the
// Redis Cluster bus port) were both free when probed. Ports are drawn from
// 12000-21999 so both lie below Linux's ephemeral range (32768+) and cannot
// be taken by outgoing connections.
func FreePortPair(t testing.TB) int {
	t.Helper()
	const lo, hi = 12000, 22000
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if portsFree(p, p+clusterBusOffset) {
			return p
		}
	}
	t.Fatalf("testenv: no free port pair P, P+%d found in %d-%d", clusterBusOffset, lo, hi-1)
	return 0
}

// portsFree reports whether every port can be bound on 127.0.0.1 right now.
func portsFree(ports ...int) bool {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ls = append(ls, l)
	}
	return true
}

// hostPort formats 127.0.0.1:port.
func hostPort(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
