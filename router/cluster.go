package router

import (
	"bytes"
	"net"
	"strconv"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/resp"
)

const errSlotDown = "CLUSTERDOWN Hash slot not served"

var askingWire = []byte("*1\r\n$6\r\nASKING\r\n")

// part returns what decides a key's shard: the ring index in ring mode, the
// hash slot in cluster mode. Keys of one part always share a server.
func (s *Session) part(key []byte) int {
	if s.ring == nil {
		return int(hashring.Slot(key))
	}
	return s.ring.ring.Pick(key)
}

// server returns the server of a part for command ci, or nil when no node
// serves that slot. With read_from_replicas, read-only commands go to a
// replica chosen by the session's hint.
func (s *Session) server(part int, ci *command.Info) *backend.Server {
	if s.ring != nil {
		if s.ring.sidx != nil && s.p.cfg.ReadFromReplicas && ci.Flags()&command.FlagReadonly != 0 {
			return s.p.sentinel.Replica(s.ring.sidx[part], s.hint)
		}
		return s.ring.servers[part]
	}
	if s.p.cfg.ReadFromReplicas && ci.Flags()&command.FlagReadonly != 0 {
		return s.p.cluster.Replica(part, s.hint)
	}
	return s.p.cluster.Master(part)
}

// anyServer returns a server for a keyless command that any shard answers.
func (s *Session) anyServer() *backend.Server {
	all := s.shards()
	if len(all) == 0 {
		return nil
	}
	return all[s.hint%len(all)]
}

// shards returns the servers a fan-out command goes to: every ring server,
// or every cluster master.
func (s *Session) shards() []*backend.Server {
	if s.ring != nil {
		return s.ring.servers
	}
	return s.p.cluster.Masters()
}

// slotDown asks for a slot-map refresh when a slot has no master: its
// replica may have been promoted since the last refresh, and since nothing
// is sent for such a slot, no redirect or connection error would trigger
// one. Refreshes are coalesced, so a burst of these costs one.
func (s *Session) slotDown() {
	if s.p.cluster != nil {
		s.p.cluster.Refresh()
	}
}

// redirect is a cluster error reply that asks the proxy to retry.
type redirect uint8

const (
	redirectNone redirect = iota
	redirectMoved
	redirectAsk
	redirectTryAgain
)

// parseRedirect recognises -MOVED slot addr, -ASK slot addr and -TRYAGAIN.
func parseRedirect(reply []byte) (kind redirect, slot int, addr string) {
	if len(reply) < 2 || reply[0] != '-' {
		return redirectNone, 0, ""
	}
	line := bytes.TrimRight(reply[1:], "\r\n")
	switch {
	case bytes.HasPrefix(line, []byte("MOVED ")):
		kind, line = redirectMoved, line[6:]
	case bytes.HasPrefix(line, []byte("ASK ")):
		kind, line = redirectAsk, line[4:]
	case bytes.HasPrefix(line, []byte("TRYAGAIN")):
		return redirectTryAgain, 0, ""
	default:
		return redirectNone, 0, ""
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return redirectNone, 0, ""
	}
	n, err := strconv.Atoi(string(line[:sp]))
	if err != nil || n < 0 || n >= backend.SlotCount {
		return redirectNone, 0, ""
	}
	return kind, n, string(line[sp+1:])
}

// settle follows the redirects of reqs[idx] until it has a real reply, at
// most max_redirects times: MOVED updates the slot and retries on the new
// owner, ASK sends ASKING and the command back to back to the target
// without touching the map, TRYAGAIN retries after a short pause. Clients
// never see MOVED or ASK. It runs while the session writes replies in
// order, so a redirected command still answers in its place.
func (s *Session) settle(idx int) {
	r := s.reqs[idx]
	c := s.p.cluster
	if r.Err != nil {
		if r.Err.Kind == backend.KindConnect || r.Err.Kind == backend.KindClosed {
			c.Refresh() // the node may be gone or replaced
		}
		return
	}
	orig := r.Wire
	srv := s.srvOf[idx]
	for n := 0; ; n++ {
		kind, slot, addr := parseRedirect(r.Reply)
		if kind == redirectNone {
			return
		}
		if n >= s.p.cfg.MaxRedirects {
			r.Reply = resp.AppendError(r.Reply[:0], "ERR too many cluster redirections for one command")
			return
		}
		if addr != "" && addr[0] == ':' {
			// The node does not know its own IP: it is where we reached it.
			host, _, _ := net.SplitHostPort(srv.Addr())
			addr = net.JoinHostPort(host, addr[1:])
		}
		wire, skip := orig, 0
		switch kind {
		case redirectMoved:
			s.p.m.RedirectMoved.Inc()
			srv = c.Moved(slot, addr)
		case redirectAsk:
			s.p.m.RedirectAsk.Inc()
			srv = c.Node(addr)
			s.askBuf = append(append(s.askBuf[:0], askingWire...), orig...)
			wire, skip = s.askBuf, 1
		case redirectTryAgain:
			time.Sleep(time.Duration(n+1) * 20 * time.Millisecond)
		}
		r.Reset()
		r.Wire, r.Skip = wire, skip
		s.srvOf[idx] = srv
		if conn, err := srv.Pick(s.hint); err != nil {
			r.Fail(err)
		} else {
			conn.Enqueue(r)
		}
		r.Wait()
		r.Wire = orig
		if r.Err != nil {
			return
		}
	}
}
