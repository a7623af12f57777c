package router

import (
	"errors"
	"os"

	"github.com/shardproxy/shardproxy/backend"
)

// A client on a socket of its own (Linux; not TLS) is served inside one
// raw.Serve callback for as long as it sends whole commands: the callback
// reads, serves the batch, and returns to wait only when the socket is
// empty. The poller is armed once per connection this way. A loop of Reads
// re-arms it on every Read, which forgets readiness reported earlier, so
// each wait had to begin with a read(2) (or a one-byte peek) that found
// nothing: one system call per request at -P 1, the most expensive part of
// an idle client's turn. Here a short read says the socket is empty, and
// the callback waits without asking again.
//
// Inside the callback nothing may wait for the socket's read lock, which
// the callback holds: other goroutines shut the socket down instead of
// closing it (guardConn.shut), and a blocked command's watcher watches a
// duplicate of the descriptor (watch_linux.go). A command that arrives in
// pieces is finished outside, with reads that wait, and the callback
// resumes once the client is idle again.

// serveRaw serves the client until its connection ends, fails or is
// closed by the session (QUIT).
func (c *clientConn) serveRaw() error {
	gc := c.gc
	for {
		gc.arm()
		err := gc.raw.Serve(c.serveInside)
		gc.inside = false
		switch {
		case c.end != nil:
			return c.end
		case c.closed:
			return nil
		case err != nil:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
			if err = gc.silent(err); err != nil {
				return err
			}
		case c.outside:
			c.outside = false
			for c.in != nil {
				if err := c.batch(); err != nil || c.closed {
					return err
				}
				if c.idle() {
					c.giveBack()
				}
			}
		}
	}
}

// serveInside is the raw.Serve callback: it serves batches until the
// socket is empty (false: wait for input), the connection ends, or a
// command is incomplete (true, with c.end or c.outside set).
func (c *clientConn) serveInside(fd uintptr) bool {
	gc := c.gc
	gc.fd, gc.inside, gc.drained = fd, true, false
	for {
		if c.in == nil {
			if gc.drained {
				gc.arm()
				return false
			}
			c.take()
		}
		err := c.batch()
		switch {
		case err == backend.ErrWouldBlock:
			if !c.idle() {
				c.outside = true
				return true
			}
			c.giveBack()
			gc.arm()
			return false
		case err != nil:
			c.end = err
			return true
		case c.closed:
			return true
		}
		if c.idle() {
			c.giveBack()
		}
	}
}
