package backend

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestReplicaReadsSurviveHungMaster: the lag samples of each master are
// taken on their own. Shard a's master has a real replica; shard b's
// master is paused (SIGSTOP), so each INFO replication sent to it waits
// the whole timeout. Reads of shard a must stay on its replica throughout:
// when one loop polled every master in turn, shard a's sample was taken
// only once per timeout (3 s here), aged past replica_max_lag plus two
// intervals (2.1 s), and for most of a second in every three shard a's
// reads left a healthy replica for its master. Both owners: the INFO-based
// discovery and the Sentinel shards' lag loop.
func TestReplicaReadsSurviveHungMaster(t *testing.T) {
	ma := testenv.StartRedis(t)
	ra := testenv.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(ma.Port))
	mb, rb := testenv.StartRedis(t), testenv.StartRedis(t)
	const (
		timeout  = 3 * time.Second
		maxLag   = 2 * time.Second
		interval = 50 * time.Millisecond
	)
	for _, tc := range []struct {
		name string
		// start returns the replica picker of shard a, and a closer.
		start func(t *testing.T, masters []*Server) (func() *Server, func())
	}{
		{"discovery", func(t *testing.T, masters []*Server) (func() *Server, func()) {
			d := NewReplicaDiscovery(masters, []string{"a", "b"}, DiscoveryOptions{
				Server:        Options{Timeout: timeout},
				ReplicaMaxLag: maxLag,
				Interval:      interval,
			})
			return func() *Server { return d.Replica(0, 0) }, d.Close
		}},
		{"sentinel", func(t *testing.T, masters []*Server) (func() *Server, func()) {
			// Built without a watcher: the views are handed to changed
			// as Sentinel would, and the lag loops started by hand.
			ctx, cancel := context.WithCancel(context.Background())
			ss := &SentinelShards{
				opts: ShardsOptions{
					Server:           Options{Timeout: timeout},
					ReadFromReplicas: true,
					ReplicaMaxLag:    maxLag,
					LagInterval:      interval,
				},
				log:      slog.Default(),
				idx:      map[string]int{"a": 0, "b": 1},
				masters:  masters,
				replicas: map[string]*Server{},
				retiring: retiring{},
				shards:   make([]shardState, 2),
				ctx:      ctx,
				stop:     cancel,
			}
			for i := range ss.shards {
				ss.shards[i].replicas.Store(&[]*Server{})
			}
			ss.changed("a", MasterView{Addr: ma.Addr, Replicas: []string{ra.Addr}})
			ss.changed("b", MasterView{Addr: mb.Addr, Replicas: []string{rb.Addr}})
			for i := range masters {
				ss.wg.Add(1)
				go ss.lagLoop(i)
			}
			return func() *Server { return ss.Replica(0, 0) }, func() {
				ss.stop()
				ss.wg.Wait()
				for _, r := range ss.replicas {
					r.Close()
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			masters := []*Server{
				NewServer(Options{Addr: ma.Addr, Timeout: timeout}),
				NewServer(Options{Addr: mb.Addr, Timeout: timeout}),
			}
			defer func() {
				for _, m := range masters {
					m.Close()
				}
			}()
			replica, closeOwner := tc.start(t, masters)
			defer closeOwner()
			testenv.WaitFor(t, 10*time.Second, func() bool { return replica().Addr() == ra.Addr },
				"reads of shard a to reach its replica")

			mb.Pause()
			defer mb.Resume()
			paused := time.Now()
			for time.Since(paused) < timeout+time.Second {
				if got := replica(); got.Addr() != ra.Addr {
					t.Fatalf("%v after shard b's master hung, a read of shard a went to %s, want its replica %s",
						time.Since(paused).Round(time.Millisecond), got.Addr(), ra.Addr)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
