package router

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/config"
)

// respCmd is args as a RESP command.
func respCmd(args ...string) string {
	s := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		s += respBulk(a)
	}
	return s
}

func respBulk(v string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(v), v) }

// mustReplyBig is mustReply for replies too large to print: a mismatch is
// shown around its first differing byte.
func (c *rawConn) mustReplyBig(want string) {
	c.t.Helper()
	got, err := c.reply()
	if err != nil || got != want {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		lo := max(i-20, 0)
		c.t.Fatalf("reply of %d bytes, %v; want %d bytes; first difference at %d: got %.60q, want %.60q",
			len(got), err, len(want), i, got[lo:], want[lo:])
	}
}

// Large values on the paths that do not forward a reply as it came: EXEC's
// array, a blocking command's reply (pinned connections) and MGET's merge
// of two shards' replies, in RESP2 and RESP3, pipelined with small
// commands, and to a client that reads late: every reply arrives once, in
// order, byte for byte, and the memory of the large values is returned.
func TestBigValuesPinnedAndMerged(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, func(pc *config.Pool) {
		pc.Timeout = 30 * time.Second
		pc.OutputLimitNormal = config.OutputLimit{Hard: 1 << 30}
	})
	v1 := strings.Repeat("1", 2*bigValue+7)
	v2 := strings.Repeat("2", 3*bigValue)
	k1, k2 := keyOnShard(t, p, 0, "b"), keyOnShard(t, p, 1, "b")
	s1, s2 := keyOnShard(t, p, 0, "s"), keyOnShard(t, p, 1, "s")
	none1 := keyOnShard(t, p, 0, "none") // never set

	c := dialRaw(t, p)
	c.send(respCmd("SET", k1, v1) + respCmd("SET", k2, v2) + respCmd("SET", s1, "small1") + respCmd("SET", s2, "small2"))
	for i := 0; i < 4; i++ {
		c.mustReplyBig("+OK\r\n")
	}
	before := p.mem.total.Load()

	// MGET merged from both shards, large and small elements mixed, a
	// missing key among them, between other commands.
	c.send(respCmd("GET", s1) + respCmd("MGET", s2, k1, "nosuch", k2, s1) + respCmd("GET", s2))
	c.mustReplyBig(respBulk("small1"))
	c.mustReplyBig("*5\r\n" + respBulk("small2") + respBulk(v1) + "$-1\r\n" + respBulk(v2) + respBulk("small1"))
	c.mustReplyBig(respBulk("small2"))

	// EXEC's reply holding large values, with a WATCH before it.
	c.send(respCmd("WATCH", k2) + respCmd("MULTI") + respCmd("GET", k2) + respCmd("SET", s2, "small2") + respCmd("GET", k2) +
		respCmd("EXEC") + respCmd("GET", s1))
	for _, want := range []string{"+OK\r\n", "+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+QUEUED\r\n"} {
		c.mustReplyBig(want)
	}
	c.mustReplyBig("*3\r\n" + respBulk(v2) + "+OK\r\n" + respBulk(v2))
	c.mustReplyBig(respBulk("small1"))

	// A command the proxy answers itself, spliced into EXEC's array
	// between large values.
	c.send(respCmd("MULTI") + respCmd("GET", k1) + respCmd("PING") + respCmd("GET", k1) + respCmd("EXEC") + respCmd("GET", s2))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+QUEUED\r\n"} {
		c.mustReplyBig(want)
	}
	c.mustReplyBig("*3\r\n" + respBulk(v1) + "+PONG\r\n" + respBulk(v1))
	c.mustReplyBig(respBulk("small2"))

	// A large SET as the first command of a transaction (MULTI and the
	// SET go as requests of their own), after a keyless one queued
	// before the binding.
	c.send(respCmd("MULTI") + respCmd("EVAL", "return 'e'", "0") + respCmd("SET", k1+"tx", v1) + respCmd("STRLEN", k1+"tx") + respCmd("EXEC"))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+QUEUED\r\n"} {
		c.mustReplyBig(want)
	}
	c.mustReplyBig(fmt.Sprintf("*3\r\n%s+OK\r\n:%d\r\n", respBulk("e"), len(v1)))

	// Blocking commands popping a large element.
	c.send(respCmd("RPUSH", "{l}a", v1, v2) + respCmd("BLPOP", "{l}a", "0") + respCmd("BLMOVE", "{l}a", "{l}b", "LEFT", "LEFT", "0") +
		respCmd("GET", s1) + respCmd("BLPOP", "{l}b", "0"))
	c.mustReplyBig(":2\r\n")
	c.mustReplyBig("*2\r\n" + respBulk("{l}a") + respBulk(v1))
	c.mustReplyBig(respBulk(v2))
	c.mustReplyBig(respBulk("small1"))
	c.mustReplyBig("*2\r\n" + respBulk("{l}b") + respBulk(v2))

	// RESP3: nulls inside MGET's merge are RESP3's, blocking replies and
	// EXEC's come from RESP3 connections.
	c.send(respCmd("HELLO", "3"))
	if r, err := c.reply(); err != nil || r[0] != '%' {
		t.Fatalf("HELLO 3: %q, %v", r, err)
	}
	c.send(respCmd("MGET", k1, "nosuch", k2) + respCmd("MULTI") + respCmd("GET", k1) + respCmd("GET", none1) + respCmd("EXEC"))
	c.mustReplyBig("*3\r\n" + respBulk(v1) + "_\r\n" + respBulk(v2))
	c.mustReplyBig("+OK\r\n")
	c.mustReplyBig("+QUEUED\r\n")
	c.mustReplyBig("+QUEUED\r\n")
	c.mustReplyBig("*2\r\n" + respBulk(v1) + "_\r\n")

	// A client that reads late: the large parts wait in the writer, in
	// order with the small ones.
	late := dialRaw(t, p)
	late.send(respCmd("MGET", k1, s2, k2) + respCmd("MULTI") + respCmd("GET", k1) + respCmd("EXEC") + respCmd("GET", s1))
	time.Sleep(300 * time.Millisecond)
	late.mustReplyBig("*3\r\n" + respBulk(v1) + respBulk("small2") + respBulk(v2))
	late.mustReplyBig("+OK\r\n")
	late.mustReplyBig("+QUEUED\r\n")
	late.mustReplyBig("*1\r\n" + respBulk(v1))
	late.mustReplyBig(respBulk("small1"))

	// The large buffers were reported as let go, and collected.
	want := int64(4 * len(v1))
	deadline := time.Now().Add(10 * time.Second)
	for p.mem.returned.Load() < before+want {
		if time.Now().After(deadline) {
			t.Fatalf("the memory of the large values was never returned (%d bytes reported, %d returned, want %d)",
				p.mem.total.Load()-before, p.mem.returned.Load()-before, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeTruncating is an in-process server that answers EXEC, BLPOP and
// MGET with the first half of a large reply and then closes the
// connection, as a shard that dies in the middle of a transfer.
func fakeTruncating(t *testing.T, name string, truncate bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	half := strings.Repeat("h", bigValue)
	big := fmt.Sprintf("$%d\r\n%s", 2*bigValue, half)
	go redcon.Serve(ln, func(conn redcon.Conn, cmd redcon.Command) {
		switch strings.ToLower(string(cmd.Args[0])) {
		case "ping":
			conn.WriteString("PONG")
		case "client":
			conn.WriteInt(7)
		case "multi":
			conn.SetContext(true)
			conn.WriteString("OK")
		case "exec", "blpop", "mget":
			if !truncate {
				conn.WriteArray(len(cmd.Args) - 1)
				for range cmd.Args[1:] {
					conn.WriteBulkString(half + half)
				}
				return
			}
			conn.WriteRaw([]byte("*1\r\n" + big))
			conn.Close()
		case "get":
			if conn.Context() != nil {
				conn.WriteString("QUEUED")
				return
			}
			conn.WriteBulkString(name)
		default:
			conn.WriteString("OK")
		}
	}, nil, nil)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// A shard whose connection dies in the middle of a large reply: the
// client gets an error for that command, nothing of the half-read reply,
// and every other reply complete and in order, on the pinned path (EXEC,
// BLPOP) and in MGET's merge.
func TestBigReplyCutMidTransfer(t *testing.T) {
	pc := config.Default("cut")
	pc.Listen = "127.0.0.1:0"
	pc.Timeout = 5 * time.Second
	pc.OutputLimitNormal = config.OutputLimit{Hard: 1 << 30}
	pc.Servers = []config.Server{
		{Addr: fakeTruncating(t, "good", false), Weight: 1, Name: "good"},
		{Addr: fakeTruncating(t, "bad", true), Weight: 1, Name: "bad"},
	}
	if err := pc.Validate(); err != nil {
		t.Fatal(err)
	}
	p := serve(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
	good, bad := keyOnShard(t, p, 0, "k"), keyOnShard(t, p, 1, "k")
	if p.Servers()[0].Name() != "good" {
		good, bad = bad, good
	}
	c := dialRaw(t, p)
	wantErr := func(what string) {
		t.Helper()
		r, err := c.reply()
		if err != nil || !strings.HasPrefix(r, "-ERR backend bad ") {
			t.Fatalf("%s: reply %.80q, %v; want an error naming the backend", what, r, err)
		}
	}
	for round := 0; round < 2; round++ {
		c.send(respCmd("GET", good) + respCmd("MULTI") + respCmd("GET", bad) + respCmd("EXEC") + respCmd("GET", good) +
			respCmd("BLPOP", bad, "0") + respCmd("GET", good) +
			respCmd("MGET", good, bad) + respCmd("MGET", good, good) + respCmd("PING"))
		c.mustReplyBig(respBulk("good"))
		c.mustReplyBig("+OK\r\n")
		c.mustReplyBig("+QUEUED\r\n")
		wantErr("EXEC")
		c.mustReplyBig(respBulk("good"))
		wantErr("BLPOP")
		c.mustReplyBig(respBulk("good"))
		wantErr("MGET")
		full := respBulk(strings.Repeat("h", 2*bigValue))
		c.mustReplyBig("*2\r\n" + full + full)
		c.mustReplyBig("+PONG\r\n")
	}
}
