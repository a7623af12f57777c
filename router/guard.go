package router

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/metrics"
)

// Accept back-off after a failed accept (no file descriptor left): it
// doubles from acceptDelayMin to acceptDelayMax, as net/http's does, so
// that the listener neither spins nor stays deaf for long once descriptors
// are free again.
const (
	acceptDelayMin = 5 * time.Millisecond
	acceptDelayMax = time.Second
	acceptLogEvery = 10 * time.Second
)

// drainGrace is how long a client of a stopping proxy may stay silent
// before it is closed: enough for commands it sent before the signal to
// arrive, short enough that idle clients go at once.
const drainGrace = 100 * time.Millisecond

// guardListener wraps client connections in a guardConn, backs off when
// accepting fails, and keeps the set of open connections for a drain.
type guardListener struct {
	net.Listener
	stats *poolStats
	m     *metrics.Pool
	log   *slog.Logger
	lim   inputLimits
	idle  time.Duration // client_idle_timeout; 0 = off
	stop  <-chan struct{}
	mem   *memReturner // told when a large command's buffer is let go (bigcmd.go)

	// Accept's own state: only the goroutine that accepts touches it.
	delay    time.Duration
	failures int
	lastLog  time.Time

	draining atomic.Bool
	mu       sync.Mutex
	conns    map[*guardConn]struct{}
	gone     chan struct{} // signalled (non-blocking) when a conn leaves
}

func newGuardListener(ln net.Listener, p *Pool) *guardListener {
	pc := p.cfg
	return &guardListener{
		Listener: ln,
		stats:    &p.stats,
		m:        p.m,
		log:      p.log,
		lim: inputLimits{
			maxBulk:  pc.ProtoMaxBulkLen,
			maxQuery: pc.ClientQueryBufferLimit,
			maxLine:  pc.ProtoInlineMaxSize,
		},
		idle:  pc.ClientIdleTimeout,
		stop:  p.stop,
		mem:   p.mem,
		conns: map[*guardConn]struct{}{},
		gone:  make(chan struct{}, 1),
	}
}

// Accept returns the next client connection. When accepting fails for
// lack of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) it backs off and
// tries again, counting each failure and logging at most once per
// acceptLogEvery, instead of returning the error to a caller that would
// retry at once. While the pool drains it returns only when the drain is
// over.
func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			l.delay = 0
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
			g := &guardConn{Conn: c, l: l, raw: backend.NewRawIO(c)}
			g.sc.lim = &l.lim
			if !l.track(g) {
				c.Close()
				continue // draining: the socket was closed under Accept
			}
			return g, nil
		}
		if l.draining.Load() {
			<-l.stop
			return nil, net.ErrClosed
		}
		if !resourceShortage(err) {
			return nil, err
		}
		l.m.AcceptErrors.Inc()
		l.failures++
		if now := time.Now(); now.Sub(l.lastLog) >= acceptLogEvery {
			l.log.Warn("accepting client connections failed; backing off", "err", err,
				"failures", l.failures, "hint", "raise the open-file limit (ulimit -n) or lower max_clients")
			l.lastLog, l.failures = now, 0
		}
		l.delay = min(max(2*l.delay, acceptDelayMin), acceptDelayMax)
		t := time.NewTimer(l.delay)
		select {
		case <-t.C:
		case <-l.stop:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// resourceShortage reports whether an accept failed for lack of a
// resource that may come back.
func resourceShortage(err error) bool {
	for _, e := range shortageErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (l *guardListener) track(c *guardConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.draining.Load() {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *guardListener) untrack(c *guardConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	select {
	case l.gone <- struct{}{}:
	default:
	}
}

// open returns the number of open client connections.
func (l *guardListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// startDrain stops accepting (the listening socket is closed, so new
// clients are refused by the kernel) and wakes every client blocked in a
// read, so that idle ones close and busy ones go on until they fall
// silent (see guardConn.read).
func (l *guardListener) startDrain() {
	l.mu.Lock()
	l.draining.Store(true)
	conns := make([]*guardConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	l.Listener.Close()
	for _, c := range conns {
		c.Conn.SetReadDeadline(time.Now().Add(drainGrace))
	}
}

// closeAll shuts every client connection still open (their goroutines
// close them) and returns how many there were.
func (l *guardListener) closeAll() int {
	l.mu.Lock()
	conns := make([]*guardConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.shut()
	}
	return len(conns)
}

// waitEmpty waits until no client connection is open or d has passed; it
// reports whether none is open.
func (l *guardListener) waitEmpty(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for l.open() > 0 {
		select {
		case <-l.gone:
		case <-t.C:
			return l.open() == 0
		case <-l.stop: // closed meanwhile: nothing left to wait for
			return true
		}
	}
	return true
}

// guardConn sits between a client socket and the command reader
// (cmdreader.go).
//
// Limits: the reader grows its buffer until a whole command is in memory,
// whatever the lengths announce, and redcon's parser accepts frames Redis
// refuses ("*+1", "$-0"). The guard's scanner (inscan.go) applies Redis's
// rules and the pool's limits to every byte before the reader sees it. On
// a protocol error the guard first delivers the commands before the bad
// frame; once they are answered and the reader asks for more, the guard
// sends Redis's error text and fails the read, which closes the
// connection: the client sees the replies to everything it sent before,
// then the error, as from Redis.
//
// Backpressure: when a read ends inside a command, the reader keeps the
// part in its buffer and doubles the buffer when it is full, so a client
// streaming a long pipeline would grow it without bound. The guard hands
// the reader whole commands only, holding back the tail of a read that
// ends mid-command until the rest arrives; the reader then finds its
// buffer fully consumed after each batch and reuses it from the start.
// Only a large payload goes to the reader in pieces (and the multibulk
// frame an inline command was rewritten into, when it is larger than the
// reader's read: inline.go).
//
// A guardConn is used by its connection's goroutine; the listener only
// sets deadlines on it and closes it.
type guardConn struct {
	net.Conn
	raw *backend.RawIO // reads Conn with raw system calls; nil when it cannot
	l   *guardListener
	sc  scanner

	pend    []byte // bytes read but not delivered
	scanned int    // pend[:scanned] was scanned
	ready   int    // pend[:ready] may be delivered
	hold    []byte // pend's backing array, reused
	err     error  // returned once pend[:ready] is delivered
	reply   string // protocol error to send before returning err
	closed  atomic.Bool
	// down: another goroutine shut the connection (shut); reads end.
	down atomic.Bool

	// While the connection's goroutine serves inside raw.Serve's
	// callback (serveraw.go): inside, the socket's fd, and drained, set
	// by a short read (the socket had nothing more then).
	inside  bool
	fd      uintptr
	drained bool
	empties atomic.Int64 // reads inside that found the socket empty (for tests)

	// Set by the pool when it accepts the connection (nil in tests):
	// refuseOut sends the protocol error after every reply already
	// queued for the client; busy reports a client that is not idle
	// though it sends nothing (output still being written, subscribed).
	refuseOut func(b []byte)
	busy      func() bool
	// unauthed reports a session that has not authenticated, for Redis's
	// stricter limits before AUTH (10 arguments, 16 KB bulks).
	unauthed func() bool
	// big serves a command the guard assembled itself (bigcmd.go); nil:
	// every command goes through the reader.
	big   func(cmd redcon.Command)
	bigAt int64 // the payload size wantBig looks for; 0 = bigValue (tests lower it)

	inl inlineScratch // the inline command being delivered (inline.go)
	// waited: the last read found the socket empty and waited for input
	// (known for raw sockets and conns with a ReadWaited method; false
	// otherwise). lastRead and lastFull: how many bytes the last read
	// brought, and whether it filled its room (for an inline line that
	// follows other commands in it).
	waited   bool
	lastFull bool
	lastRead int64

	passed   bool // part of the current command went to the reader unfinished
	bigFrame bool // the current command is for readBig

	// What CLIENT LIST shows of the client's input (clients.go), stored
	// after each Read for other goroutines to read: qbuf (bytes not yet
	// parsed into whole lines and arguments, as Redis counts them), the
	// free room the reader's buffer had left (qbuf-free) and argv-mem.
	// Saturated at MaxInt32.
	qbuf, qfree, argv atomic.Int32
}

// maxHold is the capacity of the hold-back buffer kept between commands;
// a larger one, grown by a rare large command, is let go.
const maxHold = 64 << 10

// Read gives the reader the next whole commands (or a piece of a large one)
// and records the input use for CLIENT LIST.
func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.fill(p)
	c.noteInput(len(p) - n)
	return n, err
}

// noteInput records the input use for CLIENT LIST; free is the room left
// in the buffer being read into.
func (c *guardConn) noteInput(free int) {
	q, a := c.sc.pending()
	storeSat(&c.qbuf, q+int64(c.ready+len(c.inl.out)))
	storeSat(&c.qfree, int64(free))
	storeSat(&c.argv, a)
}

// storeSat stores v in a, saturated at MaxInt32, skipping the store when
// nothing changed (the common case: an idle input is all zeros).
func storeSat(a *atomic.Int32, v int64) {
	v32 := int32(min(v, math.MaxInt32))
	if a.Load() != v32 {
		a.Store(v32)
	}
}

// inputUse returns what CLIENT LIST shows of the input; zeros for a
// connection the guard does not see (nil).
func (c *guardConn) inputUse() (qbuf, qfree, argv int64) {
	if c == nil {
		return 0, 0, 0
	}
	return int64(c.qbuf.Load()), int64(c.qfree.Load()), int64(c.argv.Load())
}

func (c *guardConn) fill(p []byte) (int, error) {
	for {
		if len(c.inl.out) > 0 {
			return c.takeInline(p), nil
		}
		if c.ready > 0 {
			n := copy(p, c.pend[:c.ready])
			c.pend, c.ready, c.scanned = c.pend[n:], c.ready-n, c.scanned-n
			c.sc.shift(n)
			c.release()
			return n, nil
		}
		if c.bigFrame {
			if c.inside {
				// readBig waits for its reads: it runs outside the
				// callback, where waiting is allowed.
				return 0, backend.ErrWouldBlock
			}
			c.bigFrame = false
			if c.err == nil {
				c.readBig()
				continue
			}
		}
		if c.scanned < len(c.pend) {
			// The scan stopped at an inline command; go on from there.
			end, scanned, last, v := c.sc.scan(c.pend, c.scanned)
			// The line's bytes came with the last read, after the commands
			// just delivered.
			before := max(c.lastRead-int64(len(c.pend)), 0)
			if w := c.inlineScanned(v, -1, before, c.lastFull); w != v {
				v, last = w, 0 // the refused line starts the buffer
			}
			if v == vInline {
				if !c.inline(c.pend[:scanned]) {
					end = scanned // nothing after a refused line is read
				}
				c.pend, c.scanned = c.pend[scanned:end], 0
				c.sc.shift(scanned)
				c.release()
				continue
			}
			c.ready, end = c.decide(end, scanned, last, v)
			c.pend, c.scanned = c.pend[:end], min(scanned, end)
			continue
		}
		if c.err != nil {
			if c.reply != "" {
				b := []byte("-ERR " + c.reply + "\r\n")
				if c.refuseOut != nil {
					c.refuseOut(b)
				} else {
					c.Write(b)
				}
				c.reply = ""
			}
			return 0, c.err
		}
		// Read after the held-back bytes: into p when they fit, so that
		// the common case costs no copy, else into pend itself. The rest
		// of an inline command is read into pend, no more at once than
		// Redis would read (inlineRoom), so that the line is judged where
		// Redis judges it.
		var buf []byte
		old := len(c.pend)
		inline := c.sc.inInline()
		inP := old < len(p) && !inline
		if inP {
			copy(p, c.pend)
			buf = p
		} else {
			room := 4096
			if inline {
				room = c.inlineRoom()
				if cap(c.pend) > maxHold && cap(c.pend) > 4*(old+room) {
					// Room Redis no longer has: let the buffer go.
					c.pend = append(make([]byte, 0, old+room), c.pend...)
					c.hold = c.pend
				}
			}
			if cap(c.pend)-old < room {
				grown := make([]byte, old, max(2*cap(c.pend), old+max(16<<10, room)))
				copy(grown, c.pend)
				c.pend, c.hold = grown, grown
			}
			buf = c.pend[:cap(c.pend)]
			if inline {
				buf = buf[:old+room]
			}
		}
		// What arrived so far is what the client waits with, mid-command.
		c.noteInput(len(buf) - old)
		m, err := c.read(buf[old:])
		if err == backend.ErrWouldBlock {
			if inline && c.inlineDrained() {
				continue // refused: the next turn sends the error
			}
			return 0, err // nothing read, nothing changed: wait, then read again
		}
		if err != nil {
			c.err = err
		}
		if c.unauthed != nil {
			c.sc.unauth = c.unauthed()
		}
		line0 := int64(-1)
		if inline {
			line0 = c.sc.line
		}
		c.lastRead, c.lastFull = int64(m), m == len(buf)-old
		end, scanned, last, v := c.sc.scan(buf[:old+m], old)
		if w := c.inlineScanned(v, line0, 0, c.lastFull); w != v {
			v, last = w, 0 // the refused line starts the buffer
		}
		if v == vInline {
			if !c.inline(buf[:scanned]) {
				end = scanned
			}
			if inP {
				c.pend = append(c.hold[:0], p[scanned:end]...)
				c.hold = c.pend
			} else {
				c.pend = buf[scanned:end]
			}
			c.scanned = 0
			c.sc.shift(scanned)
			c.release()
			continue
		}
		deliver, end := c.decide(end, scanned, last, v)
		scanned = min(scanned, end)
		if inP {
			c.pend = append(c.hold[:0], p[deliver:end]...)
			c.hold = c.pend
			c.scanned = scanned - deliver
			c.sc.shift(deliver)
			if deliver > 0 {
				return deliver, nil
			}
			continue
		}
		c.pend, c.ready, c.scanned = buf[:end], deliver, scanned
	}
}

// decide returns how much of a scanned buffer may go to the reader now, and
// the buffer's new end (cut after the last good command on an error).
func (c *guardConn) decide(end, scanned, last int, v scanVerdict) (deliver, newEnd int) {
	switch {
	case v != vOK:
		// Deliver the commands before the bad frame, then fail.
		c.refuse(v)
		return last, last
	case c.sc.state == sStart:
		c.passed = false
		return scanned, end
	case last > 0:
		c.passed = false // the command after last is a new one
		return last, end
	case c.wantBig():
		c.bigFrame = true
		return 0, end
	case c.sc.passThrough():
		c.passed = true
		return scanned, end
	}
	return 0, end
}

// release lets go of a large hold-back buffer once it is empty.
func (c *guardConn) release() {
	if len(c.pend) == 0 {
		if cap(c.hold) > maxHold {
			c.hold = nil
		}
		c.pend = c.hold[:0]
	}
}

// refuse records why the connection ends, for the next Read.
func (c *guardConn) refuse(v scanVerdict) {
	c.err = errProtocolGuard
	switch v {
	case vProtocol:
		c.reply = c.sc.msg
		c.l.m.ClosedProtocol.Inc()
	case vQueryBuff:
		// Redis closes such a client without a reply, and logs it.
		c.l.m.ClosedQueryBuffer.Inc()
		c.l.log.Warn("closing client that reached client_query_buffer_limit",
			"addr", c.RemoteAddr().String(), "limit", c.l.lim.maxQuery)
	}
}

// read reads from the socket with the deadline the pool's state asks for:
// client_idle_timeout, or drainGrace while the pool drains.
func (c *guardConn) read(b []byte) (int, error) {
	if c.down.Load() {
		return 0, net.ErrClosed
	}
	c.waited = false
	if c.inside {
		return c.readInside(b)
	}
	c.arm()
	for {
		var n int
		var err error
		if c.raw != nil {
			n, err = c.raw.Read(b)
			c.waited = c.raw.ReadWaited()
		} else {
			n, err = c.Conn.Read(b)
			if w, ok := c.Conn.(interface{ ReadWaited() bool }); ok {
				c.waited = w.ReadWaited()
			}
		}
		if n > 0 {
			c.l.stats.read(n)
		}
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if err = c.silent(err); err != nil {
			return n, err
		}
	}
}

// readInside is read within raw.Serve's callback: one read(2) that never
// waits; an empty socket is backend.ErrWouldBlock, and the callback then
// returns to wait. After a short read the socket held nothing more, so the
// next read answers ErrWouldBlock without asking: Serve keeps what the
// poller reported since, and wakes the callback at once if input arrived
// meanwhile.
func (c *guardConn) readInside(b []byte) (int, error) {
	if c.drained {
		return 0, backend.ErrWouldBlock
	}
	n, err := c.raw.ReadFD(c.fd, b)
	if err == backend.ErrWouldBlock {
		c.empties.Add(1)
	}
	if n > 0 {
		c.l.stats.read(n)
		c.drained = n < len(b)
	}
	return n, err
}

// empty reports whether the guard holds nothing to deliver: the next
// Read reads the socket.
func (c *guardConn) empty() bool {
	return len(c.pend) == 0 && c.ready == 0 && c.err == nil && !c.bigFrame
}

// arm sets the read deadline before a wait: client_idle_timeout, or
// drainGrace while the pool drains.
func (c *guardConn) arm() {
	l := c.l
	if l.idle > 0 && !l.draining.Load() {
		c.Conn.SetReadDeadline(time.Now().Add(l.idle))
	}
	if l.draining.Load() {
		// Re-checked after setting the idle deadline: a drain that
		// started meanwhile may have had its deadline overwritten.
		c.Conn.SetReadDeadline(time.Now().Add(drainGrace))
	}
}

// silent decides what a read or wait that hit its deadline does: it
// returns nil to wait again (the deadline is extended), or the error that
// ends the connection.
func (c *guardConn) silent(err error) error {
	l := c.l
	// Silent for the deadline. A client whose replies are still being
	// written, or a subscriber, is not idle (Redis counts writes as
	// interaction and never times out subscribers).
	draining := l.draining.Load()
	if c.busy != nil && c.busy() {
		wait := l.idle
		if draining || wait == 0 {
			wait = drainGrace
		}
		c.Conn.SetReadDeadline(time.Now().Add(wait))
		return nil
	}
	if draining {
		return io.EOF // done: everything it sent is answered
	}
	l.m.ClosedIdle.Inc()
	return err
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

// shut ends the connection from another goroutine (CLIENT KILL, an output
// limit, shutdown) without waiting for the connection's own goroutine: that
// one may be serving a batch inside raw.Serve's callback, which Close would
// wait for. The socket is shut down, which wakes any wait on it; the next
// read ends the connection, and its goroutine closes it.
func (c *guardConn) shut() {
	c.down.Store(true)
	if c.raw != nil {
		c.raw.Shutdown()
		return
	}
	c.Conn.Close() // no callback to wait for
}

// Close closes the connection and forgets it; only the connection's own
// goroutine closes it (others shut it).
func (c *guardConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := c.Conn.Close()
	c.l.untrack(c)
	return err
}

type guardError struct{}

func (guardError) Error() string { return "client protocol error" }

var errProtocolGuard error = guardError{}
