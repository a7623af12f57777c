package router

import "net"

// Limits of the client protocol, as Redis enforces them.
const (
	maxBulkLen      = 512 << 20 // proto-max-bulk-len
	maxMultibulkLen = 1 << 20   // arguments per command
	maxInlineLen    = 64 << 10  // an inline command without its newline
)

// guardListener wraps client connections in a guardConn.
type guardListener struct {
	net.Listener
	stats *poolStats
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &guardConn{Conn: c, l: l}, nil
}

// guardConn sits between a client socket and redcon's reader, for two
// reasons.
//
// Limits: redcon grows its read buffer until a whole command is in memory,
// whatever the lengths announce. The guard refuses, as Redis does, a bulk
// over 512 MB, more than 1M arguments or an inline command over 64 KB,
// answering with Redis's protocol error and closing the connection.
//
// Backpressure: when a read ends inside a command, redcon doubles its buffer
// and keeps the bytes it already parsed, so a client streaming a long
// pipeline grows it without bound. The guard hands redcon whole commands
// only, holding back the tail of a read that ends mid-command until the
// rest arrives; redcon then finds its buffer fully consumed after each batch
// and reuses it from the start. A read holding no complete command (one
// large command arriving in pieces) is passed on whole, so large commands
// still work.
//
// It follows the stream with a small state machine, costing one pass over
// header bytes and none over bulk payloads.
type guardConn struct {
	net.Conn
	l *guardListener

	pend []byte // held-back bytes, starting at a command boundary
	hold []byte // pend's backing array, reused

	state   uint8
	num     int64 // number being parsed
	neg     bool
	args    int64 // bulks left in the current multibulk
	skip    int64 // payload bytes (+CRLF) left to skip
	inline  int   // bytes of the current inline line
	invalid bool  // lost sync: leave it to redcon's parser
}

const (
	gStart = iota
	gMultibulkLen
	gBulkHeader
	gBulkLen
	gBulkData
	gInline
)

func (c *guardConn) Read(p []byte) (int, error) {
	// Held-back bytes first. They hold no complete command (or they would
	// have been delivered), so more must be read before redcon can parse.
	n := copy(p, c.pend)
	c.pend = c.pend[n:]
	var err error
	if len(c.pend) == 0 && n < len(p) {
		var m int
		m, err = c.Conn.Read(p[n:])
		if m > 0 {
			c.l.stats.read(m)
		}
		n += m
		if n > 0 {
			err = nil // deliver what we have; the error comes back next Read
		}
	}
	if n == 0 || c.invalid {
		return n, err
	}
	msg, last := c.scan(p[:n])
	if msg != "" {
		c.Conn.Write([]byte("-ERR Protocol error: " + msg + "\r\n"))
		return 0, errProtocolGuard
	}
	if last > 0 && last < n {
		// Hold the partial command back; it is scanned again from a
		// command boundary when delivered.
		tail := p[last:n]
		if len(c.pend) == 0 {
			c.hold = append(c.hold[:0], tail...)
		} else {
			c.hold = append(append(make([]byte, 0, len(tail)+len(c.pend)), tail...), c.pend...)
		}
		c.pend = c.hold
		c.reset()
		n = last
	}
	return n, err
}

// reset puts the state machine at a command boundary.
func (c *guardConn) reset() {
	c.state, c.num, c.neg, c.args, c.skip, c.inline = gStart, 0, false, 0, 0, 0
}

func (c *guardConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		// redcon flushes its own (unused) buffer after every batch: the
		// session writes through its clientWriter, so skip the empty write.
		return 0, nil
	}
	n, err := c.Conn.Write(p)
	c.l.stats.wrote(n)
	return n, err
}

type guardError struct{}

func (guardError) Error() string { return "client protocol error" }

var errProtocolGuard error = guardError{}

// scan advances the state machine over b. It returns a protocol error text
// when a limit is crossed, and the offset just after the last command that
// ends in b (0 when none does).
func (c *guardConn) scan(b []byte) (msg string, last int) {
	for i := 0; i < len(b); i++ {
		switch c.state {
		case gStart:
			if b[i] == '*' {
				c.state, c.num, c.neg = gMultibulkLen, 0, false
			} else if b[i] != '\r' && b[i] != '\n' {
				c.state, c.inline = gInline, 1
			}
		case gInline:
			if b[i] == '\n' {
				c.state = gStart
				last = i + 1
				continue
			}
			c.inline++
			if c.inline > maxInlineLen {
				return "too big inline request", last
			}
		case gMultibulkLen, gBulkLen:
			switch ch := b[i]; {
			case ch >= '0' && ch <= '9':
				c.num = c.num*10 + int64(ch-'0')
				if c.num > 1<<40 {
					c.num = 1 << 40 // saturate; far past every limit
				}
			case ch == '-' && c.num == 0:
				c.neg = true
			case ch == '\r':
			case ch == '\n':
				if c.state == gMultibulkLen {
					if c.neg || c.num == 0 {
						c.state = gStart // "*-1" or "*0": redcon decides
						c.invalid = c.neg
						continue
					}
					if c.num > maxMultibulkLen {
						return "invalid multibulk length", last
					}
					c.args = c.num
					c.state = gBulkHeader
					continue
				}
				if c.neg {
					c.invalid = true
					return "", 0
				}
				if c.num > maxBulkLen {
					return "invalid bulk length", last
				}
				c.skip = c.num + 2
				c.state = gBulkData
			default:
				c.invalid = true
				return "", 0
			}
		case gBulkHeader:
			if b[i] != '$' {
				c.invalid = true
				return "", 0
			}
			c.state, c.num, c.neg = gBulkLen, 0, false
		case gBulkData:
			rest := int64(len(b) - i)
			if rest < c.skip {
				c.skip -= rest
				return "", last
			}
			i += int(c.skip) - 1
			c.skip = 0
			c.args--
			if c.args == 0 {
				c.state = gStart
				last = i + 1
			} else {
				c.state = gBulkHeader
			}
		}
	}
	return "", last
}
