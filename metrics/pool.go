package metrics

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Result classifies how the proxy answered a command; it selects the result
// label of shardproxy_commands_total.
type Result uint8

const (
	// ResultOK is any reply that is not an error reply.
	ResultOK Result = iota
	// ResultError is an error reply that came from Redis (WRONGTYPE,
	// NOSCRIPT, ...).
	ResultError
	// ResultProxyError is an error reply made by the proxy: backend
	// unavailable, timeout, CROSSSLOT or a refused command.
	ResultProxyError
)

// Errors returned by Pool.
var (
	ErrEmptyPoolName    = errors.New("metrics: empty pool name")
	ErrBadCommandName   = errors.New("metrics: command name is empty or the reserved \"" + OtherCommand + "\"")
	ErrDuplicateCommand = errors.New("metrics: duplicate command name")
)

// PoolOptions describes a pool to Metrics.Pool.
type PoolOptions struct {
	// CommandNames is the command table: index i of Pool.Command is exported
	// with command label CommandNames[i]. Names must be non-empty, unique
	// and not "other"; the proxy's command table uses lower-case names.
	// Nil means every command is exported as "other".
	CommandNames []string
	// Cluster marks a Redis Cluster pool. Only cluster pools export
	// shardproxy_cluster_slots_covered, shardproxy_cluster_redirects_total
	// and shardproxy_cluster_slot_refreshes_total; on other pools those
	// handles accept updates and discard them, so a ring pool never shows
	// as a cluster with no slots covered.
	Cluster bool
	// MaxClientConnections is the configured client-connection limit,
	// exported as shardproxy_client_connections_limit. Zero or negative
	// means unlimited and is exported as 0.
	MaxClientConnections int
}

// Pool holds the pre-resolved series of one pool. Create it with
// Metrics.Pool. Every field and method is safe for concurrent use; the
// fields are handles to be used, not reassigned.
type Pool struct {
	// ClientConnections is the number of open client connections: Inc on
	// accept, Dec on close.
	ClientConnections prometheus.Gauge
	// ClientConnectionsLimit is the configured limit (0 = unlimited); it is
	// set from PoolOptions and may be Set again after a reload.
	ClientConnectionsLimit prometheus.Gauge
	// Accepted counts accepted client connections.
	Accepted prometheus.Counter
	// Rejected counts client connections refused (limit reached, draining).
	Rejected prometheus.Counter
	// AcceptErrors counts failed accepts (file descriptors exhausted).
	AcceptErrors prometheus.Counter
	// Closed* count client connections the proxy closed, by cause.
	ClosedProtocol, ClosedQueryBuffer, ClosedIdle, ClosedShutdown prometheus.Counter
	// BatchSize observes the number of commands in each batch read from a
	// client (1 for a client that does not pipeline).
	BatchSize prometheus.Observer
	// ClientBytesIn counts bytes read from clients (Add per read).
	ClientBytesIn prometheus.Counter
	// ClientBytesOut counts bytes written to clients (Add per write).
	ClientBytesOut prometheus.Counter
	// RedirectMoved counts MOVED redirections followed (cluster pools).
	RedirectMoved prometheus.Counter
	// RedirectAsk counts ASK redirections followed (cluster pools).
	RedirectAsk prometheus.Counter
	// SlotRefreshes counts slot-map refreshes (cluster pools).
	SlotRefreshes prometheus.Counter
	// SlotsCovered is the number of the 16384 hash slots that the current
	// slot map assigns to a reachable node (cluster pools). It starts at 0
	// until the first slot map is loaded.
	SlotsCovered prometheus.Gauge
	// Ejections counts backends ejected from the ring by the failure policy.
	Ejections prometheus.Counter
	// Failovers counts master address changes followed in a
	// Sentinel-managed pool.
	Failovers prometheus.Counter
	// OutputLimitNormal and OutputLimitPubsub count clients disconnected
	// for going over the output buffer limit of their class.
	OutputLimitNormal, OutputLimitPubsub prometheus.Counter
	// BlockedClients is the number of clients waiting in a blocking
	// command or WAIT.
	BlockedClients prometheus.Gauge
	// DedicatedConnections is the number of backend connections dedicated
	// to one client, idle ones kept for reuse included (set periodically).
	DedicatedConnections prometheus.Gauge

	m     *Metrics
	name  string
	names []string
	// cmds[i] caches the handle of command index i; cmds[len(names)] is
	// "other". A nil slot has not been used yet.
	cmds []atomic.Pointer[Command]
}

// Pool returns the handles of the named pool, creating its pool-level
// series. Calling Pool again with the same name returns handles to the same
// series. Pool is meant for setup and reloads, not the data path.
func (m *Metrics) Pool(name string, opt PoolOptions) (*Pool, error) {
	if name == "" {
		return nil, ErrEmptyPoolName
	}
	seen := make(map[string]bool, len(opt.CommandNames))
	for i, n := range opt.CommandNames {
		if n == "" || n == OtherCommand {
			return nil, fmt.Errorf("%w: pool %q, index %d: %q", ErrBadCommandName, name, i, n)
		}
		if seen[n] {
			return nil, fmt.Errorf("%w: pool %q, index %d: %q", ErrDuplicateCommand, name, i, n)
		}
		seen[n] = true
	}
	p := &Pool{
		ClientConnections:      m.clientConns.WithLabelValues(name),
		ClientConnectionsLimit: m.clientConnsLimit.WithLabelValues(name),
		Accepted:               m.accepted.WithLabelValues(name),
		Rejected:               m.rejected.WithLabelValues(name),
		AcceptErrors:           m.acceptErrors.WithLabelValues(name),
		ClosedProtocol:         m.disconnects.WithLabelValues(name, "protocol"),
		ClosedQueryBuffer:      m.disconnects.WithLabelValues(name, "query_buffer"),
		ClosedIdle:             m.disconnects.WithLabelValues(name, "idle"),
		ClosedShutdown:         m.disconnects.WithLabelValues(name, "shutdown"),
		BatchSize:              m.clientBatch.WithLabelValues(name),
		ClientBytesIn:          m.clientBytesIn.WithLabelValues(name),
		ClientBytesOut:         m.clientBytesOut.WithLabelValues(name),
		Ejections:              m.ejections.WithLabelValues(name),
		Failovers:              m.failovers.WithLabelValues(name),
		OutputLimitNormal:      m.outputLimit.WithLabelValues(name, "normal"),
		OutputLimitPubsub:      m.outputLimit.WithLabelValues(name, "pubsub"),
		BlockedClients:         m.blockedClients.WithLabelValues(name),
		DedicatedConnections:   m.dedicatedConns.WithLabelValues(name),
		m:                      m,
		name:                   name,
		names:                  append([]string(nil), opt.CommandNames...),
		cmds:                   make([]atomic.Pointer[Command], len(opt.CommandNames)+1),
	}
	if opt.Cluster {
		p.RedirectMoved = m.redirects.WithLabelValues(name, redirectMoved)
		p.RedirectAsk = m.redirects.WithLabelValues(name, redirectAsk)
		p.SlotRefreshes = m.slotRefreshes.WithLabelValues(name)
		p.SlotsCovered = m.slotsCovered.WithLabelValues(name)
	} else {
		// Unregistered collectors: valid handles whose values are never
		// exported.
		p.RedirectMoved = prometheus.NewCounter(prometheus.CounterOpts{Name: "discarded"})
		p.RedirectAsk = prometheus.NewCounter(prometheus.CounterOpts{Name: "discarded"})
		p.SlotRefreshes = prometheus.NewCounter(prometheus.CounterOpts{Name: "discarded"})
		p.SlotsCovered = prometheus.NewGauge(prometheus.GaugeOpts{Name: "discarded"})
	}
	p.ClientConnectionsLimit.Set(float64(max(opt.MaxClientConnections, 0)))
	return p, nil
}

// Name returns the pool label of p.
func (p *Pool) Name() string { return p.name }

// Command returns the handles of command-table index i; any index outside
// [0, len(CommandNames)) maps to the "other" command. The series of a
// command are created on its first use, so only commands that were used
// appear in the exposition; after that Command costs one atomic load and
// never allocates. Safe for concurrent use; concurrent first uses return the
// same handle.
func (p *Pool) Command(i int) *Command {
	if uint(i) >= uint(len(p.names)) {
		i = len(p.names)
	}
	if c := p.cmds[i].Load(); c != nil {
		return c
	}
	return p.resolve(i)
}

// resolve creates the handle of command index i on its first use: the slow
// path of Command, with the allocations and label lookups.
func (p *Pool) resolve(i int) *Command {
	name := OtherCommand
	if i < len(p.names) {
		name = p.names[i]
	}
	m := p.m
	c := &Command{
		OK:         m.commands.WithLabelValues(p.name, name, resultOK),
		Error:      m.commands.WithLabelValues(p.name, name, resultError),
		ProxyError: m.commands.WithLabelValues(p.name, name, resultProxyError),
		Latency:    m.commandLatency.WithLabelValues(p.name, name),
	}
	if p.cmds[i].CompareAndSwap(nil, c) {
		return c
	}
	return p.cmds[i].Load()
}

// Command holds the pre-resolved series of one command in one pool. All
// fields are safe for concurrent use and are not to be reassigned.
type Command struct {
	// OK counts replies that are not errors.
	OK prometheus.Counter
	// Error counts error replies from Redis.
	Error prometheus.Counter
	// ProxyError counts error replies made by the proxy.
	ProxyError prometheus.Counter
	// Latency observes seconds from reading the command to its reply being
	// ready.
	Latency prometheus.Observer
}

// Observe records one answered command: it counts r and observes d as the
// command's latency, whatever the result (a timeout's latency is what the
// client waited). Safe for concurrent use; does not allocate.
func (c *Command) Observe(r Result, d time.Duration) {
	switch r {
	case ResultOK:
		c.OK.Inc()
	case ResultError:
		c.Error.Inc()
	default:
		c.ProxyError.Inc()
	}
	c.Latency.Observe(d.Seconds())
}
