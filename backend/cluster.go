package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// SlotCount is the number of Redis Cluster hash slots.
const SlotCount = 16384

// ClusterOptions configure a Cluster. Zero values take the defaults
// documented on each field.
type ClusterOptions struct {
	// Seeds are node addresses to learn the slot map from at first.
	Seeds []string
	// Server is the template of every node's Server; Name and Addr are set
	// per node (both to the node's address).
	Server Options
	// RefreshInterval is the period of slot-map refreshes; default 5s.
	RefreshInterval time.Duration
	// MinRefreshGap spaces refreshes triggered by redirects and errors;
	// default 100ms. However many requests trigger it, one refresh runs at
	// a time.
	MinRefreshGap time.Duration
	// ReadFromReplicas opens replica connections with READONLY so that
	// Replica can route read-only commands to them.
	ReadFromReplicas bool
	// NewObserver, when set, returns the Observer of a new node's Server.
	NewObserver func(addr string) Observer
	// Dropped, when set, is called after a node that left the slot map has
	// been closed.
	Dropped func(addr string)
	// Refreshed, when set, is called after each refresh attempt with the
	// number of slots covered and the error of a failed attempt.
	Refreshed func(covered int, err error)
	// Logger receives topology changes; default slog.Default().
	Logger *slog.Logger
}

// Cluster keeps the slot map of a Redis Cluster and one Server per node.
// Lookups are lock-free: each slot's master is an atomic pointer, updated in
// place by MOVED, and the rest of the topology is swapped whole by refresh.
// It is safe for concurrent use.
type Cluster struct {
	opts  ClusterOptions
	log   *slog.Logger
	slots [SlotCount]atomic.Pointer[Server]
	topo  atomic.Pointer[topology]

	mu       sync.Mutex
	nodes    map[string]*Server // guarded by mu
	retiring retiring           // guarded by mu: nodes dropped, not closed yet

	trigger chan struct{}
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

// topology is what a refresh learned, besides the per-slot masters.
type topology struct {
	replicas [][]*Server // per slot; nil when none
	masters  []*Server   // sorted by address
	covered  int
}

// shard is one master with its slot ranges and replicas, as a node reports it.
type shard struct {
	ranges   [][2]int
	master   string
	replicas []string
}

// NewCluster learns the slot map from the seeds (or fails, naming why) and
// keeps it fresh in the background until Close.
func NewCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 5 * time.Second
	}
	if opts.MinRefreshGap <= 0 {
		opts.MinRefreshGap = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Server.setDefaults()
	opts.Server.ReadOnly = opts.ReadFromReplicas
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{
		opts:     opts,
		log:      opts.Logger,
		nodes:    map[string]*Server{},
		retiring: retiring{},
		trigger:  make(chan struct{}, 1),
		ctx:      ctx,
		stop:     cancel,
	}
	c.topo.Store(&topology{replicas: make([][]*Server, SlotCount)})
	if err := c.refresh(); err != nil {
		// Serve anyway: the cluster may come up later, and every request
		// meanwhile gets a clear error.
		c.log.Error("cluster slot map unavailable", "err", err)
	}
	c.wg.Add(1)
	go c.loop()
	return c, nil
}

// Master returns the master serving slot, or nil when no node serves it.
func (c *Cluster) Master(slot int) *Server { return c.slots[slot].Load() }

// Replica returns a reachable replica of slot, chosen by hint, or the
// master when the slot has no reachable replica.
func (c *Cluster) Replica(slot, hint int) *Server {
	rs := c.topo.Load().replicas[slot]
	for i := range rs {
		if r := rs[(hint+i)%len(rs)]; r.Up() {
			return r
		}
	}
	return c.Master(slot)
}

// Masters returns every master, sorted by address.
func (c *Cluster) Masters() []*Server { return c.topo.Load().masters }

// Covered returns how many slots have a master.
func (c *Cluster) Covered() int { return c.topo.Load().covered }

// Node returns the Server of addr, creating it if needed (a redirect may
// name a node the last refresh did not know yet).
func (c *Cluster) Node(addr string) *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodeLocked(addr)
}

func (c *Cluster) nodeLocked(addr string) *Server {
	if s, ok := c.nodes[addr]; ok {
		return s
	}
	if s := c.retiring.revive(addr); s != nil {
		c.nodes[addr] = s // dropped a moment ago, not closed yet
		return s
	}
	o := c.opts.Server
	o.Name, o.Addr = addr, addr
	if c.opts.NewObserver != nil {
		o.Observer = c.opts.NewObserver(addr)
	}
	s := NewServer(o)
	c.nodes[addr] = s
	return s
}

// Nodes returns every known node, sorted by address.
func (c *Cluster) Nodes() []*Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Server, 0, len(c.nodes))
	for _, s := range c.nodes {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Server) int { return cmpString(a.Addr(), b.Addr()) })
	return out
}

// Moved records a MOVED redirect: slot now lives on addr. It also asks for
// a refresh, since a MOVED usually means more slots changed.
func (c *Cluster) Moved(slot int, addr string) *Server {
	s := c.Node(addr)
	c.slots[slot].Store(s)
	c.Refresh()
	return s
}

// Refresh asks for a slot-map refresh soon. It never blocks; requests made
// while one is pending are coalesced into it.
func (c *Cluster) Refresh() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Close stops the refresh loop and every node's connections.
func (c *Cluster) Close() {
	c.stop()
	c.wg.Wait()
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = map[string]*Server{}
	c.mu.Unlock()
	for _, s := range nodes {
		s.Close()
	}
}

func (c *Cluster) loop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.trigger:
			select {
			case <-time.After(c.opts.MinRefreshGap):
			case <-c.ctx.Done():
				return
			}
		}
		if err := c.refresh(); err != nil && c.ctx.Err() == nil {
			c.log.Warn("cluster slot map refresh failed", "err", err)
		}
	}
}

// refresh asks the known masters, then the seeds, for the slot map and
// applies the first answer.
func (c *Cluster) refresh() error {
	var candidates []string
	for _, m := range c.Masters() {
		candidates = append(candidates, m.Addr())
	}
	for _, s := range c.opts.Seeds {
		if !slices.Contains(candidates, s) {
			candidates = append(candidates, s)
		}
	}
	for _, s := range c.Nodes() {
		if !slices.Contains(candidates, s.Addr()) {
			candidates = append(candidates, s.Addr())
		}
	}
	var errs []error
	for _, addr := range candidates {
		shards, err := c.fetch(addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		c.apply(shards)
		if c.opts.Refreshed != nil {
			c.opts.Refreshed(c.Covered(), nil)
		}
		return nil
	}
	err := errors.Join(errs...)
	if err == nil {
		err = errors.New("no seed node configured")
	}
	if c.opts.Refreshed != nil {
		c.opts.Refreshed(c.Covered(), err)
	}
	return err
}

// fetch reads one node's view of the cluster: CLUSTER SHARDS (Redis 7),
// or CLUSTER SLOTS on older servers.
func (c *Cluster) fetch(addr string) ([]shard, error) {
	timeout := c.opts.Server.Timeout
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(c.ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg := c.opts.Server.tlsConfig(); cfg != nil {
		if nc, err = tlsClient(c.ctx, nc, cfg, addr, timeout); err != nil {
			return nil, err
		}
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(timeout))
	br, bw := bufio.NewReader(nc), bufio.NewWriter(nc)
	if c.opts.Server.Auth != "" {
		args := []string{"AUTH", c.opts.Server.Auth}
		if c.opts.Server.Username != "" {
			args = []string{"AUTH", c.opts.Server.Username, c.opts.Server.Auth}
		}
		v, err := roundTrip(bw, br, args...)
		if err != nil {
			return nil, err
		}
		if e, ok := v.(resp.Error); ok {
			return nil, e
		}
	}
	host, _, _ := net.SplitHostPort(addr)
	v, err := roundTrip(bw, br, "CLUSTER", "SHARDS")
	if err != nil {
		return nil, err
	}
	if _, ok := v.(resp.Error); !ok {
		return parseShards(v, host)
	}
	v, err = roundTrip(bw, br, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, err
	}
	if e, ok := v.(resp.Error); ok {
		return nil, e
	}
	return parseSlots(v, host)
}

// apply installs a new slot map and drops the nodes that left it.
func (c *Cluster) apply(shards []shard) {
	t := &topology{replicas: make([][]*Server, SlotCount)}
	var owner [SlotCount]*Server
	keep := map[*Server]bool{}
	c.mu.Lock()
	for _, sh := range shards {
		m := c.nodeLocked(sh.master)
		keep[m] = true
		t.masters = append(t.masters, m)
		var reps []*Server
		for _, r := range sh.replicas {
			s := c.nodeLocked(r)
			keep[s] = true
			reps = append(reps, s)
		}
		for _, rg := range sh.ranges {
			for slot := rg[0]; slot <= rg[1] && slot < SlotCount; slot++ {
				owner[slot] = m
				t.replicas[slot] = reps
			}
		}
	}
	slices.SortFunc(t.masters, func(a, b *Server) int { return cmpString(a.Addr(), b.Addr()) })
	t.masters = slices.Compact(t.masters)
	changed := 0
	for slot := range owner {
		if owner[slot] != nil {
			t.covered++
		}
		if c.slots[slot].Swap(owner[slot]) != owner[slot] {
			changed++
		}
	}
	old := c.topo.Swap(t)
	// Close dropped nodes off the refresh path (Close waits for their
	// requests to fail), under mu (see retiring): a redirect may name a
	// node again at once, and then gets the same Server back. mu is held
	// until the new map is in place, so none is closed while the slots
	// still point at it. c.wg owns these goroutines, so Close waits for
	// them too; refresh runs before loop starts or inside it, so the Add
	// never races with Close's Wait.
	dropped := 0
	for addr, s := range c.nodes {
		if !keep[s] {
			dropped++
			delete(c.nodes, addr)
			var onDrop func()
			if c.opts.Dropped != nil {
				onDrop = func() { c.opts.Dropped(addr) }
			}
			c.retiring.retire(c.ctx, &c.wg, &c.mu, s, 0, onDrop)
		}
	}
	c.mu.Unlock()
	if changed > 0 || dropped > 0 || old.covered != t.covered {
		c.log.Info("cluster slot map updated", "masters", len(t.masters), "covered", t.covered, "slots_moved", changed, "nodes_dropped", dropped)
	}
}

// parseShards reads CLUSTER SHARDS: per shard a flat map with "slots"
// (start, end pairs) and "nodes" (flat maps with ip, endpoint, port, role,
// health). Only online nodes serve; an empty ip means the host asked.
func parseShards(v any, host string) ([]shard, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errors.New("CLUSTER SHARDS: not an array")
	}
	var out []shard
	for _, sv := range arr {
		m := flatMap(sv)
		var sh shard
		slotsV, _ := m["slots"].([]any)
		for i := 0; i+1 < len(slotsV); i += 2 {
			lo, ok1 := slotsV[i].(int64)
			hi, ok2 := slotsV[i+1].(int64)
			if !ok1 || !ok2 {
				return nil, errors.New("CLUSTER SHARDS: bad slot range")
			}
			sh.ranges = append(sh.ranges, [2]int{int(lo), int(hi)})
		}
		nodes, _ := m["nodes"].([]any)
		for _, nv := range nodes {
			n := flatMap(nv)
			addr := nodeAddr(str(n["endpoint"]), str(n["ip"]), n["port"], host)
			if addr == "" || str(n["health"]) == "fail" {
				continue
			}
			if str(n["role"]) == "master" {
				if str(n["health"]) == "online" {
					sh.master = addr
				}
			} else if str(n["health"]) == "online" {
				sh.replicas = append(sh.replicas, addr)
			}
		}
		if sh.master != "" && len(sh.ranges) > 0 {
			out = append(out, sh)
		}
	}
	return out, nil
}

// parseSlots reads CLUSTER SLOTS: [start, end, [ip, port, id], replicas...].
func parseSlots(v any, host string) ([]shard, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errors.New("CLUSTER SLOTS: not an array")
	}
	byMaster := map[string]*shard{}
	var order []string
	for _, ev := range arr {
		e, ok := ev.([]any)
		if !ok || len(e) < 3 {
			return nil, errors.New("CLUSTER SLOTS: bad entry")
		}
		lo, ok1 := e[0].(int64)
		hi, ok2 := e[1].(int64)
		if !ok1 || !ok2 {
			return nil, errors.New("CLUSTER SLOTS: bad slot range")
		}
		var addrs []string
		for _, nv := range e[2:] {
			n, ok := nv.([]any)
			if !ok || len(n) < 2 {
				continue
			}
			addrs = append(addrs, nodeAddr("", str(n[0]), n[1], host))
		}
		if len(addrs) == 0 || addrs[0] == "" {
			continue
		}
		sh := byMaster[addrs[0]]
		if sh == nil {
			sh = &shard{master: addrs[0], replicas: addrs[1:]}
			byMaster[addrs[0]] = sh
			order = append(order, addrs[0])
		}
		sh.ranges = append(sh.ranges, [2]int{int(lo), int(hi)})
	}
	out := make([]shard, 0, len(order))
	for _, a := range order {
		out = append(out, *byMaster[a])
	}
	return out, nil
}

func flatMap(v any) map[string]any {
	arr, _ := v.([]any)
	m := make(map[string]any, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		m[str(arr[i])] = arr[i+1]
	}
	return m
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// nodeAddr builds "host:port" from what a node reports about another,
// falling back to the host we reached it at when it does not know its IP.
func nodeAddr(endpoint, ip string, port any, asked string) string {
	p := str(port)
	if p == "" || p == "0" {
		return ""
	}
	h := endpoint
	if h == "" || h == "?" {
		h = ip
	}
	if h == "" || h == "?" {
		h = asked
	}
	return net.JoinHostPort(h, p)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// roundTrip sends one command on a short-lived reader/writer pair and
// returns its decoded reply (resp.Decode; an error reply is a resp.Error).
func roundTrip(bw *bufio.Writer, br *bufio.Reader, args ...string) (any, error) {
	if _, err := bw.Write(resp.AppendCommand(nil, args...)); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return resp.ReadValue(br)
}
