package router

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// txExchange sends every command of script in one write (a pipeline) on a
// new connection to addr and returns the replies, one string each.
func txExchange(t *testing.T, addr string, script [][]string) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var wire []byte
	for _, c := range script {
		wire = resp.AppendCommand(wire, c...)
	}
	if _, err := nc.Write(wire); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	out := make([]string, len(script))
	for i := range script {
		b, err := resp.ReadReply(br, nil)
		if err != nil {
			t.Fatalf("%v: reply %d: %v", script, i, err)
		}
		out[i] = string(b)
	}
	return out
}

func cmds(lines ...string) [][]string {
	out := make([][]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Fields(l)
	}
	return out
}

// TestTxSameAsRedis runs transaction scripts against one redis-server and
// through the proxy (3 shards, keys of one hash tag) and compares the
// replies byte for byte: Redis's own error texts for nested MULTI, EXEC and
// DISCARD without MULTI, WATCH inside MULTI, queueing errors and EXECABORT,
// proxy-answered commands spliced into EXEC, keyless transactions.
func TestTxSameAsRedis(t *testing.T) {
	direct := testenv.StartRedis(t)
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	scripts := [][][]string{
		cmds("MULTI", "MULTI", "SET {u}a 1", "EXEC", "GET {u}a"),
		cmds("EXEC", "DISCARD", "UNWATCH", "PING"),
		cmds("MULTI", "WATCH {u}a", "SET {u}a 2", "EXEC"),
		cmds("MULTI", "SET {u}a", "EXEC", "GET {u}a"),
		cmds("MULTI", "FOO bar", "EXEC"),
		cmds("MULTI", "UNWATCH", "PING", "ECHO hi", "EXEC"),
		cmds("MULTI", "BLPOP {u}l 0", "EXEC"),
		cmds("MULTI", "EXEC", "EXEC"),
		cmds("MULTI", "INCR {u}n", "SET {u}n x", "INCR {u}n", "EXEC", "DEL {u}n"),
		cmds("MULTI", "PING", "SET {u}b 1", "GET {u}b", "ECHO x", "EXEC"),
		cmds("MULTI", "SET {u}c 1", "SELECT 0", "CLIENT SETNAME tx", "GET {u}c", "EXEC", "CLIENT GETNAME"),
		cmds("SET {u}d 1", "MULTI", "SET {u}d 2", "DISCARD", "GET {u}d", "DISCARD"),
		cmds("WATCH {u}e", "SET {u}e 1", "MULTI", "SET {u}e 2", "EXEC", "GET {u}e"),
		cmds("WATCH {u}f", "MULTI", "SET {u}f 2", "EXEC", "GET {u}f"),
		cmds("WATCH {u}g", "UNWATCH", "SET {u}g 1", "MULTI", "INCR {u}g", "EXEC"),
		cmds("WATCH {u}h", "MULTI", "EXEC", "WATCH {u}h", "DISCARD", "UNWATCH"),
		{{"MULTI"}, {"EVAL", "return redis.call('set',KEYS[1],ARGV[1])", "1", "{u}s", "v"}, {"EVAL", "return 1", "0"}, {"GET", "{u}s"}, {"EXEC"}},
		{{"MULTI"}, {"EVAL", "return 1", "0"}, {"EVAL", "return redis.call('get',KEYS[1])", "1", "{u}s"}, {"EXEC"}},
		cmds("MULTI", "MGET {u}a {u}b", "MSET {u}x 1 {u}y 2", "DEL {u}x {u}y", "EXEC"),
		cmds("MULTI", "LPUSH {u}q a", "BRPOPLPUSH {u}q {u}r 0", "WAIT 0 0", "EXEC"),
		cmds("MULTI", "SET {u}z", "EXEC", "PING"),
		cmds("MULTI", "SET {u}a 1", "FOO", "SET {u}b 2", "EXEC", "MGET {u}a {u}b"),
		cmds("SET {u}w x", "MULTI", "INCR {u}w", "SET {u}v 1", "CLIENT GETNAME", "EXEC", "GET {u}v"),
	}
	for _, sc := range scripts {
		want := txExchange(t, direct.Addr, sc)
		got := txExchange(t, p.Addr(), sc)
		for i := range sc {
			if got[i] != want[i] {
				t.Errorf("%v\n  command %v: proxy %q, redis %q", sc, sc[i], got[i], want[i])
			}
		}
	}
}

// TestTxProxyRefusals checks what only the proxy refuses inside MULTI: a
// key on another shard (CROSSSLOT) and a fan-out; both abort the
// transaction (EXECABORT) and nothing of it is applied.
func TestTxProxyRefusals(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	other := ""
	for i := 0; other == ""; i++ {
		k := fmt.Sprintf("other%d", i)
		if p.pick([]byte(k)) != p.pick([]byte("{u}a")) {
			other = k
		}
	}
	got := txExchange(t, p.Addr(), [][]string{{"MULTI"}, {"SET", "{u}a", "1"}, {"SET", other, "1"}, {"EXEC"}, {"EXISTS", "{u}a"}})
	want := []string{"+OK\r\n", "+QUEUED\r\n", "-" + errCrossSlot + "\r\n", "-" + errExecAbort + "\r\n", ":0\r\n"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("CROSSSLOT: reply %d = %q, want %q", i, got[i], want[i])
		}
	}
	got = txExchange(t, p.Addr(), [][]string{{"MULTI"}, {"SET", "{u}a", "1"}, {"DBSIZE"}, {"MGET", "{u}a", other}, {"EXEC"}, {"EXISTS", "{u}a"}})
	if !strings.HasPrefix(got[2], "-ERR command 'dbsize' runs on every shard") || got[3] != "-"+errCrossSlot+"\r\n" ||
		got[4] != "-"+errExecAbort+"\r\n" || got[5] != ":0\r\n" {
		t.Errorf("fan-out in MULTI: %q", got)
	}
	// The session is usable afterwards, on the shared path.
	c := client(t, p)
	if v, err := c.Incr(ctx(), other).Result(); err != nil || v != 1 {
		t.Fatalf("INCR after = %v %v", v, err)
	}
}

// TestTxWatch checks WATCH with and without a concurrent writer, through
// go-redis's Watch helper as applications use it.
func TestTxWatch(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	other := client(t, p)
	c.Set(ctx(), "{user:1000}:balance", "10", 0)
	incr := func(interfere bool) error {
		return c.Watch(ctx(), func(tx *redis.Tx) error {
			n, err := tx.Get(ctx(), "{user:1000}:balance").Int()
			if err != nil {
				return err
			}
			if interfere {
				other.Set(ctx(), "{user:1000}:balance", "100", 0)
			}
			_, err = tx.TxPipelined(ctx(), func(pipe redis.Pipeliner) error {
				pipe.Set(ctx(), "{user:1000}:balance", n+1, 0)
				pipe.Incr(ctx(), "{user:1000}:ops")
				return nil
			})
			return err
		}, "{user:1000}:balance")
	}
	if err := incr(false); err != nil {
		t.Fatalf("WATCH without writer: %v", err)
	}
	if v := c.Get(ctx(), "{user:1000}:balance").Val(); v != "11" {
		t.Fatalf("balance = %s, want 11", v)
	}
	if err := incr(true); !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("WATCH with a concurrent writer: %v, want redis: transaction failed", err)
	}
	if v := c.Get(ctx(), "{user:1000}:balance").Val(); v != "100" {
		t.Fatalf("balance = %s, want the writer's 100", v)
	}
	if v := c.Get(ctx(), "{user:1000}:ops").Val(); v != "1" {
		t.Fatalf("ops = %s, want 1 (the failed EXEC applied nothing)", v)
	}
	// WATCH across shards is refused, as in Redis Cluster.
	nc := dialRaw(t, p)
	nc.send(string(resp.AppendCommand(nil, "WATCH", "a", "b", "c", "d", "e")))
	nc.mustReply("-" + errCrossSlot + "\r\n")
}

// TestTxPipelinedSeed is the seed article's go-redis example: a pipeline,
// then MULTI/EXEC on {user:1000} keys, with TxPipelined.
func TestTxPipelinedSeed(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	cmds, err := c.TxPipelined(ctx(), func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx(), "{user:1000}:profile", "name", "Ada", "plan", "pro")
		pipe.Incr(ctx(), "{user:1000}:visits")
		pipe.Expire(ctx(), "{user:1000}:visits", time.Hour)
		pipe.HGetAll(ctx(), "{user:1000}:profile")
		return nil
	})
	if err != nil || len(cmds) != 4 {
		t.Fatalf("TxPipelined: %v %v", cmds, err)
	}
	if v := cmds[1].(*redis.IntCmd).Val(); v != 1 {
		t.Fatalf("INCR in tx = %d", v)
	}
	if m := cmds[3].(*redis.MapStringStringCmd).Val(); m["name"] != "Ada" || m["plan"] != "pro" {
		t.Fatalf("HGETALL in tx = %v", m)
	}
}

// TestTxClientKilled checks that a client that goes away inside MULTI
// leaves nothing applied, and that the shard forgets its connection.
func TestTxClientKilled(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	nc := dialRaw(t, p)
	nc.send(string(resp.AppendCommand(nil, "MULTI")) + string(resp.AppendCommand(nil, "SET", "{k}a", "1")) +
		string(resp.AppendCommand(nil, "SET", "{k}b", "1")))
	nc.mustReply("+OK\r\n")
	nc.mustReply("+QUEUED\r\n")
	nc.mustReply("+QUEUED\r\n")
	shard := rs[p.pick([]byte("k"))].Client(t)
	waitFor(t, "the transaction's connection on the shard", func() bool {
		return strings.Contains(shard.ClientList(ctx()).Val(), "flags=x")
	})
	nc.nc.Close()
	waitFor(t, "the shard to drop the transaction", func() bool {
		return !strings.Contains(shard.ClientList(ctx()).Val(), "flags=x")
	})
	if n := shard.Exists(ctx(), "{k}a", "{k}b").Val(); n != 0 {
		t.Fatalf("%d keys of the killed transaction exist", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForD(t, what, 5*time.Second, cond)
}

func waitForD(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTxManyClients runs 10,000 MULTI/EXEC transactions from 50 clients,
// each pipelined between plain commands, and checks every reply and that
// every transaction applied whole.
func TestTxManyClients(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 5 * time.Second })
	manyTx(t, p.Addr())
}

// manyTx is TestTxManyClients's workload against the proxy at addr.
func manyTx(t *testing.T, addr string) {
	const clients, per = 50, 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			br := bufio.NewReader(nc)
			tag := fmt.Sprintf("{c%d}", c)
			for i := 0; i < per; i++ {
				var w []byte
				w = resp.AppendCommand(w, "SET", fmt.Sprintf("plain%d:%d", c, i), "v")
				w = resp.AppendCommand(w, "MULTI")
				w = resp.AppendCommand(w, "INCR", tag+"n")
				w = resp.AppendCommand(w, "RPUSH", tag+"l", fmt.Sprint(i))
				w = resp.AppendCommand(w, "EXEC")
				w = resp.AppendCommand(w, "GET", fmt.Sprintf("plain%d:%d", c, i))
				if _, err := nc.Write(w); err != nil {
					errs <- err
					return
				}
				want := []string{"+OK\r\n", "+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
					fmt.Sprintf("*2\r\n:%d\r\n:%d\r\n", i+1, i+1), "$1\r\nv\r\n"}
				for j, wnt := range want {
					nc.SetReadDeadline(time.Now().Add(10 * time.Second))
					b, err := resp.ReadReply(br, nil)
					if err != nil || string(b) != wnt {
						errs <- fmt.Errorf("client %d tx %d reply %d = %q %v, want %q", c, i, j, b, err, wnt)
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
