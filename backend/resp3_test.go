package backend

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestPickProto: the RESP3 connections start on first use, answer in
// RESP3, carry invalidation pushes to OnPush without shifting replies, and
// stop with the server.
func TestPickProto(t *testing.T) {
	r := testenv.StartRedis(t)
	before := runtime.NumGoroutine()
	var pushes atomic.Int32
	var flushes atomic.Int32
	s := NewServer(Options{Addr: r.Addr, Timeout: 2 * time.Second, HealthInterval: 50 * time.Millisecond,
		OnPush: func(b []byte) {
			if b == nil {
				flushes.Add(1)
			} else if strings.Contains(string(b), "invalidate") {
				pushes.Add(1)
			}
		}})
	if s.slots3.Load() != nil {
		t.Fatal("RESP3 connections opened before any RESP3 request")
	}
	do := func(proto int, wire []byte, skip int) string {
		t.Helper()
		c, err := s.PickProto(0, proto)
		if err != nil {
			t.Fatalf("PickProto(%d): %v", proto, err)
		}
		q := NewRequest()
		q.Wire, q.Skip = wire, skip
		c.Enqueue(q)
		q.Wait()
		if q.Err != nil {
			t.Fatalf("%q: %v", wire, q.Err)
		}
		return string(q.Reply)
	}
	do(2, cmd("HSET", "h", "f", "v"), 0)
	if got := do(2, cmd("HGETALL", "h"), 0); got != "*2\r\n$1\r\nf\r\n$1\r\nv\r\n" {
		t.Errorf("RESP2 HGETALL = %q", got)
	}
	if got := do(3, cmd("HGETALL", "h"), 0); got != "%1\r\n$1\r\nf\r\n$1\r\nv\r\n" {
		t.Errorf("RESP3 HGETALL = %q", got)
	}
	// A tracked read, then a write elsewhere: the push comes with the
	// next reply (or health PING) and the replies stay in place.
	if got := do(3, append(append([]byte(nil), CachingWire...), cmd("GET", "k")...), 1); got != "_\r\n" {
		t.Errorf("tracked GET = %q", got)
	}
	do(2, cmd("SET", "k", "1"), 0)
	testenv.WaitFor(t, 3*time.Second, func() bool { return pushes.Load() == 1 }, "one invalidation push, got %d", pushes.Load())
	if got := do(3, cmd("GET", "k"), 0); got != "$1\r\n1\r\n" {
		t.Errorf("GET after the push = %q", got)
	}
	s.Close()
	if flushes.Load() == 0 {
		t.Error("no flush when the RESP3 connection closed")
	}
	if _, err := s.PickProto(0, 3); err == nil {
		t.Error("PickProto after Close succeeded")
	}
	testenv.WaitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before },
		"goroutines to end after Close (%d, before %d)", runtime.NumGoroutine(), before)
}
