package backend

import (
	"sync"

	"github.com/shardproxy/shardproxy/resp"
)

// RESP3. A Server keeps a second set of shared connections that said
// HELLO 3 in their handshake, for the sessions of clients that chose RESP3:
// their replies are then exactly what the server would send that client
// (maps, sets, doubles, big numbers, verbatim strings, booleans, '_' nulls),
// with no per-command knowledge of reply shapes in the proxy. The set is
// started by the first PickProto(_, 3), so a pool whose clients all speak
// RESP2 never opens it. Both sets follow SetAddr and Close alike; only the
// RESP2 set decides Up and the up/down events.

// hello3Wire switches a new connection to RESP3.
var hello3Wire = resp.AppendCommand(nil, "HELLO", "3")

// PickProto is Pick among the connections of RESP version proto (2 or 3),
// starting the RESP3 ones on first use: that first call waits, as NewServer
// does, for each to make its first attempt (bounded by the timeout).
func (s *Server) PickProto(hint, proto int) (*Conn, *Error) {
	if proto != 3 {
		return s.Pick(hint)
	}
	slots := s.slots3.Load()
	if slots == nil {
		if slots = s.start3(); slots == nil {
			return nil, s.closedError()
		}
	}
	c, err, wait := s.pickIn(*slots, hint)
	if wait != noWait {
		return s.awaitIn(*slots, hint)
	}
	return c, err
}

// start3 starts the RESP3 connections once; nil when the server is closed.
func (s *Server) start3() *[]slot {
	s.once3.Lock()
	defer s.once3.Unlock()
	if p := s.slots3.Load(); p != nil {
		return p
	}
	slots := make([]slot, len(s.slots))
	var first sync.WaitGroup
	s.dmu.Lock()
	if s.closed {
		// Close is waiting or done: no goroutine may join s.wg now.
		s.dmu.Unlock()
		return nil
	}
	for i := range slots {
		slots[i].proto = 3
		slots[i].lastErr.Store(&Error{Server: s.opts.Name, Kind: KindConnect, Cause: ErrNotConnected})
		first.Add(1)
		s.wg.Add(1)
		go s.maintain(&slots[i], &first)
	}
	s.dmu.Unlock()
	first.Wait()
	s.slots3.Store(&slots)
	return &slots
}

// isPush reports whether a raw reply is a RESP3 push ('>'), which a RESP3
// connection may receive between replies (an invalidation of client-side
// caching without REDIRECT, for one): it answers no request.
func isPush(raw []byte) bool { return len(raw) > 0 && raw[0] == '>' }

// trackingWire turns on Redis's tracking of the keys a connection reads,
// for the requests that ask for it (CLIENT CACHING yes) only.
var trackingWire = resp.AppendCommand(nil, "CLIENT", "TRACKING", "ON", "OPTIN")

// CachingWire prefixes a read whose keys Redis must track on a RESP3
// connection (Options.OnPush); its +OK is skipped with Request.Skip = 1.
var CachingWire = resp.AppendCommand(nil, "CLIENT", "CACHING", "yes")

// lostTracking tells OnPush that a RESP3 connection of sl, and what Redis
// tracked for it, is gone.
func (s *Server) lostTracking(sl *slot) {
	if sl.proto == 3 && s.opts.OnPush != nil {
		s.opts.OnPush(nil)
	}
}
