package router

// Regression tests for ring pools, written against deliberate bugs that the
// older tests let through (issue 14; docs/regressions.md maps each bug to
// its test). They check what a client, an operator or a scrape can see:
// replies, where keys land, reload results.

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// Clients that come and go give their place back: after many more
// connections than client_connections have closed, new clients are still
// served, and the limit still holds for the ones open at once.
func TestClientLimitFreedOnClose(t *testing.T) {
	rs := shards(t, 1)
	const limit = 2
	p := startProxy(t, rs, func(pc *config.Pool) { pc.ClientConnections = limit })
	// served dials a client and waits until it is served: a client that
	// just left may not have been noticed yet.
	served := func(what string) *rawConn {
		t.Helper()
		var c *rawConn
		testenv.WaitFor(t, 5*time.Second, func() bool {
			c = dialRaw(t, p)
			c.send("PING\r\n")
			got, err := c.reply()
			if err == nil && got == "+PONG\r\n" {
				return true
			}
			c.nc.Close()
			return false
		}, "%s: a new client is refused although fewer than %d are connected", what, limit)
		return c
	}
	for i := range 4 * limit {
		served(fmt.Sprintf("client %d of a sequence", i+1)).nc.Close()
	}
	a := served("first of two at once")
	b := served("second of two at once")
	over := dialRaw(t, p)
	over.mustReply("-ERR max number of clients reached\r\n")
	if _, err := over.reply(); err == nil {
		t.Fatal("a refused client's connection stays open")
	}
	// The refusal itself took no place: INFO counts exactly the two.
	a.send("INFO clients\r\n")
	info, err := a.reply()
	if err != nil || !strings.Contains(info, "connected_clients:2\r\n") {
		t.Fatalf("INFO clients with two clients connected: %q, %v", info, err)
	}
	b.nc.Close()
	served("after one of the two left").send("PING\r\n")
	a.send("PING\r\n")
	a.mustReply("+PONG\r\n")
}

// The input limits at their boundaries. The bulk limit is Redis's 512 MB
// (proto-max-bulk-len): a legal large value goes through, a bulk of exactly
// 512 MB is accepted (the proxy waits for its bytes), one byte more is
// refused with Redis's protocol error. The same for Redis 7's argument
// count limit, INT_MAX.
func TestInputLimitBoundaries(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 5 * time.Second })
	c := client(t, p)
	big := strings.Repeat("0123456789abcdef", 4<<20/16) // 4 MB
	if err := c.Set(ctx(), "big", big, 0).Err(); err != nil {
		t.Fatalf("SET of a 4 MB value: %v", err)
	}
	if got, err := c.Get(ctx(), "big").Result(); err != nil || got != big {
		t.Fatalf("GET of a 4 MB value: %d bytes, %v", len(got), err)
	}
	// Two large values split across shards and merged back.
	if err := c.MSet(ctx(), "big:a", big[:1<<20], "big:b", big[:2<<20]).Err(); err != nil {
		t.Fatalf("MSET of 1 MB and 2 MB values: %v", err)
	}
	if vs, err := c.MGet(ctx(), "big:a", "big:b").Result(); err != nil || len(vs) != 2 || vs[0] != big[:1<<20] || vs[1] != big[:2<<20] {
		t.Fatalf("MGET of the large values: %v", err)
	}

	for _, tc := range []struct {
		name, header, more string
		refused            string // "" when the header is legal
	}{
		{"bulk of exactly 512 MB", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n", "x", ""},
		{"bulk of 512 MB + 1", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n", "x", "-ERR Protocol error: invalid bulk length\r\n"},
		{"INT_MAX arguments", "*2147483647\r\n$3\r\nDEL\r\n", "$1\r\nk\r\n", ""},
		{"INT_MAX + 1 arguments", "*2147483648\r\n$3\r\nDEL\r\n", "$1\r\nk\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, p)
			rc.send(tc.header + strings.Repeat(tc.more, 8<<10))
			if tc.refused != "" {
				rc.mustReply(tc.refused)
				return
			}
			// Legal: the proxy waits for the rest and says nothing.
			rc.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			b, err := rc.br.ReadByte()
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				rest, _ := rc.br.Peek(rc.br.Buffered())
				t.Fatalf("legal header answered or closed: %q%q, %v", b, rest, err)
			}
		})
	}
}

// ringOf is the placement a pool configuration asks for, built with the
// hashring package directly: the oracle of where keys must land.
func ringOf(t *testing.T, pc *config.Pool) hashring.Ring {
	t.Helper()
	nodes := make([]hashring.Node, len(pc.Servers))
	for i, s := range pc.Servers {
		nodes[i] = hashring.Node{Name: s.Name, Weight: s.Weight}
	}
	r, err := hashring.New(pc.Distribution, pc.Hash, pc.HashTag, nodes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A reload that changes only distribution, hash or hash_tag moves keys:
// the next commands land where the new configuration places them.
func TestReloadPlacementChanges(t *testing.T) {
	rs := shards(t, 3)
	f := startReloadable(t, rs)
	c := client(t, f.pool)
	prev := ringOf(t, ringPool(t, rs, nil))
	steps := []struct {
		name string
		edit func(*config.Pool)
	}{
		{"distribution consistent -> ketama", func(pc *config.Pool) { pc.Distribution, pc.Hash = "ketama", "xxhash" }},
		{"hash xxhash -> md5", func(pc *config.Pool) { pc.Distribution, pc.Hash = "ketama", "md5" }},
		{"hash_tag {} -> <>", func(pc *config.Pool) { pc.Distribution, pc.Hash, pc.HashTag = "ketama", "md5", "<>" }},
		{"distribution ketama -> modula", func(pc *config.Pool) { pc.Distribution, pc.Hash, pc.HashTag = "modula", "md5", "<>" }},
	}
	for si, st := range steps {
		pc := ringPool(t, rs, st.edit)
		if err := f.px.Reload(&config.Config{Pools: []*config.Pool{pc}}); err != nil {
			t.Fatalf("%s: reload: %v", st.name, err)
		}
		next := ringOf(t, pc)
		moved := 0
		for i := range 150 {
			// Half the keys share a {} tag: they spread once the tag is <>.
			key := fmt.Sprintf("place%d:%d", si, i)
			if i%2 == 1 {
				key = fmt.Sprintf("place%d:{tag}:%d", si, i)
			}
			if err := c.Set(ctx(), key, "v", 0).Err(); err != nil {
				t.Fatalf("%s: SET %s: %v", st.name, key, err)
			}
			want := next.Pick([]byte(key))
			if got := owner(t, rs, key); got != want {
				t.Fatalf("%s: %s written to shard%d, the new configuration places it on shard%d", st.name, key, got+1, want+1)
			}
			if prev.Pick([]byte(key)) != want {
				moved++
			}
		}
		if moved == 0 {
			t.Fatalf("%s: no key placed differently; the step tests nothing", st.name)
		}
		prev = next
	}
	if got := f.reloads(t, "success"); got != float64(len(steps)) {
		t.Fatalf("config_reloads_total{result=success} = %v, want %d", got, len(steps))
	}
}

// Each key that needs a restart is refused on its own: the reload fails
// naming the key, nothing changes, and the pool serves on.
func TestReloadRefusesEachRestartKey(t *testing.T) {
	rs := shards(t, 2)
	f := startReloadable(t, rs)
	c := client(t, f.pool)
	before := f.pool.Servers()
	cases := []struct {
		key  string
		edit func(*config.Pool)
	}{
		{"listen", func(pc *config.Pool) { pc.Listen = "127.0.0.1:1" }},
		{"listen", func(pc *config.Pool) { pc.ListenPerm = 0o600 }},
		{"mode", func(pc *config.Pool) { pc.Mode = config.ModeCluster }},
		{"timeout", func(pc *config.Pool) { pc.Timeout = 3 * time.Second }},
		{"backlog", func(pc *config.Pool) { pc.Backlog = 17 }},
		{"preconnect", func(pc *config.Pool) { pc.Preconnect = !pc.Preconnect }},
		{"redis_auth", func(pc *config.Pool) { pc.RedisAuth = "changed" }},
		{"redis_db", func(pc *config.Pool) { pc.RedisDB = 5 }},
		{"server_connections", func(pc *config.Pool) { pc.ServerConnections = 3 }},
		{"client_connections", func(pc *config.Pool) { pc.ClientConnections = 7 }},
		{"auto_eject_hosts", func(pc *config.Pool) { pc.AutoEjectHosts = !pc.AutoEjectHosts }},
		{"server_retry_timeout", func(pc *config.Pool) { pc.ServerRetryTimeout = 7 * time.Second }},
		{"server_failure_limit", func(pc *config.Pool) { pc.ServerFailureLimit = 9 }},
		{"tcpkeepalive", func(pc *config.Pool) { pc.TCPKeepalive = !pc.TCPKeepalive }},
		{"cluster_refresh_interval", func(pc *config.Pool) { pc.ClusterRefreshInterval = 9 * time.Second }},
		{"read_from_replicas", func(pc *config.Pool) { pc.ReadFromReplicas = !pc.ReadFromReplicas }},
		{"max_redirects", func(pc *config.Pool) { pc.MaxRedirects = 9 }},
	}
	for i, tc := range cases {
		// Also add a server: a refused reload must not apply it either.
		next := ringPool(t, rs, tc.edit)
		next.Servers = next.Servers[:1]
		err := f.px.Reload(&config.Config{Pools: []*config.Pool{next}})
		if err == nil {
			t.Fatalf("a reload changing %s succeeded; it needs a restart", tc.key)
		}
		if want := "[" + tc.key + "] changed: needs a restart"; !strings.Contains(err.Error(), want) {
			t.Fatalf("reload changing %s: %q, want it to say %q", tc.key, err, want)
		}
		if got := f.reloads(t, "failure"); got != float64(i+1) {
			t.Fatalf("config_reloads_total{result=failure} = %v after %d refused reloads", got, i+1)
		}
		if after := f.pool.Servers(); len(after) != len(before) || after[0] != before[0] || after[1] != before[1] {
			t.Fatalf("the reload changing %s was refused but changed the servers", tc.key)
		}
		key := fmt.Sprintf("refused:%d", i)
		if err := c.Set(ctx(), key, "v", 0).Err(); err != nil {
			t.Fatalf("after the refused reload of %s: %v", tc.key, err)
		}
	}
	// Keys spread over both shards still: the server list was kept.
	seen := map[int]bool{}
	for i := range cases {
		seen[owner(t, rs, fmt.Sprintf("refused:%d", i))] = true
	}
	if len(seen) != 2 {
		t.Fatalf("keys written after the refused reloads are on shards %v, want both", seen)
	}
}

// A split command (DEL, EXISTS, TOUCH, UNLINK, MGET, MSET) or a fan-out
// (DBSIZE) with one of its shards down fails as a whole with the
// unavailable error: a partial count or array would be silently wrong.
// Keys on the live shards alone still work.
func TestSplitCommandsWithAShardDown(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	on := make([]string, 3) // a key on each shard
	for i := 0; on[0] == "" || on[1] == "" || on[2] == ""; i++ {
		k := fmt.Sprintf("split:%d", i)
		must(t, c.Set(ctx(), k, "v", 0).Err())
		if o := owner(t, rs, k); on[o] == "" {
			on[o] = k
		}
	}
	rs[1].Kill() // shard2
	const down = "ERR backend shard2 unavailable: "
	all := []any{on[0], on[1], on[2]}
	for _, tc := range []struct {
		name string
		args []any
	}{
		{"EXISTS", append([]any{"EXISTS"}, all...)},
		{"TOUCH", append([]any{"TOUCH"}, all...)},
		{"MGET", append([]any{"MGET"}, all...)},
		{"MSET", []any{"MSET", on[0], "x", on[1], "y", on[2], "z"}},
		{"DBSIZE", []any{"DBSIZE"}},
		{"DEL", append([]any{"DEL"}, all...)},
		{"UNLINK", append([]any{"UNLINK"}, all...)},
	} {
		v, err := c.Do(ctx(), tc.args...).Result()
		if err == nil || !strings.HasPrefix(err.Error(), down) {
			t.Errorf("%s over three shards, shard2 down: %#v, %v; want an error starting %q", tc.name, v, err, down)
		}
	}
	// Nothing of shard2 involved: served, with the full answer.
	if n, err := c.Exists(ctx(), on[0], on[2]).Result(); err != nil || n != 0 && n != 2 {
		t.Errorf("EXISTS over the live shards: %d, %v", n, err)
	}
	must(t, c.MSet(ctx(), on[0], "a", on[2], "c").Err())
	if vs, err := c.MGet(ctx(), on[0], on[2]).Result(); err != nil || vs[0] != "a" || vs[1] != "c" {
		t.Errorf("MGET over the live shards: %v, %v", vs, err)
	}
	if n, err := c.Del(ctx(), on[0], on[2]).Result(); err != nil || n != 2 {
		t.Errorf("DEL over the live shards: %d, %v", n, err)
	}
	if err := c.Get(ctx(), on[1]).Err(); err == nil || errors.Is(err, redis.Nil) || !strings.HasPrefix(err.Error(), down) {
		t.Errorf("GET of a key on the dead shard: %v", err)
	}
}
