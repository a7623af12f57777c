package backend

import (
	"context"
	"sync"
	"time"
)

// retiring holds, by address, the Servers that left their owner's set
// (the replicas of a SentinelShards or a ReplicaDiscovery, the nodes of a
// Cluster) and are not closed yet. Each is closed after a delay (for
// replicas, time for requests already routed to them to finish), unless it
// is listed again first: then revive hands the same Server back (same
// connections, same metrics series) instead of the owner making a second
// Server for the address. A second one would share the first one's
// metrics series (they are labelled by address), which the first one's
// close marks down and its Dropped deletes: the server, back in use, would
// vanish from the metrics for good.
//
// The owner's mutex guards it: retire and revive are called with it held,
// and the closing goroutine takes it, so a close never interleaves with the
// owner making a Server for the same address.
type retiring map[string]*retiree

type retiree struct {
	srv     *Server
	revived bool // listed again before the close: the owner has it back
}

// retire closes r, which the owner has just forgotten, after delay (at
// once when ctx ends), then calls dropped (may be nil); all this unless
// revive takes it back first. mu is the owner's mutex, held by the caller;
// wg counts the goroutine that waits, for the owner's Close (which must not
// hold mu while it waits).
func (rt retiring) retire(ctx context.Context, wg *sync.WaitGroup, mu *sync.Mutex, r *Server, delay time.Duration, dropped func()) {
	e := &retiree{srv: r}
	rt[r.Addr()] = e
	wg.Add(1)
	go func() {
		defer wg.Done()
		if delay > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(delay):
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if e.revived {
			return // in use again: the owner closes it
		}
		if rt[r.Addr()] == e {
			delete(rt, r.Addr())
		}
		r.Close()
		if dropped != nil {
			dropped()
		}
	}()
}

// revive takes back the retiring Server of addr, which then stays open;
// nil when there is none. The caller holds the owner's mutex.
func (rt retiring) revive(addr string) *Server {
	e := rt[addr]
	if e == nil {
		return nil
	}
	e.revived = true
	delete(rt, addr)
	return e.srv
}

// dropReplica is the dropped callback of a replica of master at addr: a
// call to dropped, or nil when dropped is nil.
func dropReplica(dropped func(master, addr string), master, addr string) func() {
	if dropped == nil {
		return nil
	}
	return func() { dropped(master, addr) }
}
