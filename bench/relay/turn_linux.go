package relay

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// TurnLoop is the event-loop prototype with nutcracker's turn, to measure
// what a bounded turn does to the -P 1 latency tail (issue 8): one thread
// (locked to its goroutine), one level-triggered epoll set for the
// listener, every client and one connection per shard. A turn handles the
// events one epoll_wait returned (one read(2) per readable socket), then
// writes every touched shard once and every touched client once, and
// waits again. So a request that arrives during a turn waits at most for
// the rest of that turn, and a turn never grows with the work it causes:
// replies read in a turn go out at its end, requests read in it go to the
// shards at its end.
//
// Parsing, routing, reply order and backend failure are Loop's (the shared
// core in loop.go); PING is answered locally. A write the socket does not
// take whole keeps the rest and asks epoll for room. Like Loop this is a
// measurement prototype: no reconnect, no timeouts.
type TurnLoop struct {
	epfd   int
	lfd    int
	wakeR  int // read end of the pipe Close writes to
	wakeW  int
	addr   string
	ls     *loopState
	byFD   map[int]*turnConn
	keep   []any // the net.Listener and net.Conns whose sockets we use
	done   chan struct{}
	closed sync.Once
}

// turnConn is one socket of the loop.
type turnConn struct {
	l       *TurnLoop
	fd      int
	pending []byte // written by Write and not taken by the socket yet
	out     bool   // EPOLLOUT requested
	dead    bool
	cl      *client  // a client's state, or
	b       *backend // a shard's
}

// NewTurnLoop starts the turn relay on listen (host:port; port 0 for a
// free one) in front of shards. Close stops it.
func NewTurnLoop(listen string, shards []string) (*TurnLoop, error) {
	if len(shards) == 0 {
		return nil, errors.New("relay: no shards")
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &TurnLoop{epfd: epfd, lfd: -1, byFD: map[int]*turnConn{}, done: make(chan struct{}),
		ls: &loopState{backends: make([]*backend, len(shards))}}
	if err := l.setup(listen, shards); err != nil {
		l.release()
		return nil, err
	}
	go l.run()
	return l, nil
}

func (l *TurnLoop) setup(listen string, shards []string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	l.keep = append(l.keep, ln)
	l.addr = ln.Addr().String()
	if l.lfd, err = dupFD(ln.(*net.TCPListener)); err != nil {
		return err
	}
	if err := l.watch(l.lfd, syscall.EPOLLIN); err != nil {
		return err
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return err
	}
	l.wakeR, l.wakeW = p[0], p[1]
	if err := l.watch(l.wakeR, syscall.EPOLLIN); err != nil {
		return err
	}
	for i, addr := range shards {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		l.keep = append(l.keep, nc)
		fd, err := dupFD(nc.(*net.TCPConn))
		if err != nil {
			return err
		}
		tc := &turnConn{l: l, fd: fd}
		tc.b = &backend{c: tc, ls: l.ls, shard: i}
		l.ls.backends[i] = tc.b
		l.byFD[fd] = tc
		if err := l.watch(fd, syscall.EPOLLIN); err != nil {
			return err
		}
	}
	return nil
}

// dupFD returns a non-blocking duplicate of a socket's descriptor, for the
// loop's own system calls; the original stays open in l.keep.
func dupFD(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	syscall.CloseOnExec(fd)
	return fd, syscall.SetNonblock(fd, true)
}

func (l *TurnLoop) watch(fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	return syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

func (l *TurnLoop) modify(fd int, events uint32) {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// Addr returns the address clients connect to.
func (l *TurnLoop) Addr() string { return l.addr }

// Close stops the loop and closes every socket.
func (l *TurnLoop) Close() error {
	l.closed.Do(func() {
		_, _ = syscall.Write(l.wakeW, []byte{1})
		<-l.done
	})
	return nil
}

// release closes what setup opened; the loop is not running.
func (l *TurnLoop) release() {
	for fd := range l.byFD {
		_ = syscall.Close(fd)
	}
	for _, fd := range []int{l.lfd, l.wakeR, l.wakeW, l.epfd} {
		if fd > 0 {
			_ = syscall.Close(fd)
		}
	}
	for _, k := range l.keep {
		if c, ok := k.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

func (l *TurnLoop) run() {
	runtime.LockOSThread()
	defer close(l.done)
	defer l.release()
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay: epoll_wait:", err)
			return
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			switch {
			case fd == l.wakeR:
				return
			case fd == l.lfd:
				l.accept()
				continue
			}
			tc := l.byFD[fd]
			if tc == nil || tc.dead {
				continue
			}
			if ev.Events&syscall.EPOLLOUT != 0 {
				tc.writePending()
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				tc.readable(buf)
			}
		}
		// The end of the turn: each touched shard and client gets one write.
		l.ls.flushShards()
		for _, cl := range l.ls.touchedClients {
			cl.drain()
		}
		l.ls.flushClients()
	}
}

func (l *TurnLoop) accept() {
	for {
		fd, _, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN, or an error the next turn meets again
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		tc := &turnConn{l: l, fd: fd}
		tc.cl = &client{c: tc, ls: l.ls}
		l.byFD[fd] = tc
		if err := l.watch(fd, syscall.EPOLLIN); err != nil {
			_ = syscall.Close(fd)
			delete(l.byFD, fd)
		}
	}
}

// readable makes one read(2) and hands what came to the client's parser
// or the shard's reply matcher; level-triggered epoll reports the rest
// next turn.
func (tc *turnConn) readable(buf []byte) {
	n, err := rawRead(tc.fd, buf)
	if err == syscall.EAGAIN {
		return
	}
	if err != nil || n == 0 {
		if tc.b != nil {
			tc.b.fail()
		} else {
			tc.cl.closed.Store(true)
			_ = tc.Close()
		}
		return
	}
	if tc.b != nil {
		tc.b.replies(buf[:n])
		return
	}
	cl := tc.cl
	if !cl.commands(buf[:n]) {
		_, _ = tc.Write(cl.out)
		cl.closed.Store(true)
		_ = tc.Close()
		return
	}
	// PING and errors for a dead shard are ready at once: have the end
	// of the turn write them.
	if !cl.touched && len(cl.q) > cl.qh && cl.q[cl.qh].ready {
		cl.touched = true
		tc.l.ls.touchedClients = append(tc.l.ls.touchedClients, cl)
	}
}

// Write sends b now, or keeps what the socket does not take and asks for
// room; it never blocks.
func (tc *turnConn) Write(b []byte) (int, error) {
	if tc.dead {
		return 0, net.ErrClosed
	}
	if len(tc.pending) > 0 {
		tc.pending = append(tc.pending, b...)
		return len(b), nil
	}
	off := 0
	for off < len(b) {
		n, err := rawWrite(tc.fd, b[off:])
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			return off, err
		}
		off += n
	}
	if off < len(b) {
		tc.pending = append(tc.pending, b[off:]...)
		tc.out = true
		tc.l.modify(tc.fd, syscall.EPOLLIN|syscall.EPOLLOUT)
	}
	return len(b), nil
}

func (tc *turnConn) writePending() {
	for len(tc.pending) > 0 {
		n, err := rawWrite(tc.fd, tc.pending)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			tc.pending = tc.pending[:0]
			break
		}
		tc.pending = tc.pending[n:]
	}
	tc.pending = nil
	if tc.out {
		tc.out = false
		tc.l.modify(tc.fd, syscall.EPOLLIN)
	}
}

// Close removes the socket from the loop and closes it.
func (tc *turnConn) Close() error {
	if tc.dead {
		return nil
	}
	tc.dead = true
	_ = syscall.EpollCtl(tc.l.epfd, syscall.EPOLL_CTL_DEL, tc.fd, nil)
	delete(tc.l.byFD, tc.fd)
	return syscall.Close(tc.fd)
}

// rawRead is one read(2) without telling the scheduler: the socket is
// non-blocking.
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawWrite is one write(2) without telling the scheduler: the socket is
// non-blocking.
func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
