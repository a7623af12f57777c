package backend

import (
	"bufio"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// Dedicated is a connection to one server that serves a single client
// session: a transaction, a blocking command, later a subscriber. Unlike a
// Conn it is never shared, so a command that blocks on it delays nobody
// else, and it has no goroutines of its own: Do writes the request and reads
// its reply on the caller's goroutine, with a deadline of its own per
// request.
//
// A Dedicated is used by one goroutine at a time. Close may be called from
// any goroutine, at any time, and is idempotent; the Server that handed it
// out closes it too when the server itself is closed (shutdown, a reload
// that drops the server, a cluster node that left the slot map), which makes
// a Do in progress return at once.
type Dedicated struct {
	s     *Server
	proto int // 2 or 3
	nc    net.Conn
	br    *bufio.Reader

	mu     sync.Mutex
	closed bool   // guarded by mu
	err    *Error // guarded by mu; why it closed
}

// Dedicate opens a dedicated connection to the server with the handshake
// (AUTH, SELECT, READONLY) done. The caller owns it and must Close it; the
// server tracks it and closes it on Server.Close.
func (s *Server) Dedicate() (*Dedicated, *Error) { return s.DedicateProto(2) }

// DedicateProto is Dedicate for a client of RESP version proto (2 or 3):
// a connection of proto 3 says HELLO 3 in its handshake, so its replies
// are RESP3 as Redis would send them to that client.
func (s *Server) DedicateProto(proto int) (*Dedicated, *Error) {
	if s.isClosed() {
		return nil, s.closedError()
	}
	gen := s.mv.gen.Load() // before dial reads the address (failover.go)
	nc, err := s.dial()
	if err != nil {
		s.obs.Failed(KindConnect)
		return nil, err
	}
	d := &Dedicated{s: s, proto: proto, nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
	if err := s.handshake(nc, d.br, proto, false); err != nil {
		s.obs.Failed(KindConnect)
		return nil, err
	}
	s.dmu.Lock()
	if s.closed {
		s.dmu.Unlock()
		nc.Close()
		return nil, s.closedError()
	}
	if s.dedicated == nil {
		s.dedicated = map[*Dedicated]struct{}{}
	}
	s.dedicated[d] = struct{}{}
	s.dmu.Unlock()
	if s.mv.gen.Load() != gen {
		d.closeMoved() // SetAddr ran meanwhile: never talk to an old master
	}
	return d, nil
}

// Dedicated returns the number of dedicated connections of the server that
// are open.
func (s *Server) Dedicated() int {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return len(s.dedicated)
}

func (s *Server) isClosed() bool {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return s.closed
}

func (s *Server) closedError() *Error {
	return &Error{Server: s.opts.Name, Kind: KindClosed, Cause: ErrServerClosed}
}

// Server returns the server the connection belongs to.
func (d *Dedicated) Server() *Server { return d.s }

// Proto returns the RESP version the connection speaks: 2 or 3.
func (d *Dedicated) Proto() int {
	if d.proto == 3 {
		return 3
	}
	return 2
}

// Do sends r.Wire and reads its reply into r.Reply (r.Skip honoured), within
// the server's request timeout. It returns nil or the error, also stored in
// r.Err. A failure closes the connection: a late reply can never answer a
// later request.
func (d *Dedicated) Do(r *Request) *Error {
	return d.do(r, d.s.opts.Timeout, false)
}

// DoBlocking is Do for a command that may legitimately block for up to
// block on the server (BLPOP's timeout, XREAD's BLOCK): the deadline is
// block plus the server's request timeout, and block == 0 means no deadline
// at all (as BLPOP key 0 waits forever). A reply that takes long is neither
// a timeout nor a failure, and its latency is not observed.
func (d *Dedicated) DoBlocking(r *Request, block time.Duration) *Error {
	timeout := time.Duration(0)
	if block > 0 {
		timeout = block + d.s.opts.Timeout
	}
	return d.do(r, timeout, true)
}

func (d *Dedicated) do(r *Request, timeout time.Duration, blocking bool) *Error {
	r.Err = nil
	if err := d.Err(); err != nil {
		r.Err = err
		return err
	}
	var deadline time.Time
	start := time.Now()
	if timeout > 0 {
		deadline = start.Add(timeout + transferTime(len(r.Wire)))
	}
	d.nc.SetDeadline(deadline)
	if _, err := d.nc.Write(r.Wire); err != nil {
		return d.fail(r, err, timeout)
	}
	if extra := replyTransferTime(d.br); extra > 0 && timeout > 0 {
		d.nc.SetReadDeadline(deadline.Add(extra))
	}
	if err := readReplyOf(d.br, r, nil); err != nil {
		return d.fail(r, err, timeout)
	}
	if !blocking {
		d.s.obs.Replied(time.Since(start), len(r.Reply))
	}
	if !r.charge() {
		r.Err = &Error{Server: d.s.opts.Name, Kind: KindClosed, Cause: ErrReplyDropped}
		return r.Err
	}
	return nil
}

// fail closes the connection after an I/O error of r and returns the error
// r gets. Errors caused by Close are not failures of the server.
func (d *Dedicated) fail(r *Request, ioErr error, timeout time.Duration) *Error {
	d.mu.Lock()
	if d.closed {
		err := d.err
		d.mu.Unlock()
		r.Err = err
		return err
	}
	var err *Error
	switch {
	case errors.Is(ioErr, os.ErrDeadlineExceeded):
		err = &Error{Server: d.s.opts.Name, Kind: KindTimeout, Timeout: timeout, Cause: ioErr}
	case errors.Is(ioErr, resp.ErrBadReply) || errors.Is(ioErr, resp.ErrLongBulk) || errors.Is(ioErr, resp.ErrDeepReply):
		err = &Error{Server: d.s.opts.Name, Kind: KindProtocol, Cause: ioErr}
	default:
		err = &Error{Server: d.s.opts.Name, Kind: KindClosed, Cause: ioErr}
	}
	d.closed, d.err = true, err
	d.mu.Unlock()
	d.s.obs.Failed(err.Kind)
	d.nc.Close()
	d.untrack()
	r.Err = err
	return err
}

// Err returns why the connection is closed, or nil while it is usable.
func (d *Dedicated) Err() *Error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Close closes the connection; a Do in progress returns an error at once.
// It is idempotent and safe from any goroutine.
func (d *Dedicated) Close() {
	d.close()
	d.untrack()
}

// close closes the connection without touching the server's set.
func (d *Dedicated) close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed, d.err = true, d.s.closedError()
	d.mu.Unlock()
	d.nc.Close()
}

func (d *Dedicated) untrack() {
	d.s.dmu.Lock()
	delete(d.s.dedicated, d)
	d.s.dmu.Unlock()
}
