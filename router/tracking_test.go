package router

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// trackConn is a raw client that tells pushes from replies.
type trackConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialTrack(t *testing.T, addr string) *trackConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &trackConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// do sends cmd and returns its reply and the pushes read before it.
func (c *trackConn) do(cmd ...string) (string, []string) {
	c.t.Helper()
	c.nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(resp.AppendCommand(nil, cmd...)); err != nil {
		c.t.Fatal(err)
	}
	var pushes []string
	for {
		b, err := resp.ReadReply(c.br, nil)
		if err != nil {
			c.t.Fatalf("%q: %v", cmd, err)
		}
		if b[0] == '>' {
			pushes = append(pushes, string(b))
			continue
		}
		return string(b), pushes
	}
}

// pushes reads what arrives within d (pushes only are expected).
func (c *trackConn) pushes(d time.Duration) []string {
	c.t.Helper()
	var out []string
	c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		b, err := resp.ReadReply(c.br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return out
			}
			if strings.Contains(err.Error(), "timeout") {
				return out
			}
			c.t.Fatalf("reading pushes: %v", err)
		}
		out = append(out, string(b))
	}
}

func TestClientTrackingInvalidates(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.HealthCheckInterval = 200 * time.Millisecond })
	plain := testenv.StartRedis(t)
	want := ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"

	// Redis's own push, for the shape.
	rc := dialTrack(t, plain.Addr)
	rc.do("HELLO", "3")
	rc.do("CLIENT", "TRACKING", "on")
	rc.do("GET", "k")
	rw := dialTrack(t, plain.Addr)
	rw.do("SET", "k", "1")
	if got := rc.pushes(time.Second); len(got) != 1 || got[0] != want {
		t.Fatalf("redis-server pushed %q, want %q", got, want)
	}

	c := dialTrack(t, p.Addr())
	c.do("HELLO", "3")
	if r, _ := c.do("CLIENT", "TRACKING", "on"); r != "+OK\r\n" {
		t.Fatalf("CLIENT TRACKING on = %q", r)
	}
	w := dialTrack(t, p.Addr())

	// A write through the proxy (another client) of a key c read.
	c.do("GET", "k")
	w.do("SET", "k", "2")
	if got := c.pushes(2 * time.Second); len(got) != 1 || got[0] != want {
		t.Fatalf("after a write through the proxy: pushes %q, want one %q", got, want)
	}
	// Once: a second write without a new read pushes nothing.
	w.do("SET", "k", "3")
	if got := c.pushes(time.Second); len(got) != 0 {
		t.Fatalf("a second write without a read pushed %q", got)
	}

	// A write made directly on the shard that owns k.
	c.do("GET", "k")
	if _, err := testenv.Do(rs[owner(t, rs, "k")].Addr, "SET", "k", "4"); err != nil {
		t.Fatal(err)
	}
	if got := c.pushes(2 * time.Second); len(got) != 1 || got[0] != want {
		t.Fatalf("after a write on the shard: pushes %q, want one %q", got, want)
	}

	// A key c never read: nothing.
	w.do("SET", "other", "1")
	if got := c.pushes(time.Second); len(got) != 0 {
		t.Fatalf("a key never read pushed %q", got)
	}

	// Tracking off: reads are no longer entered, nothing is pushed.
	c.do("CLIENT", "TRACKING", "off")
	c.do("GET", "k")
	w.do("SET", "k", "5")
	if got := c.pushes(time.Second); len(got) != 0 {
		t.Fatalf("after TRACKING off: pushes %q", got)
	}
}

// TestClientTrackingCommandsMatchRedis compares the replies of the
// tracking commands the proxy answers with redis-server's, in both
// protocols.
func TestClientTrackingCommandsMatchRedis(t *testing.T) {
	p := startProxy(t, shards(t, 2), nil)
	plain := testenv.StartRedis(t)
	conv := [][]string{
		{"CLIENT", "TRACKINGINFO"},
		{"CLIENT", "GETREDIR"},
		{"CLIENT", "CACHING", "yes"},
		{"CLIENT", "TRACKING", "on"}, // RESP2 without REDIRECT: +OK, as Redis 7.0
		{"CLIENT", "TRACKINGINFO"},
		{"CLIENT", "GETREDIR"},
		{"CLIENT", "CACHING", "yes"},
		{"CLIENT", "CACHING", "no"},
		{"CLIENT", "TRACKING", "maybe"},
		{"CLIENT", "TRACKING", "on", "FOO"},
		{"CLIENT", "TRACKING", "on", "REDIRECT"},
		{"CLIENT", "TRACKINGINFO", "x"},
		{"CLIENT", "TRACKING", "off"},
		{"HELLO", "3"},
		{"CLIENT", "TRACKINGINFO"},
		{"CLIENT", "TRACKING", "on"},
		{"CLIENT", "TRACKINGINFO"},
		{"CLIENT", "GETREDIR"},
		{"CLIENT", "TRACKING", "off"},
		{"CLIENT", "GETREDIR"},
	}
	a, b := dialTrack(t, p.Addr()), dialTrack(t, plain.Addr)
	for _, cmd := range conv {
		got, _ := a.do(cmd...)
		want, _ := b.do(cmd...)
		if cmd[0] == "HELLO" {
			continue
		}
		if got != want {
			t.Errorf("%q:\n proxy %q\n redis %q", cmd, got, want)
		}
	}
	// What the proxy does not offer is refused clearly.
	for _, opt := range [][]string{{"BCAST"}, {"OPTIN"}, {"OPTOUT"}, {"NOLOOP"}, {"PREFIX", "a"}, {"REDIRECT", "1"}} {
		got, _ := a.do(append([]string{"CLIENT", "TRACKING", "on"}, opt...)...)
		if want := "-ERR CLIENT TRACKING option '" + strings.ToLower(opt[0]) + "' is not supported by the proxy\r\n"; got != want {
			t.Errorf("TRACKING on %s = %q, want %q", opt, got, want)
		}
	}
}

// TestClientTrackingFlushOnShardLoss: a shard connection that goes away
// forgets what Redis tracked on it, so a tracking client that read keys is
// told to flush its cache (a null invalidate, as Redis sends on FLUSHALL).
func TestClientTrackingFlushOnShardLoss(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, nil)
	c := dialTrack(t, p.Addr())
	c.do("HELLO", "3")
	c.do("CLIENT", "TRACKING", "on")
	c.do("GET", "k")
	rs[p.pick([]byte("k"))].Kill()
	got := c.pushes(3 * time.Second)
	if len(got) == 0 || got[0] != ">2\r\n$10\r\ninvalidate\r\n_\r\n" {
		t.Fatalf("after the shard died: pushes %q, want a flush", got)
	}
}

// TestClientTrackingMGET: the keys of an MGET split across shards are
// tracked like single reads, and each write invalidates its key once.
func TestClientTrackingMGET(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	c := dialTrack(t, p.Addr())
	c.do("HELLO", "3")
	c.do("CLIENT", "TRACKING", "on")
	w := dialTrack(t, p.Addr())
	keys := []string{"a", "b", "c", "d", "e", "f"}
	for _, k := range keys {
		w.do("SET", k, "1")
	}
	if r, _ := c.do(append([]string{"MGET"}, keys...)...); !strings.HasPrefix(r, "*6\r\n$1\r\n1\r\n") {
		t.Fatalf("MGET = %q", r)
	}
	for _, k := range keys {
		w.do("SET", k, "2")
	}
	got := map[string]int{}
	for _, b := range c.pushes(2 * time.Second) {
		got[b]++
	}
	for _, k := range keys {
		want := ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\n" + k + "\r\n"
		if got[want] != 1 {
			t.Errorf("key %s: %d invalidations, want 1 (all pushes: %v)", k, got[want], got)
		}
	}
	if r, _ := c.do("MGET", "a", "b"); r != "*2\r\n$1\r\n2\r\n$1\r\n2\r\n" {
		t.Errorf("MGET after the writes = %q (the CACHING reply must not leak)", r)
	}
}
