package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"time"
)

// keySpace bounds the distinct keys the generators write, like
// redis-benchmark's -r, so repeated runs do not grow the shards.
const keySpace = 100000

// dialTimeout bounds connection setup.
const dialTimeout = 5 * time.Second

// conn is one client connection with buffered reads.
type conn struct {
	nc net.Conn
	r  *bufio.Reader
}

// dial connects with a 64 KB read buffer.
func dial(ctx context.Context, addr string) (*conn, error) { return dialSize(ctx, addr, 64<<10) }

// dialSize connects with a read buffer of bufSize bytes.
func dialSize(ctx context.Context, addr string, bufSize int) (*conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, bufSize)}, nil
}

// watch closes c when ctx ends, unblocking any read or write; the
// returned stop must be called when the work is done.
func (c *conn) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = c.nc.Close() })
}

// Throughput is the outcome of a timed run.
type Throughput struct {
	// Ops is the number of commands completed (reply read and checked).
	Ops int
	// Elapsed is the time from the first write to the last reply.
	Elapsed time.Duration
}

// OpsPerSec returns Ops divided by Elapsed.
func (t Throughput) OpsPerSec() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Ops) / t.Elapsed.Seconds()
}

// Batches sends SETs to addr on one connection in batches of batch
// commands (write the batch, then read its replies) for about dur, and
// returns how many completed. Every reply must be +OK.
func Batches(ctx context.Context, addr string, batch int, dur time.Duration) (Throughput, error) {
	if batch < 1 {
		return Throughput{}, fmt.Errorf("load: batch size %d, want >= 1", batch)
	}
	c, err := dial(ctx, addr)
	if err != nil {
		return Throughput{}, err
	}
	defer c.nc.Close()
	defer c.watch(ctx)()
	value := []byte("xxx")
	buf := make([]byte, 0, batch*40)
	start := time.Now()
	ops := 0
	for time.Since(start) < dur {
		buf = buf[:0]
		for i := range batch {
			buf = appendSet(buf, "batch:", (ops+i)%keySpace, value)
		}
		if _, err := c.nc.Write(buf); err != nil {
			return Throughput{}, err
		}
		for range batch {
			if err := expectOK(c.r); err != nil {
				return Throughput{}, err
			}
		}
		ops += batch
	}
	return Throughput{Ops: ops, Elapsed: time.Since(start)}, nil
}

// Sequential sends n SETs to addr one at a time, each after the previous
// reply, and returns the time they took (connection setup excluded).
func Sequential(ctx context.Context, addr string, n int) (time.Duration, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.nc.Close()
	defer c.watch(ctx)()
	value := []byte("xxx")
	buf := make([]byte, 0, 64)
	start := time.Now()
	for i := range n {
		buf = appendSet(buf[:0], "seq:", i, value)
		if _, err := c.nc.Write(buf); err != nil {
			return 0, err
		}
		if err := expectOK(c.r); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// Pipelined sends n SETs to addr in one write and reads the n replies,
// returning the time from the write to the last reply (connection setup
// excluded).
func Pipelined(ctx context.Context, addr string, n int) (time.Duration, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.nc.Close()
	defer c.watch(ctx)()
	value := []byte("xxx")
	buf := make([]byte, 0, n*40)
	for i := range n {
		buf = appendSet(buf, "pipe:", i, value)
	}
	start := time.Now()
	if _, err := c.nc.Write(buf); err != nil {
		return 0, err
	}
	for range n {
		if err := expectOK(c.r); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// Stream writes n SETs with valueSize-byte values to addr on one
// connection as fast as the connection accepts them, while another
// goroutine reads and checks the replies. It is the client of the memory
// test: a proxy that reads the whole stream before answering buffers it
// all, one that applies backpressure does not.
func Stream(ctx context.Context, addr string, n, valueSize int) (Throughput, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return Throughput{}, err
	}
	defer c.nc.Close()
	defer c.watch(ctx)()
	value := bytes.Repeat([]byte("v"), valueSize)
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(c.nc, 64<<10)
		var cmd []byte
		for i := range n {
			cmd = appendSet(cmd[:0], "stream:", i%keySpace, value)
			if _, err := w.Write(cmd); err != nil {
				werr <- err
				return
			}
		}
		werr <- w.Flush()
	}()
	for i := range n {
		if err := expectOK(c.r); err != nil {
			_ = c.nc.Close()
			<-werr
			return Throughput{}, fmt.Errorf("reply %d: %w", i, err)
		}
	}
	if err := <-werr; err != nil {
		return Throughput{}, err
	}
	return Throughput{Ops: n, Elapsed: time.Since(start)}, nil
}

// Idle is a set of open client connections that send nothing unless told.
type Idle struct {
	conns []*conn
}

// OpenIdle opens n connections to addr. On error the ones already open are
// closed.
func OpenIdle(ctx context.Context, addr string, n int) (*Idle, error) {
	s := &Idle{conns: make([]*conn, 0, n)}
	for i := range n {
		// A small buffer: ten thousand of these live in the harness.
		c, err := dialSize(ctx, addr, 64)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
		s.conns = append(s.conns, c)
	}
	return s, nil
}

// Len returns the number of open connections.
func (s *Idle) Len() int { return len(s.conns) }

// Ping sends PING on every connection and checks each reply, so that every
// connection has served one command (as a pooled client connection has).
func (s *Idle) Ping(ctx context.Context) error {
	ping := appendCommand(nil, []byte("PING"))
	for i, c := range s.conns {
		stop := c.watch(ctx)
		if _, err := c.nc.Write(ping); err != nil {
			stop()
			return fmt.Errorf("connection %d: %w", i, err)
		}
		line, err := readLine(c.r)
		stop()
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if string(line) != "+PONG" {
			return fmt.Errorf("connection %d: PING got %q", i, line)
		}
	}
	return nil
}

// Close closes every connection. It is idempotent.
func (s *Idle) Close() {
	for _, c := range s.conns {
		_ = c.nc.Close()
	}
	s.conns = nil
}

// Do sends one command to addr on a new connection and reads its reply;
// an error reply is returned as *ReplyError.
func Do(ctx context.Context, addr string, args ...string) error {
	return do(ctx, addr, nil, args)
}

// DoAuth is Do on a connection that first sends AUTH user pass.
func DoAuth(ctx context.Context, addr, user, pass string, args ...string) error {
	return do(ctx, addr, []string{"AUTH", user, pass}, args)
}

func do(ctx context.Context, addr string, auth, args []string) error {
	c, err := dialSize(ctx, addr, 4096)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	defer c.watch(ctx)()
	var w []byte
	for _, cmd := range [][]string{auth, args} {
		if len(cmd) == 0 {
			continue
		}
		b := make([][]byte, len(cmd))
		for i, a := range cmd {
			b[i] = []byte(a)
		}
		w = appendCommand(w, b...)
	}
	if _, err := c.nc.Write(w); err != nil {
		return err
	}
	if len(auth) > 0 {
		if err := expectOK(c.r); err != nil {
			return err
		}
	}
	return skipReply(c.r)
}
