package router

import (
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
)

// TestTimeoutRedialDoesNotFailOthers: with one connection per server (the
// default), a timeout closes the server's only connection. Requests that
// arrive while it is being dialled again wait for it, as they would behind
// nutcracker's reconnect, instead of failing with the timeout of a request
// that was not theirs.
func TestTimeoutRedialDoesNotFailOthers(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) {
		pc.Timeout = 300 * time.Millisecond
		pc.ServerConnections = 1
	})
	c := dialRaw(t, p)
	c.send(cmd("SET", "k", "v"))
	c.mustReply("+OK\r\n")
	// A connection that dies young is dialled again after a back-off, and
	// requests fail meanwhile; let this one grow old (MaxBackoff, 1s).
	time.Sleep(1100 * time.Millisecond)
	for round := range 3 {
		rs[0].Pause()
		c.send(cmd("GET", "k"))
		reply, err := c.reply()
		rs[0].Resume()
		if err != nil || !strings.HasPrefix(reply, "-ERR backend ") || !strings.Contains(reply, "timed out") {
			t.Fatalf("round %d: GET on a paused shard: %q, %v; want a timeout", round, reply, err)
		}
		// At once, while the connection is being replaced.
		for i := range 20 {
			c.send(cmd("GET", "k"))
			if reply, err := c.reply(); err != nil || reply != "$1\r\nv\r\n" {
				t.Fatalf("round %d: GET %d right after the timeout: %q, %v", round, i, reply, err)
			}
		}
		time.Sleep(1100 * time.Millisecond)
	}
	// A dead server is not waited for: its redial is refused, and from
	// then on requests fail at once.
	rs[0].Kill()
	start := time.Now()
	for i := range 50 {
		c.send(cmd("GET", "k"))
		if reply, err := c.reply(); err != nil || !strings.HasPrefix(reply, "-ERR backend shard1 unavailable: ") {
			t.Fatalf("GET %d on a killed shard: %q, %v", i, reply, err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("50 GETs on a killed shard took %v", d)
	}
}
