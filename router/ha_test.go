package router

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// The acceptance tests of high availability for ring pools: a real
// Sentinel group (3 masters, a replica each, 3 sentinels,
// down-after-milliseconds 1000) behind a Sentinel-managed ring, eight
// pipelining load clients writing unique values and reading them back,
// while sentinels and masters fail. The scenarios share one group and one
// proxy and run in order; each logs the client-visible outage, Sentinel's
// own failover time and the acknowledged writes lost.

// sentinelProxy serves a Sentinel-managed ring over the group g.
func sentinelProxy(t *testing.T, g *testenv.SentinelGroup, edit func(*config.Pool)) *Pool {
	t.Helper()
	pc := config.Default("ha")
	pc.Listen = "127.0.0.1:0"
	pc.Sentinels = g.SentinelAddrs
	pc.HealthCheckInterval = 250 * time.Millisecond
	for _, n := range g.Names {
		pc.Servers = append(pc.Servers, config.Server{Name: n, Weight: 1})
	}
	if edit != nil {
		edit(pc)
	}
	if err := pc.Validate(); err != nil {
		t.Fatalf("pool config: %v", err)
	}
	return serve(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
}

// switchWatch records when the sentinels switch a master name away from
// its current address: the first sentinel (the failover leader, Sentinel's
// own failover time) and a majority of them.
type switchWatch struct {
	start           time.Time
	first, majority atomic.Int64 // unix nanos; 0 until seen
	stop            chan struct{}
	wg              sync.WaitGroup
}

func watchSwitch(t *testing.T, g *testenv.SentinelGroup, name, from string) *switchWatch {
	w := &switchWatch{start: time.Now(), stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			moved := 0
			for _, s := range g.Sentinels {
				if !s.Running() {
					continue
				}
				v, err := testenv.Do(s.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
				if a, ok := v.([]any); err == nil && ok && len(a) == 2 && fmt.Sprintf("%v:%v", a[0], a[1]) != from {
					moved++
				}
			}
			now := time.Now().UnixNano()
			if moved > 0 {
				w.first.CompareAndSwap(0, now)
			}
			if 2*moved > len(g.Sentinels) {
				w.majority.CompareAndSwap(0, now)
				return
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *switchWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// times returns the delays from start to the first and the majority switch.
func (w *switchWatch) times() (first, majority time.Duration) {
	if n := w.first.Load(); n != 0 {
		first = time.Unix(0, n).Sub(w.start)
	}
	if n := w.majority.Load(); n != 0 {
		majority = time.Unix(0, n).Sub(w.start)
	}
	return first, majority
}

// shardErrors splits load errors by the shard (ring index) of their key.
func shardErrors(p *Pool, errs []loadErr) map[int][]loadErr {
	out := map[int][]loadErr{}
	for _, e := range errs {
		i := p.pick([]byte(e.key))
		out[i] = append(out[i], e)
	}
	return out
}

// lostWrites reads every acknowledged write of l back through c and
// returns how many do not hold their value, by shard.
func lostWrites(t *testing.T, p *Pool, c *redis.Client, l *load) (map[int]int, int) {
	t.Helper()
	lost := map[int]int{}
	checked := 0
	for _, lc := range l.clients {
		for lo := 0; lo < len(lc.acked); lo += 500 {
			ns := lc.acked[lo:min(lo+500, len(lc.acked))]
			keys := make([]string, len(ns))
			for i, n := range ns {
				keys[i] = loadKey(lc.id, n)
			}
			vals, err := c.MGet(ctx(), keys...).Result()
			if err != nil {
				t.Fatalf("read back MGET: %v", err)
			}
			for i, v := range vals {
				checked++
				if v != strconv.Itoa(ns[i]) {
					lost[p.pick([]byte(keys[i]))]++
				}
			}
		}
	}
	return lost, checked
}

// quiet waits until the load has seen no error for a second (at most
// until deadline) and stops it.
func (l *load) quiet(since time.Time, deadline time.Duration) {
	end := since.Add(deadline)
	for time.Now().Before(end) {
		last := time.Unix(0, l.lastErr.Load())
		if time.Since(last) > time.Second && time.Since(since) > time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.stop()
}

// outage is the time from t0 to the last error the load saw (0 without).
func (l *load) outage(t0 time.Time) time.Duration {
	if n := l.lastErr.Load(); n != 0 && time.Unix(0, n).After(t0) {
		return time.Unix(0, n).Sub(t0)
	}
	return 0
}

func TestSentinelRingUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("Sentinel load test skipped in -short mode")
	}
	g := testenv.StartSentinelGroup(t, testenv.SentinelGroupOptions{Masters: 3, ReplicasPerMaster: 1, Sentinels: 3})
	p := sentinelProxy(t, g, nil)
	c := client(t, p)
	// shard returns the ring index of master name n.
	shard := func(name string) int {
		for i, n := range g.Names {
			if n == name {
				return i
			}
		}
		t.Fatalf("no shard %s", name)
		return -1
	}
	for i, m := range p.sentinelShards().Masters() {
		if m.Addr() != g.Masters[i].Addr {
			t.Fatalf("%s: proxy uses %s, want %s", g.Names[i], m.Addr(), g.Masters[i].Addr)
		}
	}
	// A second proxy whose electorate includes a stale sentinel: an
	// isolated one that monitors an unrelated server as shard1, so it
	// always reports a wrong master (with epoch 0). It must follow the real
	// sentinels throughout.
	decoy := testenv.StartRedis(t)
	liar := testenv.StartSentinel(t, g.Names[0], decoy.Addr, 1)
	lp := sentinelProxy(t, g, func(pc *config.Pool) {
		pc.Sentinels = []string{liar.Addr, g.SentinelAddrs[0], g.SentinelAddrs[1]}
	})
	lc := client(t, lp)
	checkLiarIgnored := func(t *testing.T) {
		t.Helper()
		for i, m := range lp.sentinelShards().Masters() {
			want := p.sentinelShards().Masters()[i].Addr()
			testenv.WaitFor(t, 5*time.Second, func() bool { return m.Addr() == want },
				"the proxy with a stale sentinel to use %s for %s (it uses %s)", want, g.Names[i], m.Addr())
		}
		key := keyOnShard(t, lp, 0, "liar")
		must(t, lc.Set(ctx(), key, "1", 0).Err())
		if n, _ := testenv.Do(decoy.Addr, "DBSIZE"); n != int64(0) {
			t.Errorf("the stale sentinel's server got %v keys", n)
		}
	}
	checkLiarIgnored(t)

	t.Run("a sentinel killed changes nothing", func(t *testing.T) {
		l := startLoad(t, p)
		time.Sleep(300 * time.Millisecond)
		g.Sentinels[2].Kill()
		time.Sleep(1500 * time.Millisecond)
		l.stop()
		errs, _ := l.errors()
		cmds, acked := l.counts()
		lost, checked := lostWrites(t, p, c, l)
		t.Logf("sentinel killed: %d commands, %d writes acknowledged, %d errors, %d of %d writes lost", cmds, acked, len(errs), sum(lost), checked)
		if len(errs) > 0 || sum(lost) > 0 {
			t.Errorf("errors:%s\nlost: %v", errorTexts(errs), lost)
		}
		g.Sentinels[2].Restart()
		for i, m := range p.sentinelShards().Masters() {
			if m.Addr() != g.Masters[i].Addr {
				t.Errorf("%s moved to %s", g.Names[i], m.Addr())
			}
		}
	})

	t.Run("SENTINEL FAILOVER: no read errors", func(t *testing.T) {
		name := g.Names[1]
		i := shard(name)
		from := p.sentinelShards().Masters()[i].Addr()
		l := startLoad(t, p)
		time.Sleep(300 * time.Millisecond)
		w := watchSwitch(t, g, name, from)
		t0 := time.Now()
		if _, err := testenv.Do(g.SentinelAddrs[0], "SENTINEL", "FAILOVER", name); err != nil {
			t.Fatalf("SENTINEL FAILOVER: %v", err)
		}
		testenv.WaitFor(t, 20*time.Second, func() bool { return p.sentinelShards().Masters()[i].Addr() != from },
			"the proxy to follow the failover of %s", name)
		followed := time.Since(t0)
		l.quiet(t0, 10*time.Second)
		w.close()
		first, majority := w.times()
		errs, _ := l.errors()
		readErrs := readErrors(l)
		lost, checked := lostWrites(t, p, c, l)
		cmds, acked := l.counts()
		t.Logf("SENTINEL FAILOVER %s: sentinel switch after %v (majority %v), proxy followed after %v; client-visible outage %v; %d error replies (%d to reads); %d commands, %d writes acknowledged; %d of %d acknowledged writes lost (%v by shard)",
			name, first.Round(time.Millisecond), majority.Round(time.Millisecond), followed.Round(time.Millisecond),
			l.outage(t0).Round(time.Millisecond), len(errs), len(readErrs), cmds, acked, sum(lost), checked, lost)
		if len(errs) > 0 {
			t.Logf("error replies by text:%s", errorTexts(errs))
		}
		if len(readErrs) > 0 {
			t.Errorf("%d reads failed during a planned failover:%s", len(readErrs), firstFew(readErrs, 10))
		}
		for s, es := range shardErrors(p, errs) {
			if s != i {
				t.Errorf("%d errors on %s, which did not fail over:%s", len(es), g.Names[s], firstFew(es, 5))
			}
		}
		for s, n := range lost {
			if s != i {
				t.Errorf("%d writes lost on %s, which did not fail over", n, g.Names[s])
			}
		}
		// Writes are fenced from the leader's +selected-slave to the
		// switch, so the old master acknowledges none that the new one
		// misses; only a write racing the announcement can slip through.
		if n := lost[i]; n > 20 {
			t.Errorf("%d acknowledged writes lost in a planned failover, want (nearly) none: the write fence did not hold", n)
		}
	})

	t.Run("kill -9 master", func(t *testing.T) {
		name := g.Names[0]
		i := shard(name)
		from := p.sentinelShards().Masters()[i].Addr()
		old := g.Node(from)
		l := startLoad(t, p)
		time.Sleep(500 * time.Millisecond)
		w := watchSwitch(t, g, name, from)
		t0 := time.Now()
		old.Kill()
		testenv.WaitFor(t, 30*time.Second, func() bool { return p.sentinelShards().Masters()[i].Addr() != from },
			"the proxy to follow the failover of %s", name)
		followed := time.Since(t0)
		l.quiet(t0, 20*time.Second)
		w.close()
		first, majority := w.times()
		errs, span := l.errors()
		outage := l.outage(t0)
		lost, checked := lostWrites(t, p, c, l)
		cmds, acked := l.counts()
		t.Logf("kill -9 %s master %s: Sentinel's own failover (first +switch-master) after %v, majority after %v; proxy followed after %v; client-visible outage %v (longest one-client span %v); %d error replies; %d commands, %d writes acknowledged; %d of %d acknowledged writes lost (%v by shard)",
			name, from, first.Round(time.Millisecond), majority.Round(time.Millisecond), followed.Round(time.Millisecond),
			outage.Round(time.Millisecond), span.Round(time.Millisecond), len(errs), cmds, acked, sum(lost), checked, lost)
		if len(errs) > 0 {
			t.Logf("error replies by text:%s", errorTexts(errs))
		}
		for s, es := range shardErrors(p, errs) {
			if s != i {
				t.Errorf("%d errors on %s, whose master is up:%s", len(es), g.Names[s], firstFew(es, 5))
			}
		}
		for s, n := range lost {
			if s != i {
				t.Errorf("%d writes lost on %s, whose master is up", n, g.Names[s])
			}
		}
		if first == 0 {
			t.Fatalf("never saw a sentinel switch %s", name)
		}
		checkLiarIgnored(t)
		if outage > first+time.Second {
			t.Errorf("client-visible outage %v, want at most Sentinel's failover time %v + 1s", outage, first)
		}
		if wrong := l.wrongValues(); len(wrong) > 0 {
			var elsewhere []loadErr
			for _, e := range wrong {
				if p.pick([]byte(e.key)) != i {
					elsewhere = append(elsewhere, e)
				}
			}
			if len(elsewhere) > 0 {
				t.Errorf("%d GETs of acknowledged keys on healthy shards returned another value:%s", len(elsewhere), firstFew(elsewhere, 5))
			}
		}
	})

	t.Run("old master restarted is never written", func(t *testing.T) {
		i := shard(g.Names[0])
		old := g.Masters[0]
		if p.sentinelShards().Masters()[i].Addr() == old.Addr {
			t.Fatalf("%s still uses %s", g.Names[0], old.Addr)
		}
		l := startLoad(t, p)
		// Restarted without persistence, the old master comes back as an
		// empty master until Sentinel converts it: any key in it is a
		// write the proxy sent to a demoted master.
		old.Restart()
		end := time.Now().Add(2 * time.Second)
		for time.Now().Before(end) {
			v, err := testenv.Do(old.Addr, "DBSIZE")
			role, _ := testenv.Do(old.Addr, "ROLE")
			r, _ := role.([]any)
			if err == nil && len(r) > 0 && r[0] == "master" && v != int64(0) {
				t.Fatalf("the restarted old master holds %v keys while a master", v)
			}
			time.Sleep(50 * time.Millisecond)
		}
		l.stop()
		errs, _ := l.errors()
		if len(errs) > 0 {
			t.Errorf("errors while the old master came back:%s", errorTexts(errs))
		}
		lost, checked := lostWrites(t, p, c, l)
		if sum(lost) > 0 {
			t.Errorf("%d of %d acknowledged writes lost", sum(lost), checked)
		}
	})

	t.Run("replica reads stop past replica_max_lag", func(t *testing.T) {
		rp := sentinelProxy(t, g, func(pc *config.Pool) {
			pc.ReadFromReplicas = true
			pc.ReplicaMaxLag = time.Second
		})
		rc := client(t, rp)
		name := g.Names[2]
		i := shard(name)
		replica := g.Replicas[2][0]
		// A key only the replica holds tells where a read went.
		must(t, direct(t, replica.Addr).ConfigSet(ctx(), "replica-read-only", "no").Err())
		key := keyOnShard(t, rp, i, "lagtest")
		must(t, direct(t, replica.Addr).Set(ctx(), key, "from-replica", 0).Err())
		testenv.WaitFor(t, 5*time.Second, func() bool {
			v, _ := rc.Get(ctx(), key).Result()
			return v == "from-replica"
		}, "reads of %s to reach the replica", name)
		replica.Pause()
		paused := time.Now()
		defer func() {
			if replica.Running() {
				replica.Resume()
			}
		}()
		testenv.WaitFor(t, 10*time.Second, func() bool {
			_, err := rc.Get(ctx(), key).Result()
			return err == redis.Nil
		}, "reads to go back to the master once the replica lags")
		t.Logf("replica paused: reads back on the master after %v (replica_max_lag 1s)", time.Since(paused).Round(time.Millisecond))
		for range 20 {
			if _, err := rc.Get(ctx(), key).Result(); err != redis.Nil {
				t.Fatalf("a read after the switch: %v, want nil from the master", err)
			}
		}
		replica.Resume()
		testenv.WaitFor(t, 10*time.Second, func() bool {
			v, _ := rc.Get(ctx(), key).Result()
			return v == "from-replica"
		}, "reads to return to the replica once it caught up")
	})
}

// readErrors returns the errors of GETs (the load's reads): their keys
// were acknowledged before, while a failed SET's key is new.
func readErrors(l *load) []loadErr {
	var out []loadErr
	for _, lc := range l.clients {
		acked := make(map[string]bool, len(lc.acked))
		for _, n := range lc.acked {
			acked[loadKey(lc.id, n)] = true
		}
		for _, e := range lc.errs {
			if acked[e.key] {
				out = append(out, e)
			}
		}
	}
	return out
}

// keyOnShard returns a key with prefix that the ring places on shard i.
func keyOnShard(t *testing.T, p *Pool, i int, prefix string) string {
	t.Helper()
	for n := 0; n < 10000; n++ {
		k := prefix + ":" + strconv.Itoa(n)
		if p.pick([]byte(k)) == i {
			return k
		}
	}
	t.Fatalf("no key of shard %d", i)
	return ""
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// ackedOn returns how many acknowledged writes of l the ring places on
// shard i.
func ackedOn(p *Pool, l *load, i int) int {
	n := 0
	for _, lc := range l.clients {
		for _, k := range lc.acked {
			if p.pick([]byte(loadKey(lc.id, k))) == i {
				n++
			}
		}
	}
	return n
}

// TestSentinelRingWaitMakesLossZero kills -9 a master under two loads at
// once: the plain one (a write is acknowledged by its +OK) and one whose
// writes count as acknowledged only after WAIT 1 through the proxy
// answered at least 1. Asynchronous replication may lose the plain load's
// last writes (how many is luck: it is reported, not asserted); the
// waiting load must lose none, since Sentinel promotes the replica with
// the highest replication offset, which holds every write a replica
// confirmed. Each master has two replicas, so that the new master still
// has one to confirm WAIT after the failover.
func TestSentinelRingWaitMakesLossZero(t *testing.T) {
	if testing.Short() {
		t.Skip("Sentinel load test skipped in -short mode")
	}
	g := testenv.StartSentinelGroup(t, testenv.SentinelGroupOptions{Masters: 3, ReplicasPerMaster: 2, Sentinels: 3})
	p := sentinelProxy(t, g, nil)
	c := client(t, p)
	const i = 0
	name := g.Names[i]
	from := p.sentinelShards().Masters()[i].Addr()
	plain := startLoadOpts(t, p, 0, false)
	waited := startLoadOpts(t, p, loadClients, true)
	time.Sleep(time.Second)
	w := watchSwitch(t, g, name, from)
	t0 := time.Now()
	g.Node(from).Kill()
	testenv.WaitFor(t, 30*time.Second, func() bool { return p.sentinelShards().Masters()[i].Addr() != from },
		"the proxy to follow the failover of %s", name)
	followed := time.Since(t0)
	// Let the new master's remaining replica resync, so that waited
	// writes resume on the failed-over shard (a pipeline's WAIT answers
	// the minimum over the shards it wrote to).
	after := waited.confirmed.Load()
	testenv.WaitFor(t, 30*time.Second, func() bool { return waited.confirmed.Load() > after+20 },
		"WAIT to confirm writes again after the failover of %s", name)
	plain.quiet(t0, 20*time.Second)
	waited.stop()
	waitedBefore := 0
	for _, lc := range waited.clients {
		for j, k := range lc.acked {
			if p.pick([]byte(loadKey(lc.id, k))) == i && lc.ackAt[j] < t0.UnixNano() {
				waitedBefore++
			}
		}
	}
	w.close()
	first, majority := w.times()
	plainLost, plainChecked := lostWrites(t, p, c, plain)
	waitLost, waitChecked := lostWrites(t, p, c, waited)
	_, plainAcked := plain.counts()
	_, waitAcked := waited.counts()
	unwaited, waitFails := 0, 0
	for _, lc := range waited.clients {
		unwaited += lc.unwaited
		waitFails += lc.waitFails
	}
	t.Logf("kill -9 %s master %s: Sentinel's own failover after %v (majority %v), proxy followed after %v", name, from,
		first.Round(time.Millisecond), majority.Round(time.Millisecond), followed.Round(time.Millisecond))
	t.Logf("acknowledged writes lost: plain (+OK) %d of %d (%v by shard); WAIT 1 %d of %d (%v by shard; %d acknowledged on %s before the kill, %d after; %d SETs not confirmed by WAIT in %d pipelines)",
		sum(plainLost), plainChecked, plainLost, sum(waitLost), waitChecked, waitLost,
		waitedBefore, name, ackedOn(p, waited, i)-waitedBefore, unwaited, waitFails)
	if plainAcked == 0 || waitAcked == 0 {
		t.Fatalf("the loads did nothing: %d plain and %d waited writes acknowledged", plainAcked, waitAcked)
	}
	if waitedBefore == 0 {
		t.Fatalf("no waited write was acknowledged on %s before the kill: the test shows nothing", name)
	}
	if n := sum(waitLost); n != 0 {
		t.Errorf("%d writes confirmed by WAIT 1 were lost (%v by shard)", n, waitLost)
	}
	for s, n := range plainLost {
		if s != i {
			t.Errorf("%d plain writes lost on %s, whose master is up", n, g.Names[s])
		}
	}
}
