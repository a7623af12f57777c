package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// smessage is the RESP2 push of a shard channel message.
func smessage(ch, msg string) string {
	return fmt.Sprintf("*3\r\n$8\r\nsmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(ch), ch, len(msg), msg)
}

// shardNumSub is PUBSUB SHARDNUMSUB ch asked of one node directly.
func shardNumSub(t *testing.T, addr, ch string) int64 {
	t.Helper()
	v, err := direct(t, addr).PubSubShardNumSub(ctx(), ch).Result()
	if err != nil {
		return -1
	}
	return v[ch]
}

// expectOnly reads len(want) pushes from c, checks that they are want in
// the order of want per channel (channels of different shards may
// interleave), then checks with a PING that nothing else came in between:
// no sunsubscribe, no duplicate.
func expectOnly(t *testing.T, c *rawConn, want ...string) {
	t.Helper()
	channel := func(push string) string {
		// *3 $8 smessage $n <channel> ...: the fifth line.
		lines := strings.Split(push, "\r\n")
		if len(lines) < 5 {
			return ""
		}
		return lines[4]
	}
	wantBy, gotBy := map[string][]string{}, map[string][]string{}
	for _, w := range want {
		wantBy[channel(w)] = append(wantBy[channel(w)], w)
	}
	for range want {
		r, err := c.reply()
		if err != nil {
			t.Fatalf("after %v: %v", gotBy, err)
		}
		gotBy[channel(r)] = append(gotBy[channel(r)], r)
	}
	if !maps.EqualFunc(gotBy, wantBy, slices.Equal[[]string]) {
		t.Fatalf("pushes by channel:\n got %q\nwant %q", gotBy, wantBy)
	}
	c.send("PING\r\n")
	c.mustReply("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
}

// TestPubsubClusterSlotMigration: a client's SSUBSCRIBE survives the
// migration of its slot to another master. Redis sends sunsubscribe on the
// proxy's subscriber connection when the slot leaves the node; the proxy
// subscribes on the new owner, the client sees nothing of it, and every
// message published after the move (through the proxy or directly on the
// new owner) arrives once. The periodic slot-map refresh is off, so the
// move is driven by the sunsubscribe alone.
func TestPubsubClusterSlotMigration(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 0)
	p := startClusterProxy(t, cl, func(pc *config.Pool) { pc.ClusterRefreshInterval = time.Hour })
	const ch, other = "{mv}feed", "{stay}feed"
	slot := int(hashring.Slot([]byte(ch)))
	src := p.backendCluster().Master(slot).Addr()
	dst := ""
	for _, a := range cl.Addrs {
		if a != src && a != p.backendCluster().Master(int(hashring.Slot([]byte(other)))).Addr() {
			dst = a
		}
	}
	if dst == "" {
		for _, a := range cl.Addrs {
			if a != src {
				dst = a
			}
		}
	}
	sub := rawSubscribe(t, p.Addr(), "SSUBSCRIBE "+ch+" "+other+"\r\n", 2)
	pub := client(t, p)
	must(t, pub.SPublish(ctx(), ch, "before").Err())
	must(t, pub.SPublish(ctx(), other, "o1").Err())
	expectOnly(t, sub, smessage(ch, "before"), smessage(other, "o1"))

	srcC, dstC := direct(t, src), direct(t, dst)
	srcID, dstID := nodeID(t, srcC), nodeID(t, dstC)
	must(t, dstC.Do(ctx(), "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(t, srcC.Do(ctx(), "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	// The owner last, as redis-cli --cluster reshard does.
	must(t, dstC.Do(ctx(), "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	for _, a := range cl.Addrs {
		if a != dst {
			must(t, direct(t, a).Do(ctx(), "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
		}
	}
	testenv.WaitFor(t, 5*time.Second, func() bool {
		return shardNumSub(t, dst, ch) == 1 && shardNumSub(t, src, ch) == 0
	}, "the proxy did not subscribe %s on the slot's new owner", ch)
	if n := gathered(t, p, "shardproxy_pubsub_moves_total", ""); n < 1 {
		t.Fatalf("shardproxy_pubsub_moves_total = %v, want >= 1", n)
	}
	var want []string
	for i := range 20 {
		m := fmt.Sprintf("p%d", i)
		must(t, pub.SPublish(ctx(), ch, m).Err())
		want = append(want, smessage(ch, m))
		m = fmt.Sprintf("d%d", i)
		if n, err := dstC.SPublish(ctx(), ch, m).Result(); err != nil || n != 1 {
			t.Fatalf("SPUBLISH on the new owner: %d receivers, %v", n, err)
		}
		want = append(want, smessage(ch, m))
	}
	must(t, pub.SPublish(ctx(), other, "o2").Err())
	want = append(want, smessage(other, "o2"))
	expectOnly(t, sub, want...)
	// The client still holds both, with Redis's counts.
	sub.send("SUNSUBSCRIBE\r\n")
	var got []string
	for range 2 {
		r, err := sub.reply()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	unsub := func(name string, n int) string {
		return fmt.Sprintf("*3\r\n$12\r\nsunsubscribe\r\n$%d\r\n%s\r\n:%d\r\n", len(name), name, n)
	}
	if !(got[0] == unsub(ch, 1) && got[1] == unsub(other, 0)) && !(got[0] == unsub(other, 1) && got[1] == unsub(ch, 0)) {
		t.Fatalf("SUNSUBSCRIBE replies = %q", got)
	}
	testenv.WaitFor(t, 3*time.Second, func() bool { return shardNumSub(t, dst, ch) == 0 },
		"the proxy kept %s subscribed on the new owner after the last client left", ch)
}

// TestPubsubClusterFailover: the master of a subscribed shard channel dies
// and its replica takes over; the proxy subscribes on the new master and
// the client keeps receiving.
func TestPubsubClusterFailover(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 1)
	p := startClusterProxy(t, cl, nil)
	const ch = "{fo}feed"
	slot := int(hashring.Slot([]byte(ch)))
	sub := rawSubscribe(t, p.Addr(), "SSUBSCRIBE "+ch+"\r\n", 1)
	pub := client(t, p)
	must(t, pub.SPublish(ctx(), ch, "before").Err())
	expectOnly(t, sub, smessage(ch, "before"))

	old := p.backendCluster().Master(slot).Addr()
	oldID := nodeID(t, direct(t, old))
	var replica string
	for _, r := range cl.Replicas(t) {
		if master := direct(t, r.Addr).Info(ctx(), "replication").Val(); containsPort(master, old) {
			replica = r.Addr
		}
	}
	if replica == "" {
		t.Fatalf("no replica of %s (%s)", old, oldID)
	}
	for _, n := range cl.Nodes {
		if n.Addr == old {
			n.Kill()
		}
	}
	must(t, direct(t, replica).Do(ctx(), "CLUSTER", "FAILOVER", "TAKEOVER").Err())
	testenv.WaitFor(t, 15*time.Second, func() bool { return shardNumSub(t, replica, ch) == 1 },
		"the proxy did not subscribe %s on the promoted replica", ch)
	var want []string
	for i := range 10 {
		m := fmt.Sprintf("d%d", i)
		if n, err := direct(t, replica).SPublish(ctx(), ch, m).Result(); err != nil || n != 1 {
			t.Fatalf("SPUBLISH on the new master: %d receivers, %v", n, err)
		}
		want = append(want, smessage(ch, m))
	}
	testenv.WaitFor(t, 10*time.Second, func() bool { return pub.SPublish(ctx(), ch, "via-proxy").Err() == nil },
		"SPUBLISH through the proxy after the failover")
	want = append(want, smessage(ch, "via-proxy"))
	expectOnly(t, sub, want...)
}

// containsPort reports whether an INFO replication text names addr's port
// as master_port.
func containsPort(info, addr string) bool {
	return strings.Contains(info, "master_port:"+dstPort(addr)+"\r")
}

// ownerAddr is the address of the server the pool's current ring places
// ch on.
func ownerAddr(p *Pool, ch string) string {
	t := p.topology()
	return t.server(t.part([]byte(ch)), nil, 0).Addr()
}

// numSubOn is PUBSUB NUMSUB ch on one server directly.
func numSubOn(t *testing.T, r *testenv.Redis, ch string) int64 {
	t.Helper()
	v, err := r.Client(t).PubSubNumSub(ctx(), ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	return v[ch]
}

// readCounts reads n pushes from c and counts them by their bytes.
func readCounts(t *testing.T, c *rawConn, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		r, err := c.reply()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", i, n, err)
		}
		got[r]++
	}
	c.send("PING\r\n")
	c.mustReply("*2\r\n$4\r\npong\r\n$0\r\n\r\n")
	return got
}

// TestPubsubRingReload: a reload that adds a shard, then one that removes
// another, moves every channel whose owner changed to its new owner (and
// off the old one), and gives the patterns to the new shard set. The
// clients keep their subscriptions, are told nothing, and receive every
// message published after the reload once, through the proxy or directly
// on the owner.
func TestPubsubRingReload(t *testing.T) {
	rs := shards(t, 3)
	f := startReloadable(t, rs[:2])
	const nch = 200
	chans := make([]string, nch)
	cmd := "SUBSCRIBE"
	for i := range chans {
		chans[i] = fmt.Sprintf("rl:%d", i)
		cmd += " " + chans[i]
	}
	sub := rawSubscribe(t, f.pool.Addr(), cmd+"\r\n", nch)
	psub := rawSubscribe(t, f.pool.Addr(), "PSUBSCRIBE rl:*\r\n", 1)
	pub := client(t, f.pool)
	byAddr := map[string]*testenv.Redis{}
	for _, r := range rs {
		byAddr[r.Addr] = r
	}

	check := func(step string, live []*testenv.Redis) {
		t.Helper()
		// Each channel is subscribed once, on its owner only.
		testenv.WaitFor(t, 5*time.Second, func() bool {
			for _, ch := range chans[:50] {
				for _, r := range rs {
					want := int64(0)
					if r.Addr == ownerAddr(f.pool, ch) {
						want = 1
					}
					if numSubOn(t, r, ch) != want {
						return false
					}
				}
			}
			for _, r := range rs {
				n, err := r.Client(t).PubSubNumPat(ctx()).Result()
				want := int64(0)
				if slices.Contains(live, r) {
					want = 1
				}
				if err != nil || n != want {
					return false
				}
			}
			return true
		}, "%s: subscriptions not where the ring puts them", step)
		for _, ch := range chans {
			if numSubOn(t, byAddr[ownerAddr(f.pool, ch)], ch) != 1 {
				t.Fatalf("%s: %s not subscribed on its owner", step, ch)
			}
		}
		want := map[string]int{}
		wantP := map[string]int{}
		for i, ch := range chans {
			for j, via := range []string{"proxy", "direct"} {
				msg := fmt.Sprintf("%s-%s-%d", step, via, i)
				if j == 0 {
					must(t, pub.Publish(ctx(), ch, msg).Err())
				} else {
					n, err := byAddr[ownerAddr(f.pool, ch)].Client(t).Publish(ctx(), ch, msg).Result()
					if err != nil || n != 2 { // the proxy's channel and pattern subscriptions
						t.Fatalf("%s: PUBLISH %s on its owner reached %d, %v", step, ch, n, err)
					}
				}
				want[fmt.Sprintf("*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(ch), ch, len(msg), msg)]++
				wantP[fmt.Sprintf("*4\r\n$8\r\npmessage\r\n$4\r\nrl:*\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(ch), ch, len(msg), msg)]++
			}
		}
		if got := readCounts(t, sub, len(want)); !maps.Equal(got, want) {
			t.Fatalf("%s: channel subscriber got %d distinct pushes, want %d once each", step, len(got), len(want))
		}
		if got := readCounts(t, psub, len(wantP)); !maps.Equal(got, wantP) {
			t.Fatalf("%s: pattern subscriber got %d distinct pushes, want %d once each", step, len(got), len(wantP))
		}
	}
	check("start", rs[:2])

	if err := f.px.Reload(&config.Config{Pools: []*config.Pool{ringPool(t, rs, nil)}}); err != nil {
		t.Fatalf("reload adding a shard: %v", err)
	}
	onThird := 0
	for _, ch := range chans {
		if ownerAddr(f.pool, ch) == rs[2].Addr {
			onThird++
		}
	}
	if onThird == 0 {
		t.Fatal("no channel moved to the added shard")
	}
	check("grown", rs)

	shrunk := ringPool(t, rs[1:], nil)
	shrunk.Servers[0].Name, shrunk.Servers[1].Name = "shard2", "shard3"
	if err := f.px.Reload(&config.Config{Pools: []*config.Pool{shrunk}}); err != nil {
		t.Fatalf("reload removing a shard: %v", err)
	}
	check("shrunk", rs[1:])
	// The removed shard's subscriber connection is closed.
	testenv.WaitFor(t, 3*time.Second, func() bool { _, ok := f.pool.hub.counts()["shard1"]; return !ok },
		"the hub still holds the removed shard: %v", f.pool.hub.counts())
	if n := gathered(t, f.pool, "shardproxy_pubsub_moves_total", ""); n < float64(onThird) {
		t.Fatalf("shardproxy_pubsub_moves_total = %v, want at least %d", n, onThird)
	}
	// Everything held is still counted as Redis would.
	sub.send("UNSUBSCRIBE\r\n")
	for i := nch - 1; i >= 0; i-- {
		r, err := sub.reply()
		if err != nil || !strings.HasSuffix(r, fmt.Sprintf(":%d\r\n", i)) {
			t.Fatalf("UNSUBSCRIBE reply %q, %v; want count %d", r, err, i)
		}
	}
	testenv.WaitFor(t, 3*time.Second, func() bool {
		for _, r := range rs {
			if numSubOn(t, r, chans[0]) != 0 {
				return false
			}
		}
		return true
	}, "channels still subscribed after the last client left")
}

// TestPubsubReloadChurn reloads the ring back and forth while clients
// subscribe and unsubscribe: afterwards every channel still held is on its
// owner only, and once every client left, no shard holds anything and the
// hub is empty (no reference lost or leaked by a move racing a client).
func TestPubsubReloadChurn(t *testing.T) {
	rs := shards(t, 3)
	f := startReloadable(t, rs[:2])
	const nch = 40
	name := func(i int) string { return fmt.Sprintf("churn:%d", i) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Raw clients, each waiting for its replies, so that when they stop
	// the proxy has run every command they sent.
	subs := make([]*rawConn, 6)
	for g := range subs {
		c := dialRawAddr(t, f.pool.Addr())
		subs[g] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cmd := "SUBSCRIBE "
				if i%3 == 2 {
					cmd = "UNSUBSCRIBE "
				}
				if i%10 == 0 {
					cmd = fmt.Sprintf("PSUBSCRIBE churn:%d*", g)
				} else {
					cmd += name((g*7 + i) % nch)
				}
				c.nc.Write([]byte(cmd + "\r\n"))
				if _, err := c.reply(); err != nil {
					t.Errorf("client %d: %s: %v", g, cmd, err)
					return
				}
			}
		}()
	}
	for i := range 7 { // ends with all three shards
		next := ringPool(t, rs, nil)
		if i%2 == 1 {
			next = ringPool(t, rs[:2], nil)
		}
		if err := f.px.Reload(&config.Config{Pools: []*config.Pool{next}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	// The last reload left all three shards: what is held sits on its
	// owner. (The clients' last commands may still be on their way: the
	// hub is read again on each try.)
	heldNow := func() map[string]bool {
		held := map[string]bool{}
		f.pool.hub.mu.Lock()
		defer f.pool.hub.mu.Unlock()
		for n := range f.pool.hub.entries[subChannel] {
			held[n] = true
		}
		return held
	}
	if len(heldNow()) == 0 {
		t.Fatal("no channel held after the churn")
	}
	var bad []string
	placed := func() bool {
		bad = bad[:0]
		held := heldNow()
		for i := range nch {
			ch := name(i)
			for _, r := range rs {
				want := int64(0)
				if held[ch] && r.Addr == ownerAddr(f.pool, ch) {
					want = 1
				}
				if got := numSubOn(t, r, ch); got != want {
					bad = append(bad, fmt.Sprintf("%s on %s: %d, want %d", ch, r.Addr, got, want))
				}
			}
		}
		// Patterns: on every shard of the ring, and nowhere else.
		f.pool.hub.mu.Lock()
		npat := int64(len(f.pool.hub.entries[subPattern]))
		f.pool.hub.mu.Unlock()
		for _, r := range rs {
			want := int64(0)
			if slices.ContainsFunc(f.pool.topology().shards(), func(s *backend.Server) bool { return s.Addr() == r.Addr }) {
				want = npat
			}
			if got, err := r.Client(t).PubSubNumPat(ctx()).Result(); err != nil || got != want {
				bad = append(bad, fmt.Sprintf("NUMPAT on %s: %d, want %d (%v)", r.Addr, got, want, err))
			}
		}
		return len(bad) == 0
	}
	for deadline := time.Now().Add(5 * time.Second); !placed(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.pool.hub.mu.Lock()
			var where []string
			for _, b := range bad {
				ch, _, _ := strings.Cut(b, " ")
				if e := f.pool.hub.entries[subChannel][ch]; e != nil {
					for _, sh := range e.shards {
						sh.mu.RLock()
						where = append(where, fmt.Sprintf("%s refs=%d on %s %p up=%v gone=%v inTopo=%v", ch, e.refs, sh.srv.Addr(), sh.srv, sh.up, sh.gone,
							slices.Contains(f.pool.topology().servers(), sh.srv)))
						sh.mu.RUnlock()
					}
					if len(e.shards) == 0 {
						where = append(where, ch+" on no shard")
					}
				}
			}
			f.pool.hub.mu.Unlock()
			t.Fatalf("channels not exactly on their owners after the churn: %v\n%s", bad, strings.Join(where, "\n"))
		}
	}
	for _, c := range subs {
		c.nc.Close()
	}
	testenv.WaitFor(t, 5*time.Second, func() bool {
		for _, r := range rs {
			chs, err := r.Client(t).PubSubChannels(ctx(), "*").Result()
			n, err2 := r.Client(t).PubSubNumPat(ctx()).Result()
			if err != nil || err2 != nil || len(chs) != 0 || n != 0 {
				return false
			}
		}
		f.pool.hub.mu.Lock()
		defer f.pool.hub.mu.Unlock()
		return len(f.pool.hub.entries[0])+len(f.pool.hub.entries[1])+len(f.pool.hub.entries[2]) == 0
	}, "subscriptions left on the shards or in the hub after every client left")
}
