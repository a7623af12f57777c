package router

import (
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// allowDiagnostics enables LATENCY and MEMORY for the default user.
func allowDiagnostics(pc *config.Pool) {
	pc.AllowCommands = config.Entries("latency|latest", "latency|history", "latency|reset", "latency|doctor",
		"latency|graph", "latency|histogram", "memory|stats", "memory|doctor", "memory|malloc-stats", "memory|purge")
	pc.ClientConnections = 777
}

// CONFIG GET goes to every shard: the shards' values, the proxy's own for
// what it decides, never the shards' credentials, and an error naming a
// shard that is down.
func TestConfigGetFanout(t *testing.T) {
	rs := shards(t, 3)
	for _, r := range rs {
		if _, err := testenv.Do(r.Addr, "CONFIG", "SET", "maxmemory-policy", "volatile-lfu", "masterauth", "shard-secret"); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, rs, allowDiagnostics)
	c := client(t, p)
	got, err := c.ConfigGet(ctx(), "maxmemory-policy").Result()
	if err != nil || len(got) != 1 || got["maxmemory-policy"] != "volatile-lfu" {
		t.Fatalf("CONFIG GET maxmemory-policy = %v, %v", got, err)
	}
	// A value the shards have, one the proxy decides, one it never shows.
	all, err := c.ConfigGet(ctx(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	direct, err := rs[0].Client(t).ConfigGet(ctx(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"databases": "1", "cluster-enabled": "no", "maxclients": "777",
		"proto-max-bulk-len": "536870912", "hz": direct["hz"], "save": direct["save"]} {
		if all[name] != want {
			t.Errorf("CONFIG GET * %s = %q, want %q", name, all[name], want)
		}
	}
	for _, secret := range []string{"masterauth", "requirepass", "masteruser"} {
		if v, ok := all[secret]; ok {
			t.Errorf("CONFIG GET * shows %s = %q", secret, v)
		}
	}
	if len(all) < len(direct)-len(configSecrets) {
		t.Errorf("CONFIG GET * has %d parameters, a shard %d", len(all), len(direct))
	}
	// Several patterns, as Redis 7 takes them.
	two, err := c.Do(ctx(), "CONFIG", "GET", "maxmemory-policy", "databases").StringSlice()
	if err != nil || len(two) != 4 {
		t.Fatalf("CONFIG GET with two patterns = %q, %v", two, err)
	}
	// RESP3: a map, as redis-server sends it.
	c3 := dialRaw(t, p)
	c3.send(respCommand("HELLO", "3"))
	c3.reply()
	c3.send(respCommand("CONFIG", "GET", "maxmemory-policy"))
	c3.mustReply("%1\r\n$16\r\nmaxmemory-policy\r\n$12\r\nvolatile-lfu\r\n")
	// A shard down: an error that names it, not a partial answer.
	rs[1].Kill()
	err = c.ConfigGet(ctx(), "maxmemory-policy").Err()
	if err == nil || !strings.Contains(err.Error(), "shard2") {
		t.Fatalf("CONFIG GET with shard2 down: %v", err)
	}
}

// LATENCY and MEMORY through the proxy: denied by default; when allowed,
// each shard's view, tagged with its name.
func TestLatencyMemoryPerShard(t *testing.T) {
	rs := []*testenv.Redis{testenv.StartRedis(t, "--enable-debug-command", "local"),
		testenv.StartRedis(t, "--enable-debug-command", "local")}
	d := dialRaw(t, startProxy(t, rs, nil))
	for _, cmd := range [][]string{{"LATENCY", "LATEST"}, {"MEMORY", "STATS"}, {"MEMORY", "PURGE"}} {
		d.send(respCommand(cmd...))
		name := strings.ToLower(cmd[0] + "|" + cmd[1])
		d.mustReply("-ERR command '" + name + "' is denied by the proxy's deny_commands; allow_commands re-enables it\r\n")
	}

	p := startProxy(t, rs, allowDiagnostics)
	c := client(t, p)
	// An event on each shard: a 20 ms sleep over a 1 ms threshold.
	for _, r := range rs {
		if _, err := testenv.Do(r.Addr, "CONFIG", "SET", "latency-monitor-threshold", "1"); err != nil {
			t.Fatal(err)
		}
		if _, err := testenv.Do(r.Addr, "DEBUG", "SLEEP", "0.02"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // one sample per event per second
	if _, err := testenv.Do(rs[1].Addr, "DEBUG", "SLEEP", "0.02"); err != nil {
		t.Fatal(err)
	}
	latest, err := c.Do(ctx(), "LATENCY", "LATEST").Slice()
	if err != nil || len(latest) != 2 {
		t.Fatalf("LATENCY LATEST = %v, %v", latest, err)
	}
	for i, e := range latest {
		fields, _ := e.([]any)
		want := "shard" + string(rune('1'+i)) + ":command"
		if len(fields) != 4 || fields[0] != want || fields[3].(int64) < 20 {
			t.Errorf("LATENCY LATEST entry %d = %v, want %s with max >= 20", i, e, want)
		}
	}
	hist, err := c.Do(ctx(), "LATENCY", "HISTORY", "command").Slice()
	if err != nil || len(hist) != 3 {
		t.Fatalf("LATENCY HISTORY command = %v, %v (want 3 samples)", hist, err)
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].([]any)[0].(int64) < hist[i-1].([]any)[0].(int64) {
			t.Errorf("LATENCY HISTORY not by time: %v", hist)
		}
	}
	doctor, err := c.Do(ctx(), "LATENCY", "DOCTOR").Text()
	if err != nil || !strings.Contains(doctor, "### backend shard1\n") || !strings.Contains(doctor, "### backend shard2\n") {
		t.Fatalf("LATENCY DOCTOR = %q, %v", doctor, err)
	}
	graph, err := c.Do(ctx(), "LATENCY", "GRAPH", "command").Text()
	if err != nil || strings.Count(graph, "### backend") != 2 || !strings.Contains(graph, "command - high") {
		t.Fatalf("LATENCY GRAPH = %q, %v", graph, err)
	}
	n, err := c.Do(ctx(), "LATENCY", "RESET").Int()
	if err != nil || n != 2 {
		t.Fatalf("LATENCY RESET = %d, %v (want one event on each of 2 shards)", n, err)
	}
	if latest, err := c.Do(ctx(), "LATENCY", "LATEST").Slice(); err != nil || len(latest) != 0 {
		t.Fatalf("LATENCY LATEST after RESET = %v, %v", latest, err)
	}

	stats, err := c.Do(ctx(), "MEMORY", "STATS").Slice()
	if err != nil || len(stats) != 4 || stats[0] != "shard1" || stats[2] != "shard2" {
		t.Fatalf("MEMORY STATS = %v, %v", stats, err)
	}
	for _, i := range []int{1, 3} {
		if fields, _ := stats[i].([]any); len(fields) < 10 || fields[0] != "peak.allocated" {
			t.Errorf("MEMORY STATS of a shard = %v", stats[i])
		}
	}
	md, err := c.Do(ctx(), "MEMORY", "DOCTOR").Text()
	if err != nil || strings.Count(md, "### backend") != 2 {
		t.Fatalf("MEMORY DOCTOR = %q, %v", md, err)
	}
	if err := c.Do(ctx(), "MEMORY", "PURGE").Err(); err != nil {
		t.Fatalf("MEMORY PURGE: %v", err)
	}
	c.Set(ctx(), "mem:k", strings.Repeat("x", 1000), 0)
	if n, err := c.Do(ctx(), "MEMORY", "USAGE", "mem:k").Int(); err != nil || n < 1000 {
		t.Fatalf("MEMORY USAGE = %d, %v", n, err)
	}
	// RESP3: a map of shard to stats, verbatim text.
	r3 := dialRaw(t, p)
	r3.send(respCommand("HELLO", "3"))
	r3.reply()
	r3.send(respCommand("MEMORY", "DOCTOR"))
	if got, _ := r3.reply(); !strings.HasPrefix(got, "=") || !strings.Contains(got, "txt:### backend shard1\n") {
		t.Fatalf("RESP3 MEMORY DOCTOR = %q", got)
	}
	r3.send(respCommand("MEMORY", "STATS"))
	// Each shard's own reply follows its name (a map when the backend
	// connection speaks RESP3, Redis's flat array when it speaks RESP2).
	if got, _ := r3.reply(); !strings.HasPrefix(got, "%2\r\n$6\r\nshard1\r\n%27\r\n") &&
		!strings.HasPrefix(got, "%2\r\n$6\r\nshard1\r\n*54\r\n") {
		t.Fatalf("RESP3 MEMORY STATS = %.60q", got)
	}
}
