package router

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// The acceptance tests of cluster mode: a real 3+3 cluster behind the
// proxy with its default refresh interval, eight pipelining clients
// writing and reading known values, while the cluster reshards, grows,
// rebalances or fails over. They log what an operator wants to know: the
// redirects the proxy followed and the outage clients saw.

const (
	// loadClients is the number of concurrent load clients.
	loadClients = 8
	// loadSets and loadGets make up one pipeline: SETs of new keys, then
	// GETs of keys this client wrote earlier.
	loadSets, loadGets = 10, 10
	// loadPace is the pause between a client's pipelines; it keeps the key
	// count (and so the MIGRATE work of a reshard) and the CPU share of the
	// load modest on a 2-core machine under -race.
	loadPace = 10 * time.Millisecond
	// nodeTimeout is testenv's cluster-node-timeout.
	nodeTimeout = 2 * time.Second
)

// loadErr is one error reply (or transport error) a load client saw.
type loadErr struct {
	at   time.Time
	key  string
	slot int
	text string
}

func (e loadErr) String() string {
	return fmt.Sprintf("%s (slot %d) at %s: %s", e.key, e.slot, e.at.Format("15:04:05.000"), e.text)
}

// loadClient writes load:<id>:<n> = n and reads back random earlier keys.
// Its fields belong to its goroutine until load.stop returns.
type loadClient struct {
	id    int
	c     *redis.Client
	rng   *rand.Rand
	next  int
	acked []int     // n of every acknowledged SET
	ackAt []int64   // unix nanos when acked[i] was acknowledged
	errs  []loadErr // error replies
	wrong []loadErr // GETs of acknowledged keys with another value
	cmds  int
	// wait, when set, ends each pipeline's SETs with WAIT 1 waitTimeout:
	// the SETs count as acknowledged only when every one succeeded and
	// WAIT answered at least 1 (a replica has them).
	wait      bool
	unwaited  int // SETs that succeeded but WAIT did not confirm
	waitFails int // pipelines whose WAIT failed or answered 0
}

// waitTimeout is the WAIT timeout (ms) of a waiting load client.
const waitTimeout = 1000

func loadKey(id, n int) string { return "load:" + strconv.Itoa(id) + ":" + strconv.Itoa(n) }

// load is the set of running load clients.
type load struct {
	clients []*loadClient
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	lastErr atomic.Int64 // unix nanos of the latest error of any client
	// confirmed counts the pipelines of waiting clients whose WAIT
	// confirmed their SETs.
	confirmed atomic.Int64
}

// startLoad starts the load clients against p; they run until stop (also
// called in t.Cleanup).
func startLoad(t *testing.T, p *Pool) *load {
	t.Helper()
	return startLoadOpts(t, p, 0, false)
}

// startLoadOpts is startLoad with client ids from firstID on (so that two
// loads write distinct keys) and, with wait, a WAIT 1 after each
// pipeline's SETs before they count as acknowledged.
func startLoadOpts(t *testing.T, p *Pool, firstID int, wait bool) *load {
	t.Helper()
	l := &load{done: make(chan struct{})}
	for i := firstID; i < firstID+loadClients; i++ {
		o := testenv.ClientOptions(p.Addr())
		// No retries and generous timeouts: every error reply reaches the
		// test, and a stall shows as a stall, not as a client timeout.
		o.MaxRetries, o.PoolSize = -1, 1
		o.DialTimeout, o.ReadTimeout, o.WriteTimeout = 5*time.Second, 10*time.Second, 10*time.Second
		lc := &loadClient{id: i, c: redis.NewClient(o), rng: rand.New(rand.NewPCG(uint64(i), 7)), wait: wait}
		l.clients = append(l.clients, lc)
	}
	for _, lc := range l.clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			lc.run(l)
		}()
	}
	t.Cleanup(l.stop)
	return l
}

// stop ends the load and waits for every client; it is idempotent.
func (l *load) stop() {
	l.once.Do(func() {
		close(l.done)
		l.wg.Wait()
		for _, lc := range l.clients {
			lc.c.Close()
		}
	})
}

func (lc *loadClient) run(l *load) {
	sets := make([]*redis.StatusCmd, loadSets)
	gets := make([]*redis.StringCmd, loadGets)
	getN := make([]int, loadGets)
	for {
		select {
		case <-l.done:
			return
		case <-time.After(loadPace):
		}
		pipe := lc.c.Pipeline()
		first := lc.next
		for i := range sets {
			sets[i] = pipe.Set(ctx(), loadKey(lc.id, first+i), first+i, 0)
		}
		lc.next += loadSets
		var waitCmd *redis.Cmd
		if lc.wait {
			waitCmd = pipe.Do(ctx(), "WAIT", 1, waitTimeout)
		}
		ng := min(loadGets, len(lc.acked))
		for i := range ng {
			getN[i] = lc.acked[lc.rng.IntN(len(lc.acked))]
			gets[i] = pipe.Get(ctx(), loadKey(lc.id, getN[i]))
		}
		pipe.Exec(ctx()) // per-command results below
		now := time.Now()
		lc.cmds += loadSets + ng
		confirmed := true
		if waitCmd != nil {
			lc.cmds++
			if n, err := waitCmd.Int64(); err != nil || n < 1 {
				confirmed = false
				lc.waitFails++
			} else {
				l.confirmed.Add(1)
			}
		}
		for i, cmd := range sets {
			switch err := cmd.Err(); {
			case err != nil:
				lc.fail(l, now, loadKey(lc.id, first+i), err)
			case !confirmed:
				lc.unwaited++
			default:
				lc.acked = append(lc.acked, first+i)
				lc.ackAt = append(lc.ackAt, now.UnixNano())
			}
		}
		for i, cmd := range gets[:ng] {
			key := loadKey(lc.id, getN[i])
			v, err := cmd.Result()
			switch {
			case errors.Is(err, redis.Nil):
				lc.wrong = append(lc.wrong, loadErr{now, key, slotOf(key), "missing"})
			case err != nil:
				lc.fail(l, now, key, err)
			case v != strconv.Itoa(getN[i]):
				lc.wrong = append(lc.wrong, loadErr{now, key, slotOf(key), "value " + v})
			}
		}
	}
}

func (lc *loadClient) fail(l *load, at time.Time, key string, err error) {
	lc.errs = append(lc.errs, loadErr{at, key, slotOf(key), err.Error()})
	l.lastErr.Store(at.UnixNano())
}

func slotOf(key string) int { return int(hashring.Slot([]byte(key))) }

// errors returns every client's errors, and the longest span one client saw
// from its first error to its last.
func (l *load) errors() ([]loadErr, time.Duration) {
	var all []loadErr
	var span time.Duration
	for _, lc := range l.clients {
		all = append(all, lc.errs...)
		if n := len(lc.errs); n > 0 {
			span = max(span, lc.errs[n-1].at.Sub(lc.errs[0].at))
		}
	}
	return all, span
}

// wrongValues returns every GET of an acknowledged key that did not return
// the written value.
func (l *load) wrongValues() []loadErr {
	var all []loadErr
	for _, lc := range l.clients {
		all = append(all, lc.wrong...)
	}
	return all
}

// counts returns the commands sent and writes acknowledged.
func (l *load) counts() (cmds, acked int) {
	for _, lc := range l.clients {
		cmds += lc.cmds
		acked += len(lc.acked)
	}
	return cmds, acked
}

// readBack reads every acknowledged key through c with MGET and returns
// the keys that do not hold their value; keys whose slot skip reports are
// counted apart (lost) instead.
func (l *load) readBack(t *testing.T, c *redis.Client, skip func(slot int) bool) (bad []string, lost, checked int) {
	t.Helper()
	const chunk = 500
	for _, lc := range l.clients {
		for lo := 0; lo < len(lc.acked); lo += chunk {
			ns := lc.acked[lo:min(lo+chunk, len(lc.acked))]
			keys := make([]string, len(ns))
			for i, n := range ns {
				keys[i] = loadKey(lc.id, n)
			}
			vals, err := c.MGet(ctx(), keys...).Result()
			if err != nil {
				t.Fatalf("read back MGET of %d keys: %v", len(keys), err)
			}
			for i, v := range vals {
				checked++
				if v == strconv.Itoa(ns[i]) {
					continue
				}
				if skip != nil && skip(slotOf(keys[i])) {
					lost++
					continue
				}
				bad = append(bad, fmt.Sprintf("%s = %v", keys[i], v))
			}
		}
	}
	return bad, lost, checked
}

// errorTexts counts errors by text, most frequent first, for the log.
func errorTexts(errs []loadErr) string {
	counts := map[string]int{}
	for _, e := range errs {
		counts[e.text]++
	}
	texts := make([]string, 0, len(counts))
	for text := range counts {
		texts = append(texts, text)
	}
	slices.SortFunc(texts, func(a, b string) int { return counts[b] - counts[a] })
	var b strings.Builder
	for _, text := range texts {
		fmt.Fprintf(&b, "\n  %6d  %s", counts[text], text)
	}
	return b.String()
}

// firstFew formats at most n items for a failure message.
func firstFew[T any](items []T, n int) string {
	var b strings.Builder
	for i, it := range items {
		if i == n {
			fmt.Fprintf(&b, "\n  ... and %d more", len(items)-n)
			break
		}
		fmt.Fprintf(&b, "\n  %v", it)
	}
	return b.String()
}

// counter reads a Prometheus counter's current value.
func counter(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// redirects returns the MOVED and ASK redirects the pool has followed.
func redirects(t testing.TB, p *Pool) (moved, ask int) {
	t.Helper()
	return int(counter(t, p.m.RedirectMoved)), int(counter(t, p.m.RedirectAsk))
}

// startDefaultClusterProxy serves the cluster with the pool defaults an
// operator gets (refresh interval, redirect limit) and a request timeout
// generous enough for a 2-core machine under -race.
func startDefaultClusterProxy(t *testing.T, cl *testenv.Cluster) *Pool {
	t.Helper()
	return startClusterProxy(t, cl, func(pc *config.Pool) {
		pc.ClusterRefreshInterval = config.DefaultClusterRefreshInterval
		pc.MaxRedirects = config.DefaultMaxRedirects
	})
}

// redisCLI runs redis-cli with args, bounded by a minute; a failure fails
// the test with the end of its output.
func redisCLI(t *testing.T, args ...string) {
	t.Helper()
	bin := testenv.RequireBinary(t, "redis-cli")
	cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(cctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 30))
	}
}

// waitAgreed waits until redis-cli --cluster check finds every node agreeing
// on the slot configuration.
func waitAgreed(t *testing.T, addr string) {
	t.Helper()
	bin := testenv.RequireBinary(t, "redis-cli")
	testenv.WaitFor(t, 20*time.Second, func() bool {
		out, err := exec.Command(bin, "--cluster", "check", addr).CombinedOutput()
		return err == nil && !strings.Contains(string(out), "don't agree")
	}, "cluster nodes never agreed on the configuration after the reshard")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// slotOwners returns the address of each slot's master, as node addr sees it.
func slotOwners(t *testing.T, addr string) [hashring.SlotCount]string {
	t.Helper()
	slots, err := direct(t, addr).ClusterSlots(ctx()).Result()
	must(t, err)
	var owner [hashring.SlotCount]string
	for _, s := range slots {
		for slot := s.Start; slot <= s.End; slot++ {
			owner[slot] = s.Nodes[0].Addr
		}
	}
	return owner
}

// Resharding under load: 2,000 slots move between two masters, then a
// fourth master joins and a rebalance gives it its share. No client sees an
// error, and every acknowledged write reads back.
func TestClusterReshardUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster load test skipped in -short mode")
	}
	cl := testenv.StartCluster(t, 3, 1)
	p := startDefaultClusterProxy(t, cl)
	l := startLoad(t, p)
	time.Sleep(500 * time.Millisecond)

	masters := cl.Masters(t)
	from, to := masters[0].Addr, masters[1].Addr
	fromID, toID := nodeID(t, direct(t, from)), nodeID(t, direct(t, to))
	start := time.Now()
	redisCLI(t, "--cluster", "reshard", from, "--cluster-from", fromID, "--cluster-to", toID,
		"--cluster-slots", "2000", "--cluster-yes")
	moved, ask := redirects(t, p)
	t.Logf("reshard of 2000 slots %s -> %s took %v; redirects followed: %d MOVED, %d ASK",
		from, to, time.Since(start).Round(time.Millisecond), moved, ask)

	// add-node refuses to run until every node agrees on the new config,
	// which gossip spreads a moment after the reshard ends.
	waitAgreed(t, from)
	start = time.Now()
	added := cl.AddNode(t, "")
	joined := time.Since(start)
	start = time.Now()
	redisCLI(t, "--cluster", "rebalance", from, "--cluster-use-empty-masters", "--cluster-yes")
	moved2, ask2 := redirects(t, p)
	t.Logf("add-node %s took %v, rebalance %v; redirects followed: %d MOVED, %d ASK",
		added.Addr, joined.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), moved2-moved, ask2-ask)
	cl.WaitReady(t)
	time.Sleep(300 * time.Millisecond)
	l.stop()

	cmds, acked := l.counts()
	errs, _ := l.errors()
	wrong := l.wrongValues()
	t.Logf("load: %d commands, %d writes acknowledged, %d error replies, %d wrong reads; redirects in total: %d MOVED, %d ASK",
		cmds, acked, len(errs), len(wrong), moved2, ask2)
	if len(errs) > 0 {
		t.Errorf("%d error replies during the reshard and rebalance, want none:%s", len(errs), firstFew(errs, 10))
	}
	if len(wrong) > 0 {
		t.Errorf("%d GETs of acknowledged keys returned another value:%s", len(wrong), firstFew(wrong, 10))
	}
	if acked == 0 || moved2+ask2 == 0 {
		t.Fatalf("the test did not exercise the proxy: %d writes acknowledged, %d redirects", acked, moved2+ask2)
	}
	bad, _, checked := l.readBack(t, client(t, p), nil)
	if len(bad) > 0 {
		t.Errorf("%d of %d acknowledged writes do not read back:%s", len(bad), checked, firstFew(bad, 10))
	}
	// The proxy's map ends where the cluster's does, new master included.
	want := slotOwners(t, cl.Addrs[0])
	testenv.WaitFor(t, 2*config.DefaultClusterRefreshInterval, func() bool {
		for slot, addr := range want {
			if m := p.backendCluster().Master(slot); m == nil || m.Addr() != addr {
				return false
			}
		}
		return true
	}, "the proxy's slot map never matched the cluster's")
	if n := len(p.backendCluster().Masters()); n != 4 {
		t.Errorf("the proxy knows %d masters, want 4", n)
	}
}

// failoverCase is one way a master loses its role.
type failoverCase struct {
	name string
	// args are extra redis-server arguments of every node.
	args []string
	// fail makes master step down in favour of its replica (an address).
	fail func(t *testing.T, master *testenv.Redis, replica string)
	// maxOutage bounds a client's span from its first error to its last.
	maxOutage time.Duration
	// afterPromotion bounds the time from the replica's promotion to the
	// last error: the share of the outage the proxy is responsible for.
	afterPromotion time.Duration
	// lossy: acknowledged writes of the master's slots may be lost
	// (replication is asynchronous; kill -9 drops what was not shipped).
	lossy bool
}

// Failover under load: errors only for the failed master's slots and only
// until its replica takes over; the test logs the outage clients saw.
func TestClusterFailoverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster load test skipped in -short mode")
	}
	cases := []failoverCase{
		{
			name: "kill -9 master",
			// Without this Redis itself refuses every slot (CLUSTERDOWN)
			// from the master's FAIL to its replica's promotion; the test
			// is about what the proxy adds.
			args: []string{"--cluster-require-full-coverage", "no"},
			fail: func(t *testing.T, master *testenv.Redis, _ string) {
				master.Kill()
			},
			maxOutage:      nodeTimeout + 2*time.Second,
			afterPromotion: time.Second,
			lossy:          true,
		},
		{
			name: "CLUSTER FAILOVER on replica",
			// Here too Redis can refuse every slot for a moment: a node
			// that hears the old master call itself a replica before it
			// hears the new master claim the slots unassigns them, and
			// with full coverage required it declares the whole cluster
			// down until the claim arrives (24 ms on a loaded CI run,
			// "Cluster state changed: fail" on a healthy master, and the
			// proxy relayed its CLUSTERDOWN for other masters' slots).
			args: []string{"--cluster-require-full-coverage", "no"},
			fail: func(t *testing.T, _ *testenv.Redis, replica string) {
				must(t, direct(t, replica).Do(ctx(), "CLUSTER", "FAILOVER").Err())
			},
			maxOutage:      time.Second,
			afterPromotion: time.Second,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { testFailover(t, tc) })
	}
}

func testFailover(t *testing.T, tc failoverCase) {
	cl := testenv.StartCluster(t, 3, 1, tc.args...)
	p := startDefaultClusterProxy(t, cl)
	// A master that is not the proxy's seed, and its replica.
	var master *testenv.Redis
	for _, m := range cl.Masters(t) {
		if m.Addr != cl.Addrs[0] {
			master = m
			break
		}
	}
	var replica string
	for _, r := range cl.Replicas(t) {
		info := direct(t, r.Addr).Info(ctx(), "replication").Val()
		if strings.Contains(info, "master_port:"+strconv.Itoa(master.Port)+"\r\n") {
			replica = r.Addr
		}
	}
	if replica == "" {
		t.Fatalf("no replica of %s", master.Addr)
	}
	owner := slotOwners(t, cl.Addrs[0])
	affected := func(slot int) bool { return owner[slot] == master.Addr }

	l := startLoad(t, p)
	time.Sleep(500 * time.Millisecond)
	failedAt := time.Now()
	tc.fail(t, master, replica)
	// Wait for the replica to be a master in a converged cluster, then
	// until the clients have seen no error for a second.
	testenv.WaitFor(t, 20*time.Second, func() bool {
		info, err := direct(t, replica).Info(ctx(), "replication").Result()
		return err == nil && strings.Contains(info, "role:master\r\n")
	}, "replica %s never became master", replica)
	promoted := time.Since(failedAt)
	cl.WaitReady(t)
	deadline := failedAt.Add(20 * time.Second)
	for time.Now().Before(deadline) {
		last := time.Unix(0, l.lastErr.Load())
		if time.Since(last) > time.Second && time.Since(failedAt) > time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.stop()

	errs, span := l.errors()
	var outage time.Duration
	if n := l.lastErr.Load(); n != 0 {
		outage = time.Unix(0, n).Sub(failedAt)
	}
	moved, ask := redirects(t, p)
	cmds, acked := l.counts()
	t.Logf("%s: replica %s promoted after %v; %d error replies; client-visible outage %v (longest first-to-last error span of one client %v, bound %v); redirects: %d MOVED, %d ASK; load: %d commands, %d writes acknowledged",
		tc.name, replica, promoted.Round(time.Millisecond), len(errs), outage.Round(time.Millisecond),
		span.Round(time.Millisecond), tc.maxOutage, moved, ask, cmds, acked)
	if len(errs) > 0 {
		t.Logf("error replies by text:%s", errorTexts(errs))
	}
	// A run that did nothing proves nothing: the load must have written to
	// the failed master's slots, before and after the failure.
	if n := l.ackedIn(affected); cmds < 200 || n < 2*loadClients {
		t.Fatalf("the load did too little to judge the failover: %d commands, %d acknowledged writes to %s's slots",
			cmds, n, master.Addr)
	}
	var elsewhere []loadErr
	for _, e := range errs {
		if !affected(e.slot) {
			elsewhere = append(elsewhere, e)
		}
	}
	if len(elsewhere) > 0 {
		t.Errorf("%d errors for slots %s did not serve:%s", len(elsewhere), master.Addr, firstFew(elsewhere, 10))
	}
	// Redis alone decides when the replica is promoted (failure detection,
	// gossip and the election delay), and on a loaded 2-core machine that
	// sometimes takes longer than node timeout + 2 s. The proxy is held to
	// the bound, or to Redis's promotion time plus its own allowance when
	// Redis was slower than the bound.
	if bound := max(tc.maxOutage, promoted+tc.afterPromotion); span > bound {
		t.Errorf("a client saw errors for %v, want at most %v (the replica was promoted after %v)",
			span, bound, promoted.Round(time.Millisecond))
	}
	if late := outage - promoted; late > tc.afterPromotion {
		t.Errorf("errors went on for %v after the replica was promoted, want at most %v",
			late.Round(time.Millisecond), tc.afterPromotion)
	}
	var wrongElsewhere []loadErr
	wrong := l.wrongValues()
	for _, e := range wrong {
		if !tc.lossy || !affected(e.slot) {
			wrongElsewhere = append(wrongElsewhere, e)
		}
	}
	if len(wrongElsewhere) > 0 {
		t.Errorf("%d GETs of acknowledged keys returned another value:%s", len(wrongElsewhere), firstFew(wrongElsewhere, 10))
	}
	c := client(t, p)
	var skip func(int) bool
	if tc.lossy {
		skip = affected
	}
	bad, lost, checked := l.readBack(t, c, skip)
	if checked != acked {
		t.Errorf("read back %d of %d acknowledged writes", checked, acked)
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d acknowledged writes do not read back:%s", len(bad), checked, firstFew(bad, 10))
	}
	if tc.lossy {
		t.Logf("%d acknowledged writes of %s's slots (of %d checked) lost with it (asynchronous replication)", lost, master.Addr, checked)
	}
	// The failed master's slots are served again, by its replica.
	servedAgain := false
	for slot := range owner {
		if affected(slot) {
			servedAgain = true
			key := sameSlotKey(slot, "after")
			must(t, c.Set(ctx(), key, "1", 0).Err())
			if m := p.backendCluster().Master(slot); m == nil || m.Addr() != replica {
				t.Errorf("slot %d: proxy routes to %v, want the promoted replica %s", slot, m, replica)
			}
			break
		}
	}
	if !servedAgain {
		t.Errorf("no slot of %s in the slot owners: nothing checked after the failover", master.Addr)
	}
}

// ackedIn counts the acknowledged writes of every client to the slots in.
// Call it after stop.
func (l *load) ackedIn(in func(slot int) bool) int {
	n := 0
	for _, lc := range l.clients {
		for _, k := range lc.acked {
			if in(slotOf(loadKey(lc.id, k))) {
				n++
			}
		}
	}
	return n
}

// redis-benchmark against a cluster pool, with and without pipelining:
// every test completes and no error line appears (redis-benchmark 7 stops
// at the first error reply and prints it).
func TestClusterRedisBenchmark(t *testing.T) {
	if testing.Short() {
		t.Skip("redis-benchmark run skipped in -short mode")
	}
	bin := testenv.RequireBinary(t, "redis-benchmark")
	cl := testenv.StartCluster(t, 3, 1)
	// A generous timeout: the test checks that every request completes on a
	// shared 2-core machine (under -race), not how fast.
	p := startClusterProxy(t, cl, func(pc *config.Pool) { pc.Timeout = 5 * time.Second })
	for _, pipeline := range []int{1, 16} {
		t.Run("P"+strconv.Itoa(pipeline), func(t *testing.T) {
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(cctx, bin, "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port()),
				"-t", "set,get,mset,lpush,lrange", "-n", "2000", "-r", "10000", "-q",
				"-P", strconv.Itoa(pipeline)).CombinedOutput()
			text := string(out)
			if err != nil {
				t.Fatalf("redis-benchmark: %v\n%s", err, text)
			}
			lines := 0
			for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\r' || r == '\n' }) {
				l := strings.TrimSpace(line)
				if strings.Contains(strings.ToLower(l), "error") {
					t.Fatalf("error line: %q\n%s", l, text)
				}
				if strings.Contains(l, "requests per second") {
					lines++
					t.Log(l)
				}
			}
			// SET, GET, LPUSH, the LPUSH that fills LRANGE's list, LRANGE
			// of 100, 300, 500 and 600 elements, MSET.
			if lines != 9 {
				t.Fatalf("%d tests completed, want 9:\n%s", lines, text)
			}
		})
	}
}
