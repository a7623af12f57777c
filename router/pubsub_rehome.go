package router

import (
	"slices"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
)

// Moving subscriptions when the placement changes (see pubsubHub). The
// rehome goroutine runs a pass when kicked: after a topology swap (reload,
// ejection), a cluster slot-map refresh, a subscription the server dropped
// unasked, or a subscriber connection lost in cluster mode. A pass that
// could not place everything (no master for a slot, a shard down in
// cluster mode) is retried with backoff, refreshing the slot map first.

var subscribeInfo = command.ByName("subscribe")

const (
	rehomeMinRetry = 50 * time.Millisecond
	rehomeMaxRetry = time.Second
)

func (h *pubsubHub) run() {
	defer h.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	backoff := rehomeMinRetry
	for {
		select {
		case <-h.done:
			return
		case <-h.kickc:
		case <-retry.C:
			if t := h.p.topology(); t != nil {
				t.refresh()
			}
		}
		if h.rehome() {
			retry.Reset(backoff)
			backoff = min(2*backoff, rehomeMaxRetry)
		} else {
			retry.Stop()
			backoff = rehomeMinRetry
		}
	}
}

// move is one entry whose shards change: it gets to, in that order.
type move struct {
	e  *subEntry
	to []*backend.Server
}

// rehome places every entry where the current topology wants it. It
// reports whether something is left to do later.
func (h *pubsubHub) rehome() (pending bool) {
	t := h.p.topology()
	if t == nil {
		return false
	}
	cluster := h.p.cfg.Mode == config.ModeCluster
	shardSet := t.shards()
	// 1. Plan, under the lock, without connecting.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	var plan []move
	var resub []*subShard // shards with orphans that stay put
	for kind := range h.entries {
		for name, e := range h.entries[kind] {
			var want []*backend.Server
			switch subKind(kind) {
			case subPattern:
				want = shardSet
			default:
				srv := t.server(t.part([]byte(name)), subscribeInfo, 0)
				if srv == nil {
					pending = true
					continue
				}
				want = []*backend.Server{srv}
				if cluster && subKind(kind) == subChannel && len(e.shards) == 1 {
					// Cluster nodes broadcast PUBLISH: a channel stays on
					// any master that is up (moving it could duplicate).
					cur := e.shards[0]
					cur.mu.RLock()
					up := cur.up
					cur.mu.RUnlock()
					if up && slices.Contains(shardSet, cur.srv) {
						continue
					}
				}
			}
			if !sameShards(e.shards, want) {
				plan = append(plan, move{e, want})
			} else if cluster {
				for _, sh := range e.shards {
					sh.mu.RLock()
					_, orphan := sh.orphans[waitKey{e.kind, e.name}]
					down := !sh.up
					sh.mu.RUnlock()
					if orphan && !slices.Contains(resub, sh) {
						resub = append(resub, sh)
					}
					if down {
						pending = true // may fail over: look again
					}
				}
			}
		}
	}
	h.mu.Unlock()
	// Orphans whose owner did not change: subscribe them again (a stale
	// view of the slot map answers MOVED, which refreshes it).
	for _, sh := range resub {
		sh.mu.Lock()
		for k := range sh.orphans {
			if e := sh.subs[k.kind][k.name]; e != nil {
				sh.subscribeLocked(k.kind, k.name)
			}
			delete(sh.orphans, k)
		}
		sh.mu.Unlock()
		pending = true
	}
	// 2. Connect the new shards (outside the lock).
	shardOf := map[*backend.Server]*subShard{}
	for _, m := range plan {
		for _, srv := range m.to {
			if _, ok := shardOf[srv]; !ok {
				if sh := h.shard(srv); sh != nil {
					shardOf[srv] = sh
				} else {
					return false // closed
				}
			}
		}
	}
	// 3. Subscribe on the new shards; the entries keep their old shards
	// too until the new ones confirmed, so that no message is missed.
	var waits []<-chan struct{}
	h.mu.Lock()
	var done []move
	for _, m := range plan {
		if h.entries[m.e.kind][m.e.name] != m.e {
			continue // released meanwhile
		}
		if slices.ContainsFunc(m.to, func(srv *backend.Server) bool { return shardOf[srv].gone }) {
			pending = true // its server left the topology meanwhile
			continue
		}
		for _, srv := range m.to {
			sh := shardOf[srv]
			if slices.Contains(m.e.shards, sh) {
				continue
			}
			// clients is written only with h.mu held: sh may read it
			// from now on.
			waits = append(waits, sh.addLocked(m.e))
			m.e.shards = append(m.e.shards, sh)
		}
		done = append(done, m)
	}
	h.mu.Unlock()
	waitConfirmed(waits, h.p.cfg.Timeout)
	// 4. Unsubscribe from the old shards; close shards the topology lost.
	h.mu.Lock()
	for _, m := range done {
		if h.entries[m.e.kind][m.e.name] != m.e {
			continue
		}
		keep := m.e.shards[:0:0]
		for _, sh := range m.e.shards {
			if slices.Contains(m.to, sh.srv) {
				keep = append(keep, sh)
			} else {
				sh.removeLocked(m.e)
			}
		}
		m.e.shards = keep
		h.moved.Add(1)
	}
	servers := t.servers()
	var stale []*subShard
	for srv, sh := range h.shards {
		if slices.Contains(servers, srv) {
			continue
		}
		sh.mu.RLock()
		empty := len(sh.subs[0])+len(sh.subs[1])+len(sh.subs[2]) == 0
		sh.mu.RUnlock()
		if empty {
			sh.gone = true
			delete(h.shards, srv)
			stale = append(stale, sh)
		}
	}
	h.mu.Unlock()
	for _, sh := range stale {
		<-sh.ready
		sh.conn.Close()
	}
	return pending
}

// sameShards reports whether shs are exactly the shards of want.
func sameShards(shs []*subShard, want []*backend.Server) bool {
	if len(shs) != len(want) {
		return false
	}
	for _, sh := range shs {
		if !slices.Contains(want, sh.srv) {
			return false
		}
	}
	return true
}
