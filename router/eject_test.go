package router

import (
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestAutoEjectUnderLoad kills one of three cache shards under load, with
// two proxies over the same servers: one with auto_eject_hosts (failure
// limit 2, health checks every 200 ms, retry after 2 s), one without.
// With eject the dead shard leaves the ring after the failure limit (its
// keys re-hash to the others and the errors stop) and returns after the
// retry timeout; without it the errors stay on that shard's keys only.
func TestAutoEjectUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("eject load test skipped in -short mode")
	}
	rs := shards(t, 3)
	const (
		interval = 200 * time.Millisecond
		retry    = 2 * time.Second
	)
	// A generous timeout: on a loaded 2-core machine under -race a healthy
	// shard can miss 500 ms, and two such misses would eject it too.
	on := startProxy(t, rs, func(pc *config.Pool) {
		pc.Timeout = 2 * time.Second
		pc.AutoEjectHosts = true
		pc.ServerFailureLimit = 2
		pc.ServerRetryTimeout = retry
		pc.HealthCheckInterval = interval
	})
	off := startProxy(t, rs, func(pc *config.Pool) {
		pc.Timeout = 2 * time.Second
		pc.HealthCheckInterval = interval
	})
	const dead = 1 // shard2
	lon, loff := startLoad(t, on), startLoad(t, off)
	time.Sleep(500 * time.Millisecond)
	if ok, why := on.Ready(); !ok {
		t.Fatalf("not ready before the kill: %s", why)
	}

	t0 := time.Now()
	rs[dead].Kill()
	testenv.WaitFor(t, 5*time.Second, func() bool { return ringSize(on) == 2 }, "shard2 to be ejected")
	ejected := time.Since(t0)
	if ok, why := on.Ready(); !ok {
		t.Errorf("the pool with eject is not ready with its dead shard ejected: %s", why)
	}
	if ok, _ := off.Ready(); ok {
		t.Errorf("the pool without eject is ready with a shard down")
	}
	// Keys re-hashed: a key of the dead shard is written to another.
	c := client(t, on)
	must(t, c.Set(ctx(), "after-eject", "1", 0).Err())
	time.Sleep(time.Second)
	afterEject := time.Now()
	time.Sleep(500 * time.Millisecond)
	if got := counter(t, on.m.Ejections); got != 1 {
		t.Errorf("shardproxy_ejections_total = %v, want 1", got)
	}

	rs[dead].Restart()
	testenv.WaitFor(t, retry+3*time.Second, func() bool { return ringSize(on) == 3 },
		"shard2 to return after the retry timeout")
	returned := time.Since(t0)
	time.Sleep(500 * time.Millisecond)
	lon.stop()
	loff.stop()

	errsOn, _ := lon.errors()
	errsOff, _ := loff.errors()
	t.Logf("auto_eject_hosts: shard2 killed; ejected after %v (limit 2 x %v checks), back in the ring after %v (retry %v); with eject %d errors, last at %v after the kill; without eject %d errors over %v",
		ejected.Round(time.Millisecond), interval, returned.Round(time.Millisecond), retry,
		len(errsOn), lon.outage(t0).Round(time.Millisecond), len(errsOff), loff.outage(t0).Round(time.Millisecond))
	// Both instants are seen by polling, so ejected can be late by up to a
	// poll; allow that much before calling the return early.
	const pollSlack = 100 * time.Millisecond
	if returned < ejected+retry-pollSlack {
		t.Errorf("shard2 returned %v after the kill, before the retry timeout (ejected at %v + %v)", returned, ejected, retry)
	}
	full := off.topology().(*ringTopo)
	shardOf := func(key string) int { return full.ring.Pick([]byte(key)) }
	for _, e := range errsOn {
		if shardOf(e.key) != dead {
			t.Errorf("with eject: an error on a healthy shard's key: %v", e)
		}
		if e.at.After(afterEject) {
			t.Errorf("with eject: an error after the ejection settled: %v", e)
		}
	}
	for _, e := range errsOff {
		if shardOf(e.key) != dead {
			t.Errorf("without eject: an error on a healthy shard's key: %v", e)
		}
	}
	if len(errsOff) == 0 {
		t.Errorf("without eject no client saw the dead shard")
	}
	if v, err := c.Get(ctx(), "after-eject").Result(); shardOf("after-eject") != dead && (err != nil || v != "1") {
		t.Errorf("a key of a healthy shard written during the ejection: %q %v", v, err)
	}
}

// TestAutoEjectReload: a reload while a server is ejected installs the
// whole new ring (every server back) and restarts the checks, which eject
// the dead server again.
func TestAutoEjectReload(t *testing.T) {
	rs := shards(t, 3)
	pc := ringPool(t, rs, func(pc *config.Pool) {
		pc.Timeout = 2 * time.Second
		pc.AutoEjectHosts = true
		pc.ServerFailureLimit = 2
		pc.ServerRetryTimeout = time.Minute
		pc.HealthCheckInterval = 100 * time.Millisecond
	})
	px, err := New(&config.Config{Pools: []*config.Pool{pc}}, Options{Version: "test", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		px.Serve()
	}()
	defer func() {
		px.Close()
		<-done
	}()
	p := px.Pools()[0]
	rs[2].Kill()
	testenv.WaitFor(t, 5*time.Second, func() bool { return ringSize(p) == 2 }, "shard3 to be ejected")
	next := *pc
	next.Servers = append([]config.Server(nil), pc.Servers...)
	next.Servers[0].Weight = 2
	if err := px.Reload(&config.Config{Pools: []*config.Pool{&next}}); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if n := ringSize(p); n != 3 {
		t.Fatalf("after the reload the ring has %d servers, want all 3 back", n)
	}
	testenv.WaitFor(t, 5*time.Second, func() bool { return ringSize(p) == 2 }, "shard3 to be ejected again")
	if got := counter(t, p.m.Ejections); got != 2 {
		t.Errorf("shardproxy_ejections_total = %v, want 2", got)
	}
}

// ringSize is the number of servers in the pool's current ring.
func ringSize(p *Pool) int { return len(p.topology().servers()) }
