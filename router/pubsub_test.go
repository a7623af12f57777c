package router

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// conversation sends each command to the proxy and to a plain
// redis-server and requires the same replies, byte for byte; want is how
// many replies each command gets.
func conversation(t *testing.T, px, direct *rawConn, steps []struct {
	cmd  string
	want int
}) {
	t.Helper()
	for _, st := range steps {
		px.send(st.cmd)
		direct.send(st.cmd)
		for i := 0; i < st.want; i++ {
			d, err := direct.reply()
			if err != nil {
				t.Fatalf("%q: redis: %v", st.cmd, err)
			}
			p, err := px.reply()
			if err != nil {
				t.Fatalf("%q: proxy: %v", st.cmd, err)
			}
			if p != d {
				t.Fatalf("%q reply %d:\nproxy %q\nredis %q", st.cmd, i, p, d)
			}
		}
	}
}

type step = struct {
	cmd  string
	want int
}

func TestPubsubStateMachineLikeRedis(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	ref := testenv.StartRedis(t)
	px, direct := dialRaw(t, p), dialRawAddr(t, ref.Addr)
	conversation(t, px, direct, []step{
		{"UNSUBSCRIBE\r\n", 1},
		{"PUNSUBSCRIBE\r\n", 1},
		{"SUNSUBSCRIBE\r\n", 1},
		{"UNSUBSCRIBE nope\r\n", 1},
		{"SUBSCRIBE a b c\r\n", 3},
		{"SUBSCRIBE a\r\n", 1},
		{"SSUBSCRIBE s1 s2\r\n", 2},
		{"PSUBSCRIBE p* q?\r\n", 2},
		{"GET x\r\n", 1},
		{"SET x 1\r\n", 1},
		{"CLIENT INFO\r\n", 1},
		{"PING\r\n", 1},
		{"PING hello\r\n", 1},
		{"UNSUBSCRIBE a b\r\n", 2},
		{"UNSUBSCRIBE\r\n", 1}, // only c is left: one reply, no order question
		{"SUNSUBSCRIBE s1\r\n", 1},
		{"SUNSUBSCRIBE\r\n", 1},
		{"PUNSUBSCRIBE p*\r\n", 1},
		{"PUNSUBSCRIBE\r\n", 1},
		{"GET x\r\n", 1},
		{"PING\r\n", 1},
		{"SUBSCRIBE again\r\n", 1},
		{"RESET\r\n", 1},
		{"GET x\r\n", 1},
		{"HELLO 3 SETNAME n\r\n", 0}, // differs by id and the proxy field
	})
	px.reply()
	direct.reply()
	conversation(t, px, direct, []step{
		{"SUBSCRIBE a b\r\n", 2},
		{"PSUBSCRIBE p*\r\n", 1},
		{"GET nokey\r\n", 1},
		{"PING\r\n", 1},
		{"UNSUBSCRIBE a\r\n", 1},
		{"PUNSUBSCRIBE\r\n", 1},
		{"SUNSUBSCRIBE\r\n", 1},
		{"UNSUBSCRIBE b\r\n", 1},
		{"UNSUBSCRIBE\r\n", 1},
		{"RESET\r\n", 1},
		{"SUBSCRIBE a\r\n", 1},
		{"GET x\r\n", 1},
		{"QUIT\r\n", 1},
	})
}

// TestPubsubRESP3Push checks a RESP3 client's pushes byte for byte.
func TestPubsubRESP3Push(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	ref := testenv.StartRedis(t)
	px, direct := dialRawAddr(t, p.Addr()), dialRawAddr(t, ref.Addr)
	for _, c := range []*rawConn{px, direct} {
		c.send("HELLO 3\r\n")
		got, err := c.reply()
		if err != nil || !strings.HasPrefix(got, "%") || !strings.Contains(got, "$5\r\nproto\r\n:3\r\n") {
			t.Fatalf("HELLO 3 = %q, %v", got, err)
		}
	}
	conversation(t, px, direct, []step{
		{"SUBSCRIBE news\r\n", 1},
		{"PSUBSCRIBE n*\r\n", 1},
		{"SET k v\r\n", 1},
		{"GET k\r\n", 1},
		{"PING\r\n", 1},
	})
	pub := client(t, p)
	if err := pub.Publish(ctx(), "news", "hi").Err(); err != nil {
		t.Fatal(err)
	}
	if err := ref.Client(t).Publish(ctx(), "news", "hi").Err(); err != nil {
		t.Fatal(err)
	}
	conversation(t, px, direct, []step{{"", 2}, {"UNSUBSCRIBE\r\n", 1}, {"PUNSUBSCRIBE\r\n", 1}, {"UNSUBSCRIBE\r\n", 1}})
}

// rawSubscriber subscribes a raw connection to the proxy and reads the
// confirmations.
func rawSubscribe(t testing.TB, addr string, cmd string, n int) *rawConn {
	c := dialRawAddr(t, addr)
	c.send(cmd)
	for i := 0; i < n; i++ {
		if _, err := c.reply(); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	return c
}

// TestPubsubManyChannelsExactlyOnce publishes on 1,000 channels through the
// proxy and directly on the owning shards, to go-redis subscribers and a
// pattern subscriber: every message arrives once, in order per channel.
func TestPubsubManyChannelsExactlyOnce(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	const nch, per = 1000, 4
	chans := make([]string, nch)
	for i := range chans {
		chans[i] = fmt.Sprintf("ch:%d", i)
	}
	sub := redis.NewClient(&redis.Options{Addr: p.Addr(), Protocol: 2, DisableIdentity: true})
	defer sub.Close()
	ps := sub.Subscribe(ctx(), chans...)
	defer ps.Close()
	for range chans {
		if _, err := ps.Receive(ctx()); err != nil {
			t.Fatal(err)
		}
	}
	psub := sub.PSubscribe(ctx(), "ch:1*")
	defer psub.Close()
	if _, err := psub.Receive(ctx()); err != nil {
		t.Fatal(err)
	}
	// Every shard holds some of the channels.
	for i, r := range rs {
		n, err := r.Client(t).PubSubNumPat(ctx()).Result()
		if err != nil || n != 1 {
			t.Fatalf("shard %d NUMPAT = %d, %v", i, n, err)
		}
		chs, _ := r.Client(t).PubSubChannels(ctx(), "*").Result()
		if len(chs) == 0 || len(chs) == nch {
			t.Fatalf("shard %d holds %d channels", i, len(chs))
		}
	}
	pub := client(t, p)
	direct := make([]*redis.Client, len(rs))
	for i, r := range rs {
		direct[i] = r.Client(t)
	}
	for k := 0; k < per; k++ {
		pipe := pub.Pipeline()
		for _, ch := range chans {
			if k%2 == 0 {
				pipe.Publish(ctx(), ch, fmt.Sprint(k))
			}
		}
		if _, err := pipe.Exec(ctx()); err != nil && k%2 == 0 {
			t.Fatal(err)
		}
		if k%2 == 1 {
			for _, ch := range chans {
				if err := direct[p.pick([]byte(ch))].Publish(ctx(), ch, fmt.Sprint(k)).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	next := map[string]int{}
	for i := 0; i < nch*per; i++ {
		m, err := ps.ReceiveTimeout(ctx(), 5*time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		msg := m.(*redis.Message)
		if want := fmt.Sprint(next[msg.Channel]); msg.Payload != want {
			t.Fatalf("channel %s: got %s, want %s", msg.Channel, msg.Payload, want)
		}
		next[msg.Channel]++
	}
	if m, err := ps.ReceiveTimeout(ctx(), 200*time.Millisecond); err == nil {
		t.Fatalf("extra message %v", m)
	}
	matching := 0
	for _, ch := range chans {
		if strings.HasPrefix(ch, "ch:1") {
			matching++
		}
	}
	seen := map[string]int{}
	for i := 0; i < matching*per; i++ {
		m, err := psub.ReceiveTimeout(ctx(), 5*time.Second)
		if err != nil {
			t.Fatalf("pattern after %d: %v", i, err)
		}
		msg := m.(*redis.Message)
		if msg.Pattern != "ch:1*" || msg.Payload != fmt.Sprint(seen[msg.Channel]) {
			t.Fatalf("pattern message %+v, want payload %d", msg, seen[msg.Channel])
		}
		seen[msg.Channel]++
	}
	if m, err := psub.ReceiveTimeout(ctx(), 200*time.Millisecond); err == nil {
		t.Fatalf("extra pattern message %v", m)
	}
}

// TestPubsubSharedSubscription: 2,000 clients on one channel cost one
// subscription on the shard, and each gets the message.
func TestPubsubSharedSubscription(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	const n = 2000
	subs := make([]*rawConn, n)
	for i := range subs {
		subs[i] = rawSubscribe(t, p.Addr(), "SUBSCRIBE news\r\n", 1)
	}
	shard := rs[p.pick([]byte("news"))].Client(t)
	got, err := shard.PubSubNumSub(ctx(), "news").Result()
	if err != nil || got["news"] != 1 {
		t.Fatalf("shard NUMSUB = %v, %v; want one subscription", got, err)
	}
	got, err = client(t, p).PubSubNumSub(ctx(), "news", "other").Result()
	if err != nil || got["news"] != n || got["other"] != 0 {
		t.Fatalf("proxy NUMSUB = %v, %v", got, err)
	}
	if err := client(t, p).Publish(ctx(), "news", "x").Err(); err != nil {
		t.Fatal(err)
	}
	want := "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nx\r\n"
	for _, c := range subs {
		c.mustReply(want)
	}
	if v := gathered(t, p, "shardproxy_pubsub_clients", ""); v != n {
		t.Fatalf("shardproxy_pubsub_clients = %v", v)
	}
	if v := gathered(t, p, "shardproxy_pubsub_messages_total", "delivered"); v != n {
		t.Fatalf("delivered = %v", v)
	}
	if v := gathered(t, p, "shardproxy_pubsub_subscriptions", "channel"); v != 1 {
		t.Fatalf("channel subscriptions = %v", v)
	}
	// Half of them leave: still one subscription; all leave: none.
	for _, c := range subs[:n/2] {
		c.nc.Close()
	}
	for _, c := range subs[n/2:] {
		c.send("UNSUBSCRIBE news\r\n")
		c.mustReply("*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n")
	}
	waitForD(t, "the subscriptions", 10*time.Second, func() bool {
		got, _ := shard.PubSubNumSub(ctx(), "news").Result()
		return got["news"] == 0
	})
}

// TestPubsubSlowSubscriberDisconnected: a subscriber that stops reading is
// disconnected at its pubsub output limit; the others get every message.
func TestPubsubSlowSubscriberDisconnected(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, func(pc *config.Pool) {
		pc.OutputLimitPubsub = config.OutputLimit{Hard: 1 << 20}
	})
	slow := rawSubscribe(t, p.Addr(), "SUBSCRIBE feed\r\n", 1)
	fast := make([]*rawConn, 3)
	for i := range fast {
		fast[i] = rawSubscribe(t, p.Addr(), "SUBSCRIBE feed\r\n", 1)
	}
	payload := strings.Repeat("x", 64<<10)
	const msgs = 300 // 19 MB: beyond the loopback socket buffers and the limit
	var wg sync.WaitGroup
	errs := make(chan error, len(fast))
	for _, c := range fast {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("*3\r\n$7\r\nmessage\r\n$4\r\nfeed\r\n$%d\r\n%s\r\n", len(payload), payload)
			for i := 0; i < msgs; i++ {
				got, err := c.reply()
				if err != nil || got != want {
					errs <- fmt.Errorf("message %d: %v (%d bytes)", i, err, len(got))
					return
				}
			}
		}()
	}
	pub := client(t, p)
	for i := 0; i < msgs; i++ {
		if err := pub.Publish(ctx(), "feed", payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The slow client was cut off: reading what it has ends in EOF well
	// before 400 messages.
	n := 0
	for ; n < msgs; n++ {
		if _, err := slow.reply(); err != nil {
			break
		}
	}
	if n >= msgs {
		t.Fatalf("slow subscriber got all %d messages; want a disconnect", n)
	}
	if v := counter(t, p.m.OutputLimitPubsub); v != 1 {
		t.Fatalf("pubsub output limit disconnects = %v, want 1", v)
	}
}

// TestPubsubShardRestart: the subscriptions come back when a shard does.
func TestPubsubShardRestart(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	sub := rawSubscribe(t, p.Addr(), "SUBSCRIBE a b c d e f\r\n", 6)
	psub := rawSubscribe(t, p.Addr(), "PSUBSCRIBE *\r\n", 1)
	r := rs[p.pick([]byte("a"))]
	r.Restart()
	waitForD(t, "the subscriptions", 10*time.Second, func() bool {
		got, _ := r.Client(t).PubSubNumSub(ctx(), "a").Result()
		n, _ := r.Client(t).PubSubNumPat(ctx()).Result()
		return got["a"] == 1 && n == 1
	})
	// The shared data connections reconnect on their own schedule.
	pub := client(t, p)
	waitForD(t, "a publish", 10*time.Second, func() bool { return pub.Publish(ctx(), "a", "back").Err() == nil })
	sub.mustReply("*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\nback\r\n")
	psub.mustReply("*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\na\r\n$4\r\nback\r\n")
}

// TestRESP3GoRedisDefault runs go-redis v9 with its default protocol (RESP3)
// through the proxy: pipelines, MGET, SCAN, INFO and pub/sub with commands
// on the same connection.
func TestRESP3GoRedisDefault(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1})
	defer c.Close()
	if v, err := c.Do(ctx(), "HELLO").Result(); err != nil || len(v.(map[any]any)) != 8 || v.(map[any]any)["proto"] != int64(3) {
		t.Fatalf("HELLO = %v, %v", v, err)
	}
	pipe := c.Pipeline()
	for i := 0; i < 100; i++ {
		pipe.Set(ctx(), fmt.Sprintf("k%d", i), i, 0)
	}
	if _, err := pipe.Exec(ctx()); err != nil {
		t.Fatal(err)
	}
	vals, err := c.MGet(ctx(), "k1", "k2", "missing", "k99").Result()
	if err != nil || vals[0] != "1" || vals[2] != nil || vals[3] != "99" {
		t.Fatalf("MGET = %v, %v", vals, err)
	}
	n := 0
	iter := c.Scan(ctx(), 0, "k*", 10).Iterator()
	for iter.Next(ctx()) {
		n++
	}
	if iter.Err() != nil || n != 100 {
		t.Fatalf("SCAN found %d, %v", n, iter.Err())
	}
	info, err := c.Info(ctx(), "server").Result()
	if err != nil || !strings.Contains(info, "redis_version") {
		t.Fatalf("INFO = %q, %v", info, err)
	}
	ps := c.Subscribe(ctx(), "news")
	defer ps.Close()
	if _, err := ps.Receive(ctx()); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx(), "news", "hello").Err(); err != nil {
		t.Fatal(err)
	}
	m, err := ps.ReceiveMessage(ctx())
	if err != nil || m.Payload != "hello" {
		t.Fatalf("message %v, %v", m, err)
	}
	// A raw RESP3 connection: a command between pushes.
	raw := dialRaw(t, p)
	raw.send("HELLO 3\r\n")
	raw.reply()
	raw.send("SUBSCRIBE news\r\nGET k5\r\n")
	raw.mustReply(">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n")
	raw.mustReply("$1\r\n5\r\n")
	ps.Unsubscribe(ctx(), "news")
	c.Publish(ctx(), "news", "again")
	raw.mustReply(">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nagain\r\n")
}

// gathered sums the pool's series of metric name that have a label value
// equal to label ("" for any).
func gathered(t testing.TB, p *Pool, name, label string) float64 {
	t.Helper()
	mfs, err := p.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, lp := range m.GetLabel() {
				ok = ok || lp.GetValue() == label
			}
			if ok {
				sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestPubsubCluster: SUBSCRIBE and SSUBSCRIBE through a cluster pool; a
// message published on any node (cluster broadcast) or through the proxy
// (SPUBLISH to the slot owner) arrives once.
func TestPubsubCluster(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 0)
	p := startClusterProxy(t, cl, nil)
	sub := rawSubscribe(t, p.Addr(), "SUBSCRIBE news\r\n", 1)
	ssub := rawSubscribe(t, p.Addr(), "SSUBSCRIBE {s}feed\r\n", 1)
	pub := client(t, p)
	if err := pub.Publish(ctx(), "news", "a").Err(); err != nil {
		t.Fatal(err)
	}
	// Any node: Redis Cluster broadcasts PUBLISH.
	for _, m := range cl.Masters(t) {
		if err := m.Client(t).Publish(ctx(), "news", "b").Err(); err != nil {
			t.Fatal(err)
		}
	}
	sub.mustReply("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\na\r\n")
	for range cl.Masters(t) {
		sub.mustReply("*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$1\r\nb\r\n")
	}
	if err := pub.SPublish(ctx(), "{s}feed", "c").Err(); err != nil {
		t.Fatal(err)
	}
	ssub.mustReply("*3\r\n$8\r\nsmessage\r\n$7\r\n{s}feed\r\n$1\r\nc\r\n")
	if got, err := pub.PubSubShardNumSub(ctx(), "{s}feed").Result(); err != nil || got["{s}feed"] != 1 {
		t.Fatalf("SHARDNUMSUB = %v, %v", got, err)
	}
}
