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
		if d.Err() == nil {
			return d, nil
		}
		d.Close()
		ps.conns = append(ps.conns[:i], ps.conns[i+1:]...)
		break
	}
	if len(ps.conns) >= ps.max {
		return nil, fmt.Errorf("%w (pinned_connections is %d)", errTooManyPins, ps.max)
	}
	d, err := srv.Dedicate()
	if err != nil {
		return nil, err
	}
	ps.conns = append(ps.conns, d)
	return d, nil
}

// unpin closes d and forgets it.
func (s *Session) unpin(d *backend.Dedicated) {
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
