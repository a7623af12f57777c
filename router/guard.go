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

// guardConn checks the declared sizes of the RESP stream a client sends
// before redcon buffers it. redcon grows its read buffer until a whole
// command is in memory, whatever the lengths announce; the guard refuses, as
// Redis does, a bulk over 512 MB, more than 1M arguments or an inline command
// over 64 KB, answering with Redis's protocol error and closing the
// connection. It follows the stream with a small state machine, costing one
// pass over header bytes and none over bulk payloads.
type guardConn struct {
	net.Conn
	l *guardListener

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
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.l.stats.read(n)
		if !c.invalid {
			if msg := c.scan(p[:n]); msg != "" {
				c.Conn.Write([]byte("-ERR Protocol error: " + msg + "\r\n"))
				return 0, errProtocolGuard
			}
		}
	}
	return n, err
}

func (c *guardConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.stats.wrote(n)
	return n, err
}

type guardError struct{}

func (guardError) Error() string { return "client protocol error" }

var errProtocolGuard error = guardError{}

// scan advances the state machine over b and returns a protocol error text
// when a limit is crossed.
func (c *guardConn) scan(b []byte) string {
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
				continue
			}
			c.inline++
			if c.inline > maxInlineLen {
				return "too big inline request"
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
						return "invalid multibulk length"
					}
					c.args = c.num
					c.state = gBulkHeader
					continue
				}
				if c.neg {
					c.invalid = true
					return ""
				}
				if c.num > maxBulkLen {
					return "invalid bulk length"
				}
				c.skip = c.num + 2
				c.state = gBulkData
			default:
				c.invalid = true
				return ""
			}
		case gBulkHeader:
			if b[i] != '$' {
				c.invalid = true
				return ""
			}
			c.state, c.num, c.neg = gBulkLen, 0, false
		case gBulkData:
			rest := int64(len(b) - i)
			if rest < c.skip {
				c.skip -= rest
				return ""
			}
			i += int(c.skip) - 1
			c.skip = 0
			c.args--
			if c.args == 0 {
				c.state = gStart
			} else {
				c.state = gBulkHeader
			}
		}
	}
	return ""
}
