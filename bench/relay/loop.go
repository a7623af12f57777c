package relay

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lesismal/nbio"
	"github.com/tidwall/redcon"
)

// Loop is the event-loop prototype of issue 8: a minimal Redis sharding
// proxy on nbio's epoll pollers. Client and backend connections share the
// pollers; each poller owns one backend connection per shard, so a
// client, the backends it talks to and every piece of state between them
// are touched by one goroutine and need no locks. Commands are parsed with
// redcon's codec and routed by the CRC-32 of their first key modulo the
// number of shards (no key: shard 0); PING is answered locally.
//
// Writes batch per read, not per loop turn: every command of one client
// read is appended to its shard's buffer and each touched shard gets one
// write; every reply of one backend read is matched to its client and each
// touched client gets one write. nbio offers no end-of-turn hook, so
// batching across clients in one turn (what twemproxy does) is not done.
//
// Replies come back in order per client even when its pipeline spans
// shards: a reply that completes ahead of an earlier one waits in its slot.
// A backend connection that fails fails its pending requests with an error
// reply and its shard answers errors from then on (no reconnect: this is a
// measurement prototype, not the proxy).
type Loop struct {
	eng   *nbio.Engine
	ln    net.Listener
	loops []*loopState

	closeOnce sync.Once
	stopping  atomic.Bool
}

// loopState is one poller's share: its backends and recycled slots. Only
// that poller's goroutine touches it once running.
type loopState struct {
	backends []*backend
	free     []*slot
	// clients and shards touched by the read being handled, flushed once
	// at its end.
	touchedClients []*client
	touchedShards  []*backend
}

// conn is what the shared core writes to and closes: an nbio connection
// (Loop) or a socket of TurnLoop's own.
type conn interface {
	Write(b []byte) (int, error)
	Close() error
}

type backend struct {
	c     conn
	ls    *loopState
	shard int
	out   []byte
	in    []byte
	// fifo holds the requests sent and not yet answered, oldest at head.
	fifo    []*slot
	head    int
	dead    bool
	touched bool
}

type client struct {
	c    conn
	ls   *loopState
	in   []byte
	out  []byte
	args [][]byte
	// q holds this client's requests in arrival order, oldest at qh.
	q       []*slot
	qh      int
	closed  atomic.Bool
	touched bool
}

// slot is one request's place in its client's reply order.
type slot struct {
	owner *client
	ready bool
	buf   []byte
}

// NewLoop starts the event-loop relay listening on listen (host:port, port
// 0 for a free one) in front of shards, with procs pollers (0: GOMAXPROCS).
// Close stops it.
func NewLoop(listen string, shards []string, procs int) (*Loop, error) {
	if len(shards) == 0 {
		return nil, errors.New("relay: no shards")
	}
	if procs <= 0 {
		procs = runtime.GOMAXPROCS(0)
	}
	l := &Loop{}
	l.eng = nbio.NewEngine(nbio.Config{
		Name:    "relay",
		Network: "tcp",
		Addrs:   []string{listen},
		NPoller: procs,
		Listen: func(network, addr string) (net.Listener, error) {
			ln, err := net.Listen(network, addr)
			if err == nil {
				l.ln = ln
			}
			return ln, err
		},
	})
	l.eng.OnData(func(c *nbio.Conn, data []byte) {
		if h := c.DataHandler(); h != nil {
			h(c, data)
			return
		}
		l.onClientData(c, data)
	})
	l.eng.OnClose(func(c *nbio.Conn, _ error) {
		switch s := c.Session().(type) {
		case *client:
			s.closed.Store(true)
		case *backend:
			// Closed by the shard or by fail; on Close the engine is
			// stopping and no client is left to answer.
			if !l.stopping.Load() {
				s.fail()
			}
		}
	})
	for range procs {
		l.loops = append(l.loops, &loopState{backends: make([]*backend, len(shards))})
	}
	if err := l.eng.Start(); err != nil {
		return nil, err
	}
	if err := l.dialBackends(shards); err != nil {
		l.eng.Stop()
		return nil, err
	}
	return l, nil
}

// dialBackends opens one connection per shard per poller. nbio assigns a
// connection to poller fd % NPoller, so it dials until every (poller,
// shard) has one, then closes the extras.
func (l *Loop) dialBackends(shards []string) error {
	n := len(l.loops)
	var extra []net.Conn
	defer func() {
		for _, c := range extra {
			_ = c.Close()
		}
	}()
	for s, addr := range shards {
		missing := n
		for tries := 0; missing > 0; tries++ {
			if tries > 64*n {
				return fmt.Errorf("relay: could not place a connection to %s on every poller", addr)
			}
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			c, err := nbio.NBConn(nc)
			if err != nil {
				_ = nc.Close()
				return err
			}
			ls := l.loops[c.Hash()%n]
			if ls.backends[s] != nil {
				extra = append(extra, c)
				continue
			}
			_ = c.SetNoDelay(true)
			b := &backend{c: c, ls: ls, shard: s}
			c.SetSession(b)
			c.OnData(func(_ *nbio.Conn, data []byte) { b.onData(data) })
			if _, err := l.eng.AddConn(c); err != nil {
				return err
			}
			ls.backends[s] = b
			missing--
		}
	}
	return nil
}

// Addr returns the address clients connect to.
func (l *Loop) Addr() string {
	if l.ln == nil {
		return ""
	}
	return l.ln.Addr().String()
}

// Close stops the pollers and closes every connection.
func (l *Loop) Close() error {
	l.closeOnce.Do(func() {
		l.stopping.Store(true)
		l.eng.Stop()
	})
	return nil
}

func (ls *loopState) getSlot(owner *client) *slot {
	if n := len(ls.free); n > 0 {
		s := ls.free[n-1]
		ls.free = ls.free[:n-1]
		s.owner = owner
		return s
	}
	return &slot{owner: owner}
}

func (ls *loopState) putSlot(s *slot) {
	s.owner, s.ready, s.buf = nil, false, s.buf[:0]
	if cap(s.buf) > 64<<10 {
		s.buf = nil
	}
	ls.free = append(ls.free, s)
}

var (
	pingCmd  = []byte("ping")
	pongResp = []byte("+PONG\r\n")
)

// onClientData parses every complete command in data, queues each on its
// shard and writes each touched shard once.
func (l *Loop) onClientData(c *nbio.Conn, data []byte) {
	cl, _ := c.Session().(*client)
	if cl == nil {
		cl = &client{c: c, ls: l.loops[c.Hash()%len(l.loops)]}
		_ = c.SetNoDelay(true)
		c.SetSession(cl)
	}
	if !cl.commands(data) {
		_, _ = c.Write(cl.out)
		_ = c.Close()
		return
	}
	cl.ls.flushShards()
	// Local replies (PING) at the head can go now.
	cl.drain()
	if len(cl.out) > 0 {
		_, _ = c.Write(cl.out)
		cl.out = cl.out[:0]
	}
}

// commands parses every complete command in data and queues each on its
// shard's output, marking the shard touched; what is ready at once (PING,
// a dead shard's error) waits in its slot. A protocol error leaves its
// reply in cl.out and returns false: the client is to be closed.
func (cl *client) commands(data []byte) bool {
	ls := cl.ls
	buf := data
	if len(cl.in) > 0 {
		cl.in = append(cl.in, data...)
		buf = cl.in
	}
	for len(buf) > 0 {
		complete, args, kind, rest, err := redcon.ReadNextCommand(buf, cl.args[:0])
		if err != nil {
			cl.out = redcon.AppendError(cl.out, "ERR Protocol error: "+err.Error())
			return false
		}
		if !complete {
			break
		}
		cl.args = args
		raw := buf[:len(buf)-len(rest)]
		buf = rest
		if len(args) == 0 {
			continue
		}
		s := ls.getSlot(cl)
		cl.q = append(cl.q, s)
		if len(args) == 1 && equalFold(args[0], pingCmd) {
			s.buf = append(s.buf, pongResp...)
			s.ready = true
			continue
		}
		shard := 0
		if len(args) > 1 {
			shard = routeKey(args[1], len(ls.backends))
		}
		b := ls.backends[shard]
		if b.dead {
			s.buf = redcon.AppendError(s.buf, "ERR relay: backend connection closed")
			s.ready = true
			continue
		}
		if kind == redcon.Redis {
			b.out = append(b.out, raw...)
		} else {
			b.out = redcon.AppendArray(b.out, len(args))
			for _, a := range args {
				b.out = redcon.AppendBulk(b.out, a)
			}
		}
		b.fifo = append(b.fifo, s)
		if !b.touched {
			b.touched = true
			ls.touchedShards = append(ls.touchedShards, b)
		}
	}
	// Keep the partial command; data belongs to the caller's read buffer.
	cl.in = append(cl.in[:0], buf...)
	return true
}

// flushShards writes every touched shard's queued commands once.
func (ls *loopState) flushShards() {
	for _, b := range ls.touchedShards {
		b.touched = false
		if _, err := b.c.Write(b.out); err != nil {
			b.fail()
		}
		b.out = b.out[:0]
	}
	ls.touchedShards = ls.touchedShards[:0]
}

// drain moves every ready reply at the head of the queue to out.
func (cl *client) drain() {
	for cl.qh < len(cl.q) && cl.q[cl.qh].ready {
		s := cl.q[cl.qh]
		cl.q[cl.qh] = nil
		cl.qh++
		cl.out = append(cl.out, s.buf...)
		cl.ls.putSlot(s)
	}
	if cl.qh == len(cl.q) {
		cl.q, cl.qh = cl.q[:0], 0
	} else if cl.qh > 1024 && cl.qh > len(cl.q)/2 {
		n := copy(cl.q, cl.q[cl.qh:])
		clear(cl.q[n:])
		cl.q, cl.qh = cl.q[:n], 0
	}
}

// onData matches every complete reply in data to the oldest pending
// request and writes each touched client once.
func (b *backend) onData(data []byte) {
	if b.replies(data) {
		b.ls.flushClients()
	}
}

// replies matches every complete reply in data to the oldest pending
// request: a reply whose request is at its client's head goes to the
// client's output (the client is marked touched), a later one waits in its
// slot. It returns false if the backend failed on the way (fail has then
// answered and flushed).
func (b *backend) replies(data []byte) bool {
	ls := b.ls
	buf := data
	if len(b.in) > 0 {
		b.in = append(b.in, data...)
		buf = b.in
	}
	for len(buf) > 0 {
		n, err := replyLen(buf)
		if err != nil {
			b.fail()
			return false
		}
		if n == 0 {
			break
		}
		reply := buf[:n]
		buf = buf[n:]
		if b.head == len(b.fifo) {
			// A reply nobody asked for: the stream is out of step.
			b.fail()
			return false
		}
		s := b.fifo[b.head]
		b.fifo[b.head] = nil
		b.head++
		cl := s.owner
		if cl.closed.Load() {
			// Its client went: drop the reply once it is at the head.
			s.ready = true
			s.buf = s.buf[:0]
			cl.dropClosed()
			continue
		}
		if cl.q[cl.qh] == s {
			// At the head: straight to the client's output.
			cl.out = append(cl.out, reply...)
			cl.q[cl.qh] = nil
			cl.qh++
			ls.putSlot(s)
			cl.drain()
		} else {
			s.buf = append(s.buf, reply...)
			s.ready = true
		}
		if !cl.touched {
			cl.touched = true
			ls.touchedClients = append(ls.touchedClients, cl)
		}
	}
	if b.head == len(b.fifo) {
		b.fifo, b.head = b.fifo[:0], 0
	} else if b.head > 1024 && b.head > len(b.fifo)/2 {
		n := copy(b.fifo, b.fifo[b.head:])
		clear(b.fifo[n:])
		b.fifo, b.head = b.fifo[:n], 0
	}
	b.in = append(b.in[:0], buf...)
	return true
}

func (ls *loopState) flushClients() {
	for _, cl := range ls.touchedClients {
		cl.touched = false
		if len(cl.out) > 0 && !cl.closed.Load() {
			_, _ = cl.c.Write(cl.out)
		}
		cl.out = cl.out[:0]
	}
	clear(ls.touchedClients)
	ls.touchedClients = ls.touchedClients[:0]
}

// dropClosed recycles the ready slots at the head of a closed client's
// queue.
func (cl *client) dropClosed() {
	for cl.qh < len(cl.q) && cl.q[cl.qh].ready {
		cl.ls.putSlot(cl.q[cl.qh])
		cl.q[cl.qh] = nil
		cl.qh++
	}
}

// fail closes a backend and answers its pending requests with an error.
func (b *backend) fail() {
	if b.dead {
		return
	}
	b.dead = true
	_ = b.c.Close()
	for _, s := range b.fifo[b.head:] {
		s.buf = redcon.AppendError(s.buf[:0], "ERR relay: backend connection closed")
		s.ready = true
		cl := s.owner
		if cl.closed.Load() {
			cl.dropClosed()
			continue
		}
		cl.drain()
		if !cl.touched {
			cl.touched = true
			b.ls.touchedClients = append(b.ls.touchedClients, cl)
		}
	}
	clear(b.fifo)
	b.fifo, b.head = b.fifo[:0], 0
	b.ls.flushClients()
}

// routeKey returns the shard of key: CRC-32 (IEEE) modulo n.
func routeKey(key []byte, n int) int {
	return int(crc32.ChecksumIEEE(key) % uint32(n))
}

func equalFold(a, lower []byte) bool {
	return len(a) == len(lower) && strings.EqualFold(string(a), string(lower))
}

var errReply = errors.New("relay: malformed reply")

// replyLen returns the length of the complete RESP2 reply at the start of
// b, or 0 if b holds only part of it.
func replyLen(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	end := lineEnd(b)
	if end < 0 {
		return 0, nil
	}
	switch b[0] {
	case '+', '-', ':':
		return end, nil
	case '$':
		n, ok := atoi(b[1 : end-2])
		if !ok {
			return 0, errReply
		}
		if n < 0 {
			return end, nil
		}
		total := end + n + 2
		if len(b) < total {
			return 0, nil
		}
		return total, nil
	case '*':
		n, ok := atoi(b[1 : end-2])
		if !ok {
			return 0, errReply
		}
		off := end
		for range max(n, 0) {
			m, err := replyLen(b[off:])
			if err != nil || m == 0 {
				return 0, err
			}
			off += m
		}
		return off, nil
	}
	return 0, errReply
}

// lineEnd returns the index just past the first CRLF, or -1.
func lineEnd(b []byte) int {
	for i := 1; i < len(b); i++ {
		if b[i] == '\n' && b[i-1] == '\r' {
			return i + 1
		}
	}
	return -1
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' || n > math.MaxInt/10-1 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
