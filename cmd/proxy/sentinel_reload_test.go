package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestSighupReloadSentinelPool: SIGHUP re-reads a Sentinel ring pool's
// file. A master name added there (through a changed sentinel list)
// takes keys; a sentinel_tls change is refused naming the key, and the
// proxy goes on serving.
func TestSighupReloadSentinelPool(t *testing.T) {
	g := testenv.StartSentinelGroup(t, testenv.SentinelGroupOptions{Masters: 2, Sentinels: 3})
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	conf := func(sentinels []string, names []string, extra string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "alpha:\n  listen: %s\n  redis: true\n  timeout: 1000\n%s  sentinels:\n", listen, extra)
		for _, s := range sentinels {
			fmt.Fprintf(&b, "    - %s\n", s)
		}
		b.WriteString("  servers:\n")
		for _, n := range names {
			fmt.Fprintf(&b, "    - %s:1\n", n)
		}
		return b.String()
	}
	path := writeFile(t, "shardproxy.yml", conf(g.SentinelAddrs[:1], g.Names[:1], ""))
	r := startRun(t, "-c", path, "--metrics-listen", "", "--log-format", "json")
	r.waitLine(t, "shardproxy started")
	c := redis.NewClient(&redis.Options{Addr: listen, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	set := func(prefix string) {
		t.Helper()
		for i := range 100 {
			if err := c.Set(t.Context(), fmt.Sprint(prefix, i), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	set("one:")
	if n, _ := testenv.Do(g.Masters[1].Addr, "DBSIZE"); n != int64(0) {
		t.Fatalf("shard2 holds %v keys before it was configured", n)
	}

	if err := os.WriteFile(path, []byte(conf(g.SentinelAddrs, g.Names, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	r.stop <- syscall.SIGHUP
	r.waitLine(t, "configuration reloaded")
	set("two:")
	if n, _ := testenv.Do(g.Masters[1].Addr, "DBSIZE"); n == int64(0) {
		t.Fatal("no key went to the master name added by the reload")
	}

	if err := os.WriteFile(path, []byte(conf(g.SentinelAddrs, g.Names, "  sentinel_tls: true\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	r.stop <- syscall.SIGHUP
	rec := r.waitLine(t, "config reload failed; running configuration kept")
	if !strings.Contains(fmt.Sprint(rec["err"]), "sentinel_tls") {
		t.Fatalf("reload failure log %v does not name sentinel_tls", rec)
	}
	set("three:")
}
