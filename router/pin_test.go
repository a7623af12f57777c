package router

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// hookedProxy is a running proxy of one ring pool over rs whose new
// sessions are sent on the returned channel. The caller may Close the
// proxy early; the test's cleanup closes it too and waits for Serve.
func hookedProxy(t *testing.T, rs []*testenv.Redis, edit func(*config.Pool)) (*Proxy, <-chan *Session) {
	t.Helper()
	pc := ringPool(t, rs, edit)
	p, err := New(&config.Config{Pools: []*config.Pool{pc}}, Options{Version: "test", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sessions := make(chan *Session, 16)
	p.Pools()[0].onSession = func(s *Session) { sessions <- s }
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Serve()
	}()
	t.Cleanup(func() {
		p.Close()
		<-done
	})
	return p, sessions
}

// nextSession returns the session of the client that just connected.
func nextSession(t *testing.T, sessions <-chan *Session) *Session {
	t.Helper()
	select {
	case s := <-sessions:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no session")
		return nil
	}
}

// shardClients returns the number of connections on r, besides the one
// asking.
func shardClients(t *testing.T, r *testenv.Redis) int {
	t.Helper()
	v, err := testenv.Do(r.Addr, "CLIENT", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(strings.TrimSpace(v.(string)), "\n")
}

// waitShardClients waits until r shows want connections (besides the one
// asking), as CLIENT LIST on the shard reports them.
func waitShardClients(t *testing.T, r *testenv.Redis, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := shardClients(t, r)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			v, _ := testenv.Do(r.Addr, "CLIENT", "LIST")
			t.Fatalf("%s: %d connections, want %d:\n%v", r, n, want, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pinAll pins a dedicated connection of s to every server of the pool and
// checks that each works (a PING round trip on it).
func pinAll(t *testing.T, s *Session) []*backend.Dedicated {
	t.Helper()
	var ds []*backend.Dedicated
	for _, srv := range s.p.Servers() {
		d, err := s.pin(srv)
		if err != nil {
			t.Fatalf("pin %s: %v", srv.Name(), err)
		}
		r := backend.NewRequest()
		r.Wire = resp.AppendCommand(nil, "PING")
		if err := d.Do(r); err != nil || string(r.Reply) != "+PONG\r\n" {
			t.Fatalf("PING on the pinned connection to %s: %q %v", srv.Name(), r.Reply, err)
		}
		ds = append(ds, d)
	}
	return ds
}

func TestPinnedReleasedWhenClientGoes(t *testing.T) {
	rs := shards(t, 2)
	p, sessions := hookedProxy(t, rs, func(pc *config.Pool) { pc.ServerConnections = 1 })
	for _, r := range rs {
		waitShardClients(t, r, 1, 3*time.Second) // the multiplexed conn
	}
	c := dialRaw(t, p.Pools()[0])
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
	s := nextSession(t, sessions)
	pinAll(t, s)
	// Pinning the same server again returns the connection it holds.
	d1, _ := s.pin(s.p.Servers()[0])
	d2, _ := s.pin(s.p.Servers()[0])
	if d1 != d2 || s.pinned() != 2 {
		t.Fatalf("pinning twice: same conn %v, %d pinned", d1 == d2, s.pinned())
	}
	for _, r := range rs {
		waitShardClients(t, r, 2, 3*time.Second)
	}
	// The client goes: its dedicated connections go with it.
	c.nc.Close()
	for _, r := range rs {
		waitShardClients(t, r, 1, 3*time.Second)
	}
	if _, err := s.pin(s.p.Servers()[0]); !errors.Is(err, errSessionClosed) {
		t.Fatalf("pin after the client left: %v", err)
	}
	for _, srv := range s.p.Servers() {
		if n := srv.Dedicated(); n != 0 {
			t.Errorf("%s still tracks %d dedicated connections", srv.Name(), n)
		}
	}
}

// sharedConns is the number of multiplexed connections a pool keeps to each
// server when the test does not set server_connections.
const sharedConns = config.DefaultServerConnections

func TestPinnedBoundedAndUnpinned(t *testing.T) {
	rs := shards(t, 3)
	p, sessions := hookedProxy(t, rs, func(pc *config.Pool) { pc.PinnedConnections = 2 })
	c := dialRaw(t, p.Pools()[0])
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
	s := nextSession(t, sessions)
	srvs := s.p.Servers()
	d0, err := s.pin(srvs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pin(srvs[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pin(srvs[2]); !errors.Is(err, errTooManyPins) {
		t.Fatalf("third pin with pinned_connections 2: %v, want %v", err, errTooManyPins)
	}
	s.unpin(d0)
	if d0.Err() == nil {
		t.Error("unpinned connection still open")
	}
	if _, err := s.pin(srvs[2]); err != nil {
		t.Fatalf("pin after unpin: %v", err)
	}
	waitShardClients(t, rs[0], sharedConns, 3*time.Second) // the multiplexed conns only
	// The client still works while it holds pinned connections.
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
}

func TestPinnedReleasedOnReloadRemovingServer(t *testing.T) {
	rs := shards(t, 3)
	edit := func(pc *config.Pool) { pc.Timeout = 200 * time.Millisecond }
	p, sessions := hookedProxy(t, rs, edit)
	c := dialRaw(t, p.Pools()[0])
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
	s := nextSession(t, sessions)
	ds := pinAll(t, s)
	waitShardClients(t, rs[2], sharedConns+1, 3*time.Second) // multiplexed + 1 pinned

	// SIGHUP's path: a configuration without shard3.
	pc := ringPool(t, rs[:2], edit)
	if err := p.Reload(&config.Config{Pools: []*config.Pool{pc}}); err != nil {
		t.Fatal(err)
	}
	// The removed server is closed once its requests had time to finish
	// (2 x timeout + 1 s), and with it the client's pinned connection.
	waitShardClients(t, rs[2], 0, 5*time.Second)
	if ds[2].Err() == nil {
		t.Error("pinned connection to the removed server still open")
	}
	// The pins to the servers that stay are untouched.
	for _, d := range ds[:2] {
		if err := d.Err(); err != nil {
			t.Errorf("pinned connection to a kept server closed: %v", err)
		}
	}
	waitShardClients(t, rs[0], sharedConns+1, time.Second)
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
}

func TestPinnedReleasedOnShutdown(t *testing.T) {
	rs := shards(t, 2)
	p, sessions := hookedProxy(t, rs, nil)
	c := dialRaw(t, p.Pools()[0])
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
	s := nextSession(t, sessions)
	pinAll(t, s)
	for _, r := range rs {
		waitShardClients(t, r, sharedConns+1, 3*time.Second)
	}
	p.Close()
	for _, r := range rs {
		waitShardClients(t, r, 0, 3*time.Second)
	}
}
