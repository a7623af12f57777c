package backend

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// replicaOwner is what the retire tests drive of a ReplicaDiscovery or a
// SentinelShards: the replica list of master 0 as its master (or Sentinel)
// reports it, and what it currently routes to.
type replicaOwner struct {
	list     func(addrs ...string)
	replicas func() []*Server
	close    func()
}

// droppedLog records Dropped calls.
type droppedLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *droppedLog) add(master, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, master+"/"+addr)
}

func (l *droppedLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// discoveryOwner is a ReplicaDiscovery over master whose poll never runs
// on its own (Interval 1h): the test lists replicas through apply, as a
// poll would after reading INFO replication.
func discoveryOwner(t *testing.T, master *Server, timeout time.Duration, dl *droppedLog) replicaOwner {
	d := NewReplicaDiscovery([]*Server{master}, []string{"m"}, DiscoveryOptions{
		Server:   Options{Timeout: timeout},
		Interval: time.Hour,
		Dropped:  dl.add,
	})
	return replicaOwner{
		list: func(addrs ...string) {
			lag := map[string]int64{}
			for _, a := range addrs {
				lag[a] = 0
			}
			d.apply(0, lag)
		},
		replicas: func() []*Server { return d.Replicas(0) },
		close:    d.Close,
	}
}

// sentinelOwner is a SentinelShards of one shard whose views the test
// hands to changed, as the Sentinel watcher would; built without a
// watcher, so it is closed by hand.
func sentinelOwner(t *testing.T, master *Server, timeout time.Duration, dl *droppedLog) replicaOwner {
	ctx, cancel := context.WithCancel(context.Background())
	ss := &SentinelShards{
		opts: ShardsOptions{
			Server:           Options{Timeout: timeout},
			ReadFromReplicas: true,
			Dropped:          dl.add,
		},
		log:      slog.Default(),
		idx:      map[string]int{"m": 0},
		masters:  []*Server{master},
		replicas: map[string]*Server{},
		retiring: retiring{},
		shards:   make([]shardState, 1),
		ctx:      ctx,
		stop:     cancel,
	}
	ss.shards[0].replicas.Store(&[]*Server{})
	return replicaOwner{
		list: func(addrs ...string) {
			ss.changed("m", MasterView{Addr: master.Addr(), Replicas: addrs})
		},
		replicas: func() []*Server { return *ss.shards[0].replicas.Load() },
		close: func() {
			ss.stop()
			ss.wg.Wait()
			ss.mu.Lock()
			defer ss.mu.Unlock()
			for _, r := range ss.replicas {
				r.Close()
			}
		},
	}
}

// TestReplicaBackBeforeClose drives the retire path of both replica
// owners through the interleaving that broke the metrics of a replica
// that flaps (a resync, REPLICAOF NO ONE then back, Sentinel's view
// changing twice): listed, gone, listed again before the delayed close of
// twice the timeout. The replica must come back as the same Server, never
// closed and never reported to Dropped: before, a second Server for the
// address was made, and the first one's close, 2 x timeout later, marked
// the address down and deleted its metrics series, which the second one
// shares. A replica that stays gone is closed and dropped once.
func TestReplicaBackBeforeClose(t *testing.T) {
	m, r := testenv.StartRedis(t), testenv.StartRedis(t)
	const timeout = 100 * time.Millisecond
	for _, tc := range []struct {
		name string
		make func(*testing.T, *Server, time.Duration, *droppedLog) replicaOwner
	}{
		{"discovery", discoveryOwner},
		{"sentinel", sentinelOwner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master := NewServer(Options{Addr: m.Addr, Timeout: timeout})
			defer master.Close()
			var dl droppedLog
			o := tc.make(t, master, timeout, &dl)
			defer o.close()

			o.list(r.Addr)
			rs := o.replicas()
			if len(rs) != 1 || rs[0].Addr() != r.Addr {
				t.Fatalf("replicas %v, want %s", rs, r.Addr)
			}
			first := rs[0]
			o.list() // gone: retiring
			if rs := o.replicas(); len(rs) != 0 {
				t.Fatalf("replicas after it left: %d, want 0", len(rs))
			}
			o.list(r.Addr) // back before 2 x timeout
			rs = o.replicas()
			if len(rs) != 1 || rs[0].Addr() != r.Addr {
				t.Fatalf("replicas after it came back: %v, want %s", rs, r.Addr)
			}
			back := rs[0]
			time.Sleep(2*timeout + 300*time.Millisecond) // past the close it escaped
			if got := dl.get(); len(got) != 0 {
				t.Fatalf("Dropped called (its metrics deleted) for a replica back in use: %v", got)
			}
			if back != first {
				t.Fatalf("the replica came back as a second Server %p, want the first one %p", back, first)
			}
			if back.Closed() || !back.Up() {
				t.Fatalf("the replica back in use: closed %v, up %v; want open and up", back.Closed(), back.Up())
			}

			o.list() // gone for good
			testenv.WaitFor(t, 5*time.Second, first.Closed, "the replica that left to be closed")
			testenv.WaitFor(t, 5*time.Second, func() bool { return len(dl.get()) > 0 }, "Dropped to be called")
			time.Sleep(2*timeout + 100*time.Millisecond)
			if got, want := dl.get(), []string{"m/" + r.Addr}; !slices.Equal(got, want) {
				t.Fatalf("Dropped calls %v, want %v", got, want)
			}
		})
	}
}

// TestClusterNodeBackBeforeClose: a node that leaves the slot map is
// closed and dropped off the refresh path, and a redirect may name it again
// at once (Node). Every time, the Server handed out must be open, and the
// node's metrics series (made by NewObserver, deleted by Dropped; both
// keyed by address) must exist: before, the Node call made a second Server
// while the first was closing, and the first one's Dropped then deleted
// the series the second one used.
func TestClusterNodeBackBeforeClose(t *testing.T) {
	seed, a, b := testenv.StartRedis(t), testenv.StartRedis(t), testenv.StartRedis(t)
	var mu sync.Mutex
	series := false // b's metrics series exists: made by NewObserver, deleted by Dropped
	c, err := NewCluster(ClusterOptions{
		Seeds:           []string{seed.Addr}, // not a cluster: the map comes from apply
		Server:          Options{Timeout: time.Second},
		RefreshInterval: time.Hour,
		NewObserver: func(addr string) Observer {
			if addr == b.Addr {
				mu.Lock()
				series = true
				mu.Unlock()
			}
			return nil
		},
		Dropped: func(addr string) {
			if addr == b.Addr {
				mu.Lock()
				series = false
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	withB := []shard{{ranges: [][2]int{{0, SlotCount - 1}}, master: a.Addr, replicas: []string{b.Addr}}}
	withoutB := []shard{{ranges: [][2]int{{0, SlotCount - 1}}, master: a.Addr}}
	for i := range 20 {
		c.apply(withB)
		c.apply(withoutB)
		srv := c.Node(b.Addr) // a redirect names it again
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		n := series
		mu.Unlock()
		if srv.Closed() {
			t.Fatalf("round %d: the node named again was closed", i)
		}
		if !n {
			t.Fatalf("round %d: the metrics series of the node in use was deleted", i)
		}
	}
}
