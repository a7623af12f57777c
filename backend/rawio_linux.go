//go:build linux

package backend

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// RawIO reads and writes a socket with raw system calls. The runtime's
// poller still parks the goroutine while the socket is not ready, and
// deadlines and Close still apply, but read(2) and write(2) themselves are
// not announced to the scheduler. On a non-blocking socket they never
// block, and announcing them lets the runtime's monitor take the P from a
// thread the kernel preempted inside the call (a write to loopback wakes
// the reader, which often runs at once) and start a second thread for it.
// On a busy 2-core machine that hand-off, the second thread and the
// monitor's own wake-ups were a fifth of the proxy's CPU at -P 1.
//
// One goroutine may read while another writes; neither may be shared.
type RawIO struct {
	rc syscall.RawConn
	nc net.Conn // for the addresses of errors
	rd rawOp
	wr rawOp
}

type rawOp struct {
	fn     func(fd uintptr) bool
	b      []byte
	n      int
	errn   syscall.Errno
	waited bool // the socket was empty when the op began: it waited on the poller
}

// NewRawIO returns raw I/O for nc, or nil when nc is not a socket of its
// own (TLS, pipes, wrappers).
func NewRawIO(nc net.Conn) *RawIO {
	switch nc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil
	}
	r := &RawIO{rc: rc, nc: nc}
	r.rd.fn = r.readOnce
	r.wr.fn = r.writeAll
	return r
}

// readOnce makes one read(2); false asks the poller to wait.
func (r *RawIO) readOnce(fd uintptr) bool {
	o := &r.rd
	n, e := rawRead(fd, o.b)
	switch e {
	case 0:
		o.n = n
	case syscall.EAGAIN:
		o.waited = true
		return false
	default:
		o.errn = e
	}
	return true
}

// rawRead makes one read(2) of fd into b, retried on EINTR, without
// announcing it to the scheduler.
func rawRead(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != syscall.EINTR {
			if e != 0 {
				return 0, e
			}
			return int(n), 0
		}
	}
}

// writeAll writes until o.b is written; false asks the poller to wait for
// room.
func (r *RawIO) writeAll(fd uintptr) bool {
	o := &r.wr
	for o.n < len(o.b) {
		n, e := RawWrite(fd, o.b[o.n:])
		switch e {
		case 0:
			o.n += n
			continue
		case syscall.EAGAIN:
			return false
		}
		o.errn = e
		return true
	}
	return true
}

// RawWrite makes one write(2) of b to fd, retried on EINTR, without
// announcing it to the scheduler (see RawIO).
func RawWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != syscall.EINTR {
			if e != 0 {
				return 0, e
			}
			return int(n), 0
		}
	}
}

// Read is one read(2), waiting on the poller while the socket has nothing.
// Its results are those of the net.Conn's Read.
func (r *RawIO) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	o := &r.rd
	o.b, o.n, o.errn, o.waited = b, 0, 0, false
	err := r.rc.Read(o.fn)
	n := o.n
	o.b = nil
	if err := r.result("read", err, o.errn); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// ReadWaited reports whether the last Read found the socket empty and
// waited for input: what it returned arrived after the reads before it.
func (r *RawIO) ReadWaited() bool { return r.rd.waited }

// Serve runs fn under the poller as rc.Read does: fn is called at once,
// and again each time the socket becomes readable after fn returned false,
// until it returns true. Readiness the socket reported while fn ran is
// kept for the next wait, so fn may stop reading after a short read (the
// socket was drained then) without a read(2) that finds nothing: anything
// that arrives later wakes it. Read must not be called inside fn (it would
// wait for fn's own lock); ReadFD is the read to use there.
//
// The connection's Close waits for fn to return: a goroutine other than
// the one in fn must shut the socket down instead (Shutdown).
func (r *RawIO) Serve(fn func(fd uintptr) bool) error {
	return r.result("read", r.rc.Read(fn), 0)
}

// ReadFD is one read(2) of fd, for Serve's callback: it never waits, and an
// empty socket is (0, ErrWouldBlock). Its other results are those of Read.
func (r *RawIO) ReadFD(fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, e := rawRead(fd, b)
	switch {
	case e == syscall.EAGAIN:
		return 0, ErrWouldBlock
	case e != 0:
		return 0, r.result("read", nil, e)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Shutdown shuts the socket down for reading and writing without closing
// it, from any goroutine: a wait in Serve, Read or Write wakes, reads find
// the end of the stream once what was queued is read, and writes fail.
// Unlike Close it does not wait for a Serve callback to return.
func (r *RawIO) Shutdown() error {
	var serr error
	err := r.rc.Control(func(fd uintptr) {
		serr = syscall.Shutdown(int(fd), syscall.SHUT_RDWR)
	})
	if err == nil {
		err = serr
	}
	return err
}

// Write writes all of b, waiting on the poller while the socket is full.
// Its results are those of the net.Conn's Write.
func (r *RawIO) Write(b []byte) (int, error) {
	o := &r.wr
	o.b, o.n, o.errn = b, 0, 0
	err := r.rc.Write(o.fn)
	o.b = nil
	return o.n, r.result("write", err, o.errn)
}

// result words the outcome of a raw op as the net.Conn would: the raw
// conn's error (a deadline, a closed connection) or the system call's.
func (r *RawIO) result(op string, err error, errn syscall.Errno) error {
	switch {
	case err != nil:
		return r.opError(op, err)
	case errn != 0:
		return r.opError(op, os.NewSyscallError(op, errn))
	}
	return nil
}

// opError words err as the net.Conn would: "read tcp a->b: i/o timeout".
func (r *RawIO) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // the raw conn's, named "raw-read"/"raw-write"
	}
	return &net.OpError{Op: op, Net: r.nc.LocalAddr().Network(), Source: r.nc.LocalAddr(), Addr: r.nc.RemoteAddr(), Err: err}
}
