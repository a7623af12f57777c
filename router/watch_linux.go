//go:build linux

package router

import (
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// watchClient calls gone, at most once, if the client closes its
// connection (or half-closes it, or it breaks) before stop is called. The
// session's goroutine is busy waiting for a blocked command meanwhile, so a
// goroutine parked in the runtime's poller watches the socket without
// reading from it: whatever the client pipelined stays for the session.
// It watches a duplicate of the descriptor, polled on its own: the
// session's goroutine may hold the socket's read lock (it serves inside
// raw.Serve's callback, serveraw.go). stop waits for that goroutine.
func (s *Session) watchClient(gone func()) (stop func()) {
	// Under TLS the socket is the connection the TLS one runs on: its
	// FIN is what tells the client left.
	raw := s.nc
	if tc, ok := raw.(interface{ NetConn() net.Conn }); ok {
		raw = tc.NetConn()
	}
	if gc, ok := raw.(*guardConn); ok {
		raw = gc.Conn
	}
	dup := dupSocket(raw)
	if dup == nil {
		return func() {}
	}
	rc, err := dup.SyscallConn()
	if err != nil {
		dup.Close()
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rc.Read(func(fd uintptr) bool {
			if clientGone(int(fd)) {
				gone()
				return true
			}
			return false // wait for the next event on the socket
		})
	}()
	return func() {
		// A read deadline in the past wakes the watcher.
		dup.SetReadDeadline(time.Unix(1, 0))
		<-done
		dup.Close()
	}
}

// dupSocket returns a duplicate of c's descriptor as a file the runtime's
// poller watches on its own, or nil.
func dupSocket(c net.Conn) *os.File {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	nfd := -1
	rc.Control(func(fd uintptr) {
		nfd, _ = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if nfd < 0 {
		return nil
	}
	// The socket is non-blocking, so the file is polled.
	return os.NewFile(uintptr(nfd), "client")
}

// clientGone reports whether the peer of the socket fd closed or shut down
// its side, even with unread data still queued (POLLRDHUP), or the socket
// failed.
func clientGone(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		return pfd[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
	}
}
