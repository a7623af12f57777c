package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// Options configure a Server. Zero values take the defaults documented on
// each field.
type Options struct {
	// Name identifies the server in errors, logs and metrics; default Addr.
	Name string
	// Addr is the server's "host:port".
	Addr string
	// Connections is the number of multiplexed connections; default 1.
	Connections int
	// Timeout bounds each request from enqueue to reply, and each dial and
	// handshake; default 1s.
	Timeout time.Duration
	// Auth, when not empty, is the password sent with AUTH on every new
	// connection (nutcracker's redis_auth).
	Auth string
	// Username, when not empty, is the ACL user of Auth: the handshake
	// sends AUTH <Username> <Auth>.
	Username string
	// DB, when not 0, is selected on every new connection.
	DB int
	// ReadOnly sends READONLY on every new connection (cluster replicas).
	ReadOnly bool
	// TLS, when not nil, wraps every connection in TLS. An empty
	// ServerName is taken from Addr's host.
	TLS *tls.Config
	// TLSSource, when not nil and TLS is not nil, gives the configuration
	// for each new connection instead of TLS, so that certificates read
	// again on a reload reach new connections.
	TLSSource func() *tls.Config
	// RequireMaster checks ROLE on every new connection and refuses a
	// server that is not a master (a Sentinel-managed master that was
	// demoted). See failover.go.
	RequireMaster bool
	// NotMaster, when set, is called (from connection goroutines; it must
	// not block) when RequireMaster refuses a connection or a reply is a
	// -READONLY error: the server's address is probably stale.
	NotMaster func()
	// QueueLimit bounds the requests waiting for a connection's writer;
	// beyond it requests fail at once. Default 65536.
	QueueLimit int
	// MinBackoff and MaxBackoff bound the pause between reconnect attempts,
	// which doubles after each failure; defaults 10ms and 1s.
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is the period of the PING sent on every connection to
	// notice a dead server without traffic; default 1s.
	HealthInterval time.Duration
	// KeepAlive is the TCP keep-alive period of the connections: 0 means
	// 30s, negative turns keep-alive off (nutcracker's tcpkeepalive: false).
	KeepAlive time.Duration
	// Observer receives events for metrics; default none.
	Observer Observer
	// Logger receives up/down transitions; default slog.Default().
	Logger *slog.Logger
	// OnPush, when set, turns on Redis's client-side caching on the
	// shared RESP3 connections (CLIENT TRACKING ON OPTIN: a key is tracked
	// only when a request says CLIENT CACHING yes first) and receives each
	// RESP3 push they get (an invalidation), raw, valid only during the
	// call; nil when a RESP3 connection is lost or replaced, since what it
	// tracked is forgotten. Called from connection goroutines: it must not
	// block.
	OnPush func(push []byte)
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name = o.Addr
	}
	if o.Connections <= 0 {
		o.Connections = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = 65536
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 10 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = time.Second
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = time.Second
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server is one Redis server reached through a fixed set of connections,
// each redialled in the background whenever it fails. It is safe for
// concurrent use.
type Server struct {
	opts Options
	obs  Observer
	log  *slog.Logger

	slots []slot
	live  atomic.Int32 // connections currently usable
	// slots3 are the RESP3 connections (HELLO 3), for sessions of RESP3
	// clients; started by the first PickProto(_, 3) (resp3.go).
	slots3 atomic.Pointer[[]slot]
	once3  sync.Mutex // guards starting slots3
	live3  atomic.Int32
	addr   atomic.Pointer[string]
	mv     mover // address changes and dedicated connections; failover.go
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup

	dmu       sync.Mutex
	dedicated map[*Dedicated]struct{} // guarded by dmu; open dedicated conns
	closed    bool                    // guarded by dmu
}

type slot struct {
	proto   int // 2 or 3: the protocol its connections speak
	cur     atomic.Pointer[Conn]
	lastErr atomic.Pointer[Error]
	// upSince is when cur's connection was made (unix ns), or 0 once the
	// slot has no connection on its way: a dial failed, the connection
	// died young (the slot backs off), or the server is closing. A
	// connection that dies after MaxBackoff is dialled again at once, so
	// requests wait for its successor instead of failing (see redialing).
	upSince atomic.Int64
}

// redialing reports whether the slot's connection is gone or going and its
// successor is being dialled at once (the connection lived past MaxBackoff).
func (sl *slot) redialing(maxBackoff time.Duration) bool {
	up := sl.upSince.Load()
	return up != 0 && time.Now().UnixNano()-up > int64(maxBackoff)
}

// NewServer starts the connections of a server and waits until each has
// made its first attempt (bounded by the timeout), so that a server which is
// up serves from the first request on.
func NewServer(opts Options) *Server {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:  opts,
		obs:   opts.Observer,
		log:   opts.Logger.With("server", opts.Name),
		slots: make([]slot, opts.Connections),
		ctx:   ctx,
		stop:  cancel,
	}
	s.addr.Store(&opts.Addr)
	s.mv.init()
	var first sync.WaitGroup
	for i := range s.slots {
		s.slots[i].proto = 2
		s.slots[i].lastErr.Store(&Error{Server: opts.Name, Kind: KindConnect, Cause: ErrNotConnected})
		first.Add(1)
		s.wg.Add(1)
		go s.maintain(&s.slots[i], &first)
	}
	first.Wait()
	return s
}

// Name returns the server's name.
func (s *Server) Name() string { return s.opts.Name }

// Addr returns the server's current address (see SetAddr).
func (s *Server) Addr() string { return *s.addr.Load() }

// Timeout returns the per-request timeout.
func (s *Server) Timeout() time.Duration { return s.opts.Timeout }

// Up reports whether at least one connection is usable.
func (s *Server) Up() bool { return s.live.Load() > 0 }

// InFlight returns the number of requests written and not yet answered.
func (s *Server) InFlight() int {
	n := 0
	for i := range s.slots {
		if c := s.slots[i].cur.Load(); c != nil {
			n += c.InFlight()
		}
	}
	if p := s.slots3.Load(); p != nil {
		for i := range *p {
			if c := (*p)[i].cur.Load(); c != nil {
				n += c.InFlight()
			}
		}
	}
	return n
}

// Pick returns a usable connection, preferring the hint-th one so that a
// client session keeps using the same connection (which keeps its commands in
// order). When none is usable it returns the last connection error.
func (s *Server) Pick(hint int) (*Conn, *Error) {
	c, err, wait := s.pick(hint)
	if wait != noWait {
		return s.awaitIn(s.slots, hint)
	}
	return c, err
}

// waitFor says why no connection is usable now although one is on its way.
type waitFor int

const (
	noWait waitFor = iota
	// waitMove: the address just changed and connections to the new one
	// are being dialled; those to the old one are never handed out.
	waitMove
	// waitRedial: a long-lived connection failed (a timeout, a reset) and
	// is being replaced at once. With one connection per server, failing
	// meanwhile would hand the error of one request to the requests that
	// arrive in the next millisecond.
	waitRedial
)

// pick is one pass of Pick.
func (s *Server) pick(hint int) (*Conn, *Error, waitFor) {
	return s.pickIn(s.slots, hint)
}

// pickIn is pick over one set of slots.
func (s *Server) pickIn(slots []slot, hint int) (*Conn, *Error, waitFor) {
	n := len(slots)
	if hint < 0 {
		hint = -hint
	}
	gen := s.mv.gen.Load()
	var dying *Error
	stale, redial := false, false
	for i := 0; i < n; i++ {
		sl := &slots[(hint+i)%n]
		if c := sl.cur.Load(); c != nil {
			err := c.Err()
			if err == nil {
				if c.gen == gen {
					return c, nil, noWait
				}
				stale = true
				continue
			}
			if dying == nil {
				dying = err // fresher than lastErr until the slot notices
			}
		}
		redial = redial || sl.redialing(s.opts.MaxBackoff)
	}
	switch {
	case stale:
		return nil, nil, waitMove
	case redial && s.ctx.Err() == nil:
		return nil, nil, waitRedial
	}
	if dying != nil {
		return nil, dying, noWait
	}
	return nil, slots[hint%n].lastErr.Load(), noWait
}

// Close stops every connection, failing what they hold, closes every
// dedicated connection handed out, and waits for the background goroutines.
// It is idempotent.
func (s *Server) Close() {
	s.stop()
	s.dmu.Lock()
	s.closed = true
	open := s.dedicated
	s.dedicated = nil
	s.dmu.Unlock()
	for d := range open {
		d.close()
	}
	s.wg.Wait()
}

// Closed reports whether Close was called.
func (s *Server) Closed() bool {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return s.closed
}

// maintain keeps one slot connected for the server's lifetime.
func (s *Server) maintain(sl *slot, first *sync.WaitGroup) {
	defer s.wg.Done()
	backoff := s.opts.MinBackoff
	signalled := false
	signal := func() {
		if !signalled {
			signalled = true
			first.Done()
		}
	}
	defer signal()
	defer sl.upSince.Store(0)
	everUp := false
	for {
		moved := s.mv.current()
		c, err := s.connect(sl.proto)
		if err != nil {
			sl.lastErr.Store(err)
			sl.upSince.Store(0) // requests waiting for it fail now
			s.obs.Failed(KindConnect)
			signal()
			select {
			case <-s.ctx.Done():
				return
			case <-moved:
				backoff = s.opts.MinBackoff // a new address: try it at once
				continue
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, s.opts.MaxBackoff)
			continue
		}
		if everUp {
			s.obs.Reconnect()
		}
		everUp = true
		c.start()
		sl.cur.Store(c)
		upSince := time.Now()
		sl.upSince.Store(upSince.UnixNano())
		s.mv.check(c, moved) // SetAddr may have run while connecting
		live := &s.live
		if sl.proto == 3 {
			live = &s.live3 // Up and the up/down metric follow RESP2's
		}
		if live.Add(1) == 1 && sl.proto != 3 {
			s.obs.Up(true)
			s.log.Info("backend up", "addr", s.Addr())
		}
		signal()
		c = s.watch(sl, c, moved)
		sl.cur.Store(nil)
		s.lostTracking(sl)
		sl.lastErr.Store(c.err)
		if live.Add(-1) == 0 && sl.proto != 3 {
			s.obs.Up(false)
			if s.ctx.Err() == nil {
				s.log.Warn("backend down", "addr", s.Addr(), "cause", c.err.Error())
			}
		}
		<-c.drained
		if s.ctx.Err() != nil {
			return
		}
		if isClosed(moved) {
			// The address changed during this connection's life: the
			// next one goes to the new address, at once.
			backoff = s.opts.MinBackoff
			continue
		}
		// A connection that lived a while earned an immediate redial; one
		// that died young keeps backing off, and requests meanwhile fail.
		if time.Since(upSince) > s.opts.MaxBackoff {
			backoff = s.opts.MinBackoff
			continue
		}
		sl.upSince.Store(0)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// pingWire is the health check sent on every connection once per
// HealthInterval.
var pingWire = resp.AppendCommand(nil, "PING")

// watch returns once the slot's connection has failed or the server is
// closing (closing it), and returns that connection. It pings the
// connection periodically: a connection only reads while a request is in
// flight, so without traffic a dead server would go unnoticed, and the
// server would look up to /readyz and INFO. When the server's address
// changes (moved is closed) it dials the new address, swaps the new
// connection in and retires the old one (see retire).
func (s *Server) watch(sl *slot, c *Conn, moved chan struct{}) *Conn {
	t := time.NewTicker(s.opts.HealthInterval)
	defer t.Stop()
	ping := NewRequest()
	for {
		select {
		case <-c.dying:
			return c
		case <-s.ctx.Done():
			c.Close()
			return c
		case <-moved:
			moved = s.mv.current()
			nc, err := s.connect(sl.proto)
			if err != nil {
				// The new master is not reachable yet: never keep using
				// the old one, which may still accept writes that the new
				// master will not have.
				c.fail(movedError(s))
				return c
			}
			nc.start()
			sl.cur.Store(nc)
			s.mv.check(nc, moved)
			s.retire(c)
			s.lostTracking(sl)
			c = nc
		case <-t.C:
			ping.Reset()
			ping.Wire = pingWire
			c.Enqueue(ping)
			ping.Wait() // bounded by the timeout; a failure kills c
		}
	}
}

// connect dials the server and runs the handshake (AUTH, HELLO 3 when
// proto is 3, SELECT, READONLY).
func (s *Server) connect(proto int) (*Conn, *Error) {
	gen := s.mv.gen.Load() // before dial reads the address: see SetAddr
	nc, err := s.dial()
	if err != nil {
		return nil, err
	}
	c := newConn(s, nc)
	c.gen = gen
	c.proto = proto
	if err := s.handshake(nc, c.br, proto, s.opts.OnPush != nil); err != nil {
		return nil, err
	}
	return c, nil
}

// dial opens a TCP connection to the server, bounded by the timeout and
// cancelled by Close.
func (s *Server) dial() (net.Conn, *Error) {
	keepAlive := s.opts.KeepAlive
	if keepAlive == 0 {
		keepAlive = 30 * time.Second
	}
	d := net.Dialer{Timeout: s.opts.Timeout, KeepAlive: keepAlive}
	addr := s.Addr()
	if addr == "" {
		return nil, &Error{Server: s.opts.Name, Kind: KindConnect, Cause: ErrNoAddr}
	}
	nc, err := d.DialContext(s.ctx, "tcp", addr)
	if err != nil {
		return nil, &Error{Server: s.opts.Name, Kind: KindConnect, Cause: trimDialError(err)}
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if cfg := s.opts.tlsConfig(); cfg != nil {
		tc, err := tlsClient(s.ctx, nc, cfg, s.opts.Addr, s.opts.Timeout)
		if err != nil {
			return nil, &Error{Server: s.opts.Name, Kind: KindConnect, Cause: err}
		}
		nc = tc
	}
	return nc, nil
}

// tlsConfig is the TLS configuration of a new connection; nil for plain
// TCP.
func (o *Options) tlsConfig() *tls.Config {
	if o.TLS != nil && o.TLSSource != nil {
		if cfg := o.TLSSource(); cfg != nil {
			return cfg
		}
	}
	return o.TLS
}

// tlsClient runs a TLS handshake on nc within timeout; it closes nc when
// the handshake fails.
func tlsClient(ctx context.Context, nc net.Conn, cfg *tls.Config, addr string, timeout time.Duration) (net.Conn, error) {
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// handshake sends AUTH, HELLO 3 (proto 3), SELECT and READONLY as
// configured on a new connection and checks their replies, read through
// br. It closes nc when it fails.
func (s *Server) handshake(nc net.Conn, br *bufio.Reader, proto int, track bool) *Error {
	var hs []byte
	n := 0
	if s.opts.Auth != "" {
		hs = appendAuth(hs, s.opts.Username, s.opts.Auth)
		n++
	}
	if proto == 3 {
		hs = append(hs, hello3Wire...)
		n++
		if track {
			hs = append(hs, trackingWire...)
			n++
		}
	}
	if s.opts.DB != 0 {
		hs = resp.AppendCommand(hs, "SELECT", strconv.Itoa(s.opts.DB))
		n++
	}
	if s.opts.ReadOnly {
		hs = resp.AppendCommand(hs, "READONLY")
		n++
	}
	if s.opts.RequireMaster {
		hs = resp.AppendCommand(hs, "ROLE")
		n++
	}
	if n == 0 {
		return nil
	}
	nc.SetDeadline(time.Now().Add(s.opts.Timeout))
	if _, err := nc.Write(hs); err != nil {
		nc.Close()
		return &Error{Server: s.opts.Name, Kind: KindConnect, Cause: err}
	}
	var reply []byte
	var err error
	for i := 0; i < n; i++ {
		reply, err = resp.ReadReply(br, reply[:0])
		if err != nil {
			nc.Close()
			return &Error{Server: s.opts.Name, Kind: KindConnect, Cause: fmt.Errorf("handshake: %w", err)}
		}
		if reply[0] == '-' {
			nc.Close()
			return &Error{Server: s.opts.Name, Kind: KindConnect, Cause: fmt.Errorf("handshake: %s", trimCRLF(reply[1:]))}
		}
		if s.opts.RequireMaster && i == n-1 {
			if err := checkRole(reply); err != nil {
				nc.Close()
				if s.opts.NotMaster != nil {
					s.opts.NotMaster()
				}
				return &Error{Server: s.opts.Name, Kind: KindConnect, Cause: err}
			}
		}
	}
	nc.SetDeadline(time.Time{})
	return nil
}

// trimDialError drops the "dial tcp 127.0.0.1:7001:" prefix that repeats
// what the error text already says.
func trimDialError(err error) error {
	if oe, ok := err.(*net.OpError); ok && oe.Err != nil {
		return oe.Err
	}
	return err
}

func trimCRLF(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b)
}

// appendAuth appends AUTH [user] pass.
func appendAuth(dst []byte, user, pass string) []byte {
	if user != "" {
		return resp.AppendCommand(dst, "AUTH", user, pass)
	}
	return resp.AppendCommand(dst, "AUTH", pass)
}
