package router

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/resp"
)

// Shared subscriptions. A pool's pub/sub goes through one proxy-owned
// subscriber connection per shard (backend.Subscriber), created on the
// first subscription to that shard. Every client subscription is reference
// counted per shard: the first client of a channel sends SUBSCRIBE, the last
// one to leave sends UNSUBSCRIBE, so 10,000 clients of one channel cost one
// backend subscription. A message arrives once per shard connection and is
// written to every subscribed client as the server encoded it (RESP2), or
// converted once to a RESP3 push for the RESP3 clients, through each
// client's writer: non-blocking, bounded by the pubsub output buffer limit.
//
// Placement: a channel (and a shard channel) lives where a key of the same
// name lives (hash tags apply): PUBLISH and SUBSCRIBE of one channel meet on
// one shard. A pattern is subscribed on every shard; since each message is
// published on exactly one shard, a pattern subscriber receives it once.

// subKind is one of Redis's three subscription namespaces.
type subKind uint8

const (
	subChannel subKind = iota // SUBSCRIBE
	subPattern                // PSUBSCRIBE
	subSharded                // SSUBSCRIBE
)

var (
	subVerbs   = [3]string{"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"}
	unsubVerbs = [3]string{"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"}
	subReply   = [3]string{"subscribe", "psubscribe", "ssubscribe"}
	unsubReply = [3]string{"unsubscribe", "punsubscribe", "sunsubscribe"}
)

// pubsubHub owns the pool's subscriber connections and the subscriptions
// they carry. Safe for concurrent use.
//
// Each channel, pattern and shard channel the proxy holds is one subEntry,
// placed on the shards that carry it (one for a channel, every shard for a
// pattern). Placement follows the topology: when it changes (a reload, an
// ejection, a cluster slot-map refresh) or a server drops a subscription on
// its own (Redis sends sunsubscribe for the shard channels of a slot that
// moved away), the hub's rehome goroutine subscribes the entry on its new
// shards, waits for the confirmations, then unsubscribes it from the old
// ones. Clients are never told: their subscriptions are names, not shards.
//
// Lock order: hub.mu, then subShard.mu. The subscriber goroutines (Push,
// Connected, ...) take only their subShard's mu, never hub.mu.
type pubsubHub struct {
	p       *Pool
	mu      sync.Mutex
	shards  map[*backend.Server]*subShard
	entries [3]map[string]*subEntry // by kind, by name; guarded by mu
	closed  bool
	running bool // the rehome goroutine was started; guarded by mu

	kickc chan struct{} // wakes the rehome goroutine
	done  chan struct{}
	wg    sync.WaitGroup

	delivered, dropped atomic.Int64 // messages written to clients, or not (client gone)
	subscribed         atomic.Int64 // sessions with at least one subscription
	moved              atomic.Int64 // subscriptions moved to another shard
}

func newPubsubHub(p *Pool) *pubsubHub {
	h := &pubsubHub{p: p, shards: map[*backend.Server]*subShard{},
		kickc: make(chan struct{}, 1), done: make(chan struct{})}
	for k := range h.entries {
		h.entries[k] = map[string]*subEntry{}
	}
	return h
}

// kick asks the rehome goroutine for a pass (coalesced, never blocks).
func (h *pubsubHub) kick() {
	select {
	case h.kickc <- struct{}{}:
	default:
	}
}

// shard returns the subscription state of srv, connecting its subscriber
// on first use (and waiting for that first attempt, so that a shard which
// is up confirms the first subscriptions); nil once the hub is closed.
func (h *pubsubHub) shard(srv *backend.Server) *subShard {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	sh := h.shards[srv]
	if sh != nil {
		h.mu.Unlock()
		<-sh.ready
		return sh
	}
	sh = &subShard{hub: h, srv: srv, waits: map[waitKey]*subWait{}, ready: make(chan struct{}),
		pend: map[*Session][]byte{}, orphans: map[waitKey]struct{}{}}
	for k := range sh.subs {
		sh.subs[k] = map[string]*subEntry{}
	}
	h.shards[srv] = sh
	if !h.running {
		// The first subscription starts the goroutine that moves them.
		h.running = true
		h.wg.Add(1)
		go h.run()
	}
	h.mu.Unlock()
	conn := srv.Subscribe(sh)
	sh.mu.Lock()
	sh.conn = conn
	sh.mu.Unlock()
	close(sh.ready)
	return sh
}

// close stops the rehome goroutine and every subscriber connection.
func (h *pubsubHub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	all := h.shards
	h.shards = nil
	close(h.done)
	h.mu.Unlock()
	h.wg.Wait()
	for _, sh := range all {
		<-sh.ready
		sh.conn.Close()
	}
}

// counts returns the backend subscriptions the hub holds per shard name.
func (h *pubsubHub) counts() map[string][3]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][3]int{}
	for srv, sh := range h.shards {
		sh.mu.RLock()
		out[srv.Name()] = [3]int{len(sh.subs[0]), len(sh.subs[1]), len(sh.subs[2])}
		sh.mu.RUnlock()
	}
	return out
}

// subShard is the subscriptions of one shard and its subscriber
// connection. It implements backend.SubHandler.
type subShard struct {
	hub   *pubsubHub
	srv   *backend.Server
	conn  *backend.Subscriber // set before ready is closed
	ready chan struct{}
	gone  bool // removed from the hub (its server left the topology); guarded by hub.mu

	mu      sync.RWMutex
	subs    [3]map[string]*subEntry // by kind, by name
	waits   map[waitKey]*subWait    // SUBSCRIBEs sent and not yet confirmed
	orphans map[waitKey]struct{}    // dropped by the server unasked
	up      bool                    // a connection carries subs right now

	// Used by the subscriber's reader goroutine only: messages batched
	// per client until Flush, and buffers to reuse.
	pend  map[*Session][]byte
	order []*Session
	free  [][]byte
	push3 []byte // scratch for RESP3 conversion
}

// subEntry is one channel, pattern or shard channel the proxy holds.
type subEntry struct {
	kind subKind
	name string
	// refs counts the sessions holding it (or about to); shards are the
	// shards it is subscribed on. Both guarded by hub.mu; shards changes
	// with hub.mu held and the shards concerned locked.
	refs   int
	shards []*subShard
	// clients receive its messages: written with hub.mu and every shard
	// of shards locked, read (Push) with one of them locked.
	clients map[*Session]struct{}
}

type waitKey struct {
	kind subKind
	name string
}

// subWait is the confirmation of a SUBSCRIBE sent to the shard.
type subWait struct {
	left int
	done chan struct{}
}

// subscribeLocked sends SUBSCRIBE name on the shard and returns the
// channel closed on its confirmation (nil when the shard is down:
// Connected subscribes it). sh.mu is held.
func (sh *subShard) subscribeLocked(kind subKind, name string) <-chan struct{} {
	if !sh.up {
		return nil
	}
	if err := sh.conn.Send(resp.AppendCommand(nil, subVerbs[kind], name)); err != nil {
		return nil
	}
	k := waitKey{kind, name}
	w := sh.waits[k]
	if w == nil {
		w = &subWait{done: make(chan struct{})}
		sh.waits[k] = w
	}
	w.left++
	return w.done
}

// addLocked subscribes e on sh. hub.mu is held.
func (sh *subShard) addLocked(e *subEntry) <-chan struct{} {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.subs[e.kind][e.name] = e
	delete(sh.orphans, waitKey{e.kind, e.name})
	return sh.subscribeLocked(e.kind, e.name)
}

// removeLocked unsubscribes e from sh. hub.mu is held.
func (sh *subShard) removeLocked(e *subEntry) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.subs[e.kind][e.name] != e {
		return
	}
	delete(sh.subs[e.kind], e.name)
	delete(sh.orphans, waitKey{e.kind, e.name})
	if sh.up {
		sh.conn.Send(resp.AppendCommand(nil, unsubVerbs[e.kind], e.name))
	}
}

// reserve counts one more session on name and, for the first, subscribes
// it on shards (where topo, the session's topology, places it). It returns
// the channels closed once the shards confirmed (nil entries need no wait).
func (h *pubsubHub) reserve(kind subKind, name string, shards []*subShard, topo topology) []<-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	e := h.entries[kind][name]
	if e != nil {
		e.refs++
		// Another session's SUBSCRIBE may be on its way.
		var waits []<-chan struct{}
		for _, sh := range e.shards {
			sh.mu.RLock()
			if w := sh.waits[waitKey{kind, name}]; w != nil {
				waits = append(waits, w.done)
			}
			sh.mu.RUnlock()
		}
		return waits
	}
	e = &subEntry{kind: kind, name: name, refs: 1, clients: map[*Session]struct{}{}}
	h.entries[kind][name] = e
	waits := make([]<-chan struct{}, 0, len(shards))
	for _, sh := range shards {
		if sh.gone {
			h.kick() // placed by a topology that changed since: rehome places it
			continue
		}
		e.shards = append(e.shards, sh)
		waits = append(waits, sh.addLocked(e))
	}
	if len(e.shards) == 0 || topo != h.p.topology() {
		// A reload swapped the topology since the session loaded it: the
		// rehome pass it triggered may have run before this entry existed.
		h.kick()
	}
	return waits
}

// attach makes s receive the messages of name, then runs then (which
// writes the subscribe reply) before any message can reach s.
func (h *pubsubHub) attach(kind subKind, name string, s *Session, then func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entries[kind][name]
	if e == nil { // the hub closed
		then()
		return
	}
	for _, sh := range e.shards {
		sh.mu.Lock()
	}
	e.clients[s] = struct{}{}
	then()
	for _, sh := range e.shards {
		sh.mu.Unlock()
	}
}

// release undoes one reserve (and the attach): the last session out
// unsubscribes on the shards.
func (h *pubsubHub) release(kind subKind, name string, s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.entries[kind][name]
	if e == nil {
		return
	}
	for _, sh := range e.shards {
		sh.mu.Lock()
	}
	delete(e.clients, s)
	for _, sh := range e.shards {
		sh.mu.Unlock()
	}
	e.refs--
	if e.refs > 0 {
		return
	}
	delete(h.entries[kind], name)
	for _, sh := range e.shards {
		sh.removeLocked(e)
	}
	e.shards = nil
}

// Connected subscribes a new connection to everything the shard holds.
func (sh *subShard) Connected(sb *backend.Subscriber) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.up = true
	clear(sh.orphans)
	for kind := range sh.subs {
		if len(sh.subs[kind]) == 0 {
			continue
		}
		args := make([]string, 0, 1+len(sh.subs[kind]))
		args = append(args, subVerbs[kind])
		for name := range sh.subs[kind] {
			args = append(args, name)
		}
		if err := sb.Send(resp.AppendCommand(nil, args...)); err != nil {
			return // the connection is failing; the next one tries again
		}
	}
}

// Disconnected releases the sessions waiting for confirmations that will
// not come; Connected resubscribes on the next connection. In cluster mode
// the node may have failed over: the hub looks at the slot map again.
func (sh *subShard) Disconnected(error) {
	sh.mu.Lock()
	sh.up = false
	for k, w := range sh.waits {
		close(w.done)
		delete(sh.waits, k)
	}
	sh.mu.Unlock()
	if sh.hub.p.cfg.Mode == config.ModeCluster {
		sh.hub.kick()
	}
}

// ErrorReply handles an error the server answered a (un)subscribe with:
// MOVED or CLUSTERDOWN means the slot map the subscription was placed by
// is stale, so the hub refreshes it and places the subscriptions again.
func (sh *subShard) ErrorReply(msg []byte) {
	if t := sh.hub.p.topology(); t != nil {
		t.refresh()
	}
	sh.hub.kick()
}

// lostSub records that the server unsubscribed name of kind on its own:
// Redis does so for the shard channels of a slot that moved away. The
// rehome goroutine places it again.
func (sh *subShard) lostSub(k subKind, args [][]byte) {
	if len(args) < 1 {
		return
	}
	name := string(args[0])
	sh.mu.Lock()
	_, held := sh.subs[k][name]
	if held {
		sh.orphans[waitKey{k, name}] = struct{}{}
	}
	sh.mu.Unlock()
	if held {
		if t := sh.hub.p.topology(); t != nil {
			t.refresh()
		}
		sh.hub.kick()
	}
}

// Push delivers a message to the shard's subscribers, or records a
// subscribe confirmation.
func (sh *subShard) Push(kind []byte, args [][]byte, raw []byte) {
	var k subKind
	switch string(kind) {
	case "message":
		k = subChannel
	case "pmessage":
		k = subPattern
	case "smessage":
		k = subSharded
	case "subscribe", "psubscribe", "ssubscribe":
		sh.confirmed(kind, args)
		return
	case "unsubscribe":
		sh.lostSub(subChannel, args)
		return
	case "punsubscribe":
		sh.lostSub(subPattern, args)
		return
	case "sunsubscribe":
		sh.lostSub(subSharded, args)
		return
	default:
		return
	}
	if len(args) < 2 {
		return
	}
	sh.mu.RLock()
	e := sh.subs[k][string(args[0])]
	if e == nil || len(e.clients) == 0 {
		sh.mu.RUnlock()
		return
	}
	var p3 []byte
	var delivered, dropped int64
	for s := range e.clients {
		b := raw
		if s.pub.proto.Load() == 3 { // s.proto is the session goroutine's
			if p3 == nil {
				// The same elements as a RESP3 push: only the type byte
				// of the outer header differs.
				sh.push3 = append(sh.push3[:0], raw...)
				sh.push3[0] = '>'
				p3 = sh.push3
			}
			b = p3
		}
		if s.w.dead.Load() {
			dropped++
			continue
		}
		buf, ok := sh.pend[s]
		if !ok {
			if n := len(sh.free); n > 0 {
				buf, sh.free = sh.free[n-1], sh.free[:n-1]
			}
			sh.order = append(sh.order, s)
		}
		sh.pend[s] = append(buf, b...)
		delivered++
	}
	sh.mu.RUnlock()
	sh.hub.delivered.Add(delivered)
	sh.hub.dropped.Add(dropped)
	if cap(sh.push3) > 1<<20 {
		sh.push3 = nil
	}
}

// Flush writes the messages batched per client since the last Flush, in
// the order the clients first got one.
func (sh *subShard) Flush() {
	var now int64
	if len(sh.order) > 0 {
		now = nanotime()
	}
	for _, s := range sh.order {
		buf := sh.pend[s]
		delete(sh.pend, s)
		s.w.write(buf)
		s.pub.active.Store(now) // output is interaction, as Redis counts idle
		if cap(buf) <= 64<<10 && len(sh.free) < 64 {
			sh.free = append(sh.free, buf[:0])
		}
	}
	clear(sh.order)
	sh.order = sh.order[:0]
}

// confirmed counts a subscribe confirmation from the shard.
func (sh *subShard) confirmed(kind []byte, args [][]byte) {
	if len(args) < 1 {
		return
	}
	var k subKind
	switch kind[0] {
	case 'p':
		k = subPattern
	case 's':
		if kind[1] == 's' {
			k = subSharded
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	key := waitKey{k, string(args[0])}
	if w := sh.waits[key]; w != nil {
		w.left--
		if w.left <= 0 {
			close(w.done)
			delete(sh.waits, key)
		}
	}
}

// waitConfirmed waits for the shards' confirmations, bounded by the pool's
// timeout: a shard that does not answer gets the subscription when it
// comes back, and the client is answered meanwhile.
func waitConfirmed(waits []<-chan struct{}, timeout time.Duration) {
	var timer *time.Timer
	for _, w := range waits {
		if w == nil {
			continue
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
			defer timer.Stop()
		}
		select {
		case <-w:
		case <-timer.C:
			return
		}
	}
}

// existing returns the state of srv if the hub has one.
func (h *pubsubHub) existing(srv *backend.Server) *subShard {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.shards[srv]
}

// localCount is what the proxy adds to the shard's count of subscribers of
// name: its clients, less the one shared subscription the shard counts.
func (sh *subShard) localCount(kind subKind, name string) int64 {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	e := sh.subs[kind][name]
	if e == nil {
		return 0
	}
	return int64(len(e.clients)) - 1
}
