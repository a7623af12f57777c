package router

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// ciConn is a raw client for the CLIENT LIST comparisons: it sends one
// command and reads the replies it expects, pushes included.
type ciConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
	id int64
}

func dialCI(t *testing.T, addr string) *ciConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { nc.Close() })
	c := &ciConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	r := c.do(1, "CLIENT", "ID")
	id, ok := resp.IntValue([]byte(r[0]))
	if !ok {
		t.Fatalf("CLIENT ID = %q", r[0])
	}
	c.id = id
	return c
}

// do sends cmd and returns the n replies that follow.
func (c *ciConn) do(n int, cmd ...string) []string {
	c.t.Helper()
	c.send(cmd...)
	return c.read(n)
}

func (c *ciConn) send(cmd ...string) {
	c.t.Helper()
	if _, err := c.nc.Write(resp.AppendCommand(nil, cmd...)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *ciConn) read(n int) []string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	out := make([]string, n)
	for i := range out {
		b, err := resp.ReadReply(c.br, nil)
		if err != nil {
			c.t.Fatalf("reading reply %d: %v", i, err)
		}
		out[i] = string(b)
	}
	return out
}

// text is the payload of a CLIENT LIST/INFO reply: a RESP2 bulk string or
// a RESP3 verbatim string.
func (c *ciConn) text(cmd ...string) string {
	c.t.Helper()
	r := c.do(1, cmd...)[0]
	switch r[0] {
	case '$':
		_, body, _ := strings.Cut(r, "\r\n")
		return strings.TrimSuffix(body, "\r\n")
	case '=':
		_, body, _ := strings.Cut(r, "\r\n")
		return strings.TrimPrefix(strings.TrimSuffix(body, "\r\n"), "txt:")
	}
	c.t.Fatalf("%q: reply %q", cmd, r)
	return ""
}

// clientFields splits a CLIENT LIST line into its field names, in order,
// and their values.
func clientFields(line string) ([]string, map[string]string) {
	var names []string
	vals := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		names = append(names, k)
		vals[k] = v
	}
	return names, vals
}

// clientShapes are the fields whose values differ between two servers for
// the same session (ids, addresses, descriptors, times, allocator sizes):
// compared by shape only. Every other field must be equal.
var clientShapes = map[string]*regexp.Regexp{
	"id":        regexp.MustCompile(`^[1-9][0-9]*$`),
	"addr":      regexp.MustCompile(`^127\.0\.0\.1:[0-9]+$`),
	"laddr":     regexp.MustCompile(`^127\.0\.0\.1:[0-9]+$`),
	"fd":        regexp.MustCompile(`^[0-9]+$`),
	"age":       regexp.MustCompile(`^[0-9]+$`),
	"idle":      regexp.MustCompile(`^[0-9]+$`),
	"qbuf-free": regexp.MustCompile(`^[0-9]+$`),
	"rbs":       regexp.MustCompile(`^[0-9]+$`),
	"rbp":       regexp.MustCompile(`^[0-9]+$`),
	"tot-mem":   regexp.MustCompile(`^[1-9][0-9]*$`),
}

// compareClientLines checks the proxy's CLIENT LIST line against
// redis-server's for the same session: the same fields in the same order,
// equal values, except clientShapes' fields, compared by shape.
func compareClientLines(t *testing.T, what, want, got string) {
	t.Helper()
	wn, wv := clientFields(want)
	gn, gv := clientFields(got)
	if strings.Join(wn, " ") != strings.Join(gn, " ") {
		t.Errorf("%s: fields\nproxy: %v\nredis: %v", what, gn, wn)
		return
	}
	for _, k := range wn {
		if re, ok := clientShapes[k]; ok {
			if !re.MatchString(gv[k]) {
				t.Errorf("%s: proxy %s=%q does not look like redis's %q", what, k, gv[k], wv[k])
			}
			continue
		}
		if gv[k] != wv[k] {
			t.Errorf("%s: proxy %s=%q, redis %s=%q\nproxy: %s\nredis: %s", what, k, gv[k], k, wv[k], got, want)
		}
	}
}

// ciUsers are the ACL users of both sides of the comparison.
var ciUsers = []string{"default on nopass ~* &* +@all", "alice on >apass ~* &* +@all"}

// TestClientListMatchesRedis runs the same sessions against a plain
// redis-server and through the proxy and compares the CLIENT LIST/INFO
// line of the session field by field.
func TestClientListMatchesRedis(t *testing.T) {
	rs := testenv.StartRedis(t)
	for _, u := range ciUsers {
		if _, err := testenv.Do(rs.Addr, append([]string{"ACL", "SETUSER"}, strings.Fields(u)...)...); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, shards(t, 2), func(pc *config.Pool) { pc.Users = config.Entries(ciUsers...) })
	// Each case drives the session c; the line compared is CLIENT INFO of
	// c (self) or the line of c in other's CLIENT LIST ID c.
	for _, tc := range []struct {
		name string
		self bool
		run  func(t *testing.T, c, other *ciConn)
	}{
		{"plain", true, func(_ *testing.T, c, _ *ciConn) { c.do(1, "PING") }},
		{"plain seen by another", false, func(_ *testing.T, c, _ *ciConn) { c.do(1, "GET", "k") }},
		{"never sent a command", false, func(*testing.T, *ciConn, *ciConn) {}},
		{"subcommand last", false, func(_ *testing.T, c, _ *ciConn) { c.do(1, "CONFIG", "GET", "maxmemory") }},
		{"unknown command last", false, func(_ *testing.T, c, _ *ciConn) { c.do(1, "NOSUCH", "x") }},
		{"unknown subcommand last", false, func(_ *testing.T, c, _ *ciConn) { c.do(1, "CONFIG", "NOSUCH") }},
		{"wrong arity last", false, func(_ *testing.T, c, _ *ciConn) { c.do(1, "CONFIG") }},
		{"pipeline", false, func(_ *testing.T, c, _ *ciConn) {
			c.send("SET", "k", "v")
			c.send("GET", "k")
			c.do(3, "PING")
		}},
		{"multi unknown command", false, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "MULTI")
			c.do(1, "SET", "{t}k", "v")
			c.do(1, "NOSUCH")
		}},
		{"multi keyless", false, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "MULTI")
			c.do(1, "PING")
			c.do(1, "ECHO", "hello")
		}},
		{"after exec", false, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "MULTI")
			c.do(1, "SET", "{t}k", "v")
			c.do(1, "EXEC")
		}},
		{"multi", false, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "MULTI")
			c.do(1, "SET", "{t}k", "v")
			c.do(1, "GET", "{t}k")
			c.do(1, "INCR", "{t}n")
		}},
		{"subscribed", false, func(_ *testing.T, c, _ *ciConn) {
			c.do(2, "SUBSCRIBE", "c1", "c2")
			c.do(1, "PSUBSCRIBE", "p*")
			c.do(1, "SSUBSCRIBE", "s1")
		}},
		{"unsubscribed again", false, func(_ *testing.T, c, _ *ciConn) {
			c.do(2, "SUBSCRIBE", "c1", "c2")
			c.do(2, "UNSUBSCRIBE")
		}},
		{"resp3", true, func(_ *testing.T, c, _ *ciConn) { c.do(1, "HELLO", "3") }},
		{"resp3 subscribed", false, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "HELLO", "3")
			c.do(2, "SUBSCRIBE", "c1", "c2")
			c.do(1, "SSUBSCRIBE", "s1")
		}},
		{"acl user", true, func(_ *testing.T, c, _ *ciConn) { c.do(1, "AUTH", "alice", "apass") }},
		{"acl user by hello", false, func(_ *testing.T, c, _ *ciConn) { c.do(1, "HELLO", "2", "AUTH", "alice", "apass", "SETNAME", "hi") }},
		{"setname", true, func(_ *testing.T, c, _ *ciConn) { c.do(1, "CLIENT", "SETNAME", "worker-1") }},
		{"reset", true, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "HELLO", "3", "AUTH", "alice", "apass", "SETNAME", "x")
			c.do(1, "CLIENT", "TRACKING", "on")
			c.do(1, "RESET")
		}},
		{"blocked", false, func(t *testing.T, c, other *ciConn) {
			c.send("BLPOP", "nolist", "0")
			waitFor(t, "the BLPOP to block", func() bool {
				return strings.Contains(other.text("CLIENT", "LIST", "ID", strconv.FormatInt(c.id, 10)), "flags=b")
			})
		}},
		{"waiting", false, func(t *testing.T, c, other *ciConn) {
			c.send("WAIT", "1", "1500")
			waitFor(t, "the WAIT to block", func() bool {
				return strings.Contains(other.text("CLIENT", "LIST", "ID", strconv.FormatInt(c.id, 10)), "flags=b")
			})
		}},
		{"tracking", true, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "HELLO", "3")
			c.do(1, "CLIENT", "TRACKING", "on")
		}},
		{"tracking off again", true, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "HELLO", "3")
			c.do(1, "CLIENT", "TRACKING", "on")
			c.do(1, "CLIENT", "TRACKING", "off")
		}},
		{"tracking seen by another", false, func(_ *testing.T, c, _ *ciConn) {
			c.do(1, "HELLO", "3")
			c.do(1, "CLIENT", "TRACKING", "on")
			c.do(1, "GET", "k")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines [2]string
			for i, addr := range []string{rs.Addr, p.Addr()} {
				c, other := dialCI(t, addr), dialCI(t, addr)
				tc.run(t, c, other)
				if tc.self {
					lines[i] = c.text("CLIENT", "INFO")
				} else {
					lines[i] = other.text("CLIENT", "LIST", "ID", strconv.FormatInt(c.id, 10))
				}
				c.nc.Close()
				other.nc.Close()
			}
			t.Logf("redis: %s", lines[0])
			t.Logf("proxy: %s", lines[1])
			compareClientLines(t, tc.name, strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]))
		})
	}
}

// TestClientListFiltersMatchRedis compares CLIENT LIST's TYPE and ID
// filters, their errors, the order of the lines, and the own line of a
// client that pipelined CLIENT INFO after another command, between
// redis-server and the proxy.
func TestClientListFiltersMatchRedis(t *testing.T) {
	rs := testenv.StartRedis(t)
	p := startProxy(t, shards(t, 1), nil)
	var results [2][]string
	for side, addr := range []string{rs.Addr, p.Addr()} {
		lister := dialCI(t, addr)
		plain := dialCI(t, addr)
		plain.do(1, "PING")
		sub := dialCI(t, addr)
		sub.do(2, "SUBSCRIBE", "c1", "c2")
		names := map[string]string{
			strconv.FormatInt(lister.id, 10): "lister",
			strconv.FormatInt(plain.id, 10):  "plain",
			strconv.FormatInt(sub.id, 10):    "sub",
		}
		pid, sid := strconv.FormatInt(plain.id, 10), strconv.FormatInt(sub.id, 10)
		for _, q := range [][]string{
			{"CLIENT", "LIST"},
			{"CLIENT", "LIST", "TYPE", "normal"},
			{"CLIENT", "LIST", "TYPE", "NORMAL"},
			{"CLIENT", "LIST", "TYPE", "pubsub"},
			{"CLIENT", "LIST", "TYPE", "master"},
			{"CLIENT", "LIST", "TYPE", "replica"},
			{"CLIENT", "LIST", "TYPE", "slave"},
			{"CLIENT", "LIST", "TYPE", "bogus"},
			{"CLIENT", "LIST", "TYPE"},
			{"CLIENT", "LIST", "TYPE", "normal", "ID", pid},
			{"CLIENT", "LIST", "ID", sid, pid, sid},
			{"CLIENT", "LIST", "ID", "999999", pid},
			{"CLIENT", "LIST", "ID", "0", "-1"},
			{"CLIENT", "LIST", "ID", pid, "abc"},
			{"CLIENT", "LIST", "ID"},
			{"CLIENT", "LIST", "foo"},
			{"CLIENT", "INFO", "x"},
		} {
			r := lister.do(1, q...)[0]
			label := slices.Clone(q) // the ids by name: they differ between the sides
			for i, a := range label {
				if n, ok := names[a]; ok && i > 2 {
					label[i] = n
				}
			}
			if r[0] == '-' {
				results[side] = append(results[side], strings.Join(label, " ")+" -> "+strings.TrimSpace(r))
				continue
			}
			_, body, _ := strings.Cut(r, "\r\n")
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\n") {
				if l == "" {
					continue
				}
				_, f := clientFields(l)
				if n, ok := names[f["id"]]; ok { // the servers' own probes are not ours
					got = append(got, n)
				}
			}
			results[side] = append(results[side], strings.Join(label, " ")+" -> "+strings.Join(got, ","))
		}
		// A pipeline in one write: CLIENT INFO's own line counts what the
		// read brought (PING and itself) in qbuf, itself in argv-mem.
		var b []byte
		b = resp.AppendCommand(b, "PING")
		b = resp.AppendCommand(b, "CLIENT", "INFO")
		if _, err := plain.nc.Write(b); err != nil {
			t.Fatal(err)
		}
		r := plain.read(2)[1]
		_, f := clientFields(strings.TrimSpace(r[strings.Index(r, "\r\n")+2:]))
		results[side] = append(results[side], "pipelined CLIENT INFO -> qbuf="+f["qbuf"]+" argv-mem="+f["argv-mem"]+" cmd="+f["cmd"])
	}
	for i := range results[0] {
		if results[0][i] != results[1][i] {
			t.Errorf("redis: %s\nproxy: %s", results[0][i], results[1][i])
		}
	}
	t.Logf("%q", results[1])
}

// TestClientInfoInExecMatchesRedis compares CLIENT INFO queued in MULTI and
// run by EXEC (Redis shows EXEC as the command, the transaction's count
// and memory) between redis-server and the proxy, alone in the
// transaction and after a keyed command.
func TestClientInfoInExecMatchesRedis(t *testing.T) {
	rs := testenv.StartRedis(t)
	p := startProxy(t, shards(t, 2), nil)
	for _, keyed := range []bool{false, true} {
		var lines [2]string
		for side, addr := range []string{rs.Addr, p.Addr()} {
			c := dialCI(t, addr)
			c.do(1, "MULTI")
			if keyed {
				c.do(1, "SET", "{t}k", "v")
			}
			c.do(1, "CLIENT", "INFO")
			r := c.do(1, "EXEC")[0]
			i := strings.Index(r, "id=")
			if i < 0 {
				t.Fatalf("EXEC = %q", r)
			}
			lines[side], _, _ = strings.Cut(r[i:], "\n")
		}
		t.Logf("redis: %s\nproxy: %s", lines[0], lines[1])
		// obl: Redis has already buffered the start of EXEC's reply; the
		// proxy assembles it elsewhere and shows obl=0 (clientLine).
		_, want := clientFields(lines[0])
		lines[0] = strings.Replace(lines[0], " obl="+want["obl"]+" ", " obl=0 ", 1)
		compareClientLines(t, "CLIENT INFO in EXEC", lines[0], lines[1])
	}
}

// TestClientListUnixMatchesRedis compares the line of a client connected
// through a unix socket: flag U, addr and laddr the socket's path with
// port 0.
func TestClientListUnixMatchesRedis(t *testing.T) {
	// Short paths: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "sp")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	rpath, ppath := filepath.Join(dir, "r.sock"), filepath.Join(dir, "p.sock")
	testenv.StartRedis(t, "--unixsocket", rpath)
	startProxy(t, shards(t, 1), func(pc *config.Pool) { pc.Listen = ppath })
	var lines [2]string
	for side, path := range []string{rpath, ppath} {
		nc, err := net.Dial("unix", path)
		must(t, err)
		t.Cleanup(func() { nc.Close() })
		c := &ciConn{t: t, nc: nc, br: bufio.NewReader(nc)}
		c.do(1, "PING")
		lines[side] = strings.TrimSpace(c.text("CLIENT", "INFO"))
		_, f := clientFields(lines[side])
		if f["addr"] != path+":0" || f["laddr"] != path+":0" {
			t.Errorf("addr=%s laddr=%s, want %s:0 for both", f["addr"], f["laddr"], path)
		}
	}
	t.Logf("redis: %s\nproxy: %s", lines[0], lines[1])
	// addr and laddr are checked above.
	compareClientLines(t, "unix socket", strings.ReplaceAll(lines[0], rpath+":0", "127.0.0.1:1"),
		strings.ReplaceAll(lines[1], ppath+":0", "127.0.0.1:1"))
}

// TestClientListIdleSubscriber: Redis counts output as interaction, so a
// subscriber that receives messages is never idle; neither is it through
// the proxy.
func TestClientListIdleSubscriber(t *testing.T) {
	rs := testenv.StartRedis(t)
	p := startProxy(t, shards(t, 1), nil)
	for _, addr := range []string{rs.Addr, p.Addr()} {
		sub, other := dialCI(t, addr), dialCI(t, addr)
		sub.do(1, "SUBSCRIBE", "news")
		for range 26 {
			other.do(1, "PUBLISH", "news", "m")
			sub.read(1)
			time.Sleep(100 * time.Millisecond)
		}
		_, f := clientFields(strings.TrimSpace(other.text("CLIENT", "LIST", "ID", strconv.FormatInt(sub.id, 10))))
		// Redis counts in whole seconds of its clock: a write late in one
		// second and the listing early in the next read idle=1.
		if age, _ := strconv.Atoi(f["age"]); age < 2 || (f["idle"] != "0" && f["idle"] != "1") {
			t.Errorf("%s: subscriber receiving messages for 2.6 s: age=%s idle=%s, want idle 0 or 1", addr, f["age"], f["idle"])
		}
	}
}

// TestClientKillFiltersMatchRedis compares CLIENT KILL's TYPE, USER and
// LADDR filters (and their errors) with redis-server's: how many clients
// each kills among a default-user client, an ACL user's client and a
// subscriber.
func TestClientKillFiltersMatchRedis(t *testing.T) {
	rs := testenv.StartRedis(t)
	for _, u := range ciUsers {
		if _, err := testenv.Do(rs.Addr, append([]string{"ACL", "SETUSER"}, strings.Fields(u)...)...); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, shards(t, 1), func(pc *config.Pool) { pc.Users = config.Entries(ciUsers...) })
	queries := [][]string{
		{"TYPE", "pubsub"},
		{"TYPE", "normal"},
		{"TYPE", "normal", "SKIPME", "no"},
		{"TYPE", "master"},
		{"TYPE", "bogus"},
		{"USER", "alice"},
		{"USER", "default", "TYPE", "normal"},
		{"USER", "nosuch"},
		{"LADDR", "@self"},
		{"LADDR", "127.0.0.1:1"},
	}
	var results [2][]string
	for side, addr := range []string{rs.Addr, p.Addr()} {
		for _, q := range queries {
			killer := dialCI(t, addr)
			alice := dialCI(t, addr)
			alice.do(1, "AUTH", "alice", "apass")
			sub := dialCI(t, addr)
			sub.do(1, "SUBSCRIBE", "c")
			args := append([]string{"CLIENT", "KILL"}, q...)
			for i, a := range args {
				if a == "@self" {
					args[i] = addr
				}
			}
			r := killer.do(1, args...)[0]
			results[side] = append(results[side], strings.Join(q, " ")+" -> "+strings.TrimSpace(r))
			for _, c := range []*ciConn{killer, alice, sub} {
				c.nc.Close()
			}
			probe := dialCI(t, addr)
			waitFor(t, "the clients to go", func() bool {
				return strings.Count(probe.text("CLIENT", "LIST"), "\n") == 1
			})
			probe.nc.Close()
		}
	}
	for i := range results[0] {
		if results[0][i] != results[1][i] {
			t.Errorf("redis: %s\nproxy: %s", results[0][i], results[1][i])
		}
	}
	t.Logf("%q", results[1])
}

// TestClientUnblockWaitMatchesRedis: a client in WAIT is blocked as Redis
// sees it; CLIENT UNBLOCK ends its WAIT with the count so far (TIMEOUT) or
// the UNBLOCKED error, as in Redis, also when the proxy's WAIT runs on
// two shards because the client wrote to both.
func TestClientUnblockWaitMatchesRedis(t *testing.T) {
	rs := testenv.StartRedis(t)
	sh := shards(t, 2)
	p := startProxy(t, sh, nil)
	shardClients := []*redis.Client{sh[0].Client(t), sh[1].Client(t)}
	// Two keys on different shards.
	keys := []string{"w0"}
	for i := 1; len(keys) < 2; i++ {
		k := "w" + strconv.Itoa(i)
		if p.pick([]byte(k)) != p.pick([]byte(keys[0])) {
			keys = append(keys, k)
		}
	}
	var results [2][]string
	for side, addr := range []string{rs.Addr, p.Addr()} {
		for _, mode := range [][]string{nil, {"TIMEOUT"}, {"ERROR"}} {
			c, other := dialCI(t, addr), dialCI(t, addr)
			for _, k := range keys {
				c.do(1, "SET", k, "v")
			}
			c.send("WAIT", "1", "10000")
			id := strconv.FormatInt(c.id, 10)
			waitFor(t, "the WAIT to block", func() bool {
				return strings.Contains(other.text("CLIENT", "LIST", "ID", id), "flags=b")
			})
			if side == 1 {
				// The proxy shows the client blocked as it sends the WAITs;
				// unblocking works once the shards block them.
				for _, cl := range shardClients {
					waitFor(t, "the shard's WAIT to block", func() bool {
						return strings.Contains(cl.Info(ctx(), "clients").Val(), "blocked_clients:1")
					})
				}
			}
			r := other.do(1, append([]string{"CLIENT", "UNBLOCK", id}, mode...)...)[0]
			results[side] = append(results[side], fmt.Sprintf("UNBLOCK %v -> %q, WAIT -> %q", mode, r, c.read(1)[0]))
			results[side] = append(results[side], "again -> "+other.do(1, "CLIENT", "UNBLOCK", id)[0])
			c.nc.Close()
			other.nc.Close()
		}
	}
	for i := range results[0] {
		if results[0][i] != results[1][i] {
			t.Errorf("redis: %s\nproxy: %s", results[0][i], results[1][i])
		}
	}
	t.Logf("%q", results[1])
}
