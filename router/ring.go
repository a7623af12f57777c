package router

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/metrics"
)

// ringTopo is a ring pool's placement: the ring and the servers it picks
// from, in configuration order. It is immutable; Reload swaps in a new one.
//
// Two variants share it. In a Sentinel-managed ring (ss set) the servers
// are the stable master Servers of backend.SentinelShards, whose addresses
// follow failovers in place, and read-only commands may go to replicas.
// With auto_eject_hosts, a ring without the ejected servers (full set) is
// swapped in and out by the ejection state; it answers rebuild, retire and
// close for the full ring it was cut from.
type ringTopo struct {
	p    *Pool
	ring hashring.Ring
	srvs []*backend.Server
	bm   []*metrics.Backend // per server
	conf []config.Server

	ss           *backend.SentinelShards   // Sentinel rings
	disc         *backend.ReplicaDiscovery // other rings with read_from_replicas; owned
	reps         replicaSource             // ss or disc, with read_from_replicas
	sidx         []int                     // with reps: the master index of each server
	readReplicas bool                      // read_from_replicas
	full         *ringTopo                 // a ring without ejected servers: the whole ring

	hash, hashTag, distribution string // as configured, to tell a reload's changes

	// Sentinel rings: the sentinel settings ss follows, to tell whether a
	// reload can keep it.
	sentinels                  []string
	sentinelUser, sentinelAuth string
}

var _ topology = (*ringTopo)(nil)

// replicaSource picks a replica of master i for a read-only command, or
// the master when no replica is healthy.
type replicaSource interface {
	Replica(i, hint int) *backend.Server
}

// startRing builds the hash ring and connects to every server.
func (p *Pool) startRing() error {
	t, err := p.buildRing(p.cfg, nil)
	if err != nil {
		return err
	}
	p.installRing(t)
	return nil
}

// buildRing makes the topology of pc, reusing the servers of old whose name
// and address are unchanged, so that their connections carry on.
func (p *Pool) buildRing(pc *config.Pool, old *ringTopo) (*ringTopo, error) {
	if len(pc.Servers) > 1<<16 {
		return nil, errors.New("too many servers")
	}
	nodes := make([]hashring.Node, len(pc.Servers))
	for i, s := range pc.Servers {
		nodes[i] = hashring.Node{Name: s.Name, Weight: s.Weight}
	}
	ring, err := hashring.New(pc.Distribution, pc.Hash, pc.HashTag, nodes)
	if err != nil {
		return nil, err
	}
	t := &ringTopo{
		p:    p,
		ring: ring,
		srvs: make([]*backend.Server, len(pc.Servers)),
		bm:   make([]*metrics.Backend, len(pc.Servers)),
		conf: pc.Servers,

		hash: pc.Hash, hashTag: pc.HashTag, distribution: pc.Distribution,
	}
	// Connect to the new servers in parallel: a dead one costs one
	// timeout, not one per server.
	var wg sync.WaitGroup
	if pc.SentinelManaged() {
		if old != nil && old.ss != nil && old.sameSentinels(pc) {
			t.ss = old.ss
		} else {
			ss, err := p.newSentinelShards(pc)
			if err != nil {
				return nil, err
			}
			if old != nil {
				// A reload must not trade resolved masters for unresolved
				// ones (wrong sentinels or credentials): refuse it.
				for i, m := range ss.Masters() {
					if m.Addr() == "" {
						ss.Close()
						return nil, fmt.Errorf("sentinels/sentinel_auth/sentinel_username: no majority of the new sentinels names master %s; running configuration kept", pc.Servers[i].Name)
					}
				}
			}
			t.ss = ss
		}
		t.reps = t.ss
		t.sentinels, t.sentinelUser, t.sentinelAuth = pc.Sentinels, pc.SentinelUsername, pc.SentinelAuth
	}
	t.readReplicas = pc.ReadFromReplicas
	if t.ss != nil || t.readReplicas {
		t.sidx = make([]int, len(pc.Servers))
	}
	for i, sc := range pc.Servers {
		if t.ss != nil {
			t.srvs[i], t.bm[i] = t.ss.Masters()[i], p.metrics.Backend(pc.Name, sc.Name, sentinelAddrLabel)
			t.sidx[i] = i
			continue
		}
		if old != nil {
			if j := old.index(sc); j >= 0 {
				t.srvs[i], t.bm[i] = old.srvs[j], old.bm[j]
				continue
			}
		}
		t.bm[i] = p.metrics.Backend(pc.Name, sc.Name, sc.Addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.srvs[i] = backend.NewServer(p.serverOptions(sc.Name, sc.Addr, backendObserver{t.bm[i]}))
		}()
	}
	wg.Wait()
	if t.ss == nil && t.readReplicas {
		for i := range t.sidx {
			t.sidx[i] = i
		}
		t.disc = p.replicaDiscovery(pc, t.srvs)
		t.reps = t.disc
	}
	return t, nil
}

// replicaDiscovery follows the replicas of the standalone masters srvs
// through their INFO replication (read_from_replicas without sentinels).
func (p *Pool) replicaDiscovery(pc *config.Pool, srvs []*backend.Server) *backend.ReplicaDiscovery {
	names := make([]string, len(pc.Servers))
	for i, sc := range pc.Servers {
		names[i] = sc.Name
	}
	return backend.NewReplicaDiscovery(srvs, names, backend.DiscoveryOptions{
		Server:        p.serverOptions("", "", nil),
		ReplicaMaxLag: pc.ReplicaMaxLag,
		Interval:      pc.HealthCheckInterval,
		Logger:        p.log,
		NewObserver: func(name, replica string) backend.Observer {
			return backendObserver{p.metrics.Backend(pc.Name, name+"/"+replica, replica)}
		},
		Dropped: func(name, replica string) {
			p.metrics.RemoveBackend(pc.Name, name+"/"+replica)
		},
	})
}

// index returns the position of the server configured as sc, or -1.
func (t *ringTopo) index(sc config.Server) int {
	for i, c := range t.conf {
		if c.Name == sc.Name && c.Addr == sc.Addr {
			return i
		}
	}
	return -1
}

func (t *ringTopo) part(key []byte) int { return t.ring.Pick(key) }

// server returns the ring server of part; in a Sentinel ring with
// read_from_replicas, a healthy replica of it for a read-only command.
func (t *ringTopo) server(part int, ci *command.Info, hint int) *backend.Server {
	if t.readReplicas && ci != nil && ci.Flags()&command.FlagReadonly != 0 {
		return t.reps.Replica(t.sidx[part], hint)
	}
	return t.srvs[part]
}

func (t *ringTopo) shards() []*backend.Server { return t.srvs }

func (t *ringTopo) servers() []*backend.Server { return t.srvs }

func (t *ringTopo) backendMetrics(srv *backend.Server) *metrics.Backend {
	if i := slices.Index(t.srvs, srv); i >= 0 {
		return t.bm[i]
	}
	return nil
}

func (t *ringTopo) unready() string { return "" }

func (t *ringTopo) refresh() {}

func (t *ringTopo) redirector() redirector { return nil }

// rebuild returns the ring of pc, or nil when pc places keys as t does.
func (t *ringTopo) rebuild(pc *config.Pool) (topology, error) {
	if t.full != nil {
		return t.full.rebuild(pc)
	}
	if !t.changed(pc) {
		return nil, nil
	}
	return t.p.buildRing(pc, t)
}

// changed reports whether next places keys differently from t.
func (t *ringTopo) changed(next *config.Pool) bool {
	if t.hash != next.Hash || t.hashTag != next.HashTag || t.distribution != next.Distribution {
		return true
	}
	if t.ss != nil && !t.sameSentinels(next) {
		return true
	}
	return !slices.EqualFunc(t.conf, next.Servers, func(a, b config.Server) bool {
		return a.Addr == b.Addr && a.Name == b.Name && a.Weight == b.Weight
	})
}

// retire closes the servers of t that keep is not using, and forgets their
// metrics.
func (t *ringTopo) retire(keep topology) {
	if t.full != nil {
		t.full.retire(keep)
		return
	}
	kept := keep.servers()
	if k, ok := keep.(*ringTopo); ok && k.full != nil {
		kept = k.full.srvs
	}
	if t.disc != nil {
		t.disc.Close() // keep has its own
	}
	if t.ss != nil {
		// A Sentinel ring: its watcher owns the masters. Keep it when
		// keep follows it too; forget the metrics of the names that left.
		k, _ := keep.(*ringTopo)
		if k != nil && k.full != nil {
			k = k.full
		}
		if k == nil || k.ss != t.ss {
			t.ss.Close()
		}
		for _, c := range t.conf {
			if k == nil || !slices.ContainsFunc(k.conf, func(n config.Server) bool { return n.Name == c.Name }) {
				t.p.metrics.RemoveBackend(t.p.cfg.Name, c.Name)
			}
		}
		return
	}
	for i, s := range t.srvs {
		if slices.Contains(kept, s) {
			continue
		}
		s.Close()
		t.p.metrics.RemoveBackend(t.p.cfg.Name, t.conf[i].Name)
	}
}

func (t *ringTopo) close() {
	if t.full != nil {
		t.full.close()
		return
	}
	if t.ss != nil {
		t.ss.Close() // masters and replicas
	}
	if t.disc != nil {
		t.disc.Close() // replicas
	}
	for _, s := range t.srvs {
		if s != nil { // nil while buildRing connects
			s.Close()
		}
	}
}
