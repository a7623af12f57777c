package router

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/metrics"
)

// TestReloadSentinelPool reloads a Sentinel ring pool: a changed sentinel
// list and credentials take effect (a new watcher), master names added
// and removed take and give back their share of the keys, wrong
// credentials are refused rather than leaving the shards without a
// master, and what needs a restart (sentinel_tls, turning Sentinel off) is
// refused naming the key. Sentinels accept only an ACL user.
func TestReloadSentinelPool(t *testing.T) {
	g := testenv.StartSentinelGroup(t, testenv.SentinelGroupOptions{
		Masters: 2, Sentinels: 3, SentinelUsername: "watcher", SentinelPassword: "pw1",
	})
	base := func(sentinels []string, names ...string) *config.Pool {
		pc := config.Default("ha")
		pc.Listen = "127.0.0.1:0"
		pc.Sentinels = sentinels
		pc.SentinelUsername, pc.SentinelAuth = "watcher", "pw1"
		pc.HealthCheckInterval = 250 * time.Millisecond
		for _, n := range names {
			pc.Servers = append(pc.Servers, config.Server{Name: n, Weight: 1})
		}
		if err := pc.Validate(); err != nil {
			t.Fatal(err)
		}
		return pc
	}
	first := base(g.SentinelAddrs[:1], g.Names[0])
	px, err := New(&config.Config{Pools: []*config.Pool{first}},
		Options{Version: "test", Logger: testLogger(t), Metrics: metrics.New("test", runtime.Version())})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		px.Serve()
	}()
	t.Cleanup(func() {
		px.Close()
		<-done
	})
	p := px.Pools()[0]
	c := client(t, p)
	reload := func(pc *config.Pool) error {
		return px.Reload(&config.Config{Pools: []*config.Pool{pc}})
	}
	write := func(prefix string) {
		t.Helper()
		for i := range 200 {
			must(t, c.Set(ctx(), prefix+":"+string(rune('a'+i%26))+strings.Repeat("x", i%7)+":"+time.Now().Format("150405.000000"), i, 0).Err())
		}
	}
	dbsize := func(addr string) int64 {
		v, _ := testenv.Do(addr, "DBSIZE")
		n, _ := v.(int64)
		return n
	}
	write("one")
	if dbsize(g.Masters[1].Addr) != 0 {
		t.Fatal("keys reached shard2 before it was configured")
	}
	ss1 := p.sentinelShards()

	// A master name added, through all three sentinels: shard2 takes keys.
	if err := reload(base(g.SentinelAddrs, g.Names[0], g.Names[1])); err != nil {
		t.Fatalf("reload adding a master name and sentinels: %v", err)
	}
	ss2 := p.sentinelShards()
	if ss2 == ss1 || len(ss2.Masters()) != 2 || ss2.Masters()[1].Addr() != g.Masters[1].Addr {
		t.Fatalf("after the reload the pool follows %v", ss2.Masters())
	}
	write("two")
	if dbsize(g.Masters[1].Addr) == 0 {
		t.Fatal("no key went to the master name added by the reload")
	}
	// The old watcher and its masters close after the grace.
	testenv.WaitFor(t, 10*time.Second, func() bool { return ss1.Masters()[0].Closed() },
		"the replaced watcher's master to close")

	// The sentinels change their password; the proxy follows by a reload.
	// A wrong password is refused and the pool keeps serving.
	for _, s := range g.SentinelAddrs {
		if _, err := testenv.DoAuthUser(s, "watcher", "pw1", "ACL", "SETUSER", "watcher", ">pw2"); err != nil {
			t.Fatalf("ACL SETUSER on %s: %v", s, err)
		}
	}
	bad := base(g.SentinelAddrs, g.Names[0], g.Names[1])
	bad.SentinelAuth = "nope"
	if err := reload(bad); err == nil || !strings.Contains(err.Error(), "sentinel_auth") {
		t.Fatalf("reload with a wrong sentinel password: %v, want a refusal naming sentinel_auth", err)
	}
	if p.sentinelShards() != ss2 {
		t.Fatal("a refused reload replaced the watcher")
	}
	good := base(g.SentinelAddrs, g.Names[0], g.Names[1])
	good.SentinelAuth = "pw2"
	if err := reload(good); err != nil {
		t.Fatalf("reload with the new sentinel password: %v", err)
	}
	if p.sentinelShards() == ss2 {
		t.Fatal("the new sentinel password did not make a new watcher")
	}
	write("three")

	// A master name removed: every key goes to shard1 again.
	only := base(g.SentinelAddrs, g.Names[0])
	only.SentinelAuth = "pw2"
	if err := reload(only); err != nil {
		t.Fatalf("reload removing a master name: %v", err)
	}
	before := dbsize(g.Masters[1].Addr)
	write("four")
	if n := dbsize(g.Masters[1].Addr); n != before {
		t.Fatalf("shard2 got %d keys after its name was removed", n-before)
	}

	// Restart-only changes are refused, naming the key.
	tlsOn := base(g.SentinelAddrs, g.Names[0])
	tlsOn.SentinelAuth, tlsOn.SentinelTLS = "pw2", true
	if err := reload(tlsOn); err == nil || !strings.Contains(err.Error(), "sentinel_tls") {
		t.Fatalf("reload turning sentinel_tls on: %v, want a refusal naming sentinel_tls", err)
	}
	plain := config.Default("ha")
	plain.Listen, plain.HealthCheckInterval = first.Listen, first.HealthCheckInterval
	plain.Servers = []config.Server{{Name: "x", Addr: g.Masters[0].Addr, Weight: 1}}
	if err := plain.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := reload(plain); err == nil || !strings.Contains(err.Error(), "[sentinels]") {
		t.Fatalf("reload turning Sentinel off: %v, want a refusal naming sentinels", err)
	}
	write("five")
}
