package backend

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// Conn is one multiplexed, pipelined connection to a server.
//
// Any number of goroutines may Enqueue requests concurrently. The requests of
// one Enqueue call are written in order, and replies are matched to requests
// by position. When anything goes wrong the connection fails every request
// it still holds and closes for good; its Server then dials a replacement.
type Conn struct {
	s     *Server
	gen   uint64 // the server's address generation when dialled
	proto int    // 2 or 3 (HELLO 3 in the handshake)
	nc    net.Conn
	raw   bool // br and bw use RawIO (rawio_linux.go)
	br    *bufio.Reader
	bw    *bufio.Writer

	mu     sync.Mutex
	queue  []*Request // guarded by mu; waiting for the writer
	closed bool       // guarded by mu
	err    *Error     // why the connection failed; set once before dying is closed

	wake     chan struct{} // capacity 1: the queue is not empty
	inflight chan *Request // written, waiting for a reply (FIFO)
	dying    chan struct{} // closed by fail
	failOnce sync.Once
	wg       sync.WaitGroup // writer and reader
	drained  chan struct{}  // closed when every request has been completed
}

// maxInflight bounds the requests written but not yet answered on one
// connection; the writer blocks beyond it, which pushes back on clients.
const maxInflight = 4096

func newConn(s *Server, nc net.Conn) *Conn {
	var rw io.ReadWriter = nc
	raw := NewRawIO(nc)
	if raw != nil {
		rw = raw
	}
	c := &Conn{
		s:        s,
		nc:       nc,
		raw:      raw != nil,
		br:       bufio.NewReaderSize(rw, 32<<10),
		bw:       bufio.NewWriterSize(rw, 32<<10),
		wake:     make(chan struct{}, 1),
		inflight: make(chan *Request, maxInflight),
		dying:    make(chan struct{}),
		drained:  make(chan struct{}),
	}
	return c
}

func (c *Conn) start() {
	c.wg.Add(2)
	go c.writeLoop()
	go c.readLoop()
	go func() {
		// Once both loops are gone nothing else touches the queues: fail
		// what is left so every request is completed exactly once.
		c.wg.Wait()
		c.mu.Lock()
		c.closed = true
		queued := c.queue
		c.queue = nil
		c.mu.Unlock()
		for {
			select {
			case r := <-c.inflight:
				r.complete(c.err)
				continue
			default:
			}
			break
		}
		for _, r := range queued {
			r.complete(c.err)
		}
		close(c.drained)
	}()
}

// Enqueue hands requests to the connection. Each of them completes exactly
// once: with a reply, or with an error if the connection is closed, its queue
// is full, or it fails before the reply arrives. Enqueue never blocks.
func (c *Conn) Enqueue(reqs ...*Request) {
	// Deadlines are rounded up to the millisecond so that the requests of
	// many sessions share one, and the reader resets its socket deadline
	// once per millisecond of traffic rather than once per request group.
	deadline := (time.Now().Add(c.s.opts.Timeout).UnixNano() + 999_999) / 1_000_000 * 1_000_000
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		c.failAll(reqs, err)
		return
	}
	if len(c.queue)+len(reqs) > c.s.opts.QueueLimit {
		c.mu.Unlock()
		c.failAll(reqs, &Error{Server: c.s.opts.Name, Kind: KindOverload, Cause: ErrQueueFull})
		return
	}
	for _, r := range reqs {
		r.deadline = deadline
		if len(r.Wire) >= bigTransfer {
			r.deadline += int64(transferTime(len(r.Wire))) // transfer.go
		}
		r.gen = c.gen
	}
	c.queue = append(c.queue, reqs...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Conn) failAll(reqs []*Request, err *Error) {
	for _, r := range reqs {
		r.complete(err)
	}
}

// Close fails the connection as if it had broken. It is idempotent.
func (c *Conn) Close() {
	c.fail(&Error{Server: c.s.opts.Name, Kind: KindClosed, Cause: ErrServerClosed})
}

// Done is closed once the connection has failed and every request it held
// has been completed.
func (c *Conn) Done() <-chan struct{} { return c.drained }

// Err returns why the connection failed, or nil while it is healthy.
func (c *Conn) Err() *Error {
	select {
	case <-c.dying:
		return c.err
	default:
		return nil
	}
}

// InFlight returns the number of requests written and not yet answered.
func (c *Conn) InFlight() int { return len(c.inflight) }

func (c *Conn) fail(err *Error) {
	c.failOnce.Do(func() {
		c.err = err
		close(c.dying)
		c.nc.Close()
		if !errors.Is(err.Cause, ErrServerClosed) {
			c.s.obs.Failed(err.Kind)
		}
	})
}

func (c *Conn) writeLoop() {
	defer c.wg.Done()
	var batch []*Request
	var writeDeadline time.Time
	for {
		select {
		case <-c.wake:
		case <-c.dying:
			return
		}
		// Let the other runnable goroutines (client sessions that are about
		// to enqueue) run first, so that one write carries their requests
		// too: fewer syscalls per request under concurrent load.
		runtime.Gosched()
		n, size := 0, 0
		// A server that stops reading makes writes block once the socket
		// buffers fill; the deadline turns that into a timeout even when
		// nothing is in flight yet for the reader to time out on.
		wake := time.Now()
		// Reset only once a tenth of the timeout has gone by: a write
		// always has at least 90% of the timeout, for one timer update
		// per tenth of a timeout instead of one per wake-up.
		if wd := wake.Add(c.s.opts.Timeout); wd.Sub(writeDeadline) > c.s.opts.Timeout/10 {
			c.nc.SetWriteDeadline(wd)
			writeDeadline = wd
		}
		for {
			c.mu.Lock()
			batch, c.queue = c.queue, batch[:0]
			c.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			now := wake.UnixNano()
			if n > 0 {
				now = time.Now().UnixNano() // a later round of this wake-up
			}
			for i, r := range batch {
				r.sent = now
				// Write first, then hand the request to the reader: once in
				// the FIFO it may complete (and be reused by its owner) at
				// any moment, so the writer must be done with r.Wire. The
				// reply cannot be misread meanwhile: the reader waits for
				// the request before it reads a reply.
				if len(r.Wire) >= bigTransfer {
					// The write gets its transfer time (transfer.go); the
					// next wake-up sets the usual deadline again.
					writeDeadline = time.Time{}
					c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.Timeout + transferTime(len(r.Wire))))
				}
				c.bw.Write(r.Wire)
				size += len(r.Wire)
				if !c.pushInflight(r) {
					c.failAll(batch[i:], c.err)
					clear(batch)
					return
				}
				batch[i] = nil
			}
			n += len(batch)
		}
		if err := c.bw.Flush(); err != nil {
			c.fail(c.ioError(err))
			return
		}
		if n > 0 {
			c.s.obs.Wrote(n, size)
		}
	}
}

// pushInflight hands r to the reader; false once the connection is dying.
// A FIFO with room takes the cheap non-blocking send.
func (c *Conn) pushInflight(r *Request) bool {
	select {
	case c.inflight <- r:
		return true
	default:
	}
	select {
	case c.inflight <- r:
		return true
	case <-c.dying:
		return false
	}
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	var lastDeadline, now int64
	for {
		var r *Request
		// The common case, a request already waiting, takes the cheap
		// non-blocking receive; only an empty FIFO needs the full select.
		select {
		case r = <-c.inflight:
		default:
			select {
			case r = <-c.inflight:
			case <-c.dying:
				return
			}
		}
		if r.deadline != lastDeadline {
			c.nc.SetReadDeadline(time.Unix(0, r.deadline))
			lastDeadline = r.deadline
		}
		// Replies that were already buffered arrived with the read that
		// brought them: one clock reading per read, not per reply.
		fresh := c.br.Buffered() == 0
		if extra := replyTransferTime(c.br); extra > 0 {
			lastDeadline = r.deadline + int64(extra)
			c.nc.SetReadDeadline(time.Unix(0, lastDeadline))
		}
		if err := readReplyOf(c.br, r, c.s.opts.OnPush); err != nil {
			c.fail(c.ioError(err))
			r.complete(c.err)
			return
		}
		if fresh || now == 0 {
			now = time.Now().UnixNano()
		}
		c.s.obs.Replied(time.Duration(now-r.sent), len(r.Reply))
		if r.Reply[0] == '-' && c.s.opts.NotMaster != nil && isReadOnlyReply(r.Reply) {
			c.s.opts.NotMaster() // a demoted master: its address is stale
		}
		if !r.charge() {
			// The client is over its output limit: the reply is off the
			// connection (others' replies behind it are not held up) and
			// dropped rather than buffered for a client that is going.
			r.complete(&Error{Server: c.s.opts.Name, Kind: KindClosed, Cause: ErrReplyDropped})
			continue
		}
		r.complete(nil)
	}
}

// ioError classifies a read or write error of this connection.
func (c *Conn) ioError(err error) *Error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &Error{Server: c.s.opts.Name, Kind: KindTimeout, Timeout: c.s.opts.Timeout, Cause: err}
	}
	if errors.Is(err, resp.ErrBadReply) || errors.Is(err, resp.ErrLongBulk) || errors.Is(err, resp.ErrDeepReply) {
		return &Error{Server: c.s.opts.Name, Kind: KindProtocol, Cause: err}
	}
	return &Error{Server: c.s.opts.Name, Kind: KindClosed, Cause: err}
}

// readReplyOf reads the reply to r into r.Reply: r.Skip leading replies are
// dropped, unless one is an error, which then stands for the whole request.
// A RESP3 push met on the way answers no request: it goes to onPush, if
// set, and is dropped.
func readReplyOf(br *bufio.Reader, r *Request, onPush func([]byte)) error {
	var err error
	r.Reply = r.Reply[:0]
	for i := 0; i <= r.Skip && err == nil; i++ {
		keep := len(r.Reply) > 0 && r.Reply[0] == '-'
		if !keep {
			r.Reply = r.Reply[:0]
		}
		start := len(r.Reply)
		r.Reply, err = resp.ReadReply(br, r.Reply)
		for err == nil && isPush(r.Reply[start:]) {
			if onPush != nil {
				onPush(r.Reply[start:])
			}
			r.Reply, err = resp.ReadReply(br, r.Reply[:start])
		}
		if keep {
			r.Reply = r.Reply[:start]
		}
	}
	return err
}
