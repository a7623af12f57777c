package router

import (
	"testing"
	"time"
)

// TestClientSocketsUseRawIO: on Linux a client's socket is read through
// backend.RawIO (raw system calls, see its doc) and its replies written
// with one raw write(2), and both serve a pipeline that straddles reads.
func TestClientSocketsUseRawIO(t *testing.T) {
	c, s := dialSession(t)
	if s.cc.gc.raw == nil {
		t.Fatal("the client's socket is read through net.Conn, not RawIO")
	}
	c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv")
	time.Sleep(20 * time.Millisecond)
	c.send("1\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n")
	c.mustReply("+OK\r\n")
	c.mustReply("$2\r\nv1\r\n")
	c.mustReply("+PONG\r\n")
}

// TestUnpipelinedClientWaitsWithoutEmptyReads: a client that sends one
// command at a time is served inside one raw.Serve callback, which goes
// back to wait after a short read without asking the socket again: its
// round trips cost no read(2) that finds nothing (a loop of Reads made
// one per request, or a one-byte peek).
func TestUnpipelinedClientWaitsWithoutEmptyReads(t *testing.T) {
	c, s := dialSession(t)
	const n = 500
	for i := 0; i < n; i++ {
		c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
		c.mustReply("+OK\r\n")
	}
	// A wake-up may find input it already read (readiness reported for
	// bytes taken by the read before); that costs one empty read, rarely.
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
	if e := s.cc.gc.empties.Load(); e > n/10 {
		t.Fatalf("%d of %d round trips made a read that found nothing", e, n)
	}
}

// TestCommandInPiecesThenServedInside: a command whose bytes arrive over
// several reads is finished outside the callback, with reads that wait;
// the connection then goes back to being served inside it.
func TestCommandInPiecesThenServedInside(t *testing.T) {
	c, s := dialSession(t)
	cmd := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"
	for i := range cmd {
		c.send(cmd[i : i+1])
		time.Sleep(2 * time.Millisecond)
	}
	c.mustReply("+OK\r\n")
	for i := 0; i < 50; i++ {
		c.send("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
		c.mustReply("$5\r\nhello\r\n")
	}
	if e := s.cc.gc.empties.Load(); e > 20 {
		t.Fatalf("%d reads found nothing after the command in pieces: not served inside again", e)
	}
}
