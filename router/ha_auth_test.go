package router

import (
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestSentinelUsernameFollowsFailover: sentinels that accept only an ACL
// user (default user off). The proxy with sentinel_username and
// sentinel_auth resolves the master and follows a failover; with a wrong
// user it never resolves one, and its commands get an error rather than
// reaching some server.
func TestSentinelUsernameFollowsFailover(t *testing.T) {
	g := testenv.StartSentinelGroup(t, testenv.SentinelGroupOptions{
		Masters: 1, ReplicasPerMaster: 1, Sentinels: 3,
		SentinelUsername: "watcher", SentinelPassword: "w-s3cret",
	})
	if _, err := testenv.Do(g.SentinelAddrs[0], "SENTINEL", "MASTERS"); err == nil {
		t.Fatal("the sentinels answer without AUTH: the test would show nothing")
	}
	p := sentinelProxy(t, g, func(pc *config.Pool) {
		pc.SentinelUsername, pc.SentinelAuth = "watcher", "w-s3cret"
	})
	c := client(t, p)
	from := p.sentinelShards().Masters()[0].Addr()
	if from != g.Masters[0].Addr {
		t.Fatalf("proxy uses %q, want %s", from, g.Masters[0].Addr)
	}
	must(t, c.Set(ctx(), "k", "before", 0).Err())
	if _, err := testenv.DoAuthUser(g.SentinelAddrs[0], "watcher", "w-s3cret", "SENTINEL", "FAILOVER", g.Names[0]); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	testenv.WaitFor(t, 20*time.Second, func() bool { return p.sentinelShards().Masters()[0].Addr() != from },
		"the proxy to follow the failover through authenticated sentinels")
	to := p.sentinelShards().Masters()[0].Addr()
	if to != g.Replicas[0][0].Addr {
		t.Fatalf("proxy moved to %s, want the replica %s", to, g.Replicas[0][0].Addr)
	}
	testenv.WaitFor(t, 10*time.Second, func() bool { return c.Set(ctx(), "k", "after", 0).Err() == nil },
		"writes to succeed on the new master")
	if v, err := testenv.Do(to, "GET", "k"); err != nil || v != "after" {
		t.Fatalf("GET k on the new master %s: %v %v, want after", to, v, err)
	}

	// The wrong user: no sentinel answers, so no master is known.
	bad := sentinelProxy(t, g, func(pc *config.Pool) {
		pc.SentinelUsername, pc.SentinelAuth = "default", "w-s3cret"
	})
	if a := bad.sentinelShards().Masters()[0].Addr(); a != "" {
		t.Fatalf("with a wrong sentinel user the proxy resolved %q", a)
	}
	if err := client(t, bad).Set(ctx(), "k", "wrong", 0).Err(); err == nil {
		t.Fatal("a SET through a proxy that never resolved its master succeeded")
	}
}
