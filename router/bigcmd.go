package router

import (
	"slices"

	"github.com/tidwall/redcon"
)

// Large commands: a SET of a 512 MB value.
//
// The command reader keeps a command that is still arriving in a buffer
// it doubles (copying) whenever it is full, and the doubled buffer stays
// with the reader until it goes back to the pool; redcon's Reader, before
// it, also copied every command it parsed: a 512 MB value cost 1.5 GB. So
// a command with a payload of bigValue or more never reaches the reader.
// The guard assembles it in a buffer of its own, sized from the announced
// length (as Redis does for a big argument), reads the payload from the
// socket straight into it, and has the session serve it from there: the
// value is in memory once, and the buffer goes to the backend as it is
// (backend.Request.Wire) and is let go with the reply.
//
// Order is kept: the guard takes over a command only at a point where the
// reader holds nothing (every command before it was delivered whole and
// has been served, since the reader reads only when it has served what it
// parsed) and none of the command was handed to the reader yet.

// bigValue is the remaining payload of an argument from which the guard
// assembles the command itself.
const bigValue = 1 << 20

// bigSlack is the room after the large payload for the arguments that may
// follow it ("EX 10"); a buffer that needs more grows.
const bigSlack = 16 << 10

// wantBig reports whether the command being scanned is to be assembled by
// the guard: a large payload is arriving, the command has few enough
// arguments for a passThrough, and none of it went to the reader.
func (c *guardConn) wantBig() bool {
	at := c.bigAt
	if at == 0 {
		at = bigValue
	}
	return c.big != nil && !c.passed && c.sc.state == sBulkData &&
		c.sc.skip >= at && c.sc.count <= passThroughArgs
}

// readBig reads the rest of the command that starts at pend[sc.frame:]
// into a buffer of its own and has the session serve it. What the last
// read brought after the command is left in pend, to be scanned.
func (c *guardConn) readBig() {
	head := c.pend[c.sc.frame:]
	// Room for the announced payload, as Redis makes for a big argument,
	// but not beyond the query buffer limit, where the client is cut off.
	size := min(int64(len(head))+c.sc.skip+2, c.sc.lim.maxQuery+1) + bigSlack
	buf := make([]byte, len(head), size)
	copy(buf, head)
	c.sc.shift(c.sc.frame)
	c.pend, c.scanned = c.hold[:0], 0
	c.sc.one = true // the scan ends with the command
	defer func() {
		c.sc.one = false
		n := cap(buf)
		buf = nil // served or dropped, it is garbage now
		c.l.mem.released(n)
	}()
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, bigSlack) // arguments after the payload
		}
		m, err := c.read(buf[len(buf):cap(buf)])
		end, _, last, v := c.sc.scan(buf[:len(buf)+m], len(buf))
		if v != vOK {
			c.refuse(v)
			return // the command is not complete: nothing to serve
		}
		if err != nil {
			c.err = err
		}
		if last == 0 {
			if c.err != nil {
				return // the client went or failed mid-command: drop it
			}
			buf = buf[:end]
			continue
		}
		c.pend = append(c.hold[:0], buf[last:end]...)
		c.hold = c.pend
		c.sc.one = false
		c.run(buf[:last:last])
		return
	}
}

// run parses the assembled command and has the session serve it.
func (c *guardConn) run(raw []byte) {
	cmd, err := redcon.Parse(raw)
	if err != nil {
		// The scanner let through what redcon refuses: close as for any
		// protocol error.
		c.sc.msg = err.Error()
		c.refuse(vProtocol)
		return
	}
	c.big(cmd)
}
