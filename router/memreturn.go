package router

import (
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Returning the memory of large values to the system.
//
// A 512 MB value passes through the proxy in one buffer (bigcmd.go,
// bigreply.go). Once it has been sent, the buffer is garbage, but the Go
// runtime keeps the memory: the next collection may be minutes away on an
// idle proxy (the heap goal doubled with the value), and even collected,
// the scavenger hands memory back slowly. An operator sees the proxy hold
// gigabytes after one large GET. So the buffers' owners report what they
// let go, and once enough has been let go the pool's memReturner collects
// and returns it (debug.FreeOSMemory), at most once per memReturnEvery: a
// stream of large values costs one collection per interval, and a proxy
// that only ever sees small values never pays for one. The backlog of a
// client that does not read its replies is let go the same way, when it is
// written or when the client goes (blockBytes).

const (
	// memReturnAt is how much large-value memory must have been let go
	// before it is worth a collection.
	memReturnAt = 32 << 20
	// memReturnEvery is the least time between two collections.
	memReturnEvery = time.Second
)

// memReturner collects and returns memory after large buffers were let
// go. released is safe for concurrent use; run is the pool's goroutine.
type memReturner struct {
	freed atomic.Int64  // bytes let go since the last collection began
	kick  chan struct{} // capacity 1: freed reached memReturnAt
	// For tests: bytes reported in all, and bytes whose collection has
	// finished (reports are counted in order, so returned >= x means
	// everything reported before the total reached x is collected).
	total, returned atomic.Int64
}

func newMemReturner() *memReturner {
	return &memReturner{kick: make(chan struct{}, 1)}
}

// released reports that a large buffer of n bytes is no longer used.
func (m *memReturner) released(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.total.Add(int64(n))
	if m.freed.Add(int64(n)) < memReturnAt {
		return
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// run collects and returns memory when kicked, until stop is closed.
func (m *memReturner) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-m.kick:
		}
		n := m.freed.Swap(0) // what is let go from now on waits for the next round
		debug.FreeOSMemory()
		m.returned.Add(n)
		t := time.NewTimer(memReturnEvery)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}
