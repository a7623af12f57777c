package router

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestRingReplicaDiscovery: a ring pool without sentinels and with
// read_from_replicas finds each master's replicas through the master's
// INFO replication. Shard1 has a real replica, shard2 none. A key written
// only on the replica (replica-read-only off) tells where a read went:
// reads of shard1 go to the replica, to the master again while the
// replica is paused (SIGSTOP) past replica_max_lag, back to the replica
// once it catches up, and to the master for good once it stops being a
// replica (REPLICAOF NO ONE). A replica attached later is found by the
// periodic poll. Writes always go to the master.
func TestRingReplicaDiscovery(t *testing.T) {
	m1, m2 := testenv.StartRedis(t, "--repl-ping-replica-period", "1"), testenv.StartRedis(t)
	rep := testenv.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(m1.Port), "--repl-ping-replica-period", "1")
	testenv.WaitFor(t, 10*time.Second, func() bool {
		v, _ := testenv.Do(m1.Addr, "INFO", "replication")
		s, _ := v.(string)
		return strings.Contains(s, "connected_slaves:1") && strings.Contains(s, "state=online")
	}, "the replica to be online")
	p := startProxy(t, []*testenv.Redis{m1, m2}, func(pc *config.Pool) {
		pc.ReadFromReplicas = true
		pc.ReplicaMaxLag = time.Second
		pc.HealthCheckInterval = 250 * time.Millisecond
		pc.Timeout = 2 * time.Second
	})
	c := client(t, p)
	key1, key2 := keyOnShard(t, p, 0, "rd"), keyOnShard(t, p, 1, "rd")

	// Writes go to the master (and replicate).
	must(t, c.Set(ctx(), key1, "master", 0).Err())
	must(t, c.Set(ctx(), key2, "master2", 0).Err())
	if v, _ := testenv.Do(m1.Addr, "GET", key1); v != "master" {
		t.Fatalf("SET through the proxy did not reach the master: %v", v)
	}
	// The write must have reached the replica before the replica writes
	// its own value. "state=online" does not promise that: after a
	// diskless full sync the master holds the command stream back until
	// the replica's next REPLCONF ACK, up to a second later (its cron),
	// or, if the replica is paused by then, until it is resumed. A SET
	// held back that way lands after the replica's own SET and the
	// replica then holds "master" for good: reads served by the replica
	// looked like reads of the master (the intermittent failure after
	// SIGCONT this wait fixes).
	testenv.WaitFor(t, 5*time.Second, func() bool {
		v, _ := testenv.Do(rep.Addr, "GET", key1)
		return v == "master"
	}, "the write to replicate")
	// The replica alone holds another value from now on.
	must(t, direct(t, rep.Addr).ConfigSet(ctx(), "replica-read-only", "no").Err())
	must(t, direct(t, rep.Addr).Set(ctx(), key1, "replica", 0).Err())
	testenv.WaitFor(t, 5*time.Second, func() bool { return c.Get(ctx(), key1).Val() == "replica" },
		"reads of shard1 to reach its replica")
	for range 20 {
		if v := c.Get(ctx(), key1).Val(); v != "replica" {
			t.Fatalf("a read of shard1 got %q, want the replica's value", v)
		}
	}
	// Shard2 has no replica: its reads go to its master.
	if v := c.Get(ctx(), key2).Val(); v != "master2" {
		t.Fatalf("a read of shard2 got %q, want its master's value", v)
	}

	rep.Pause()
	paused := time.Now()
	testenv.WaitFor(t, 10*time.Second, func() bool { return c.Get(ctx(), key1).Val() == "master" },
		"reads to go back to the master once the replica lags")
	t.Logf("replica paused: reads back on the master after %v (replica_max_lag 1s, poll 250ms)", time.Since(paused).Round(time.Millisecond))
	for range 20 {
		if v, err := c.Get(ctx(), key1).Result(); v != "master" {
			t.Fatalf("a read while the replica lags: %q %v, want the master's value", v, err)
		}
	}
	rep.Resume()
	resumed := time.Now()
	// The replica's connections may have been dropped while it was
	// stopped; they come back through the reconnect backoff.
	testenv.WaitFor(t, 30*time.Second, func() bool { return c.Get(ctx(), key1).Val() == "replica" },
		"reads to return to the replica once it caught up")
	t.Logf("replica resumed: reads back on it after %v", time.Since(resumed).Round(time.Millisecond))

	// No longer a replica: the master stops listing it, reads leave it.
	must(t, direct(t, rep.Addr).Do(ctx(), "REPLICAOF", "NO", "ONE").Err())
	left := time.Now()
	testenv.WaitFor(t, 10*time.Second, func() bool { return c.Get(ctx(), key1).Val() == "master" },
		"reads to leave a server that stopped being a replica")

	// A replica attached later is found by the periodic poll.
	must(t, direct(t, rep.Addr).Do(ctx(), "REPLICAOF", "127.0.0.1", strconv.Itoa(m1.Port)).Err())
	testenv.WaitFor(t, 15*time.Second, func() bool {
		return direct(t, rep.Addr).Get(ctx(), key1).Val() == "master" // synced
	}, "the replica to resync")
	must(t, direct(t, rep.Addr).ConfigSet(ctx(), "replica-read-only", "no").Err())
	must(t, direct(t, rep.Addr).Set(ctx(), key1, "replica-again", 0).Err())
	testenv.WaitFor(t, 10*time.Second, func() bool { return c.Get(ctx(), key1).Val() == "replica-again" },
		"reads to reach a replica attached after start")
	// Found again, the replica keeps its metrics: its Server of before
	// is taken back if it was not closed yet (2 x timeout after it left),
	// rather than a second Server made whose series the first one's close
	// would delete.
	time.Sleep(time.Until(left.Add(2*2*time.Second + 500*time.Millisecond)))
	if v := gathered(t, p, "shardproxy_backend_up", "shard1/"+rep.Addr); v != 1 {
		t.Fatalf("shardproxy_backend_up of the replica found again: %v, want 1", v)
	}
	if err := c.Get(ctx(), "no-such-key-"+key2).Err(); err != redis.Nil {
		t.Fatalf("GET of a missing key: %v, want nil", err)
	}
}
