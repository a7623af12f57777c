package router

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shardproxy/shardproxy/config"
)

// outClass selects which client_output_buffer_limit applies to a client.
type outClass uint8

const (
	outNormal outClass = iota // replies to commands
	outPubsub                 // a subscribed client (messages pushed to it)
)

func (c outClass) String() string {
	if c == outPubsub {
		return "pubsub"
	}
	return "normal"
}

// clientWriter is the output side of one client connection. Replies of the
// session's batches and pushes from other goroutines (pub/sub messages,
// later RESP3 pushes) go through it, in the order write is called.
//
// A write first tries the socket without blocking, from the caller's
// goroutine: for a client that reads its replies that is the whole story,
// one system call and no goroutine hand-off per batch. Whatever the socket
// does not take at once is buffered, and a flusher goroutine, started on
// demand and gone once the buffer is empty, waits for the client to read
// it. Meanwhile the session keeps reading and serving commands, as Redis
// does, and its replies join the buffer.
//
// The buffer, together with the replies already read from backends for the
// client and not yet written (charged through backend.ReplySink, which lets
// the backend reader drop them once the client is over its limit), is the
// client's output buffer in Redis's sense. It is bounded by the pool's
// client_output_buffer_limit for the client's class: over the hard limit,
// or over the soft limit for longer than its seconds, the client is
// disconnected, counted and logged, and its pending output freed. A write
// that makes no progress for client_write_timeout disconnects it too.
//
// Every method is safe for concurrent use.
type clientWriter struct {
	p       *Pool
	sock    clientSocket
	addr    string
	timeout time.Duration // client_write_timeout; 0 = none

	limits    [2]config.OutputLimit
	class     atomic.Uint32 // outClass
	threshold atomic.Int64  // used above this needs a limit check
	used      atomic.Int64  // output bytes accounted to the client
	softSince atomic.Int64  // nanotime the soft limit was first passed; 0 = under it
	dead      atomic.Bool   // over a limit, broken or closed: output is dropped

	mu       sync.Mutex
	q        outQueue // output the socket did not take yet, for the flusher
	inflight int      // blocks the flusher took from q and is writing
	flushing bool     // a flusher goroutine owns the socket's writes
	quitting bool     // QUIT: what is queued goes out, nothing more is taken
	closed   bool     // no flusher may start any more
	wg       sync.WaitGroup
}

func newClientWriter(p *Pool, sock clientSocket, addr string) *clientWriter {
	w := &clientWriter{
		p:       p,
		sock:    sock,
		addr:    addr,
		timeout: p.cfg.ClientWriteTimeout,
		limits:  [2]config.OutputLimit{p.cfg.OutputLimitNormal, p.cfg.OutputLimitPubsub},
	}
	w.setClass(outNormal)
	return w
}

// setClass switches the limit that applies (a client that subscribes
// becomes a pubsub client).
func (w *clientWriter) setClass(c outClass) {
	w.class.Store(uint32(c))
	l := w.limits[c]
	t := int64(1<<63 - 1)
	if l.Hard > 0 {
		t = l.Hard
	}
	if l.Soft > 0 && l.Soft < t {
		t = l.Soft
	}
	w.threshold.Store(t)
}

// write sends b to the client after everything written before, or buffers
// it; it never blocks on the client. b may be reused once write returns.
func (w *clientWriter) write(b []byte) {
	if len(b) > 0 {
		w.send(b, false)
	}
}

// send is write and writeOwned. When owned, the writer takes b over: what
// is left of it is queued as it is instead of being copied, and its memory
// is reported to the pool's memReturner once written or dropped.
func (w *clientWriter) send(b []byte, owned bool) {
	if w.dead.Load() {
		w.done(b, owned)
		return
	}
	w.mu.Lock()
	if w.closed || w.quitting {
		w.mu.Unlock()
		w.done(b, owned)
		return
	}
	if w.flushing {
		w.queue(b, owned)
		w.mu.Unlock()
		w.Charge(len(b))
		return
	}
	n, err := w.sock.TryWrite(b)
	if n > 0 {
		w.p.stats.wrote(n)
	}
	if err != nil {
		w.mu.Unlock()
		w.broken()
		w.done(b, owned)
		return
	}
	if n == len(b) {
		w.mu.Unlock()
		w.done(b, owned)
		return
	}
	w.queue(b[n:], owned)
	w.flushing = true
	w.wg.Add(1)
	w.mu.Unlock()
	go w.flushLoop()
	w.Charge(len(b) - n)
}

// queue adds b to the pending output: copied, or, when owned, as a block
// of its own. w.mu is held.
func (w *clientWriter) queue(b []byte, owned bool) {
	if owned {
		w.q.own(b)
	} else {
		w.q.append(b)
	}
}

// done reports an owned buffer that was written or dropped.
func (w *clientWriter) done(b []byte, owned bool) {
	if owned {
		w.p.mem.released(cap(b))
	}
}

// outUse returns what CLIENT LIST shows of the client's output: the
// blocks of pending output (Redis's oll: queued or being written), the
// bytes accounted to the client (Redis's omem: what the output buffer
// limit applies to, here also replies read from backends and not yet
// written), and whether a flusher waits for the client to read (Redis's
// write event, events=rw).
func (w *clientWriter) outUse() (blocks int, bytes int64, writing bool) {
	w.mu.Lock()
	blocks = len(w.q.blocks) + w.inflight
	writing = w.flushing
	w.mu.Unlock()
	return blocks, max(w.used.Load(), 0), writing
}

// flushLoop writes the buffered output, blocking on the client, until the
// queue is empty; then it returns and the next write tries the socket
// directly again.
func (w *clientWriter) flushLoop() {
	defer w.wg.Done()
	var blocks [][]byte
	for {
		big := blockBytes(blocks)
		w.mu.Lock()
		w.q.recycle(blocks)
		w.inflight = 0
		if w.closed || w.dead.Load() || w.q.len() == 0 {
			w.flushing = false
			// A deadline left behind would fail the next direct write.
			w.sock.SetWriteDeadline(time.Time{})
			w.mu.Unlock()
			w.p.mem.released(big)
			return
		}
		blocks = w.q.take()
		w.inflight = len(blocks)
		w.mu.Unlock()
		w.p.mem.released(big)
		for _, b := range blocks {
			for len(b) > 0 {
				// A deadline per piece: the write timeout bounds a stall,
				// not the time a large backlog (or value) takes to drain.
				piece := b[:min(len(b), outBlock)]
				if w.timeout > 0 {
					w.sock.SetWriteDeadline(time.Now().Add(w.timeout))
				}
				n, err := w.sock.Write(piece)
				if n > 0 {
					w.p.stats.wrote(n)
					w.Release(n)
				}
				if err != nil {
					if errors.Is(err, os.ErrDeadlineExceeded) {
						w.p.log.Warn("client closed: no write progress within client_write_timeout",
							"client", w.addr, "timeout", w.timeout, "pending", w.used.Load())
					}
					w.broken()
					w.p.mem.released(blockBytes(blocks))
					return
				}
				b = b[n:]
			}
		}
	}
}

// outQueue is pending output in blocks of outBlock bytes, as Redis keeps a
// client's reply list: a backlog grows without copying what it holds, and
// costs its size plus one block, however it was appended.
type outQueue struct {
	blocks [][]byte
	spare  []byte // one empty block kept for reuse
	n      int
}

const outBlock = 64 << 10

func (q *outQueue) len() int { return q.n }

func (q *outQueue) append(b []byte) {
	q.n += len(b)
	for len(b) > 0 {
		if k := len(q.blocks); k > 0 {
			last := q.blocks[k-1]
			if room := cap(last) - len(last); room > 0 {
				m := min(room, len(b))
				q.blocks[k-1] = append(last, b[:m]...)
				b = b[m:]
				continue
			}
		}
		blk := q.spare
		q.spare = nil
		if blk == nil {
			blk = make([]byte, 0, outBlock)
		}
		q.blocks = append(q.blocks, blk)
	}
}

// take hands every block to the flusher.
func (q *outQueue) take() [][]byte {
	b := q.blocks
	q.blocks, q.n = nil, 0
	return b
}

// recycle keeps one written block for reuse and lets the rest go.
func (q *outQueue) recycle(written [][]byte) {
	if q.spare == nil && len(written) > 0 && cap(written[0]) == outBlock {
		q.spare = written[0][:0]
	}
	clear(written)
}

// Charge implements backend.ReplySink: n more bytes are on their way to
// the client. It returns false once the client is over its limit (it is
// then being disconnected).
func (w *clientWriter) Charge(n int) bool {
	if w.dead.Load() {
		return false
	}
	u := w.used.Add(int64(n))
	if u <= w.threshold.Load() {
		return true
	}
	return w.check(u)
}

// Release implements backend.ReplySink: n bytes charged earlier have been
// written or dropped.
func (w *clientWriter) Release(n int) {
	u := w.used.Add(-int64(n))
	if w.softSince.Load() != 0 && u <= w.limits[w.class.Load()].Soft {
		w.softSince.Store(0)
	}
}

// check applies Redis's policy to usage u over the threshold: over the
// hard limit, or over the soft limit at two checks further apart than the
// soft seconds, the client is disconnected.
func (w *clientWriter) check(u int64) bool {
	class := outClass(w.class.Load())
	l := w.limits[class]
	if l.Hard > 0 && u > l.Hard {
		w.exceeded(class, "hard", u)
		return false
	}
	if l.Soft > 0 && u > l.Soft {
		now := nanotime()
		since := w.softSince.Load()
		if since == 0 {
			w.softSince.CompareAndSwap(0, now)
			return true
		}
		if time.Duration(now-since) > l.SoftSeconds {
			w.exceeded(class, "soft", u)
			return false
		}
	}
	return true
}

// exceeded disconnects a client over its limit, once.
func (w *clientWriter) exceeded(class outClass, which string, u int64) {
	if !w.dead.CompareAndSwap(false, true) {
		return
	}
	if class == outPubsub {
		w.p.m.OutputLimitPubsub.Inc()
	} else {
		w.p.m.OutputLimitNormal.Inc()
	}
	w.p.log.Warn("client closed for overcoming its output buffer limit",
		"client", w.addr, "class", class.String(), "limit", which,
		"client_output_buffer_limit", w.limits[class].String(), "pending", u)
	w.drop()
}

// broken stops output to a client whose socket failed.
func (w *clientWriter) broken() {
	if w.dead.CompareAndSwap(false, true) {
		w.drop()
	}
}

// drop closes (shuts) the socket, so that the session's read ends and it
// goes, and frees the pending output.
func (w *clientWriter) drop() {
	w.sock.Close()
	w.dropQueue()
}

// drain waits until the buffered output has been written (bounded by the
// write timeout) and stops later writes: for QUIT, whose +OK must reach the
// client before the connection closes.
func (w *clientWriter) drain() {
	w.mu.Lock()
	w.quitting = true
	w.mu.Unlock()
	w.wg.Wait()
}

// close stops output, closes the socket and waits for the flusher. It is
// idempotent.
func (w *clientWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.dead.Store(true)
	w.sock.Close()
	w.wg.Wait()
	w.dropQueue()
}

// clientSocket is what a clientWriter writes to.
type clientSocket interface {
	// TryWrite writes what the socket takes without blocking; n < len(b)
	// with a nil error means the rest would block.
	TryWrite(b []byte) (n int, err error)
	// Write blocks until b is written, the deadline passes or the socket
	// is closed.
	Write(b []byte) (int, error)
	SetWriteDeadline(t time.Time) error
	Close() error
}

// netSocket is a client's TCP or unix socket.
type netSocket struct {
	net.Conn
	rw *rawWriter // nil when the conn has no file descriptor
	// shut, when set, is Close: the conn is a pool client's, which only
	// its own goroutine closes (guardConn.shut).
	shut func()
}

// Close closes the socket, or shuts it down for a pool's client.
func (s *netSocket) Close() error {
	if s.shut != nil {
		s.shut()
		return nil
	}
	return s.Conn.Close()
}

func newNetSocket(c net.Conn) *netSocket {
	s := &netSocket{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			s.rw = newRawWriter(rc)
		}
	}
	return s
}

// TryWrite makes one non-blocking write attempt (see tryWrite); a socket
// without a file descriptor leaves everything to the flusher.
func (s *netSocket) TryWrite(b []byte) (int, error) {
	if s.rw == nil {
		return 0, nil
	}
	n, err := s.rw.tryWrite(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, nil // the flusher sets a fresh deadline
	}
	return n, err
}
