package router

import (
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestSentinelTLS: sentinels, masters and replicas that speak TLS (and
// require client certificates) on the addresses the proxy is given and
// Sentinel reports. With sentinel_tls and redis_tls the proxy resolves the
// master over TLS, writes to it over TLS, and follows a failover to the
// replica's TLS address. Without sentinel_tls the same sentinels name no
// master: the sentinel connections really are TLS.
func TestSentinelTLS(t *testing.T) {
	k := newTestPKI(t)
	k.issue(t, "redis")
	k.issue(t, "client")
	g := testenv.StartSentinelGroup(t, testenv.SentinelGroupOptions{
		Masters: 1, ReplicasPerMaster: 1, Sentinels: 3,
		TLS: &testenv.GroupTLS{CACert: k.path("ca.crt"), Cert: k.path("redis.crt"), Key: k.path("redis.key")},
	})
	masterTLS, replicaTLS := g.TLSAddr[g.Masters[0].Addr], g.TLSAddr[g.Replicas[0][0].Addr]
	tlsEdit := func(pc *config.Pool) {
		pc.Sentinels = g.SentinelTLSAddrs
		pc.Timeout = 3 * time.Second
		pc.SentinelTLS, pc.RedisTLS = true, true
		pc.RedisTLSCACertFile = k.path("ca.crt")
		pc.RedisTLSCertFile, pc.RedisTLSKeyFile = k.path("client.crt"), k.path("client.key")
	}
	p := sentinelProxy(t, g, tlsEdit)
	if a := p.sentinelShards().Masters()[0].Addr(); a != masterTLS {
		t.Fatalf("the proxy uses %q, want the master's TLS address %s", a, masterTLS)
	}
	c := client(t, p)
	must(t, c.Set(ctx(), "k", "before", 0).Err())
	if v, _ := testenv.Do(g.Masters[0].Addr, "GET", "k"); v != "before" {
		t.Fatalf("the write did not reach the master: %v", v)
	}
	if _, err := testenv.Do(g.SentinelAddrs[0], "SENTINEL", "FAILOVER", g.Names[0]); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	testenv.WaitFor(t, 20*time.Second, func() bool { return p.sentinelShards().Masters()[0].Addr() == replicaTLS },
		"the proxy to follow the failover to %s over TLS (it uses %s)", replicaTLS, p.sentinelShards().Masters()[0].Addr())
	testenv.WaitFor(t, 10*time.Second, func() bool { return c.Set(ctx(), "k", "after", 0).Err() == nil },
		"writes to succeed on the new master")
	if v, _ := testenv.Do(g.Replicas[0][0].Addr, "GET", "k"); v != "after" {
		t.Fatalf("the write after the failover did not reach the new master: %v", v)
	}

	plain := sentinelProxy(t, g, func(pc *config.Pool) {
		tlsEdit(pc)
		pc.SentinelTLS = false
	})
	if a := plain.sentinelShards().Masters()[0].Addr(); a != "" {
		t.Fatalf("without sentinel_tls the proxy resolved %q from TLS-only sentinel addresses", a)
	}
}
