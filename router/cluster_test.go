package router

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// startClusterProxy serves one cluster pool with the cluster's first node
// as its only seed.
func startClusterProxy(t testing.TB, cl *testenv.Cluster, edit func(*config.Pool)) *Pool {
	t.Helper()
	pc := config.Default("cluster")
	pc.Mode = config.ModeCluster
	pc.Hash, pc.Distribution = "", ""
	pc.Listen = "127.0.0.1:0"
	pc.Timeout = 2 * time.Second
	pc.ClusterRefreshInterval = time.Second
	pc.Servers = []config.Server{{Addr: cl.Addrs[0], Weight: 1, Name: cl.Addrs[0]}}
	if edit != nil {
		edit(pc)
	}
	return serve(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
}

func TestClusterSlotsMatchRedis(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 0)
	c := cl.Nodes[0].Client(t)
	rng := rand.New(rand.NewPCG(1, 2))
	pipe := c.Pipeline()
	keys := make([]string, 10000)
	cmds := make([]*redis.IntCmd, len(keys))
	for i := range keys {
		b := make([]byte, 1+rng.IntN(24))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		if i%7 == 0 {
			b = append([]byte(fmt.Sprintf("x{%d}", i%100)), b...)
		}
		keys[i] = string(b)
		cmds[i] = pipe.ClusterKeySlot(ctx(), keys[i])
	}
	if _, err := pipe.Exec(ctx()); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if got, want := int64(hashring.Slot([]byte(k))), cmds[i].Val(); got != want {
			t.Fatalf("Slot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
}

func TestClusterCommands(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 1)
	p := startClusterProxy(t, cl, allow("flushall"))
	c := client(t, p)
	if ok, detail := p.Ready(); !ok {
		t.Fatalf("not ready: %s", detail)
	}
	if n := len(p.backendCluster().Masters()); n != 3 {
		t.Fatalf("%d masters, want 3", n)
	}
	// Multi-key commands over every master, in one call.
	keys := make([]string, 1000)
	pairs := make([]any, 0, 2000)
	for i := range keys {
		keys[i] = fmt.Sprintf("ck:%d", i)
		pairs = append(pairs, keys[i], i)
	}
	if err := c.MSet(ctx(), pairs...).Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	vals, err := c.MGet(ctx(), keys...).Result()
	if err != nil {
		t.Fatalf("MGET: %v", err)
	}
	for i, v := range vals {
		if v != fmt.Sprint(i) {
			t.Fatalf("MGET %s = %v", keys[i], v)
		}
	}
	if n := c.Exists(ctx(), keys...).Val(); n != 1000 {
		t.Fatalf("EXISTS = %d", n)
	}
	if n := c.DBSize(ctx()).Val(); n != 1000 {
		t.Fatalf("DBSIZE = %d", n)
	}
	seen := map[string]bool{}
	var cursor uint64
	for {
		ks, next, err := c.Scan(ctx(), cursor, "ck:*", 200).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			if seen[k] {
				t.Fatalf("SCAN returned %s twice", k)
			}
			seen[k] = true
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("SCAN saw %d keys", len(seen))
	}
	if n := c.Del(ctx(), keys...).Val(); n != 1000 {
		t.Fatalf("DEL = %d", n)
	}
	// Same-slot commands need one slot, not just one node.
	c.Set(ctx(), "{u1}.a", "1", 0)
	if err := c.Rename(ctx(), "{u1}.a", "{u1}.b").Err(); err != nil {
		t.Fatalf("RENAME in one slot: %v", err)
	}
	err = c.Rename(ctx(), "{u1}.b", "{u2}.b").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Fatalf("RENAME across slots: %v", err)
	}
	if v, err := c.Eval(ctx(), "return redis.call('incr', KEYS[1])", []string{"{u1}.n"}).Result(); err != nil || v != int64(1) {
		t.Fatalf("EVAL: %v %v", v, err)
	}
	if err := c.Do(ctx(), "CLUSTER", "NODES").Err(); err == nil {
		t.Fatal("CLUSTER NODES went through")
	}
	// Keys on every master; a direct cluster client sees what the proxy wrote.
	cc := cl.Client(t)
	for i := 0; i < 100; i++ {
		c.Set(ctx(), fmt.Sprintf("direct:%d", i), i, 0)
	}
	for i := 0; i < 100; i++ {
		if v := cc.Get(ctx(), fmt.Sprintf("direct:%d", i)).Val(); v != fmt.Sprint(i) {
			t.Fatalf("cluster client GET direct:%d = %q", i, v)
		}
	}
	if n := c.FlushAll(ctx()).Err(); n != nil {
		t.Fatalf("FLUSHALL: %v", n)
	}
	if n := c.DBSize(ctx()).Val(); n != 0 {
		t.Fatalf("DBSIZE after FLUSHALL = %d", n)
	}
}

// A MOVED (a slot's owner changed behind the proxy's back) is followed and
// the map updated; ASK during a migration reaches the importing node.
func TestClusterRedirects(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 0)
	p := startClusterProxy(t, cl, func(pc *config.Pool) { pc.ClusterRefreshInterval = time.Hour })
	c := client(t, p)
	key := "moving-key"
	slot := int(hashring.Slot([]byte(key)))
	if err := c.Set(ctx(), key, "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	src := p.backendCluster().Master(slot).Addr()
	var dst string
	for _, a := range cl.Addrs {
		if a != src {
			dst = a
			break
		}
	}
	srcC, dstC := direct(t, src), direct(t, dst)
	srcID, dstID := nodeID(t, srcC), nodeID(t, dstC)
	// Migrate the slot: IMPORTING/MIGRATING first, so that a new key of the
	// slot gets ASK.
	must(t, dstC.Do(ctx(), "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(t, srcC.Do(ctx(), "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	newKey := sameSlotKey(slot, "new")
	if err := c.Set(ctx(), newKey, "asked", 0).Err(); err != nil {
		t.Fatalf("SET during migration (ASK): %v", err)
	}
	if v := dstC.Do(ctx(), "ASKING").Err(); v != nil {
		t.Fatal(v)
	}
	must(t, srcC.Do(ctx(), "MIGRATE", dstHost(dst), dstPort(dst), "", 0, 5000, "KEYS", key).Err())
	if v, err := c.Get(ctx(), key).Result(); err != nil || v != "v1" {
		t.Fatalf("GET of migrated key (ASK): %q %v", v, err)
	}
	for _, a := range cl.Addrs {
		must(t, direct(t, a).Do(ctx(), "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
	if v, err := c.Get(ctx(), key).Result(); err != nil || v != "v1" {
		t.Fatalf("GET after the move (MOVED): %q %v", v, err)
	}
	testenv.WaitFor(t, 3*time.Second, func() bool { return p.backendCluster().Master(slot).Addr() == dst }, "slot map not updated after MOVED")
	if v, err := c.Get(ctx(), newKey).Result(); err != nil || v != "asked" {
		t.Fatalf("GET %s: %q %v", newKey, v, err)
	}
}

func TestClusterReadFromReplicas(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 1)
	p := startClusterProxy(t, cl, func(pc *config.Pool) { pc.ReadFromReplicas = true })
	c := client(t, p)
	for i := 0; i < 200; i++ {
		must(t, c.Set(ctx(), fmt.Sprintf("rr:%d", i), i, 0).Err())
	}
	// Replication is asynchronous: wait until a replica has the last write.
	testenv.WaitFor(t, 5*time.Second, func() bool { return c.Get(ctx(), "rr:199").Val() == "199" }, "reads from replicas never caught up")
	before := replicaReads(t, cl)
	for i := 0; i < 200; i++ {
		if v := c.Get(ctx(), fmt.Sprintf("rr:%d", i)).Val(); v != fmt.Sprint(i) {
			t.Fatalf("GET rr:%d = %q", i, v)
		}
	}
	if got := replicaReads(t, cl) - before; got < 200 {
		t.Fatalf("replicas served %d GETs, want 200", got)
	}
}

// replicaReads sums the GET calls replicas have served.
func replicaReads(t *testing.T, cl *testenv.Cluster) int {
	total := 0
	for _, r := range cl.Replicas(t) {
		info := direct(t, r.Addr).Info(ctx(), "commandstats").Val()
		for _, line := range strings.Split(info, "\r\n") {
			if strings.HasPrefix(line, "cmdstat_get:calls=") {
				var n int
				fmt.Sscanf(strings.TrimPrefix(line, "cmdstat_get:calls="), "%d", &n)
				total += n
			}
		}
	}
	return total
}

func direct(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(testenv.ClientOptions(addr))
	t.Cleanup(func() { c.Close() })
	return c
}

func nodeID(t testing.TB, c *redis.Client) string {
	id, err := c.Do(ctx(), "CLUSTER", "MYID").Text()
	must(t, err)
	return id
}

func sameSlotKey(slot int, prefix string) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("%s:%d", prefix, i)
		if int(hashring.Slot([]byte(k))) == slot {
			return k
		}
	}
}

func dstHost(addr string) string { h, _, _ := strings.Cut(addr, ":"); return h }
func dstPort(addr string) string { _, p, _ := strings.Cut(addr, ":"); return p }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseRedirect(t *testing.T) {
	for _, tc := range []struct {
		reply string
		kind  redirect
		slot  int
		addr  string
	}{
		{"-MOVED 3999 127.0.0.1:6381\r\n", redirectMoved, 3999, "127.0.0.1:6381"},
		{"-ASK 16383 10.0.0.1:7000\r\n", redirectAsk, 16383, "10.0.0.1:7000"},
		{"-MOVED 12 :7002\r\n", redirectMoved, 12, ":7002"},
		{"-TRYAGAIN Multiple keys request during rehashing of slot\r\n", redirectTryAgain, 0, ""},
		{"-MOVED 16384 127.0.0.1:1\r\n", redirectNone, 0, ""},
		{"-MOVED x 127.0.0.1:1\r\n", redirectNone, 0, ""},
		{"-MOVED 5\r\n", redirectNone, 0, ""},
		{"-CLUSTERDOWN The cluster is down\r\n", redirectNone, 0, ""},
		{"+MOVED 1 a:1\r\n", redirectNone, 0, ""},
		{"$5\r\nMOVED\r\n", redirectNone, 0, ""},
	} {
		kind, slot, addr := parseRedirect([]byte(tc.reply))
		if kind != tc.kind || slot != tc.slot || addr != tc.addr {
			t.Errorf("parseRedirect(%q) = %v %d %q, want %v %d %q", tc.reply, kind, slot, addr, tc.kind, tc.slot, tc.addr)
		}
	}
}

// A master dying with no replica to take over leaves its slots uncovered:
// the pool is not ready, says how many slots are missing, and commands for
// those slots get CLUSTERDOWN while the others are served.
func TestClusterCoverageLost(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 0, "--cluster-require-full-coverage", "no")
	p := startClusterProxy(t, cl, nil)
	c := client(t, p)
	victim := p.backendCluster().Masters()[0]
	var lost, kept string
	for i := 0; lost == "" || kept == ""; i++ {
		k := fmt.Sprintf("cov:%d", i)
		if p.backendCluster().Master(int(hashring.Slot([]byte(k)))) == victim {
			lost = k
		} else {
			kept = k
		}
	}
	for i, a := range cl.Addrs {
		if a == victim.Addr() {
			cl.Nodes[i].Kill()
		}
	}
	testenv.WaitFor(t, 15*time.Second, func() bool {
		ok, detail := p.Ready()
		return !ok && strings.Contains(detail, "slots have no master")
	}, "readiness never reported the uncovered slots")
	// Redis's own reply for an unserved slot, byte for byte, for a single
	// key and for a split command that touches the slot.
	want := redisUnboundSlotReply(t)
	rc := dialRaw(t, p)
	rc.send(fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", len(lost), lost))
	rc.mustReply(want)
	rc.send(fmt.Sprintf("*3\r\n$4\r\nMGET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(kept), kept, len(lost), lost))
	rc.mustReply(want)
	if err := c.Set(ctx(), kept, "v", 0).Err(); err != nil {
		t.Fatalf("SET %s on a covered slot: %v", kept, err)
	}
	if n := len(p.backendCluster().Masters()); n != 2 {
		t.Fatalf("%d masters in the map, want 2", n)
	}
	// The dead node left the map: its connections are closed.
	for _, n := range p.backendCluster().Nodes() {
		if n.Addr() == victim.Addr() {
			t.Fatalf("failed node %s still in the node list", n.Addr())
		}
	}
	if _, err := victim.Pick(0); err == nil {
		t.Fatal("the failed node still has a usable connection")
	}
}
