//go:build linux

package backend

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// RawIO reads and writes a non-blocking socket with raw system calls: the
// runtime's poller still parks the goroutine when the socket is not ready
// (and deadlines still apply), but the read(2) and write(2) themselves are
// not announced to the scheduler. On a socket they never block, and
// announcing them (entersyscall/exitsyscall) invites the runtime's monitor
// to take the P away from a thread the kernel preempted inside the call and
// hand it to another thread: on a busy 2-core machine that hand-off, the
// monitor's own wake-ups and the second thread cost more than the calls.
// Not safe for concurrent use: one reader and one writer at a time.
type RawIO struct {
	rc syscall.RawConn
	rd rawOp
	wr rawOp
}

type rawOp struct {
	fn   func(fd uintptr) bool
	b    []byte
	n    int
	errn syscall.Errno
}

// NewRawIO returns raw I/O for nc, or nil when nc is not a plain socket.
func NewRawIO(nc net.Conn) *RawIO {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &RawIO{rc: rc}
	r.rd.fn = r.readOnce
	r.wr.fn = r.writeAll
	return r
}

func (r *RawIO) readOnce(fd uintptr) bool {
	o := &r.rd
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(o.b))), uintptr(len(o.b)))
		switch e {
		case 0:
			o.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for the poller
		}
		o.errn = e
		return true
	}
}

func (r *RawIO) writeAll(fd uintptr) bool {
	o := &r.wr
	for o.n < len(o.b) {
		rest := o.b[o.n:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch e {
		case 0:
			o.n += int(n)
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		o.errn = e
		return true
	}
	return true
}

// Read is one read(2), waiting on the poller while the socket has nothing.
func (r *RawIO) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	o := &r.rd
	o.b, o.n, o.errn = b, 0, 0
	err := r.rc.Read(o.fn)
	n, errn := o.n, o.errn
	o.b = nil
	if err != nil {
		return n, err
	}
	if errn != 0 {
		return 0, errn
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, waiting on the poller while the socket is full.
func (r *RawIO) Write(b []byte) (int, error) {
	o := &r.wr
	o.b, o.n, o.errn = b, 0, 0
	err := r.rc.Write(o.fn)
	n, errn := o.n, o.errn
	o.b = nil
	if err != nil {
		return n, err
	}
	if errn != 0 {
		return n, errn
	}
	return n, nil
}
