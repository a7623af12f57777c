package backend

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// EjectOptions configure an Ejector. Zero values take the defaults
// documented on each field.
type EjectOptions struct {
	// Interval is the period of the PING health check of each server;
	// default 1s.
	Interval time.Duration
	// FailureLimit is the number of consecutive failed checks after which
	// a server is ejected (nutcracker's server_failure_limit); default 2.
	FailureLimit int
	// RetryTimeout is how long an ejected server stays out at least
	// (server_retry_timeout); it is put back at the first check that
	// passes after that. Default 30s.
	RetryTimeout time.Duration
	// Changed is called from the Ejector's goroutines when server i is
	// ejected (true) or put back (false); calls are serialised.
	Changed func(i int, ejected bool)
	// Logger receives ejections; default slog.Default().
	Logger *slog.Logger
}

// Ejector implements nutcracker's auto_eject_hosts for cache pools: it
// PINGs every server each Interval, ejects a server after FailureLimit
// consecutive failures and puts it back once a check passes after
// RetryTimeout (FailureLimit more failures eject it again). Ejection moves
// the server's keys to the others: for caches only, never for data (data
// pools use Sentinel). It is safe for concurrent use.
type Ejector struct {
	opts    EjectOptions
	log     *slog.Logger
	servers []*Server
	ejected []atomic.Bool
	mu      sync.Mutex // serialises Changed

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once
}

// NewEjector starts checking servers until Close.
func NewEjector(servers []*Server, opts EjectOptions) *Ejector {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.FailureLimit <= 0 {
		opts.FailureLimit = 2
	}
	if opts.RetryTimeout <= 0 {
		opts.RetryTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Ejector{
		opts:    opts,
		log:     opts.Logger,
		servers: servers,
		ejected: make([]atomic.Bool, len(servers)),
		ctx:     ctx,
		stop:    cancel,
	}
	for i := range servers {
		e.wg.Add(1)
		go e.check(i)
	}
	return e
}

// Ejected reports whether server i is out of the ring.
func (e *Ejector) Ejected(i int) bool { return e.ejected[i].Load() }

// Close stops the checks and waits for them. It is idempotent.
func (e *Ejector) Close() {
	e.once.Do(func() {
		e.stop()
		e.wg.Wait()
	})
}

// check runs the health checks of server i.
func (e *Ejector) check(i int) {
	defer e.wg.Done()
	s := e.servers[i]
	t := time.NewTicker(e.opts.Interval)
	defer t.Stop()
	req := NewRequest()
	failures := 0
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		if ping(s, req) {
			failures = 0
			continue
		}
		failures++
		if failures < e.opts.FailureLimit {
			continue
		}
		failures = 0
		e.set(i, true)
		e.log.Warn("backend ejected", "server", s.Name(), "addr", s.Addr(), "retry_in", e.opts.RetryTimeout)
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(e.opts.RetryTimeout):
		}
		// Unlike nutcracker, which puts the server back blindly and lets
		// clients find out, wait for a check to pass: a server still down
		// stays out without a burst of errors.
		for !ping(s, req) {
			select {
			case <-e.ctx.Done():
				return
			case <-t.C:
			}
		}
		e.log.Info("backend back in the ring after the retry timeout", "server", s.Name())
		e.set(i, false)
	}
}

func (e *Ejector) set(i int, ejected bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ejected[i].Store(ejected)
	if e.opts.Changed != nil {
		e.opts.Changed(i, ejected)
	}
}

// ping sends one PING through a shared connection of s and reports whether
// it got +PONG in time.
func ping(s *Server, req *Request) bool {
	c, err := s.Pick(0)
	if err != nil {
		return false
	}
	req.Reset()
	req.Wire = pingWire
	c.Enqueue(req)
	req.Wait()
	return req.Err == nil && len(req.Reply) > 0 && req.Reply[0] == '+'
}
