package router

import (
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestIdleClientHoldsNoReadBuffer checks that a client holds read buffers
// only while it has input: not before its first command, not once a batch
// is answered, but through a command that arrives in pieces, which must
// still be served whole.
func TestIdleClientHoldsNoReadBuffer(t *testing.T) {
	px, sessions := hookedProxy(t, []*testenv.Redis{testenv.StartRedis(t)}, nil)
	c := dialRaw(t, px.Pools()[0])
	var s *Session
	select {
	case s = <-sessions:
	case <-time.After(5 * time.Second):
		t.Fatal("no session")
	}
	holding := func() bool { return s.cc.holding.Load() }
	// eventually waits for the connection's goroutine to reach the state:
	// it lends or returns the reader right after reading or answering.
	eventually := func(want bool, when string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); holding() != want; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: holding a reader = %v, want %v", when, !want, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	eventually(false, "connected")

	c.send("PING\r\n*1\r\n$4\r\nPING\r\n")
	c.mustReply("+PONG\r\n")
	c.mustReply("+PONG\r\n")
	eventually(false, "after a batch")

	// Half a command: the guard holds it back, the goroutine reads on
	// with the reader lent, and the rest completes the command.
	c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva")
	eventually(true, "mid-command")
	c.send("lue\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
	c.mustReply("+OK\r\n")
	c.mustReply("$5\r\nvalue\r\n")
	eventually(false, "after the pieces")

	// An inline command longer than one read goes to redcon in pieces.
	long := make([]byte, 20000)
	for i := range long {
		long[i] = 'x'
	}
	c.send("ECHO " + string(long[:10000]))
	eventually(true, "mid-inline")
	c.send(string(long[10000:]) + "\r\n")
	c.mustReply("$20000\r\n" + string(long) + "\r\n")
	eventually(false, "after the inline command")
}
