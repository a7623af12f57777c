package router

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// resp3Conversation is a RESP3 session covering every reply type Redis 7.0
// sends to a client (Redis sends no attribute outside DEBUG PROTOCOL,
// which the proxy refuses): compared byte for byte with redis-server.
var resp3Conversation = [][]string{
	{"SET", "s", "v"},
	{"GET", "s"},
	{"GET", "missing"}, // null
	{"HSET", "h", "f1", "v1", "f2", "v2"},
	{"HGETALL", "h"},             // map
	{"HGETALL", "missing"},       // empty map
	{"HMGET", "h", "f1", "nope"}, // array with a null
	{"HEXISTS", "h", "f1"},
	{"SADD", "set", "3", "1", "2"}, // an intset: the same order in every process
	{"SMEMBERS", "set"},            // set
	{"SINTER", "set"},
	{"SMISMEMBER", "set", "1", "9"},
	{"ZADD", "z", "1.5", "a", "2", "b"},
	{"ZSCORE", "z", "a"},          // double
	{"ZINCRBY", "z", "0.25", "a"}, // double
	{"ZSCORE", "z", "nope"},       // null
	{"ZMSCORE", "z", "a", "nope"},
	{"ZRANGE", "z", "0", "-1", "WITHSCORES"}, // pairs
	{"ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"},
	{"ZPOPMIN", "z"},
	{"INCRBYFLOAT", "fl", "1.5"},
	{"CONFIG", "GET", "appendonly"}, // map, answered by the proxy
	{"XADD", "st", "1-1", "f", "v"},
	{"XRANGE", "st", "-", "+"},
	{"XINFO", "STREAM", "st"},                                     // map
	{"EVAL", "return {big_number='1234567890123456789012'}", "0"}, // big number
	{"EVAL", "return {double=3.5}", "0"},
	{"EVAL", "return {verbatim_string={format='txt', string='hi'}}", "0"}, // verbatim
	{"EVAL", "return {map={a=1}}", "0"},
	{"EVAL", "return {set={a=true}}", "0"},
	{"EVAL", "redis.setresp(3); return false", "0"}, // boolean
	{"EVAL", "redis.setresp(3); return true", "0"},
	{"EVAL", "return nil", "0"},
	{"MSET", "a1", "1", "a2", "2", "a3", "3", "a4", "4", "a5", "5"},
	{"MGET", "a1", "a2", "nokey", "a3", "a4", "a5"}, // merged, with a null
	{"DEL", "a1", "a2", "nokey"},                    // summed
	{"EXISTS", "a3", "a4", "a1"},
	{"DBSIZE"},
	{"TYPE", "h"},
	{"OBJECT", "ENCODING", "h"},
	{"TTL", "s"},
	{"LPUSH", "l", "a", "b"},
	{"LPOS", "l", "zz"},
	{"LRANGE", "l", "0", "-1"},
	{"BLPOP", "l", "1"},            // pinned path
	{"BLPOP", "emptylist", "0.05"}, // null array, pinned path
	{"MULTI"},
	{"SET", "tx", "1"},
	{"HGETALL", "h"},
	{"EXEC"},     // a map inside EXEC's array
	{"GET", "h"}, // WRONGTYPE
	{"GEOADD", "g", "13.361389", "38.115556", "Palermo"},
	{"GEOPOS", "g", "Palermo", "nowhere"},
	{"PING"},
	{"ECHO", "hi"},
	{"RANDOMKEY"}, // in both: some key, checked below
}

func TestRESP3BackendRepliesMatchRedis(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	plain := testenv.StartRedis(t)
	want := resp3Talk(t, plain.Addr, resp3Conversation)
	got := resp3Talk(t, p.Addr(), resp3Conversation)
	types := map[byte]bool{}
	for i, cmd := range resp3Conversation {
		if cmd[0] == "RANDOMKEY" {
			if !strings.HasPrefix(got[i], "$") {
				t.Errorf("RANDOMKEY = %q, want a bulk string", got[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("%q:\n proxy %q\n redis %q", cmd, got[i], want[i])
		}
		for _, c := range []byte("%~,(=#_*$:+-") {
			if strings.Contains(want[i], string(c)) && (want[i][0] == c || strings.Contains(want[i], "\n"+string(c))) {
				types[c] = true
			}
		}
	}
	for _, c := range []byte("%~,(=#_") {
		if !types[c] {
			t.Errorf("the conversation has no %q reply: it no longer covers every RESP3 type", c)
		}
	}
}

// TestRESP3ProxyTextReplies checks the replies the proxy makes itself in
// RESP3 shapes: INFO and CLIENT INFO as verbatim strings, as Redis sends.
func TestRESP3ProxyTextReplies(t *testing.T) {
	p := startProxy(t, shards(t, 2), nil)
	c := dialRaw(t, p)
	c.send("HELLO 3\r\n")
	if b, _ := c.reply(); !strings.HasPrefix(b, "%") {
		t.Fatalf("HELLO 3 = %q", b)
	}
	for _, cmd := range []string{"INFO keyspace", "INFO server", "CLIENT INFO", "CLIENT LIST"} {
		c.send(cmd + "\r\n")
		b, err := c.reply()
		if err != nil || !strings.HasPrefix(b, "=") || !strings.Contains(b, "\r\ntxt:") {
			t.Errorf("%s = %q, %v; want a verbatim string", cmd, b, err)
		}
	}
}

// TestRESP3GoRedisTyped runs go-redis v9 with its default protocol (RESP3)
// through the proxy: typed results, and the raw types that show the replies
// really are RESP3 (a map for HGETALL, a float for ZSCORE).
func TestRESP3GoRedisTyped(t *testing.T) {
	p := startProxy(t, shards(t, 3), nil)
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: -1, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	if err := c.HSet(ctx(), "h", "a", "1", "b", "2").Err(); err != nil {
		t.Fatal(err)
	}
	c.ZAdd(ctx(), "z", redis.Z{Score: 2.5, Member: "m"})
	c.SAdd(ctx(), "s", "x", "y")
	if m, err := c.HGetAll(ctx(), "h").Result(); err != nil || len(m) != 2 || m["a"] != "1" || m["b"] != "2" {
		t.Errorf("HGetAll = %v, %v", m, err)
	}
	if f, err := c.ZScore(ctx(), "z", "m").Result(); err != nil || f != 2.5 {
		t.Errorf("ZScore = %v, %v", f, err)
	}
	if m, err := c.SMembers(ctx(), "s").Result(); err != nil || len(m) != 2 {
		t.Errorf("SMembers = %v, %v", m, err)
	}
	if v, err := c.Do(ctx(), "HGETALL", "h").Result(); err != nil {
		t.Errorf("HGETALL: %v", err)
	} else if _, ok := v.(map[interface{}]interface{}); !ok {
		t.Errorf("HGETALL raw = %T %v, want a RESP3 map", v, v)
	}
	if v, err := c.Do(ctx(), "ZSCORE", "z", "m").Result(); err != nil {
		t.Errorf("ZSCORE: %v", err)
	} else if f, ok := v.(float64); !ok || f != 2.5 {
		t.Errorf("ZSCORE raw = %T %v, want the RESP3 double 2.5", v, v)
	}
	// A RESP2 client of the same proxy still gets RESP2 shapes.
	if v, err := client(t, p).Do(ctx(), "HGETALL", "h").Result(); err != nil {
		t.Errorf("RESP2 HGETALL: %v", err)
	} else if _, ok := v.([]interface{}); !ok {
		t.Errorf("RESP2 HGETALL raw = %T, want an array", v)
	}
}

// resp3Talk runs cmds on a new RESP3 connection to addr and returns the
// raw replies.
func resp3Talk(t *testing.T, addr string, cmds [][]string) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReader(nc)
	var out []string
	for _, cmd := range append([][]string{{"HELLO", "3"}}, cmds...) {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(resp.AppendCommand(nil, cmd...)); err != nil {
			t.Fatal(err)
		}
		b, err := resp.ReadReply(br, nil)
		if err != nil {
			t.Fatalf("%s: %v after %q", addr, err, cmd)
		}
		out = append(out, string(b))
	}
	return out[1:]
}

// TestRESP3ClusterMatchesRedis runs the conversation's commands that a
// cluster accepts (no cross-slot transaction) through the proxy in
// cluster mode: the RESP3 node connections, the per-slot MGET/DEL split
// and the slot routing give redis-server's bytes.
func TestRESP3ClusterMatchesRedis(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 0)
	p := startClusterProxy(t, cl, nil)
	plain := testenv.StartRedis(t)
	var cmds [][]string
	for _, cmd := range resp3Conversation {
		switch cmd[0] {
		case "MULTI", "EXEC", "RANDOMKEY", "CONFIG":
			continue
		}
		if len(cmd) > 1 && cmd[1] == "tx" {
			continue
		}
		cmds = append(cmds, cmd)
	}
	want := resp3Talk(t, plain.Addr, cmds)
	got := resp3Talk(t, p.Addr(), cmds)
	for i, cmd := range cmds {
		if got[i] != want[i] {
			t.Errorf("%q:\n proxy %q\n redis %q", cmd, got[i], want[i])
		}
	}
}
