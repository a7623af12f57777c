package backend

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// Errors of a server whose address changes (Sentinel-managed masters).
var (
	// ErrNoAddr is the cause while a server has no known address yet
	// (Sentinel has not named its master).
	ErrNoAddr = errors.New("no known address")
	// ErrMoved is the cause of the requests that were queued or in flight
	// on a master when it was replaced: their outcome is unknown, so they
	// are failed rather than retried on the new master.
	ErrMoved = errors.New("master changed (failover); the command's outcome is unknown")
	// ErrFenced is the cause of a write refused while Sentinel promotes a
	// replica of its master: never sent.
	ErrFenced = errors.New("failover in progress; write not sent")
	// ErrNotMaster is the cause when RequireMaster refuses a connection to
	// a server whose ROLE is not master.
	ErrNotMaster = errors.New("server is not a master (ROLE)")
)

// mover is the part of a Server that changes its address in place: the
// address generation, and a channel closed by each change.
type mover struct {
	gen   atomic.Uint64 // incremented by SetAddr after the address
	fence atomic.Int64  // unix nanos until which writes are fenced; 0: none
	mu    sync.Mutex
	moved chan struct{} // guarded by mu; closed when the address changes
}

func (m *mover) init() { m.moved = make(chan struct{}) }

// current returns the channel closed by the next address change.
func (m *mover) current() chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.moved
}

// check fails c, a shared connection dialled during generation moved, when
// the address changed meanwhile. SetAddr stores the address before it
// signals, and maintain stores c before calling check, so one of the two
// always sees the other.
func (m *mover) check(c *Conn, moved chan struct{}) {
	if isClosed(moved) {
		c.fail(movedError(c.s))
	}
}

func movedError(s *Server) *Error {
	return &Error{Server: s.opts.Name, Kind: KindClosed, Cause: ErrMoved}
}

// SetAddr points the server at a new address, in place, so that everything
// holding the *Server (a hash ring, sessions) follows it: it is how a
// Sentinel failover reaches the data path. Requests queued or in flight on
// the old address get the old server's reply, or fail with the backend
// error if it does not answer (never retried: a write may have happened;
// see retire); dedicated connections are closed so that their clients see
// an error rather than talk to a demoted master; the shared connections
// are redialled to addr at once and swapped in as soon as they are up. It reports whether the
// address changed. It is safe for concurrent use.
func (s *Server) SetAddr(addr string) bool {
	s.mv.mu.Lock()
	if addr == s.Addr() {
		s.mv.mu.Unlock()
		return false
	}
	old := s.Addr()
	s.addr.Store(&addr)
	s.mv.gen.Add(1) // after the address: a conn of this gen has dialled addr
	s.mv.fence.Store(0)
	close(s.mv.moved)
	s.mv.moved = make(chan struct{})
	s.mv.mu.Unlock()
	s.log.Info("backend address changed", "from", old, "to", addr)
	// Shared connections are swapped by their slot's goroutine (watch);
	// dedicated ones hold a client in a transaction or a blocking call on
	// the old master: close them so the client sees an error.
	s.dmu.Lock()
	open := make([]*Dedicated, 0, len(s.dedicated))
	for d := range s.dedicated {
		open = append(open, d)
	}
	s.dmu.Unlock()
	for _, d := range open {
		d.closeMoved()
	}
	return true
}

// checkRole accepts a raw ROLE reply whose first element is "master".
func checkRole(raw []byte) error {
	v, err := resp.Decode(raw)
	if err != nil {
		return fmt.Errorf("ROLE: %w", err)
	}
	arr, _ := v.([]any)
	if len(arr) == 0 {
		return fmt.Errorf("ROLE: unexpected reply %q", trimCRLF(raw))
	}
	if role := str(arr[0]); role != "master" {
		return fmt.Errorf("%w: it is a %s", ErrNotMaster, role)
	}
	return nil
}

var readOnlyPrefix = []byte("-READONLY ")

// isReadOnlyReply reports whether a raw reply is the error a replica gives
// to a write.
func isReadOnlyReply(raw []byte) bool { return bytes.HasPrefix(raw, readOnlyPrefix) }

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// retireGrace is how long retire waits between its two barriers: a
// session that picked the connection just before it was swapped out
// enqueues within microseconds, so its requests land before the second.
const retireGrace = 10 * time.Millisecond

// retire closes c, a shared connection to the server's old address that is
// no longer handed out, once the requests already on it have been
// answered. Those replies are real replies of the old server (a planned
// failover keeps it up as a replica, so reads in flight succeed and writes
// get -READONLY); a server that does not answer fails them with the
// backend error when the request timeout passes. Nothing is retried.
func (s *Server) retire(c *Conn) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer c.fail(movedError(s))
		barrier := NewRequest()
		for i := 0; i < 2; i++ {
			if i > 0 {
				select {
				case <-s.ctx.Done():
					return
				case <-time.After(retireGrace):
				}
			}
			barrier.Reset()
			barrier.Wire = pingWire
			c.Enqueue(barrier) // FIFO: completes after every earlier request
			barrier.Wait()
			if barrier.Err != nil {
				return
			}
		}
	}()
}

// awaitIn waits, up to the request timeout, for a connection that pickIn
// reported on its way: one to the server's new address, so that a planned
// failover costs requests a millisecond of latency rather than an error, or
// the successor of a connection that just failed.
func (s *Server) awaitIn(slots []slot, hint int) (*Conn, *Error) {
	deadline := time.Now().Add(s.opts.Timeout)
	for {
		time.Sleep(200 * time.Microsecond)
		c, err, wait := s.pickIn(slots, hint)
		if wait == noWait {
			return c, err
		}
		if time.Now().After(deadline) {
			if wait == waitMove {
				return nil, movedError(s)
			}
			return nil, &Error{Server: s.opts.Name, Kind: KindTimeout, Timeout: s.opts.Timeout}
		}
	}
}

// closeMoved closes a dedicated connection to a master's old address with
// ErrMoved; its owner still Closes it.
func (d *Dedicated) closeMoved() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed, d.err = true, movedError(d.s)
	d.mu.Unlock()
	d.nc.Close()
}

// MovedSince reports whether the server's address changed after r was
// enqueued on one of its shared connections: a reply r has came from the
// old master. A write acknowledged there may be lost, so the router turns
// such a reply into MovedError (never for a request that failed anyway).
func (s *Server) MovedSince(r *Request) bool { return r.gen != s.mv.gen.Load() }

// MovedError is the error of a request whose outcome on the server's old
// master is unknown (see MovedSince).
func (s *Server) MovedError() *Error { return movedError(s) }

// Fence makes Fenced report true for d, or until the next SetAddr; it
// reports whether the server was not fenced already. SentinelShards fences
// a master while a sentinel promotes one of its replicas.
func (s *Server) Fence(d time.Duration) bool {
	return s.mv.fence.Swap(time.Now().Add(d).UnixNano()) < time.Now().UnixNano()
}

// Fenced reports whether writes to the server are fenced: a failover is
// promoting a replica, so a write the server acknowledges would be lost.
// The router fails such writes with FencedError instead of sending them.
func (s *Server) Fenced() bool {
	f := s.mv.fence.Load()
	if f == 0 {
		return false
	}
	if time.Now().UnixNano() < f {
		return true
	}
	s.mv.fence.CompareAndSwap(f, 0) // expired: back to the cheap check
	return false
}

// FencedError is the error of a write refused while the server is fenced.
func (s *Server) FencedError() *Error {
	return &Error{Server: s.opts.Name, Kind: KindConnect, Cause: ErrFenced}
}
