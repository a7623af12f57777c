package router

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// allowAdmin enables the admin fan-out commands, for the default user and
// for "ops"; "app" may not run them.
func allowAdmin(pc *config.Pool) {
	pc.AllowCommands = config.Entries("config|set", "config|resetstat", "slowlog|get", "slowlog|len",
		"slowlog|reset", "script|kill", "function|kill")
	pc.Users = config.Entries("default on nopass ~* &* +@all", "app on >app ~* &* +@all -@admin")
}

func TestAdminDeniedByDefault(t *testing.T) {
	c := dialRaw(t, startProxy(t, shards(t, 1), nil))
	for _, cmd := range [][]string{{"CONFIG", "SET", "maxmemory", "0"}, {"CONFIG", "RESETSTAT"}, {"SLOWLOG", "GET"},
		{"SLOWLOG", "LEN"}, {"SLOWLOG", "RESET"}, {"SCRIPT", "KILL"}, {"FUNCTION", "KILL"}} {
		c.send(respCommand(cmd...))
		name := strings.ToLower(cmd[0] + "|" + cmd[1])
		c.mustReply("-ERR command '" + name + "' is denied by the proxy's deny_commands; allow_commands re-enables it\r\n")
	}
}

func TestAdminConfigSet(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, allowAdmin)
	c := client(t, p)
	if err := c.ConfigSet(ctx(), "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatalf("CONFIG SET: %v", err)
	}
	for i, r := range rs {
		if v := r.Client(t).ConfigGet(ctx(), "maxmemory-policy").Val()["maxmemory-policy"]; v != "allkeys-lru" {
			t.Fatalf("shard %d maxmemory-policy = %q", i, v)
		}
	}
	// One shard refuses: the answer names it and says the others applied it.
	if err := rs[1].Client(t).ConfigSet(ctx(), "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	want, err := testenv.Do(rs[0].Addr, "CONFIG", "SET", "nosuch-param", "1")
	if err == nil {
		t.Fatalf("redis accepted nosuch-param: %v", want)
	}
	err = c.ConfigSet(ctx(), "nosuch-param", "1").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch-param' (backend shard1; 3 of 3 backends refused)") {
		t.Fatalf("CONFIG SET nosuch-param: %v (redis says %v)", err, err)
	}
	rc := rs[2].Client(t)
	if err := rc.Do(ctx(), "ACL", "SETUSER", "default", "-config|set").Err(); err != nil {
		t.Fatal(err)
	}
	err = c.ConfigSet(ctx(), "maxmemory-policy", "noeviction").Err()
	if err == nil || err.Error() != "NOPERM this user has no permissions to run the 'config|set' command (backend shard3; 1 of 3 backends refused)" {
		t.Fatalf("CONFIG SET refused by one shard: %v", err)
	}
	if err := c.ConfigResetStat(ctx()).Err(); err != nil {
		t.Fatalf("CONFIG RESETSTAT: %v", err)
	}
	// A user without @admin gets NOPERM from the proxy.
	if err := clientAuth(t, p, "app", "app").ConfigSet(ctx(), "maxmemory", "0").Err(); err == nil ||
		err.Error() != "NOPERM this user has no permissions to run the 'config|set' command" {
		t.Fatalf("CONFIG SET as app: %v", err)
	}
}

func TestAdminSlowlog(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, allowAdmin)
	c := client(t, p)
	if err := c.ConfigSet(ctx(), "slowlog-log-slower-than", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx(), "SLOWLOG", "RESET").Err(); err != nil {
		t.Fatalf("SLOWLOG RESET: %v", err)
	}
	for i := 0; i < 20; i++ {
		c.Set(ctx(), "slow:"+strings.Repeat("x", i), i, 0)
	}
	var total int64
	for _, r := range rs {
		total += r.Client(t).SlowLogLen(ctx()).Val() // not counting this call
	}
	n, err := c.Do(ctx(), "SLOWLOG", "LEN").Int64()
	if err != nil || n < total || n > total+2 {
		t.Fatalf("SLOWLOG LEN = %d, %v; shards hold %d", n, err, total)
	}
	entries, err := c.SlowLogGet(ctx(), 5).Result()
	if err != nil || len(entries) != 5 {
		t.Fatalf("SLOWLOG GET 5: %d entries, %v", len(entries), err)
	}
	for i, e := range entries {
		if e.ClientName != "shard1" && e.ClientName != "shard2" {
			t.Fatalf("entry %d client name %q, want a shard name", i, e.ClientName)
		}
		if i > 0 && e.Time.After(entries[i-1].Time) {
			t.Fatalf("entries not newest first: %v after %v", e.Time, entries[i-1].Time)
		}
	}
	all, err := c.SlowLogGet(ctx(), -1).Result()
	if err != nil || len(all) < 20 {
		t.Fatalf("SLOWLOG GET -1: %d entries, %v", len(all), err)
	}
	shardsSeen := map[string]bool{}
	for _, e := range all {
		shardsSeen[e.ClientName] = true
	}
	if len(shardsSeen) != 2 {
		t.Fatalf("SLOWLOG GET -1 shows shards %v", shardsSeen)
	}
	if err := c.Do(ctx(), "SLOWLOG", "RESET").Err(); err != nil {
		t.Fatal(err)
	}
	// Only what ran since (RESET itself, health checks) is left.
	if n, _ := rs[0].Client(t).SlowLogLen(ctx()).Result(); n > 5 {
		t.Fatalf("shard slowlog after RESET: %d entries", n)
	}
}

func TestAdminScriptKill(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, allowAdmin)
	c := dialRaw(t, p)
	c.send(respCommand("SCRIPT", "KILL") + respCommand("FUNCTION", "KILL"))
	c.mustReply("-NOTBUSY No scripts in execution right now.\r\n")
	c.mustReply("-NOTBUSY No scripts in execution right now.\r\n")

	// A busy script on one shard (run directly: through the proxy it would
	// time out): SCRIPT KILL through the proxy kills it.
	busy := rs[1]
	if _, err := testenv.Do(busy.Addr, "CONFIG", "SET", "busy-reply-threshold", "50"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		d := redis.NewClient(&redis.Options{Addr: busy.Addr, ReadTimeout: 20 * time.Second, Protocol: 2, DisableIdentity: true})
		defer d.Close()
		done <- d.Eval(ctx(), "local i = 0 while true do i = i + 1 end", nil).Err()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.send(respCommand("SCRIPT", "KILL"))
		got, err := c.reply()
		if err != nil {
			t.Fatal(err)
		}
		if got == "+OK\r\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SCRIPT KILL never killed the script: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Script killed by user with SCRIPT KILL") {
			t.Fatalf("the busy script ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the busy script still runs")
	}
}
