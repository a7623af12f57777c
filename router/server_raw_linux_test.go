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
