package router

import (
	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/metrics"
)

// topology is where a pool's keys live and the servers that hold them. The
// session asks it, once per key, which server a command goes to; the pool
// asks it for readiness, metrics and shutdown. Two kinds exist: ringTopo
// (standalone shards on a consistent-hash ring, immutable, replaced whole by
// a reload) and clusterTopo (Redis Cluster slots; the slot map inside
// backend.Cluster changes on its own and the topology value stays). A ring
// whose masters are managed by Sentinel is a ringTopo over master Servers whose
// addresses follow failovers in place (ha.go), so it is never rebuilt for one.
//
// A session loads the pool's topology once per batch (Pool.topology) so that
// a split and its merge see the same servers even if a reload swaps it
// meanwhile. Every method is safe for concurrent use.
type topology interface {
	// part returns what decides the server of key: its ring index or its
	// hash slot. Keys of one part always share a server, so a command whose
	// keys have different parts is CROSSSLOT.
	part(key []byte) int
	// server returns the server of part for command ci (a replica for a
	// read-only command when the pool reads from replicas, chosen by hint),
	// or nil when no server holds that part right now.
	server(part int, ci *command.Info, hint int) *backend.Server
	// shards returns one server per shard, in a stable order: where fan-out
	// commands (DBSIZE, SCAN, INFO keyspace) go. The caller must not modify
	// the slice.
	shards() []*backend.Server
	// servers returns every server the topology has a connection pool to,
	// replicas included (INFO backends, Pool.Servers).
	servers() []*backend.Server
	// backendMetrics returns the metrics of srv, or nil if it is not one of
	// the topology's servers.
	backendMetrics(srv *backend.Server) *metrics.Backend
	// unready says what keeps the topology from serving every key apart
	// from servers being down ("" when nothing does): slots without a
	// master in cluster mode.
	unready() string
	// refresh tells the topology that its map may be stale: a part had no
	// server. Cluster mode reloads the slot map (coalesced); a ring has
	// nothing to learn.
	refresh()
	// redirector returns the cluster redirect handling, or nil when the
	// servers never redirect (ring).
	redirector() redirector
	// waitMark appends to dst the one command a session sends on its
	// dedicated connection to srv right before WAIT: a command the shard
	// replicates and that leaves no data, so that the connection's
	// replication offset covers the client's writes on shared connections
	// (see Session.wait).
	waitMark(dst []byte, srv *backend.Server) []byte
	// rebuild returns the topology that pc describes, reusing the servers
	// that stay so that their connections carry on; nil when pc places keys
	// as this topology does. A topology that cannot change in place returns
	// nil (restartKeys refuses such a reload first).
	rebuild(pc *config.Pool) (topology, error)
	// retire closes the servers of this topology that keep does not use,
	// and forgets their metrics: the end of a topology a reload replaced,
	// or of one built for a reload that failed.
	retire(keep topology)
	// close closes every server (pool shutdown). It is idempotent.
	close()
}

// redirector follows Redis Cluster redirects for the session (Session.settle).
type redirector interface {
	// moved records that slot now lives at addr and returns that server.
	moved(slot int, addr string) *backend.Server
	// node returns the server at addr (an ASK target), connecting if needed.
	node(addr string) *backend.Server
	// refresh asks for a new slot map (coalesced).
	refresh()
}

// topoBox holds a topology in an atomic.Pointer.
type topoBox struct{ t topology }

// topology returns the pool's current topology.
func (p *Pool) topology() topology { return p.topo.Load().t }

// setTopology installs t and returns the topology it replaces (nil at start).
// The pub/sub hub then moves the subscriptions whose shard changed.
func (p *Pool) setTopology(t topology) topology {
	old := p.topo.Swap(&topoBox{t})
	if p.hub != nil {
		p.hub.kick()
	}
	if old != nil {
		return old.t
	}
	return nil
}
