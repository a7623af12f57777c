package router

import (
	"errors"
	"fmt"
	"sync"

	"github.com/shardproxy/shardproxy/backend"
)

// Pinned sessions. A transaction, a blocking command or WAIT needs the
// client's commands to run on one backend connection of its own, for as long
// as Redis would hold the client (see DESIGN.md, Session states). The
// session takes such a connection from the server (backend.Dedicated: the
// handshake done, never shared, a deadline per request) and holds it until
// it unpins it, the client goes (Session.close), or the server is closed
// (a reload that drops it, shutdown: Server.Close closes every dedicated
// connection it handed out, and the session notices at its next use).
// A session holds at most the pool's pinned_connections.

var (
	errSessionClosed = errors.New("client connection closed")
	errTooManyPins   = errors.New("too many dedicated backend connections for one client")
)

// pinSet is the dedicated backend connections a session holds, at most max
// of them. It is guarded by its own lock: the session uses it, and the
// session's close, running when the client goes, releases it.
type pinSet struct {
	mu     sync.Mutex
	max    int
	conns  []*backend.Dedicated
	closed bool
}

// pin returns the session's dedicated connection to srv, opening one if it
// holds none (or only a broken one).
func (s *Session) pin(srv *backend.Server) (*backend.Dedicated, error) {
	ps := &s.pins
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, errSessionClosed
	}
	for i, d := range ps.conns {
		if d.Server() != srv {
			continue
		}
		if d.Err() == nil && d.Proto() == s.protocol() {
			return d, nil
		}
		d.Close()
		ps.conns = append(ps.conns[:i], ps.conns[i+1:]...)
		break
	}
	if len(ps.conns) >= ps.max {
		return nil, fmt.Errorf("%w (pinned_connections is %d)", errTooManyPins, ps.max)
	}
	var d *backend.Dedicated
	if s.protocol() == 2 {
		d = s.p.idle.get(srv) // the idle set keeps RESP2 connections only
	}
	if d == nil {
		var err *backend.Error
		if d, err = srv.DedicateProto(s.protocol()); err != nil {
			return nil, err
		}
	}
	ps.conns = append(ps.conns, d)
	return d, nil
}

// unpin closes d and forgets it.
func (s *Session) unpin(d *backend.Dedicated) {
	if d == s.keep {
		s.keep = nil
	}
	s.p.backendIDs.Delete(d)
	ps := &s.pins
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for i, c := range ps.conns {
		if c == d {
			ps.conns = append(ps.conns[:i], ps.conns[i+1:]...)
			break
		}
	}
	d.Close()
}

// pinned returns the number of dedicated connections the session holds.
func (s *Session) pinned() int {
	s.pins.mu.Lock()
	defer s.pins.mu.Unlock()
	return len(s.pins.conns)
}

// closeAll closes every pinned connection; later pins fail.
func (ps *pinSet) closeAll() {
	ps.mu.Lock()
	conns := ps.conns
	ps.conns, ps.closed = nil, true
	ps.mu.Unlock()
	for _, d := range conns {
		d.Close()
	}
}

// release gives back a dedicated connection the session no longer needs
// and that is in a clean state (no MULTI, no WATCH, not blocked). The
// session keeps one such connection for its next transaction or blocking
// command (a worker loops on BLPOP; an application runs transaction after
// transaction); others go to the pool's idle set for other sessions, or
// are closed.
func (s *Session) release(d *backend.Dedicated) {
	if s.keep == nil || s.keep == d {
		s.keep = d
		return
	}
	s.handBack(d)
}

// handBack moves d from the session to the pool's idle set.
func (s *Session) handBack(d *backend.Dedicated) {
	ps := &s.pins
	ps.mu.Lock()
	found := false
	for i, c := range ps.conns {
		if c == d {
			ps.conns = append(ps.conns[:i], ps.conns[i+1:]...)
			found = true
			break
		}
	}
	ps.mu.Unlock()
	if !found || d.Proto() != 2 || !s.p.idle.put(d) {
		d.Close()
	}
}

// idleSet keeps a few clean dedicated connections per server, so that a
// transaction or a blocking command does not pay a connection and its
// handshake each time. Connections of a closed server fail Err and are
// dropped on the way out.
type idleSet struct {
	mu    sync.Mutex
	max   int
	conns map[*backend.Server][]*backend.Dedicated
}

// maxIdleDedicated is how many idle dedicated connections a pool keeps per
// server.
const maxIdleDedicated = 64

// get returns an idle connection to srv, or nil.
func (is *idleSet) get(srv *backend.Server) *backend.Dedicated {
	is.mu.Lock()
	defer is.mu.Unlock()
	l := is.conns[srv]
	for len(l) > 0 {
		d := l[len(l)-1]
		l = l[:len(l)-1]
		if d.Err() == nil {
			is.conns[srv] = l
			return d
		}
	}
	delete(is.conns, srv)
	return nil
}

// put keeps d for reuse; false when the set is full.
func (is *idleSet) put(d *backend.Dedicated) bool {
	if d.Err() != nil {
		return false
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.conns == nil {
		is.conns = map[*backend.Server][]*backend.Dedicated{}
	}
	l := is.conns[d.Server()]
	if len(l) >= maxIdleDedicated {
		// Make room from connections that closed meanwhile, if any.
		live := l[:0]
		for _, c := range l {
			if c.Err() == nil {
				live = append(live, c)
			}
		}
		clear(l[len(live):])
		l = live
		if len(l) >= maxIdleDedicated {
			is.conns[d.Server()] = l
			return false
		}
	}
	is.conns[d.Server()] = append(l, d)
	return true
}

// closeAll closes every idle connection.
func (is *idleSet) closeAll() {
	is.mu.Lock()
	all := is.conns
	is.conns = nil
	is.mu.Unlock()
	for _, l := range all {
		for _, d := range l {
			d.Close()
		}
	}
}
