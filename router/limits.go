package router

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/config"
)

// fdBudget caps the client connections of all pools together by the
// process's open-file limit, keeping a reserve for backend connections,
// the metrics endpoint and the listening sockets, as Redis lowers its
// maxclients to the limit minus 32. A client over the budget gets Redis's
// "max number of clients reached" instead of leaving the proxy without a
// descriptor for a backend connection or a /metrics scrape.
type fdBudget struct {
	max  int64 // 0: no cap
	used atomic.Int64
}

// fdReserve is the number of descriptors kept for everything but clients,
// besides the backend connections.
const fdReserve = 32

func newFDBudget(pools []*config.Pool, log *slog.Logger) *fdBudget {
	limit, ok := openFileLimit()
	if !ok {
		return &fdBudget{}
	}
	reserve := int64(fdReserve)
	for _, pc := range pools {
		n := int64(len(pc.Servers) * (pc.ServerConnections + 1)) // +1: a reconnect overlapping the old conn
		if pc.Mode == config.ModeCluster {
			n *= 4 // nodes beyond the seeds: replicas, resharding
		}
		reserve += n + 1
	}
	b := &fdBudget{max: max(limit-reserve, 1)}
	// Redis warns when the limit lowers its maxclients below 10000 (its
	// default) or below what is configured.
	want := int64(0)
	for _, pc := range pools {
		if pc.ClientConnections == 0 {
			want = max(want, 10000)
		}
		want += int64(pc.ClientConnections)
	}
	if b.max < want {
		log.Warn("the open-file limit caps client connections; raise it (ulimit -n) for more", "max_clients", b.max,
			"open_file_limit", limit, "reserved", reserve)
	}
	return b
}

// take reserves a descriptor for a new client; false when none is left.
func (b *fdBudget) take() bool {
	if b == nil || b.max == 0 {
		return true
	}
	if b.used.Add(1) > b.max {
		b.used.Add(-1)
		return false
	}
	return true
}

// put returns a client's descriptor.
func (b *fdBudget) put() {
	if b != nil && b.max != 0 {
		b.used.Add(-1)
	}
}

// Shutdown stops the proxy gracefully. Every pool stops accepting at once
// (new clients are refused by the kernel); each client is closed as soon as
// it has had the replies to everything it sent and stays silent for
// drainGrace, so idle clients go at once; clients still busy after the
// pool's shutdown_timeout are closed; then the backends are closed, as by
// Close. Draining reports true from the start. Shutdown returns when the
// proxy has stopped; a Close meanwhile cuts the wait short.
func (p *Proxy) Shutdown() {
	p.draining.Store(true)
	var wg sync.WaitGroup
	for _, pool := range p.pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool.drain()
		}()
	}
	wg.Wait()
	p.Close()
}

// Draining reports whether Shutdown has started.
func (p *Proxy) Draining() bool { return p.draining.Load() }

// drain runs the client side of Shutdown for one pool.
func (p *Pool) drain() {
	l := p.gl
	start := time.Now()
	l.startDrain()
	open := l.open()
	forced := 0
	if !l.waitEmpty(p.cfg.ShutdownTimeout) {
		forced = l.closeAll()
		p.m.ClosedShutdown.Add(float64(forced))
		// A closed client's goroutine may still wait for its backend
		// replies, at most one request timeout.
		l.waitEmpty(p.cfg.Timeout + time.Second)
	}
	p.log.Info("clients drained", "clients", open, "closed_at_timeout", forced,
		"took", time.Since(start).Round(time.Millisecond))
}
