package router

import (
	"slices"
	"sync"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
)

// sentinelAddrLabel is the addr label of a Sentinel-managed master's
// metrics: its address changes with failovers, its series must not.
const sentinelAddrLabel = "sentinel"

// newSentinelShards resolves the master names of pc through Sentinel: a
// ring over the names (built by buildRing) never moves a key on a
// failover, since a master Server's address changes in place.
func (p *Pool) newSentinelShards(pc *config.Pool) (*backend.SentinelShards, error) {
	names := make([]string, len(pc.Servers))
	for i, s := range pc.Servers {
		names[i] = s.Name
	}
	return backend.NewSentinelShards(backend.ShardsOptions{
		Sentinel: backend.SentinelOptions{
			Addrs:     pc.Sentinels,
			Username:  pc.SentinelUsername,
			Password:  pc.SentinelAuth,
			Masters:   names,
			Timeout:   pc.Timeout,
			TLS:       p.tlsSentinel,
			TLSSource: p.tlsSentinelCur.Load,
		},
		Server:           p.serverOptions("", "", nil),
		ReadFromReplicas: pc.ReadFromReplicas,
		ReplicaMaxLag:    pc.ReplicaMaxLag,
		LagInterval:      pc.HealthCheckInterval,
		Logger:           p.log,
		NewObserver: func(name, replica string) backend.Observer {
			if replica == "" {
				return backendObserver{p.metrics.Backend(pc.Name, name, sentinelAddrLabel)}
			}
			return backendObserver{p.metrics.Backend(pc.Name, name+"/"+replica, replica)}
		},
		Dropped: func(name, replica string) {
			p.metrics.RemoveBackend(pc.Name, name+"/"+replica)
		},
		Switched: func(name, from, to string) {
			p.m.Failovers.Inc()
		},
	})
}

// sameSentinels reports whether pc follows the same master names, in the
// same order, through the same sentinels with the same credentials as t:
// then a reload keeps t's watcher and master Servers.
func (t *ringTopo) sameSentinels(pc *config.Pool) bool {
	return slices.Equal(t.sentinels, pc.Sentinels) && t.sentinelUser == pc.SentinelUsername &&
		t.sentinelAuth == pc.SentinelAuth &&
		slices.EqualFunc(t.conf, pc.Servers, func(a, b config.Server) bool { return a.Name == b.Name })
}

// sentinelShards returns the Sentinel-managed shards of the pool's current
// ring (nil for other pools).
func (p *Pool) sentinelShards() *backend.SentinelShards {
	t := p.topo.Load()
	if t == nil {
		return nil
	}
	rt, ok := t.t.(*ringTopo)
	if !ok {
		return nil
	}
	if rt.full != nil {
		rt = rt.full
	}
	return rt.ss
}

// fenceMoved turns the reply to a command that may write, given by a
// master after the proxy switched that shard to a new master (a request
// already in flight on the old one at the switch), into the backend error:
// in a planned failover the old master still acknowledges writes that the
// new master will never have, and an acknowledged write must not be lost
// silently. Reads keep their reply (it is a real reply of a server that
// held the data).
func (s *Session) fenceMoved(ci *command.Info, idx int) {
	r := s.reqs[idx]
	if r.Err != nil || ci == nil || ci.Flags()&command.FlagReadonly != 0 {
		return
	}
	if srv := s.srvOf[idx]; srv != nil && srv.MovedSince(r) {
		r.Err = srv.MovedError()
	}
}

// fencedWrite returns the error text for a command that may write to srv
// while srv is fenced (Sentinel is promoting one of its replicas, so the
// write would be acknowledged and lost), or "" to send it.
func fencedWrite(ci *command.Info, srv *backend.Server) string {
	if srv == nil || ci.Flags()&command.FlagReadonly != 0 || !srv.Fenced() {
		return ""
	}
	return "ERR " + srv.FencedError().Error()
}

// ejection is a ring pool's auto_eject_hosts state: the configured
// topology, the servers currently ejected from it, and the checker. Its
// mutex also serialises installing a ring (start, reload) with the
// checker's changes, so that a late change never brings back a replaced
// ring.
type ejection struct {
	mu      sync.Mutex
	full    *ringTopo                // guarded by mu: every configured server
	ejected map[*backend.Server]bool // guarded by mu
	checker *backend.Ejector         // guarded by mu
	pool    *Pool
}

// installRing makes t, a whole ring, the pool's topology and returns the
// whole ring it replaces (nil at start). With auto_eject_hosts it restarts
// the health checks on t's servers: a reload puts every server back.
func (p *Pool) installRing(t *ringTopo) topology {
	if p.eject == nil {
		return p.setTopology(t)
	}
	e := p.eject
	e.mu.Lock()
	var old topology
	if e.full != nil {
		old = e.full
	}
	checker := e.checker
	e.full, e.ejected, e.checker = t, map[*backend.Server]bool{}, nil
	p.setTopology(t)
	e.mu.Unlock()
	if checker != nil {
		checker.Close() // outside mu: its callbacks take mu
	}
	c := backend.NewEjector(t.srvs, backend.EjectOptions{
		Interval:     p.cfg.HealthCheckInterval,
		FailureLimit: p.cfg.ServerFailureLimit,
		RetryTimeout: p.cfg.ServerRetryTimeout,
		Logger:       p.log,
		Changed: func(i int, ejected bool) {
			e.changed(t, i, ejected)
		},
	})
	e.mu.Lock()
	if e.full == t {
		e.checker = c
		c = nil
	}
	e.mu.Unlock()
	if c != nil {
		c.Close() // a concurrent install won
	}
	return old
}

// changed applies one ejection or return of server i of ring t, by
// installing a ring without the ejected servers: their keys re-hash to the
// others (this is for caches). When every server is ejected the whole ring
// stays, so errors stay on each server's own keys.
func (e *ejection) changed(t *ringTopo, i int, ejected bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.full != t {
		return // a reload replaced the ring meanwhile
	}
	srv := t.srvs[i]
	if ejected {
		e.ejected[srv] = true
		e.pool.m.Ejections.Inc()
	} else {
		delete(e.ejected, srv)
	}
	e.pool.log.Warn("ring rebuilt", "server", t.conf[i].Name, "ejected", ejected, "ejected_total", len(e.ejected))
	e.pool.setTopology(t.without(e.ejected))
}

// without returns t minus the servers in out (t itself when none is out
// or every server is), sharing t's servers and metrics.
func (t *ringTopo) without(out map[*backend.Server]bool) *ringTopo {
	if len(out) == 0 || len(out) >= len(t.srvs) {
		return t
	}
	sub := &ringTopo{p: t.p, full: t, hash: t.hash, hashTag: t.hashTag, distribution: t.distribution}
	var nodes []hashring.Node
	for i, s := range t.srvs {
		if out[s] {
			continue
		}
		sub.srvs = append(sub.srvs, s)
		sub.bm = append(sub.bm, t.bm[i])
		sub.conf = append(sub.conf, t.conf[i])
		nodes = append(nodes, hashring.Node{Name: t.conf[i].Name, Weight: t.conf[i].Weight})
	}
	ring, err := hashring.New(t.distribution, t.hash, t.hashTag, nodes)
	if err != nil {
		return t // the whole ring was built from the same settings
	}
	sub.ring = ring
	return sub
}

// closeEjection stops the health checks.
func (p *Pool) closeEjection() {
	if p.eject == nil {
		return
	}
	p.eject.mu.Lock()
	c := p.eject.checker
	p.eject.checker = nil
	p.eject.mu.Unlock()
	if c != nil {
		c.Close()
	}
}
