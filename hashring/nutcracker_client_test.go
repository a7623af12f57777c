package hashring

import (
	"bytes"
	"context"
	"net"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// newNutcrackerClient returns a go-redis client for a nutcracker listener.
// go-redis v9 opens every connection with HELLO, which nutcracker 0.5 does
// not know and answers by closing the connection; the dialer below answers
// that one command locally with the error reply an old Redis would give, so
// go-redis falls back to RESP2 and every other command reaches nutcracker.
func newNutcrackerClient(addr string) *redis.Client {
	opt := testenv.ClientOptions(addr)
	opt.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &helloShim{Conn: c}, nil
	}
	return redis.NewClient(opt)
}

// helloShim is a net.Conn that swallows a HELLO command written as the
// first write and makes the next read return an error reply for it.
type helloShim struct {
	net.Conn
	mu      sync.Mutex
	checked bool
	pending []byte
}

func (c *helloShim) Write(p []byte) (int, error) {
	c.mu.Lock()
	first := !c.checked
	c.checked = true
	if first && len(p) > 0 && p[0] == '*' && bytes.Contains(bytes.ToLower(p), []byte("\r\nhello\r\n")) {
		c.pending = []byte("-ERR unknown command 'HELLO'\r\n")
		c.mu.Unlock()
		return len(p), nil
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *helloShim) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}
