//go:build linux

package router

import (
	"net"
	"syscall"
	"unsafe"
)

// readWaiter waits until a client socket has input (or is closed, or
// fails) without reading it, so that an idle client holds no buffer: the
// runtime's poller parks the goroutine and wakes it on the socket's next
// event, as it does for a read. Its callback is built once; it is used by
// the connection's goroutine only.
type readWaiter struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool
	woken bool
	peek  [1]byte
}

// newReadWaiter returns a waiter for c, or nil when c has no socket to
// poll (TLS: input may wait decrypted in the TLS connection).
func newReadWaiter(c net.Conn) *readWaiter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &readWaiter{rc: rc}
	w.fn = w.ready
	return w
}

// ready reports whether a read would not block. Before the first wait it
// asks the socket (a one-byte peek: the poller only reports input that
// arrives after it is armed, so input already queued must be seen here);
// after a wake-up it lets the read find out.
func (w *readWaiter) ready(fd uintptr) bool {
	if w.woken {
		return true
	}
	for {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&w.peek[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			w.woken = true // the next call follows the poller's wake-up
			return false
		}
		return true // input, end of stream or an error: the read reports it
	}
}

// wait blocks until the socket is readable, the read deadline passes
// (os.ErrDeadlineExceeded) or the connection is closed.
func (w *readWaiter) wait() error {
	w.woken = false
	return w.rc.Read(w.fn)
}
