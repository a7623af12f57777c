package router

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// The seed's pipeline: 1,000 SETs then 1,000 GETs, each in one go-redis
// pipeline (no transaction), through three shards.
func TestPipelineThousand(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)

	pipe := c.Pipeline()
	for i := 0; i < 1000; i++ {
		pipe.Set(ctx(), fmt.Sprintf("key:%d", i), fmt.Sprintf("value:%d", i), 0)
	}
	cmds, err := pipe.Exec(ctx())
	if err != nil {
		t.Fatalf("SET pipeline: %v", err)
	}
	if len(cmds) != 1000 {
		t.Fatalf("%d replies, want 1000", len(cmds))
	}
	for i, cmd := range cmds {
		if s, err := cmd.(*redis.StatusCmd).Result(); err != nil || s != "OK" {
			t.Fatalf("SET %d: %q, %v", i, s, err)
		}
	}

	pipe = c.Pipeline()
	gets := make([]*redis.StringCmd, 1000)
	for i := range gets {
		gets[i] = pipe.Get(ctx(), fmt.Sprintf("key:%d", i))
	}
	if _, err := pipe.Exec(ctx()); err != nil {
		t.Fatalf("GET pipeline: %v", err)
	}
	for i, g := range gets {
		if v := g.Val(); v != fmt.Sprintf("value:%d", i) {
			t.Fatalf("GET key:%d = %q", i, v)
		}
	}
	// The keys are spread over every shard, and each is where the ring says.
	total := int64(0)
	for i, r := range rs {
		n, err := r.Client(t).DBSize(ctx()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("shard %d holds no key", i)
		}
		total += n
	}
	if total != 1000 {
		t.Fatalf("shards hold %d keys, want 1000", total)
	}
	for i := 0; i < 50; i++ {
		key := fmt.Sprintf("key:%d", i)
		if got, want := owner(t, rs, key), p.pick([]byte(key)); got != want {
			t.Fatalf("%s on shard %d, ring says %d", key, got, want)
		}
	}
}

// An error in the middle of a pipeline affects only its own command.
func TestPipelineWithError(t *testing.T) {
	rs := shards(t, 3)
	c := client(t, startProxy(t, rs, nil))
	if err := c.Set(ctx(), "str", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pipe := c.Pipeline()
	before := pipe.Set(ctx(), "a", "1", 0)
	bad := pipe.LPush(ctx(), "str", "v")
	after := pipe.Get(ctx(), "a")
	unknown := pipe.Do(ctx(), "NOSUCHCMD", "x")
	last := pipe.Incr(ctx(), "counter")
	pipe.Exec(ctx())
	if before.Err() != nil {
		t.Fatalf("before: %v", before.Err())
	}
	if err := bad.Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("LPUSH on a string: %v", err)
	}
	if after.Val() != "1" {
		t.Fatalf("after: %q %v", after.Val(), after.Err())
	}
	if err := unknown.Err(); err == nil || !strings.Contains(err.Error(), "unknown command 'NOSUCHCMD'") {
		t.Fatalf("unknown command: %v", err)
	}
	if last.Val() != 1 {
		t.Fatalf("last: %d %v", last.Val(), last.Err())
	}
}

func TestMultiKeyCommands(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)

	keys := make([]string, 60)
	pairs := make([]any, 0, 120)
	for i := range keys {
		keys[i] = fmt.Sprintf("mk:%d", i)
		pairs = append(pairs, keys[i], fmt.Sprintf("v%d", i))
	}
	shardsUsed := map[int]bool{}
	for _, k := range keys {
		shardsUsed[p.pick([]byte(k))] = true
	}
	if len(shardsUsed) != 3 {
		t.Fatalf("keys use %d shards, want 3", len(shardsUsed))
	}
	if err := c.MSet(ctx(), pairs...).Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	vals, err := c.MGet(ctx(), append(keys, "missing")...).Result()
	if err != nil {
		t.Fatalf("MGET: %v", err)
	}
	for i, k := range keys {
		if vals[i] != fmt.Sprintf("v%d", i) {
			t.Fatalf("MGET %s = %v", k, vals[i])
		}
	}
	if vals[len(keys)] != nil {
		t.Fatalf("MGET missing = %v", vals[len(keys)])
	}
	if n := c.Exists(ctx(), append(append([]string{}, keys[:10]...), "missing", keys[0])...).Val(); n != 11 {
		t.Fatalf("EXISTS = %d, want 11", n)
	}
	if n := c.Touch(ctx(), keys[:5]...).Val(); n != 5 {
		t.Fatalf("TOUCH = %d", n)
	}
	if n := c.Del(ctx(), keys[:30]...).Val(); n != 30 {
		t.Fatalf("DEL = %d, want 30", n)
	}
	if n := c.Unlink(ctx(), keys...).Val(); n != 30 {
		t.Fatalf("UNLINK = %d, want 30", n)
	}
	if n := c.DBSize(ctx()).Val(); n != 0 {
		t.Fatalf("DBSIZE = %d after deleting everything", n)
	}

	// Hash tags keep related keys together, so same-shard commands work.
	c.Set(ctx(), "{user:1000}.profile", "p", 0)
	c.Set(ctx(), "{user:1000}.session", "s", 0)
	if a, b := owner(t, rs, "{user:1000}.profile"), owner(t, rs, "{user:1000}.session"); a != b {
		t.Fatalf("hash-tagged keys on shards %d and %d", a, b)
	}
	if err := c.Rename(ctx(), "{user:1000}.session", "{user:1000}.old").Err(); err != nil {
		t.Fatalf("RENAME in one shard: %v", err)
	}
	if v := c.Get(ctx(), "{user:1000}.old").Val(); v != "s" {
		t.Fatalf("renamed value %q", v)
	}
	// Two keys on different shards.
	a, b := "x", "y"
	for i := 0; p.pick([]byte(a)) == p.pick([]byte(b)); i++ {
		b = fmt.Sprintf("y%d", i)
	}
	c.Set(ctx(), a, "1", 0)
	err = c.Rename(ctx(), a, b).Err()
	if err == nil || err.Error() != "CROSSSLOT Keys in request don't hash to the same slot" {
		t.Fatalf("RENAME across shards: %v", err)
	}
	if err := c.Eval(ctx(), "return redis.call('get', KEYS[1])", []string{a, b}).Err(); err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Fatalf("EVAL across shards: %v", err)
	}
	if v, err := c.Eval(ctx(), "return redis.call('get', KEYS[1])", []string{a}).Result(); err != nil || v != "1" {
		t.Fatalf("EVAL one key: %v %v", v, err)
	}
	if v, err := c.Eval(ctx(), "return 7", nil).Result(); err != nil || v != int64(7) {
		t.Fatalf("EVAL no key: %v %v", v, err)
	}
}

func TestScanEveryKeyOnce(t *testing.T) {
	rs := shards(t, 3)
	c := client(t, startProxy(t, rs, allow("keys")))
	const n = 10000
	pipe := c.Pipeline()
	for i := 0; i < n; i++ {
		pipe.Set(ctx(), fmt.Sprintf("scan:%d", i), "v", 0)
	}
	if _, err := pipe.Exec(ctx()); err != nil {
		t.Fatal(err)
	}
	c.Set(ctx(), "other", "v", 0)
	c.HSet(ctx(), "scan:hash", "f", "v")
	seen := map[string]int{}
	var cursor uint64
	calls := 0
	for {
		keys, next, err := c.Scan(ctx(), cursor, "scan:*", 500).Result()
		if err != nil {
			t.Fatalf("SCAN %d: %v", cursor, err)
		}
		for _, k := range keys {
			seen[k]++
		}
		calls++
		cursor = next
		if cursor == 0 {
			break
		}
		if calls > 10000 {
			t.Fatal("SCAN does not end")
		}
	}
	if len(seen) != n+1 {
		t.Fatalf("SCAN saw %d distinct keys, want %d", len(seen), n+1)
	}
	for k, times := range seen {
		if times != 1 {
			t.Fatalf("SCAN returned %s %d times", k, times)
		}
	}
	// TYPE filter and KEYS/DBSIZE fan-out.
	var hashes []string
	cursor = 0
	for {
		keys, next, err := c.ScanType(ctx(), cursor, "*", 1000, "hash").Result()
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, keys...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	if len(hashes) != 1 || hashes[0] != "scan:hash" {
		t.Fatalf("SCAN TYPE hash = %v", hashes)
	}
	if got := c.DBSize(ctx()).Val(); got != n+2 {
		t.Fatalf("DBSIZE = %d", got)
	}
	if got := c.Keys(ctx(), "scan:99*").Val(); len(got) != 111 {
		t.Fatalf("KEYS scan:99* = %d keys, want 111", len(got))
	}
	if err := c.Do(ctx(), "SCAN", "12345678901234567890123").Err(); err == nil {
		t.Fatal("SCAN accepted a cursor out of range")
	}
}

// With one shard dead, the others keep working, keys on it fail fast with
// the unavailable error, and order is kept; once restarted it serves again.
func TestShardKilledAndRestarted(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("kill:%d", i)
		c.Set(ctx(), keys[i], keys[i], 0)
	}
	rs[1].Kill()
	start := time.Now()
	pipe := c.Pipeline()
	gets := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		gets[i] = pipe.Get(ctx(), k)
	}
	pipe.Exec(ctx())
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("pipeline with a dead shard took %v", d)
	}
	dead := 0
	for i, g := range gets {
		if p.pick([]byte(keys[i])) == 1 {
			dead++
			if err := g.Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR backend shard2 unavailable: ") {
				t.Fatalf("GET %s on the dead shard: %q, %v", keys[i], g.Val(), err)
			}
			continue
		}
		if g.Val() != keys[i] {
			t.Fatalf("GET %s = %q, %v", keys[i], g.Val(), g.Err())
		}
	}
	if dead == 0 {
		t.Fatal("no key on the killed shard")
	}
	if ok, detail := p.Ready(); ok || !strings.Contains(detail, "shard2") {
		t.Fatalf("Ready() = %v %q with a dead shard", ok, detail)
	}
	rs[1].Restart()
	testenv.WaitFor(t, 5*time.Second, func() bool {
		return c.Set(ctx(), keys[firstOn(p, keys, 1)], "back", 0).Err() == nil
	}, "shard2 never served again")
	if ok, _ := p.Ready(); !ok {
		t.Fatal("not ready after restart")
	}
}

func firstOn(p *Pool, keys []string, shard int) int {
	for i, k := range keys {
		if p.pick([]byte(k)) == shard {
			return i
		}
	}
	return -1
}

// A stalled shard gives timeouts; once it resumes, every reply goes to the
// request it answers.
func TestStalledShard(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 300 * time.Millisecond })
	c := client(t, p)
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("stall:%d", i)
		if err := c.Set(ctx(), keys[i], keys[i], 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rs[0].Pause()
	paused := true
	defer func() {
		if paused {
			rs[0].Resume()
		}
	}()
	pipe := c.Pipeline()
	gets := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		gets[i] = pipe.Get(ctx(), k)
	}
	start := time.Now()
	pipe.Exec(ctx())
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stalled pipeline took %v", d)
	}
	for i, g := range gets {
		if p.pick([]byte(keys[i])) == 0 {
			if err := g.Err(); err == nil || err.Error() != "ERR backend shard1 timed out after 300ms" {
				t.Fatalf("GET %s on the stalled shard: %q %v", keys[i], g.Val(), err)
			}
		} else if g.Val() != keys[i] {
			t.Fatalf("GET %s = %q %v", keys[i], g.Val(), g.Err())
		}
	}
	rs[0].Resume()
	paused = false
	// Every late reply is discarded with its connection: from now on each
	// request gets exactly its own value.
	testenv.WaitFor(t, 5*time.Second, func() bool { return c.Get(ctx(), keys[firstOn(p, keys, 0)]).Err() == nil }, "stalled shard never recovered")
	for round := 0; round < 5; round++ {
		pipe := c.Pipeline()
		for i, k := range keys {
			gets[i] = pipe.Get(ctx(), k)
		}
		if _, err := pipe.Exec(ctx()); err != nil {
			t.Fatal(err)
		}
		for i, g := range gets {
			if g.Val() != keys[i] {
				t.Fatalf("after resume GET %s = %q", keys[i], g.Val())
			}
		}
	}
}

// Many clients pipelining at once through shared backend connections each
// see only their own replies.
func TestConcurrentClientsKeepOrder(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1, PoolSize: 1, Protocol: 2, DisableIdentity: true})
			defer c.Close()
			for round := 0; round < 20; round++ {
				pipe := c.Pipeline()
				cmds := make([]*redis.StringCmd, 50)
				for i := range cmds {
					pipe.Set(ctx(), fmt.Sprintf("c%d:%d", g, i), fmt.Sprintf("%d-%d-%d", g, round, i), 0)
					cmds[i] = pipe.Get(ctx(), fmt.Sprintf("c%d:%d", g, i))
				}
				if _, err := pipe.Exec(ctx()); err != nil {
					errs <- err
					return
				}
				for i, cmd := range cmds {
					if want := fmt.Sprintf("%d-%d-%d", g, round, i); cmd.Val() != want {
						errs <- fmt.Errorf("client %d got %q want %q", g, cmd.Val(), want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestLocalAndFanoutCommands(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, allow("flushdb"))
	c := client(t, p)
	check := func(name string, got any, err error, want any) {
		t.Helper()
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s = %v, %v; want %v", name, got, err, want)
		}
	}
	v, err := c.Ping(ctx()).Result()
	check("PING", v, err, "PONG")
	v, err = c.Echo(ctx(), "hi\r\nthere").Result()
	check("ECHO", v, err, "hi\r\nthere")
	v2, err := c.Do(ctx(), "SELECT", "0").Result()
	check("SELECT 0", v2, err, "OK")
	if err := c.Do(ctx(), "SELECT", "1").Err(); err == nil {
		t.Fatal("SELECT 1 accepted")
	}
	// Database 0 spelled as Redis refuses it ("00", "+0", "-0", " 0") gets
	// Redis's own integer error, not OK.
	for _, db := range []string{"00", "+0", "-0", " 0", "0 ", "x"} {
		_, rerr := testenv.Do(rs[0].Addr, "SELECT", db)
		_, perr := testenv.Do(p.Addr(), "SELECT", db)
		if rerr == nil || perr == nil || rerr.Error() != perr.Error() {
			t.Errorf("SELECT %q: proxy %v, redis %v", db, perr, rerr)
		}
	}
	v, err = c.ClientGetName(ctx()).Result()
	if err != redis.Nil {
		t.Fatalf("CLIENT GETNAME before SETNAME: %q %v", v, err)
	}
	c2 := redis.NewClient(&redis.Options{Addr: p.Addr(), PoolSize: 1, Protocol: 2, DisableIdentity: true, ClientName: "app1"})
	defer c2.Close()
	v, err = c2.ClientGetName(ctx()).Result()
	check("CLIENT GETNAME", v, err, "app1")
	id, err := c2.ClientID(ctx()).Result()
	if err != nil || id <= 0 {
		t.Fatalf("CLIENT ID = %d %v", id, err)
	}
	tm, err := c.Time(ctx()).Result()
	if err != nil || time.Since(tm).Abs() > 5*time.Second {
		t.Fatalf("TIME = %v %v", tm, err)
	}
	cfg, err := c.ConfigGet(ctx(), "save").Result()
	if err != nil || len(cfg) != 1 {
		t.Fatalf("CONFIG GET save = %v %v", cfg, err)
	}
	n, err := c.Do(ctx(), "COMMAND", "COUNT").Int()
	if err != nil || n < 200 {
		t.Fatalf("COMMAND COUNT = %d %v", n, err)
	}
	// HELLO 4 is refused as Redis does (HELLO 3: pubsub_test.go).
	if err := c.Do(ctx(), "HELLO", "4").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPROTO") {
		t.Fatalf("HELLO 4: %v", err)
	}
	hello, err := c.Do(ctx(), "HELLO", "2").Slice()
	if err != nil || len(hello) < 14 || hello[0] != "server" {
		t.Fatalf("HELLO 2 = %v %v", hello, err)
	}
	// Refused and not-yet-supported commands keep the connection open.
	for _, cmd := range [][]any{{"SHUTDOWN"}, {"DEBUG", "SLEEP", "0"}, {"CONFIG", "REWRITE"}, {"MONITOR"}, {"CLUSTER", "INFO"}, {"MOVE", "k", "1"}} {
		err := c.Do(ctx(), cmd...).Err()
		if err == nil || !strings.Contains(err.Error(), "is not supported by the proxy") {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	check("PING after refusals", c.Ping(ctx()).Val(), nil, "PONG")

	// Fan-out: FLUSHDB, DBSIZE, RANDOMKEY, SCRIPT.
	for i := 0; i < 30; i++ {
		c.Set(ctx(), fmt.Sprintf("f%d", i), "v", 0)
	}
	check("DBSIZE", c.DBSize(ctx()).Val(), nil, 30)
	rk, err := c.RandomKey(ctx()).Result()
	if err != nil || !strings.HasPrefix(rk, "f") {
		t.Fatalf("RANDOMKEY = %q %v", rk, err)
	}
	sha, err := c.ScriptLoad(ctx(), "return 1").Result()
	if err != nil || len(sha) != 40 {
		t.Fatalf("SCRIPT LOAD = %q %v", sha, err)
	}
	ex, err := c.ScriptExists(ctx(), sha, "0000000000000000000000000000000000000000").Result()
	if err != nil || len(ex) != 2 || !ex[0] || ex[1] {
		t.Fatalf("SCRIPT EXISTS = %v %v", ex, err)
	}
	if v, err := c.EvalSha(ctx(), sha, []string{"f1"}).Result(); err != nil || v != int64(1) {
		t.Fatalf("EVALSHA = %v %v", v, err)
	}
	info, err := c.Info(ctx()).Result()
	if err != nil || !strings.Contains(info, "db0:keys=30,") || !strings.Contains(info, "# Backends") {
		t.Fatalf("INFO:\n%s\n%v", info, err)
	}
	info, err = c.Info(ctx(), "server").Result()
	if err != nil || !strings.Contains(info, "tcp_port:") || strings.Contains(info, "# Keyspace") {
		t.Fatalf("INFO server:\n%s\n%v", info, err)
	}
	check("FLUSHDB", c.FlushDB(ctx()).Val(), nil, "OK")
	check("DBSIZE after FLUSHDB", c.DBSize(ctx()).Val(), nil, 0)
	if _, err := c.RandomKey(ctx()).Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("RANDOMKEY on empty shards: %v", err)
	}
}

func TestClientLimit(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.ClientConnections = 1 })
	first := dialRaw(t, p)
	first.send("PING\r\n")
	first.mustReply("+PONG\r\n")
	second := dialRaw(t, p)
	second.mustReply("-ERR max number of clients reached\r\n")
	first.send("PING\r\n")
	first.mustReply("+PONG\r\n")
}

// redis_auth and redis_db apply to every backend connection; clients see
// the pool's database as database 0.
func TestRedisAuthAndDB(t *testing.T) {
	r := testenv.StartRedis(t)
	if _, err := testenv.Do(r.Addr, "CONFIG", "SET", "requirepass", "s3cret"); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, []*testenv.Redis{r}, func(pc *config.Pool) {
		pc.RedisAuth = "s3cret"
		pc.RedisDB = 3
	})
	// nutcracker compatibility: clients authenticate with redis_auth.
	c := clientAuth(t, p, "", "s3cret")
	if err := c.Set(ctx(), "in-db-3", "v", 0).Err(); err != nil {
		t.Fatalf("SET through an authenticated pool: %v", err)
	}
	opt := testenv.ClientOptions(r.Addr)
	opt.Password, opt.DB = "s3cret", 3
	d := redis.NewClient(opt)
	defer d.Close()
	if v := d.Get(ctx(), "in-db-3").Val(); v != "v" {
		t.Fatalf("key not in db 3 of the shard: %q", v)
	}
	info := c.Info(ctx(), "keyspace").Val()
	if !strings.Contains(info, "db0:keys=1,") || strings.Contains(info, "db3") {
		t.Fatalf("INFO keyspace through the proxy:\n%s", info)
	}
	// A wrong password is a clear error for the clients, not a hang.
	bad := startProxy(t, []*testenv.Redis{r}, func(pc *config.Pool) { pc.RedisAuth = "wrong" })
	err := clientAuth(t, bad, "", "wrong").Get(ctx(), "in-db-3").Err()
	if err == nil || !strings.Contains(err.Error(), "unavailable") || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("GET with a wrong redis_auth: %v", err)
	}
}
