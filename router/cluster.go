package router

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/metrics"
	"github.com/shardproxy/shardproxy/resp"
)

const errSlotDown = "CLUSTERDOWN Hash slot not served"

var askingWire = []byte("*1\r\n$6\r\nASKING\r\n")

// clusterTopo is a cluster pool's placement: backend.Cluster keeps the slot
// map and the node connections, and changes them on its own (periodic and
// redirect-driven refreshes); this value stays for the pool's lifetime.
type clusterTopo struct {
	c                *backend.Cluster
	readFromReplicas bool
	nodeM            sync.Map // node address -> *metrics.Backend
	tags             slotTags // for waitMark
}

var (
	_ topology   = (*clusterTopo)(nil)
	_ redirector = (*clusterTopo)(nil)
)

// startCluster learns the cluster's slot map from the seed servers.
func (p *Pool) startCluster(opts Options) error {
	pc := p.cfg
	seeds := make([]string, len(pc.Servers))
	for i, s := range pc.Servers {
		seeds[i] = s.Addr
	}
	t := &clusterTopo{readFromReplicas: pc.ReadFromReplicas}
	c, err := backend.NewCluster(backend.ClusterOptions{
		Seeds:            seeds,
		Server:           p.serverOptions("", "", nil),
		RefreshInterval:  pc.ClusterRefreshInterval,
		ReadFromReplicas: pc.ReadFromReplicas,
		Logger:           p.log,
		NewObserver: func(addr string) backend.Observer {
			m := opts.Metrics.Backend(pc.Name, addr, addr)
			t.nodeM.Store(addr, m)
			return backendObserver{m}
		},
		Dropped: func(addr string) {
			t.nodeM.Delete(addr)
			opts.Metrics.RemoveBackend(pc.Name, addr)
		},
		Refreshed: func(covered int, err error) {
			p.m.SlotRefreshes.Inc()
			p.m.SlotsCovered.Set(float64(covered))
			p.hub.kick() // shard channels follow their slots
		},
	})
	if err != nil {
		return err
	}
	t.c = c
	p.setTopology(t)
	return nil
}

func (t *clusterTopo) part(key []byte) int { return int(hashring.Slot(key)) }

// server returns the master of the slot or, with read_from_replicas, a
// replica chosen by hint for a read-only command; nil when no node serves
// the slot.
func (t *clusterTopo) server(slot int, ci *command.Info, hint int) *backend.Server {
	if t.readFromReplicas && ci.Flags()&command.FlagReadonly != 0 {
		return t.c.Replica(slot, hint)
	}
	return t.c.Master(slot)
}

func (t *clusterTopo) shards() []*backend.Server { return t.c.Masters() }

func (t *clusterTopo) servers() []*backend.Server { return t.c.Nodes() }

func (t *clusterTopo) backendMetrics(srv *backend.Server) *metrics.Backend {
	if m, ok := t.nodeM.Load(srv.Addr()); ok {
		return m.(*metrics.Backend)
	}
	return nil
}

func (t *clusterTopo) unready() string {
	if n := t.c.Covered(); n < backend.SlotCount {
		return fmt.Sprintf("%d of %d slots have no master", backend.SlotCount-n, backend.SlotCount)
	}
	return ""
}

// refresh asks for a slot-map refresh when a slot has no master: its
// replica may have been promoted since the last refresh, and since nothing
// is sent for such a slot, no redirect or connection error would trigger
// one. Refreshes are coalesced, so a burst of these costs one.
func (t *clusterTopo) refresh() { t.c.Refresh() }

func (t *clusterTopo) redirector() redirector { return t }

func (t *clusterTopo) moved(slot int, addr string) *backend.Server { return t.c.Moved(slot, addr) }

func (t *clusterTopo) node(addr string) *backend.Server { return t.c.Node(addr) }

// rebuild returns nil: the nodes come from the cluster itself, and a change
// of seeds needs a restart (restartKeys).
func (t *clusterTopo) rebuild(*config.Pool) (topology, error) { return nil, nil }

// retire does nothing: rebuild never replaces a cluster topology, so no
// reload retires one.
func (t *clusterTopo) retire(topology) {}

func (t *clusterTopo) close() { t.c.Close() }

// anyServer returns a server for a keyless command that any shard answers,
// spreading sessions by their hint.
func (s *Session) anyServer() *backend.Server {
	all := s.topo.shards()
	if len(all) == 0 {
		return nil
	}
	return all[s.hint%len(all)]
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
	c := s.redir
	if c == nil {
		return // the servers never redirect
	}
	r := s.reqs[idx]
	if r.Err != nil {
		// The node may be gone or replaced; but a reply dropped because
		// this client is over its output limit says nothing about it.
		if (r.Err.Kind == backend.KindConnect || r.Err.Kind == backend.KindClosed) &&
			!errors.Is(r.Err, backend.ErrReplyDropped) {
			c.refresh()
		}
		return
	}
	orig, origSkip := r.Wire, r.Skip // origSkip 1: a tracked read (tracking.go)
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
		wire, skip := orig, origSkip
		switch kind {
		case redirectMoved:
			s.p.m.RedirectMoved.Inc()
			srv = c.moved(slot, addr)
		case redirectAsk:
			s.p.m.RedirectAsk.Inc()
			srv = c.node(addr)
			cmd := orig
			if origSkip == 1 && bytes.HasPrefix(orig, backend.CachingWire) {
				// CLIENT CACHING and ASKING each cancel the other's
				// effect on the next command: the read goes untracked
				// on the importing node.
				cmd = orig[len(backend.CachingWire):]
			}
			s.askBuf = append(append(s.askBuf[:0], askingWire...), cmd...)
			wire, skip = s.askBuf, 1
		case redirectTryAgain:
			time.Sleep(time.Duration(n+1) * 20 * time.Millisecond)
		}
		r.Reset()
		r.Wire, r.Skip = wire, skip
		s.srvOf[idx] = srv
		if conn, err := srv.PickProto(s.hint, s.protocol()); err != nil {
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
