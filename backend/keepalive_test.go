//go:build linux

package backend

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// TestKeepAliveOption checks that KeepAlive turns SO_KEEPALIVE on (0, the
// default, or a period) and off (negative) on the server connections.
func TestKeepAliveOption(t *testing.T) {
	f := startFake(t)
	for _, tc := range []struct {
		keepAlive time.Duration
		want      int
	}{{0, 1}, {5 * time.Second, 1}, {-1, 0}} {
		s := newTestServer(t, Options{Addr: f.addr(), KeepAlive: tc.keepAlive})
		waitUp(t, s)
		c, perr := s.Pick(0)
		if perr != nil {
			t.Fatal(perr)
		}
		raw, err := c.nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		raw.Control(func(fd uintptr) {
			got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		})
		if gerr != nil || got != tc.want {
			t.Errorf("KeepAlive %v: SO_KEEPALIVE = %d, %v; want %d", tc.keepAlive, got, gerr, tc.want)
		}
	}
}
