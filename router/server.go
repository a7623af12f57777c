package router

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// The pool's client server: the accept loop and one goroutine per client
// connection, parsing commands with redcon's ReadNextCommand (cmdreader.go)
// and handing each batch to the session. It replaces redcon.Serve (redcon
// stays the codec) for what an idle client costs: redcon's server gives
// every connection a reader with two 4 KB buffers and a 4 KB writer for
// its whole life, and its goroutine waits for input deep in the reader,
// where its stack has grown to 4 KB.
//
// On Linux a client holds read buffers only while it has input: once a
// batch is served and nothing of the next command is buffered, its reader
// goes back to a pool shared by every client, and the goroutine waits for
// the socket to become readable without a buffer (serveraw.go), in a
// shallow frame. Serving a command grows the stack to 4 KB, and the
// runtime does not shrink it back (it halves a stack only when less than a
// quarter of it, minus 800 bytes, is in use). Replies never went through
// redcon's writer (the session writes through its clientWriter), so a
// connection has none.

// clientConn is one client connection of the pool's server.
type clientConn struct {
	nc     net.Conn   // as the listener returned it
	gc     *guardConn // nc, when it is guarded (always for a pool's listener)
	s      *Session
	closed bool
	in     *inReader // the read buffers; nil while the client is idle
	// Set by serveInside for serveRaw: the error that ended the
	// connection, or that a command arrives in pieces (outside).
	end     error
	outside bool
	// holding mirrors in != nil for other goroutines (tests).
	holding atomic.Bool
}

// Close ends the connection after the batch it serves (QUIT): the
// connection's goroutine closes the socket when serve returns (a Close
// here, inside raw.Serve's callback, would wait for itself).
func (c *clientConn) Close() error {
	c.closed = true
	return nil
}

// inReader is a command reader, lent to one client at a time.
type inReader struct {
	src inSource
	rd  *cmdReader
}

// inSource is what an inReader reads from: the connection it is lent to.
type inSource struct {
	r       io.Reader
	err     error // the last read error, to tell it from the parser's own
	maxRead int   // the largest read the reader asked for
}

func (s *inSource) Read(p []byte) (int, error) {
	s.maxRead = max(s.maxRead, len(p))
	n, err := s.r.Read(p)
	s.err = err
	return n, err
}

// maxPooledRead bounds the buffer a reader goes back to the pool with:
// the reader doubles its buffer for a command that does not fit, and right
// after doubling it reads into the new half. A reader whose buffer reached
// 64 KB has made a read of 32 KB and is let go, so a pooled reader's
// buffer is at most 32 KB.
const maxPooledRead = 16 << 10

var inReaders = sync.Pool{New: func() any {
	r := &inReader{}
	r.rd = newCmdReader(&r.src)
	return r
}}

// take lends the connection a reader.
func (c *clientConn) take() {
	r := inReaders.Get().(*inReader)
	r.src.r = c.nc
	c.in = r
	c.holding.Store(true)
}

// giveBack returns the connection's reader, which holds no input, to the
// pool.
func (c *clientConn) giveBack() {
	r := c.in
	c.in = nil
	c.holding.Store(false)
	r.src.r, r.src.err = nil, nil
	if r.src.maxRead > maxPooledRead {
		return // let its grown buffer go
	}
	inReaders.Put(r)
}

// serveClients accepts clients on ln until it is closed, serving each in a
// goroutine of its own; then it closes the clients' connections (their
// goroutines end and call closed; serve waits for them through p.live).
func (p *Pool) serveClients(ln net.Listener) error {
	defer func() {
		ln.Close()
		if gl, ok := ln.(*guardListener); ok {
			gl.closeAll()
		}
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// The guard listener backs off from a shortage of descriptors
			// itself; anything else is for this connection only.
			continue
		}
		c := &clientConn{nc: nc}
		c.gc, _ = nc.(*guardConn)
		if !p.accept(c) {
			nc.Close()
			continue
		}
		go p.run(c)
	}
}

// run serves one client until its connection ends.
func (p *Pool) run(c *clientConn) {
	// Why it ended (the client went, a protocol error already answered,
	// idle timeout) is counted where it is known.
	if c.gc != nil && c.gc.raw != nil {
		c.serveRaw()
	} else {
		c.loop()
	}
	if c.in != nil {
		// A connection that ended mid-command: its reader may hold input
		// and goes with it.
		c.in.src.r = nil
		c.in = nil
		c.holding.Store(false)
	}
	c.nc.Close()
	p.closed(c)
}

// loop reads and serves batches, as redcon's server does, until the
// connection fails, ends or is closed by the session (QUIT). It serves
// connections without a socket of their own (TLS) and every connection
// where there is no raw I/O: they keep their reader while idle.
func (c *clientConn) loop() error {
	if c.in == nil {
		c.take()
	}
	for {
		if err := c.batch(); err != nil || c.closed {
			return err
		}
	}
}

// batch reads the next commands (every whole command read so far) and
// serves them.
func (c *clientConn) batch() error {
	cmds, err := c.in.rd.ReadCommands()
	if err != nil {
		if err != c.in.src.err {
			// The parser refused what the guard let through: reply as
			// redcon's server does, after the replies before it.
			c.refuse([]byte("-ERR " + err.Error() + "\r\n"))
		}
		return err
	}
	c.s.serve(c, cmds[0], cmds[1:])
	return nil
}

// idle reports whether the client's reader holds no input: every byte the
// guard delivered was parsed into commands (none was a piece of an
// unfinished one).
func (c *clientConn) idle() bool {
	return c.gc.empty() && !c.gc.passed && c.in.rd.buffered() == 0
}

// refuse sends a protocol error after every reply already queued.
func (c *clientConn) refuse(b []byte) {
	if c.gc != nil && c.gc.refuseOut != nil {
		c.gc.refuseOut(b)
		return
	}
	c.nc.Write(b)
}
