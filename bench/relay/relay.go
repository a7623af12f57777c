package relay

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"time"
)

// queueChunks bounds the chunks in flight per direction. A full queue stops
// the reader, so a fast sender sees TCP backpressure instead of the relay
// buffering without limit.
const queueChunks = 4096

// chunkSize is the largest read per chunk.
const chunkSize = 32 << 10

// Relay accepts TCP connections on a loopback address and forwards each to
// a target, delaying every chunk by half the round trip in each direction.
// Its methods are safe for concurrent use.
type Relay struct {
	target string
	oneWay time.Duration
	ln     net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New starts a relay listening on 127.0.0.1 (a free port) that forwards to
// target with round-trip time rtt (rtt/2 each way). rtt 0 forwards without
// delay. Close stops it.
func New(target string, rtt time.Duration) (*Relay, error) {
	if rtt < 0 {
		return nil, errors.New("relay: negative round-trip time")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{target: target, oneWay: rtt / 2, ln: ln, conns: make(map[net.Conn]struct{})}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr returns the address clients connect to.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Close stops accepting, closes every relayed connection and waits for the
// relay's goroutines. It is idempotent.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	err := r.ln.Close()
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

// track registers c so Close can close it; it reports false once closed.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go r.serve(c)
	}
}

// serve relays one client connection until either side closes.
func (r *Relay) serve(client net.Conn) {
	defer r.wg.Done()
	defer client.Close()
	if !r.track(client) {
		return
	}
	defer r.untrack(client)
	server, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	defer server.Close()
	if !r.track(server) {
		return
	}
	defer r.untrack(server)
	noDelay(client)
	noDelay(server)

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pipe(server, client) }()
	go func() { defer wg.Done(); r.pipe(client, server) }()
	wg.Wait()
}

func noDelay(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
}

// spinWindow is how long before a chunk is due the writer stops sleeping
// on a timer and spins: Go timers wake up one to two milliseconds late
// (the runtime polls with millisecond timeouts), which would swamp a
// 0.1 ms round trip.
const spinWindow = 3 * time.Millisecond

// sleepUntil returns at due, give or take a few microseconds: a timer for
// all but the last spinWindow, then yielding in a loop.
func sleepUntil(timer *time.Timer, due time.Time) {
	if wait := time.Until(due) - spinWindow; wait > 0 {
		timer.Reset(wait)
		<-timer.C
	}
	for time.Now().Before(due) {
		runtime.Gosched()
	}
}

// chunk is bytes read at a time, due for writing at due.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, each chunk no earlier than oneWay after it was
// read. On EOF or error it half-closes dst (or closes both) so the other
// side sees the end.
func (r *Relay) pipe(dst, src net.Conn) {
	q := make(chan chunk, queueChunks)
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(0)
		<-timer.C
		for ch := range q {
			sleepUntil(timer, ch.due)
			if _, err := dst.Write(ch.data); err != nil {
				// Keep draining so the reader never blocks on a full queue.
				_ = src.Close()
				for range q {
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}()
	buf := make([]byte, chunkSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			// Stamp before copying so the copy's cost is not added to the delay.
			due := time.Now().Add(r.oneWay)
			q <- chunk{data: append([]byte(nil), buf[:n]...), due: due}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				_ = dst.Close()
			}
			break
		}
	}
	close(q)
	<-done
}
