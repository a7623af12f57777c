package router

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// clientID asks the proxy for the connection's CLIENT ID.
func (c *rawConn) clientID(t *testing.T) int64 {
	t.Helper()
	c.send(string(resp.AppendCommand(nil, "CLIENT", "ID")))
	r, err := c.reply()
	id, ok := resp.IntValue([]byte(r))
	if err != nil || !ok {
		t.Fatalf("CLIENT ID = %q, %v", r, err)
	}
	return id
}

func waitBlocked(t *testing.T, p *Pool, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d blocked clients", n), func() bool { return p.blocked.Load() == n })
}

// TestBlockingWokenByPush checks BLPOP woken by an LPUSH of another client,
// and that the commands pipelined after it are answered after it.
func TestBlockingWokenByPush(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	nc := dialRaw(t, p)
	nc.send(string(resp.AppendCommand(nil, "SET", "x", "1")) +
		string(resp.AppendCommand(nil, "BLPOP", "{q}jobs", "0")) +
		string(resp.AppendCommand(nil, "GET", "x")))
	nc.mustReply("+OK\r\n")
	waitBlocked(t, p, 1)
	c := client(t, p)
	if n := c.LPush(ctx(), "{q}jobs", "job1").Val(); n != 1 {
		t.Fatalf("LPUSH = %d", n)
	}
	nc.mustReply("*2\r\n$7\r\n{q}jobs\r\n$4\r\njob1\r\n")
	nc.mustReply("$1\r\n1\r\n")
	waitBlocked(t, p, 0)
	// Keys on two shards: CROSSSLOT, as Redis Cluster says.
	a, b := "a", "b"
	for i := 0; p.pick([]byte(a)) == p.pick([]byte(b)); i++ {
		b = "b" + strconv.Itoa(i)
	}
	if err := c.BLPop(ctx(), time.Second, a, b).Err(); err == nil || err.Error() != errCrossSlot {
		t.Fatalf("BLPOP on two shards: %v", err)
	}
}

// TestBlockingTimeout checks that BLPOP with a timeout answers nil after
// it, and BZPOPMIN / BLMOVE work through the dedicated path too.
func TestBlockingTimeout(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	start := time.Now()
	err := c.Do(ctx(), "BLPOP", "{q}none", "0.3").Err()
	if err != redis.Nil {
		t.Fatalf("BLPOP timeout: %v, want nil", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Fatalf("BLPOP 0.3 returned after %v", d)
	}
	c.ZAdd(ctx(), "{z}s", redis.Z{Score: 1, Member: "m"})
	if v, err := c.BZPopMin(ctx(), time.Second, "{z}s").Result(); err != nil || v.Member != "m" {
		t.Fatalf("BZPOPMIN = %v %v", v, err)
	}
	c.RPush(ctx(), "{l}src", "e")
	if v, err := c.BLMove(ctx(), "{l}src", "{l}dst", "RIGHT", "LEFT", time.Second).Result(); err != nil || v != "e" {
		t.Fatalf("BLMOVE = %v %v", v, err)
	}
	// A timeout Redis refuses: its error, at once.
	if err := c.Do(ctx(), "BLPOP", "{q}none", "-1").Err(); err == nil || err.Error() != "ERR timeout is negative" {
		t.Fatalf("BLPOP -1: %v", err)
	}
}

// TestBlockingManyConsumers: 200 clients in BLPOP, 10,000 pushes: every
// element is popped exactly once.
func TestBlockingManyConsumers(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 5 * time.Second })
	const consumers, elements = 200, 10000
	var popped sync.Map
	var count, dup atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < consumers; i++ {
		c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1, PoolSize: 1, ReadTimeout: 5 * time.Second, Protocol: 2, DisableIdentity: true})
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, err := c.Do(ctx(), "BLPOP", "{q}work", "0.2").StringSlice()
				if err == redis.Nil {
					continue
				}
				if err != nil {
					t.Errorf("BLPOP: %v", err)
					return
				}
				if _, loaded := popped.LoadOrStore(v[1], true); loaded {
					dup.Add(1)
				}
				count.Add(1)
			}
		}()
	}
	pc := client(t, p)
	for i := 0; i < elements; i += 100 {
		pipe := pc.Pipeline()
		for j := i; j < i+100; j++ {
			pipe.RPush(ctx(), "{q}work", strconv.Itoa(j))
		}
		if _, err := pipe.Exec(ctx()); err != nil {
			t.Fatal(err)
		}
	}
	waitForD(t, "every element popped", time.Minute, func() bool { return count.Load() >= elements })
	close(stop)
	wg.Wait()
	if count.Load() != elements || dup.Load() != 0 {
		t.Fatalf("popped %d (%d twice), want %d once each", count.Load(), dup.Load(), elements)
	}
}

// TestBlockingXReadGroup checks XREADGROUP BLOCK woken by XADD, and that
// XREAD without BLOCK stays an ordinary command.
func TestBlockingXReadGroup(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	if err := c.XGroupCreateMkStream(ctx(), "{s}events", "g", "$").Err(); err != nil {
		t.Fatal(err)
	}
	got := make(chan []redis.XStream, 1)
	go func() {
		c2 := client(t, p)
		v, err := c2.XReadGroup(ctx(), &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{"{s}events", ">"}, Block: 0}).Result()
		if err != nil {
			t.Errorf("XREADGROUP: %v", err)
		}
		got <- v
	}()
	waitBlocked(t, p, 1)
	c.XAdd(ctx(), &redis.XAddArgs{Stream: "{s}events", Values: []string{"f", "v"}})
	select {
	case v := <-got:
		if len(v) != 1 || len(v[0].Messages) != 1 || v[0].Messages[0].Values["f"] != "v" {
			t.Fatalf("XREADGROUP = %v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("XREADGROUP not woken by XADD")
	}
	if v, err := c.XRead(ctx(), &redis.XReadArgs{Streams: []string{"{s}events", "0"}, Block: -1}).Result(); err != nil || len(v[0].Messages) != 1 {
		t.Fatalf("XREAD = %v %v", v, err)
	}
}

// TestBlockingClientLeaves: a client that disconnects while blocked makes
// the proxy close its backend connection at once, so the next push is not
// popped for nobody.
func TestBlockingClientLeaves(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	nc := dialRaw(t, p)
	nc.send(string(resp.AppendCommand(nil, "BLPOP", "{q}gone", "0")) + string(resp.AppendCommand(nil, "PING")))
	waitBlocked(t, p, 1)
	shard := rs[p.pick([]byte("q"))].Client(t)
	blocked := func() string {
		info := shard.Info(ctx(), "clients").Val()
		i := strings.Index(info, "blocked_clients:")
		return strings.TrimSpace(info[i+len("blocked_clients:") : i+len("blocked_clients:")+2])
	}
	if b := blocked(); b != "1" {
		t.Fatalf("shard blocked_clients = %s, want 1", b)
	}
	nc.nc.Close()
	waitFor(t, "the shard to unblock", func() bool { return blocked() == "0" })
	waitBlocked(t, p, 0)
	c := client(t, p)
	c.LPush(ctx(), "{q}gone", "x")
	if n := c.LLen(ctx(), "{q}gone").Val(); n != 1 {
		t.Fatalf("LLEN = %d after the blocked client left, want 1", n)
	}
}

// TestKillBlockedClient: CLIENT KILL of a client blocked in BLPOP 0 answers
// at once, the client's connection ends, its blocked command goes from the
// shard, and the command it pipelined after BLPOP never runs (Redis frees a
// killed client with its unread input). The killed client's goroutine is
// busy in the blocked command meanwhile, so the kill must not wait for it.
func TestKillBlockedClient(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	nc := dialRaw(t, p)
	id := nc.clientID(t)
	nc.send(string(resp.AppendCommand(nil, "BLPOP", "{q}k", "0")) + string(resp.AppendCommand(nil, "SET", "{q}after", "1")))
	waitBlocked(t, p, 1)
	shard := rs[p.pick([]byte("q"))].Client(t)
	killed := make(chan error, 1)
	go func() {
		n, err := c.ClientKillByFilter(ctx(), "ID", strconv.FormatInt(id, 10)).Result()
		if err == nil && n != 1 {
			err = fmt.Errorf("CLIENT KILL ID = %d, want 1", n)
		}
		killed <- err
	}()
	select {
	case err := <-killed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("CLIENT KILL of a blocked client did not answer")
	}
	nc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if r, err := nc.reply(); err == nil {
		t.Fatalf("killed client got %q, want its connection closed", r)
	}
	waitBlocked(t, p, 0)
	waitFor(t, "the shard to unblock", func() bool {
		return strings.Contains(shard.Info(ctx(), "clients").Val(), "blocked_clients:0")
	})
	if n := c.Exists(ctx(), "{q}after").Val(); n != 0 {
		t.Fatal("the command the killed client pipelined after BLPOP ran")
	}
}

// TestBlockingMax checks max_blocking.
func TestBlockingMax(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.MaxBlocking = 2 })
	for i := 0; i < 2; i++ {
		nc := dialRaw(t, p)
		nc.send(string(resp.AppendCommand(nil, "BLPOP", "l", "0")))
	}
	waitBlocked(t, p, 2)
	c := client(t, p)
	err := c.BLPop(ctx(), 0, "l").Err()
	if err == nil || err.Error() != "ERR max number of blocked clients reached (max_blocking 2)" {
		t.Fatalf("third BLPOP: %v", err)
	}
	if n := testutil.ToFloat64(p.m.BlockedClients); n != 2 {
		t.Fatalf("blocked_clients metric = %v", n)
	}
}

// TestWait checks WAIT on the shards the client wrote to, with a replica
// attached to one of them.
func TestWait(t *testing.T) {
	master := testenv.StartRedis(t)
	testenv.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	waitFor(t, "the replica", func() bool {
		return strings.Contains(master.Client(t).Info(ctx(), "replication").Val(), "state=online")
	})
	p := startProxy(t, []*testenv.Redis{master}, nil)
	c := client(t, p)
	c.Set(ctx(), "k", "v", 0)
	if n, err := c.Do(ctx(), "WAIT", "1", "2000").Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 2000 = %d %v", n, err)
	}
	start := time.Now()
	c.Set(ctx(), "k", "v2", 0)
	if n, err := c.Do(ctx(), "WAIT", "2", "200").Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 2 200 = %d %v", n, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("WAIT 2 200 returned after %v", d)
	}
	if err := c.Do(ctx(), "WAIT", "1", "-1").Err(); err == nil || err.Error() != "ERR timeout is negative" {
		t.Fatalf("WAIT 1 -1: %v", err)
	}
}

// TestClientCommands checks CLIENT LIST, CLIENT UNBLOCK and CLIENT KILL of
// the proxy's clients.
func TestClientCommands(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	blocked := dialRaw(t, p)
	id := blocked.clientID(t)
	shard := rs[p.pick([]byte("q"))].Client(t)
	shardBlocked := func() bool { return strings.Contains(shard.Info(ctx(), "clients").Val(), "blocked_clients:1") }
	blocked.send(string(resp.AppendCommand(nil, "BLPOP", "{q}u", "0")))
	waitFor(t, "BLPOP blocked on the shard", shardBlocked)
	list := c.ClientList(ctx()).Val()
	line := ""
	for _, l := range strings.Split(list, "\n") {
		if strings.HasPrefix(l, fmt.Sprintf("id=%d ", id)) {
			line = l
		}
	}
	if !strings.Contains(line, "flags=b") || !strings.Contains(line, "cmd=blpop") || !strings.Contains(line, "multi=-1") {
		t.Fatalf("CLIENT LIST line of the blocked client: %q (all: %q)", line, list)
	}
	if n, err := c.ClientUnblock(ctx(), id).Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT UNBLOCK = %d %v", n, err)
	}
	blocked.mustReply("*-1\r\n")
	blocked.send(string(resp.AppendCommand(nil, "BLPOP", "{q}u", "0")))
	waitFor(t, "BLPOP blocked on the shard", shardBlocked)
	if n, err := c.ClientUnblockWithError(ctx(), id).Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT UNBLOCK ERROR = %d %v", n, err)
	}
	blocked.mustReply("-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n")
	if n := c.ClientUnblock(ctx(), id).Val(); n != 0 {
		t.Fatalf("CLIENT UNBLOCK of a client not blocked = %d", n)
	}
	// MULTI shows in CLIENT LIST.
	blocked.send(string(resp.AppendCommand(nil, "MULTI")) + string(resp.AppendCommand(nil, "SET", "a", "1")))
	blocked.mustReply("+OK\r\n")
	blocked.mustReply("+QUEUED\r\n")
	if l := c.ClientList(ctx()).Val(); !strings.Contains(l, fmt.Sprintf("id=%d ", id)) || !strings.Contains(l, "multi=1") || !strings.Contains(l, "flags=x") {
		t.Fatalf("CLIENT LIST in MULTI: %q", l)
	}
	// CLIENT KILL ID closes the connection (and the transaction with it).
	if n, err := c.ClientKillByFilter(ctx(), "ID", strconv.FormatInt(id, 10)).Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL ID = %d %v", n, err)
	}
	if _, err := blocked.reply(); err == nil {
		t.Fatal("killed client still connected")
	}
	if n := c.Exists(ctx(), "a").Val(); n != 0 {
		t.Fatal("the killed client's transaction applied")
	}
}

// TestBlockTimeout checks the timeout taken from each blocking command's
// arguments.
func TestBlockTimeout(t *testing.T) {
	for _, tc := range []struct {
		args  string
		want  time.Duration
		timed bool
	}{
		{"blpop a b 0", 0, true},
		{"blpop a 1.5", 1500 * time.Millisecond, true},
		{"brpoplpush a b 2", 2 * time.Second, true},
		{"blmove a b left right 0.01", 10 * time.Millisecond, true},
		{"bzpopmin z 3", 3 * time.Second, true},
		{"blmpop 0.5 2 a b left", 500 * time.Millisecond, true},
		{"bzmpop 4 1 z min count 2", 4 * time.Second, true},
		{"xread count 1 block 250 streams s $", 250 * time.Millisecond, true},
		{"xreadgroup group g c block 0 streams s >", 0, true},
		{"blpop a -1", 0, false},
		{"blpop a nope", 0, false},
	} {
		args := strings.Fields(tc.args)
		b := make([][]byte, len(args))
		for i, a := range args {
			b[i] = []byte(a)
		}
		d, timed := blockTimeout(args[0], b)
		if d != tc.want || timed != tc.timed {
			t.Errorf("%s: %v %v, want %v %v", tc.args, d, timed, tc.want, tc.timed)
		}
	}
}

// TestBlockingLongerThanTimeout: a BLPOP may block longer than the pool's
// request timeout (its deadline is its own timeout plus the pool's), and
// the shared connections keep serving meanwhile.
func TestBlockingLongerThanTimeout(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 100 * time.Millisecond })
	c := client(t, p)
	done := make(chan error, 1)
	go func() { done <- c.Do(ctx(), "BLPOP", "{q}slow", "0.6").Err() }()
	waitBlocked(t, p, 1)
	other := client(t, p)
	for i := 0; i < 20; i++ {
		if err := other.Set(ctx(), "k", i, 0).Err(); err != nil {
			t.Fatalf("SET while a client is blocked: %v", err)
		}
	}
	if err := <-done; err != redis.Nil {
		t.Fatalf("BLPOP 0.6 with a 100 ms pool timeout: %v, want nil", err)
	}
}
