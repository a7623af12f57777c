package backend

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestRawIOOnlyForSockets(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if NewRawIO(a) != nil {
		t.Fatal("raw I/O for a net.Pipe")
	}
	c, _ := tcpPair(t)
	if NewRawIO(c) == nil {
		t.Fatal("no raw I/O for a TCP connection")
	}
}

// TestRawIOReadsAsNetConn: data, a wait for data that comes later, the
// deadline's error and end of stream come out as from the net.Conn.
func TestRawIOReadsAsNetConn(t *testing.T) {
	c, s := tcpPair(t)
	r := NewRawIO(c)
	buf := make([]byte, 64)

	s.Write([]byte("hello"))
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	// Nothing buffered: Read parks until the peer writes.
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.Write([]byte("later"))
	}()
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "later" {
		t.Fatalf("Read after a wait = %q, %v", buf[:n], err)
	}
	if n, err := r.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}

	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, err := r.Read(buf)
	_, want := c.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) || err.Error() != want.Error() {
		t.Fatalf("Read past the deadline = %v, want %v", err, want)
	}
	c.SetReadDeadline(time.Time{})

	s.Close()
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read at end of stream = %d, %v, want io.EOF", n, err)
	}
}

// TestRawIOReadUnblocksOnClose: closing the connection wakes a parked Read
// with net.ErrClosed, as it does a net.Conn's.
func TestRawIOReadUnblocksOnClose(t *testing.T) {
	c, _ := tcpPair(t)
	r := NewRawIO(c)
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still parked 5 s after Close")
	}
}

// TestRawIOWritesEverything: a write much larger than the socket buffers
// waits for room as often as needed and arrives whole and in order.
func TestRawIOWritesEverything(t *testing.T) {
	c, s := tcpPair(t)
	r := NewRawIO(c)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MB
	var got []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096) // a slow reader: small reads
		for len(got) < len(want) {
			n, err := s.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				return
			}
		}
	}()
	n, err := r.Write(want)
	wg.Wait()
	if n != len(want) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("peer read %d bytes, not what was written", len(got))
	}
}

// TestRawIOWriteErrors: a peer that never reads turns the write deadline
// into os.ErrDeadlineExceeded with the bytes written so far; a peer that
// is gone gives the system's error, and the process lives on (SIGPIPE).
func TestRawIOWriteErrors(t *testing.T) {
	c, s := tcpPair(t)
	r := NewRawIO(c)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	big := make([]byte, 64<<20)
	n, err := r.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= len(big) {
		t.Fatalf("Write to a peer that does not read = %d, %v; want part written and the deadline", n, err)
	}
	if want := "write tcp " + c.LocalAddr().String() + "->" + c.RemoteAddr().String() + ": i/o timeout"; err.Error() != want {
		t.Fatalf("error text %q, want %q", err, want)
	}
	c.SetWriteDeadline(time.Time{})

	s.SetLinger(0)
	s.Close() // the peer resets the connection
	time.Sleep(50 * time.Millisecond)
	var werr error
	for range 10 {
		if _, werr = r.Write([]byte("x")); werr != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) {
		t.Fatalf("Write to a reset peer = %v, want ECONNRESET or EPIPE", werr)
	}
}

// TestRawWriteNeverWaits: RawWrite on a full socket returns EAGAIN at once.
func TestRawWriteNeverWaits(t *testing.T) {
	c, _ := tcpPair(t)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	var e syscall.Errno
	total := 0
	rc.Write(func(fd uintptr) bool {
		for e == 0 && total < 1<<30 {
			var n int
			n, e = RawWrite(fd, chunk)
			total += n
		}
		return true
	})
	if e != syscall.EAGAIN {
		t.Fatalf("after %d bytes to a peer that does not read: %v, want EAGAIN", total, e)
	}
}

// TestServerConnsUseRawIO: a server's shared connections to a real
// redis-server read and write through RawIO on Linux, and serve a pipeline.
func TestServerConnsUseRawIO(t *testing.T) {
	r := testenv.StartRedis(t)
	s := newTestServer(t, Options{Addr: r.Addr, Timeout: 2 * time.Second})
	reqs := send(t, s, cmd("SET", "k", "v"), cmd("GET", "k"), cmd("PING"))
	want := []string{"+OK\r\n", "$1\r\nv\r\n", "+PONG\r\n"}
	for i, q := range reqs {
		if q.Err != nil || string(q.Reply) != want[i] {
			t.Fatalf("reply %d = %q, %v; want %q", i, q.Reply, q.Err, want[i])
		}
	}
	c, err := s.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	if !c.raw {
		t.Fatal("a shared connection reads and writes through net.Conn, not RawIO")
	}
}
