package router

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/metrics"
)

type backendRequest = backend.Request

// Options configure a Proxy beyond its configuration file.
type Options struct {
	// Version is reported by INFO and HELLO.
	Version string
	// Logger receives the proxy's logs; default slog.Default().
	Logger *slog.Logger
	// Metrics receives the proxy's metrics; default a private registry.
	Metrics *metrics.Metrics
}

// Proxy serves every pool of a configuration. Create it with New, start it
// with Serve, stop it with Close.
type Proxy struct {
	pools    []*Pool
	log      *slog.Logger
	metrics  *metrics.Metrics
	reloadMu sync.Mutex
	wg       sync.WaitGroup
	once     sync.Once
	draining atomic.Bool
}

// Pool is one configured pool: a listener, its client sessions and the
// backend servers behind it.
type Pool struct {
	cfg     *config.Pool
	version string
	log     *slog.Logger
	topo    atomic.Pointer[topoBox] // where keys live; swapped whole by Reload
	// eject is the auto_eject_hosts state of a ring pool; nil when off.
	eject *ejection
	ln    net.Listener
	gl    *guardListener // ln, with the client-side limits
	fds   *fdBudget      // shared by every pool of the proxy
	track tracker        // client-side caching: keys read by tracking clients

	tlsServer   atomic.Pointer[tls.Config] // towards clients; nil for plain TCP
	tlsBack     *tls.Config                // towards the servers; nil for plain TCP
	tlsSentinel *tls.Config                // towards the sentinels; nil for plain TCP
	// tlsSentinelCur is tlsSentinel as last read (reloadTLS replaces it).
	tlsSentinelCur atomic.Pointer[tls.Config]
	// tlsBackCur is tlsBack with the certificate files as last read:
	// new backend connections use it (reloadTLS replaces it).
	tlsBackCur atomic.Pointer[tls.Config]
	started    time.Time
	nextID     atomic.Int64
	stats      poolStats
	m          *metrics.Pool
	metrics    *metrics.Metrics
	stop       chan struct{} // closed by close
	access     *poolAccess   // client users and command policy (acl.go)
	hub        *pubsubHub    // shared subscriber connections (pubsub.go)
	hubMetrics *pubsubCollector
	mem        *memReturner // returns large values' memory (memreturn.go)

	idle       idleSet      // dedicated connections kept for reuse (pin.go)
	sessions   sync.Map     // client id -> *Session, for CLIENT LIST/KILL/UNBLOCK
	blocked    atomic.Int64 // clients in a blocking command, up to max_blocking
	backendIDs sync.Map     // *backend.Dedicated -> its backend client id

	mu      sync.Mutex     // guards closing and the Add of wg
	closing bool           // close has begun: spawn starts nothing
	wg      sync.WaitGroup // goroutines started by spawn; close waits for them
	live    sync.WaitGroup // one per accepted client; serve waits for them

	// onSession, set by tests before Serve, sees every new session.
	onSession func(*Session)
}

// New builds every pool of cfg: it connects to the servers and binds the
// listen addresses, but serves no client until Serve.
func New(cfg *config.Config, opts Options) (*Proxy, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(opts.Version, runtime.Version())
	}
	p := &Proxy{log: opts.Logger, metrics: opts.Metrics}
	if err := CheckConfig(cfg); err != nil {
		return nil, err
	}
	for _, pc := range cfg.Pools {
		access, _ := newPoolAccess(cfg.File, pc) // checked above
		pool, err := newPool(pc, opts)
		if err != nil {
			p.Close()
			return nil, err
		}
		pool.access = access
		p.pools = append(p.pools, pool)
	}
	fds := newFDBudget(cfg.Pools, p.log)
	for _, pool := range p.pools {
		pool.fds = fds
	}
	return p, nil
}

func newPool(pc *config.Pool, opts Options) (*Pool, error) {
	p := &Pool{
		cfg:     pc,
		version: opts.Version,
		log:     opts.Logger.With("pool", pc.Name),
		started: time.Now(),
		stop:    make(chan struct{}),
		mem:     newMemReturner(),
	}
	p.hub = newPubsubHub(p)
	cluster := pc.Mode == config.ModeCluster
	srvTLS, err := serverTLS(pc)
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", pc.Name, err)
	}
	p.tlsServer.Store(srvTLS)
	if p.tlsBack, err = backendTLS(pc); err != nil {
		return nil, fmt.Errorf("pool %s: %w", pc.Name, err)
	}
	p.tlsBackCur.Store(p.tlsBack)
	if p.tlsSentinel, err = sentinelTLS(pc); err != nil {
		return nil, fmt.Errorf("pool %s: %w", pc.Name, err)
	}
	p.tlsSentinelCur.Store(p.tlsSentinel)
	p.metrics = opts.Metrics
	p.hubMetrics = newPubsubCollector(p)
	if err := p.metrics.Registry().Register(p.hubMetrics); err != nil {
		p.log.Warn("pub/sub metrics not registered", "error", err)
	}
	p.m, err = opts.Metrics.Pool(pc.Name, metrics.PoolOptions{
		CommandNames:         command.Names(),
		Cluster:              cluster,
		MaxClientConnections: pc.ClientConnections,
	})
	if err != nil {
		return nil, fmt.Errorf("pool %s: metrics: %w", pc.Name, err)
	}
	p.stats.m = p.m
	switch {
	case cluster:
		err = p.startCluster(opts)
	default:
		if pc.AutoEjectHosts {
			p.eject = &ejection{pool: p}
		}
		err = p.startRing()
	}
	if err != nil {
		p.close()
		opts.Metrics.RemovePool(pc.Name)
		return nil, fmt.Errorf("pool %s: %w", pc.Name, err)
	}
	ln, err := listen(pc.Listen, pc.Backlog, pc.ListenPerm)
	if err != nil {
		p.close()
		opts.Metrics.RemovePool(pc.Name)
		return nil, fmt.Errorf("pool %s: listen %s: %w", pc.Name, pc.Listen, err)
	}
	if srvTLS != nil {
		ln = p.listenTLS(ln)
	}
	p.gl = newGuardListener(ln, p)
	p.ln = p.gl
	return p, nil
}

func (p *Pool) serverOptions(name, addr string, obs backend.Observer) backend.Options {
	return backend.Options{
		Name:        name,
		Addr:        addr,
		Connections: p.cfg.ServerConnections,
		Timeout:     p.cfg.Timeout,
		Auth:        p.cfg.RedisAuth,
		TLS:         p.tlsBack,
		TLSSource:   p.tlsBackCur.Load,
		Username:    p.cfg.RedisUsername,
		DB:          p.cfg.RedisDB,
		Logger:      p.log,
		// Every connection is PINGed this often: it feeds Up, /readyz
		// and INFO (and the Ejector's own checks share the period).
		HealthInterval: p.cfg.HealthCheckInterval,
		Observer:       obs,
		KeepAlive:      keepAlive(p.cfg.TCPKeepalive),
		OnPush:         p.track.onPush, // client-side caching (tracking.go)
	}
}

// keepAlive is the backend.Options.KeepAlive of nutcracker's tcpkeepalive:
// off unless enabled, as in nutcracker. Dead servers are still noticed
// without it: every connection sends a health PING each second.
func keepAlive(enabled bool) time.Duration {
	if enabled {
		return 0 // the backend's default period
	}
	return -1
}

// Pools returns the pools in configuration order.
func (p *Proxy) Pools() []*Pool { return p.pools }

// Serve serves clients on every pool until Close; it returns once every
// pool has stopped.
func (p *Proxy) Serve() error {
	errs := make(chan error, len(p.pools))
	for _, pool := range p.pools {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			errs <- pool.serve()
		}()
	}
	p.wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// Close stops accepting clients, closes every client connection and every
// backend connection. It is idempotent.
func (p *Proxy) Close() error {
	p.once.Do(func() {
		for _, pool := range p.pools {
			pool.close()
		}
	})
	return nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.cfg.Name }

// Addr returns the address the pool listens on.
func (p *Pool) Addr() string { return p.ln.Addr().String() }

// Port returns the TCP port the pool listens on (0 for a unix socket).
func (p *Pool) Port() int {
	if a, ok := p.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Servers returns the pool's backend servers: in configuration order in
// ring mode, every known node by address in cluster mode.
func (p *Pool) Servers() []*backend.Server { return p.topology().servers() }

// Ready reports whether the pool can serve every key, and if not what is
// missing: a ring server that is down, or in cluster mode a slot without a
// master or a master that is down.
func (p *Pool) Ready() (bool, string) {
	var missing []string
	t := p.topology()
	if msg := t.unready(); msg != "" {
		missing = append(missing, msg)
	}
	var down []string
	for _, s := range t.shards() {
		if !s.Up() {
			down = append(down, s.Name())
		}
	}
	if len(down) > 0 {
		missing = append(missing, fmt.Sprintf("backends down: %v", down))
	}
	if len(missing) == 0 {
		return true, ""
	}
	return false, fmt.Sprintf("pool %s: %s", p.cfg.Name, strings.Join(missing, "; "))
}

// serve serves clients until close, then waits for every client session to
// end (serveClients closes their connections when the listener goes).
func (p *Pool) serve() error {
	p.spawn(p.sampleOps)
	p.spawn(func() { p.mem.run(p.stop) })
	err := p.serveClients(p.ln)
	p.live.Wait()
	return err
}

// spawn runs fn in a goroutine the pool owns: close waits for it, and fn
// must return once p.stop is closed. After close has begun it runs nothing
// and returns false.
func (p *Pool) spawn(fn func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
	return true
}

// close stops the listener and the pool's goroutines, waits for them, then
// closes every backend server. It is idempotent.
func (p *Pool) close() {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return
	}
	p.closing = true
	p.mu.Unlock()
	close(p.stop)
	if p.ln != nil {
		p.ln.Close()
	}
	p.hub.close()
	if p.hubMetrics != nil {
		p.metrics.Registry().Unregister(p.hubMetrics)
	}
	p.wg.Wait()
	p.closeEjection()
	p.idle.closeAll()
	if t := p.topo.Load(); t != nil {
		t.t.close()
	}
}

// accept sets up the session of a new client connection, or refuses the
// client (its caller closes the connection).
func (p *Pool) accept(conn *clientConn) bool {
	n := p.stats.clients.Add(1)
	if limit := p.cfg.ClientConnections; limit > 0 && n > int64(limit) || !p.fds.take() {
		p.stats.clients.Add(-1)
		p.stats.rejected.Add(1)
		p.m.Rejected.Inc()
		conn.nc.Write([]byte("-ERR max number of clients reached\r\n"))
		return false
	}
	p.stats.accepted.Add(1)
	p.m.Accepted.Inc()
	p.m.ClientConnections.Inc()
	s := newSession(p, p.nextID.Add(1))
	s.addr = conn.nc.RemoteAddr().String()
	nc := conn.nc
	gc, guarded := nc.(*guardConn)
	if guarded {
		nc = gc.Conn // the writer counts its bytes itself
	}
	s.pub.fd = connFD(nc)
	s.pub.laddr = nc.LocalAddr().String()
	if nc.LocalAddr().Network() == "unix" {
		// As Redis names a unix socket client: the socket's path, port 0.
		s.pub.unix = true
		s.pub.laddr += ":0"
		s.addr = s.pub.laddr
	}
	sock := newNetSocket(nc)
	if guarded {
		sock.shut = gc.shut
	}
	s.w = newClientWriter(p, sock, s.addr)
	s.nc = nc
	if guarded {
		s.pub.in = gc // before register: other sessions read it
	}
	p.register(s)
	if guarded {
		w := s.w
		gc.refuseOut = func(b []byte) { w.write(b); w.drain() }
		gc.busy = func() bool { return w.used.Load() > 0 || outClass(w.class.Load()) == outPubsub }
		gc.unauthed = func() bool { return !s.authenticated() }
		gc.big = func(cmd redcon.Command) { s.serve(conn, cmd, nil) }
	}
	conn.s, s.cc = s, conn
	// serveClients runs the session's goroutine, which calls closed when
	// it ends; accept runs in the accepting goroutine, so this Add
	// precedes serve's Wait.
	p.live.Add(1)
	if p.onSession != nil {
		p.onSession(s)
	}
	return true
}

// closed releases what the session of an accepted connection holds, once
// the connection's goroutine is done with it.
func (p *Pool) closed(conn *clientConn) {
	s := conn.s
	p.sessions.Delete(s.id)
	p.fds.put()
	s.close()
	p.stats.clients.Add(-1)
	p.m.ClientConnections.Dec()
	p.live.Done()
}

// sampleOps keeps instantaneous_ops_per_sec for INFO and the backends'
// in-flight gauges up to date, once a second, off the hot path.
func (p *Pool) sampleOps() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := p.stats.commands.Load()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			dedicated := 0
			for _, s := range p.Servers() {
				dedicated += s.Dedicated()
			}
			p.m.DedicatedConnections.Set(float64(dedicated))
			now := p.stats.commands.Load()
			p.stats.opsPerSec.Store(now - last)
			last = now
			t := p.topology()
			for _, s := range t.servers() {
				if m := t.backendMetrics(s); m != nil {
					m.InFlight.Set(float64(s.InFlight()))
				}
			}
		}
	}
}

// poolStats are the pool's counters for INFO, next to its metrics.
type poolStats struct {
	m                             *metrics.Pool
	clients, accepted, rejected   atomic.Int64
	commands, errors, proxyErrors atomic.Int64
	opsPerSec                     atomic.Int64
	bytesIn, bytesOut             atomic.Uint64
	errorStats                    errorStats // INFO errorstats (info_shards.go)
}

// batch accounts one client batch of n commands.
func (st *poolStats) batch(n int) {
	st.commands.Add(int64(n))
	st.m.BatchSize.Observe(float64(n))
}

// command accounts one command's result; now and start are nanotimes.
func (st *poolStats) command(ci *command.Info, res result, start, now int64) {
	idx := -1 // "other": a name Redis does not know
	if ci != nil {
		idx = ci.Index()
	}
	var r metrics.Result
	switch res {
	case resultError:
		st.errors.Add(1)
		r = metrics.ResultError
	case resultProxyError:
		st.proxyErrors.Add(1)
		r = metrics.ResultProxyError
	}
	st.m.Command(idx).Observe(r, time.Duration(now-start))
}

func (st *poolStats) read(n int) {
	st.bytesIn.Add(uint64(n))
	st.m.ClientBytesIn.Add(float64(n))
}

func (st *poolStats) wrote(n int) {
	st.bytesOut.Add(uint64(n))
	st.m.ClientBytesOut.Add(float64(n))
}

// nanotime is the router's clock for command latencies, idle and age:
// unix nanoseconds, advanced by the monotonic clock since the process
// started. time.Since reads one clock where time.Now reads two (26 against
// 48 ns here), and the router reads it twice per batch. Values are only
// compared with each other, never handed to deadlines.
func nanotime() int64 { return clockBaseUnix + int64(time.Since(clockBase)) }

var (
	clockBase     = time.Now()
	clockBaseUnix = clockBase.UnixNano()
)
