package router

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// resetConversation runs a scripted raw conversation around RESET on addr
// and returns every reply (HELLO 3's map, which names the server, as
// "<hello>"). pass is the requirepass ("" for none). A second connection
// plays the rest of the world: it changes a WATCHed key, publishes, and
// counts subscribers.
func resetConversation(t *testing.T, addr, pass string) []string {
	t.Helper()
	c := dialRawAddr(t, addr)
	o := dialRawAddr(t, addr)
	var got []string
	do := func(conn *rawConn, cmd string) {
		t.Helper()
		conn.send(cmd + "\r\n")
		r, err := conn.reply()
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if strings.HasPrefix(cmd, "HELLO 3") {
			r = "<hello>"
		}
		got = append(got, cmd+" -> "+r)
	}
	// n replies to one command (SUBSCRIBE a b).
	doN := func(conn *rawConn, cmd string, n int) {
		t.Helper()
		conn.send(cmd + "\r\n")
		for range n {
			r, err := conn.reply()
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			got = append(got, cmd+" -> "+r)
		}
	}
	auth := func(conn *rawConn) {
		if pass != "" {
			do(conn, "AUTH "+pass)
		}
	}
	auth(o)
	do(o, "DEL rk")
	do(o, "SET rk v")

	// RESP3, a name, subscriptions: RESET clears them all.
	auth(c)
	do(c, "CLIENT SETNAME foo")
	do(c, "HELLO 3")
	do(c, "CLIENT GETNAME")
	doN(c, "SUBSCRIBE ra rb", 2)
	do(c, "SSUBSCRIBE {r}s")
	do(c, "GET rk") // RESP3 may run commands while subscribed
	do(c, "RESET")
	do(c, "PING") // NOAUTH with requirepass
	auth(c)
	do(c, "CLIENT GETNAME") // RESP2 null: no name, back to RESP2
	do(c, "PING")           // not in subscribed mode
	do(o, "PUBSUB NUMSUB ra rb")
	do(o, "PUBSUB SHARDNUMSUB {r}s")
	do(o, "PUBLISH ra gone")
	do(c, "PING") // no message in between

	// RESP2 subscribed mode: RESET is allowed there and leaves it.
	do(c, "SUBSCRIBE ra")
	do(c, "GET rk")
	do(c, "RESET")
	auth(c)
	do(o, "PUBLISH ra gone")
	do(c, "GET rk")

	// MULTI is discarded, and so is WATCH.
	do(c, "WATCH rk")
	do(c, "MULTI")
	do(c, "SET rk 1")
	do(c, "RESET")
	auth(c)
	do(c, "EXEC")
	do(c, "GET rk")
	do(c, "WATCH rk")
	do(c, "RESET")
	auth(c)
	do(o, "SET rk changed")
	do(c, "MULTI")
	do(c, "SET rk 2")
	do(c, "EXEC") // not aborted: the key is no longer watched
	do(c, "GET rk")
	do(c, "SELECT 0")
	do(c, "RESET")
	do(c, "RESET") // twice in a row
	auth(c)
	do(c, "CLIENT GETNAME")
	return got
}

// TestResetLikeRedis byte-compares a RESET conversation between the proxy
// and redis-server 7.0, with requirepass and without.
func TestResetLikeRedis(t *testing.T) {
	for _, pass := range []string{"", "secret"} {
		t.Run(fmt.Sprintf("requirepass=%q", pass), func(t *testing.T) {
			plain := testenv.StartRedis(t)
			if pass != "" {
				if _, err := testenv.Do(plain.Addr, "CONFIG", "SET", "requirepass", pass); err != nil {
					t.Fatal(err)
				}
			}
			want := resetConversation(t, plain.Addr, pass)
			p := startProxy(t, shards(t, 3), func(pc *config.Pool) { pc.RequirePass = pass })
			got := resetConversation(t, p.Addr(), pass)
			if len(got) != len(want) {
				t.Fatalf("%d replies, redis gave %d", len(got), len(want))
			}
			t.Logf("redis:\n%s", strings.Join(want, "\n"))
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("step %d:\n proxy %q\n redis %q", i, got[i], want[i])
				}
			}
		})
	}
}

// TestResetUserLikeRedis: RESET logs an ACL user out, back to the default
// user, as Redis 7.0 does (here the default user needs no password).
func TestResetUserLikeRedis(t *testing.T) {
	conv := func(addr string) []string {
		c := dialRawAddr(t, addr)
		var got []string
		for _, cmd := range []string{"AUTH alice apass", "ACL WHOAMI", "RESET", "ACL WHOAMI", "AUTH alice wrong", "ACL WHOAMI"} {
			c.send(cmd + "\r\n")
			r, err := c.reply()
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			got = append(got, cmd+" -> "+r)
		}
		return got
	}
	plain := testenv.StartRedis(t)
	if _, err := testenv.Do(plain.Addr, "ACL", "SETUSER", "alice", "on", ">apass", "~*", "&*", "+@all"); err != nil {
		t.Fatal(err)
	}
	want := conv(plain.Addr)
	p := startProxy(t, shards(t, 1), func(pc *config.Pool) {
		pc.Users = config.Entries("default on nopass ~* &* +@all", "alice on >apass ~* &* +@all")
	})
	if got := conv(p.Addr()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("proxy:\n%s\nredis:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
