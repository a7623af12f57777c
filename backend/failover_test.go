package backend

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

func enqueue(t *testing.T, c *Conn, args ...string) *Request {
	t.Helper()
	r := NewRequest()
	r.Wire = resp.AppendCommand(nil, args...)
	c.Enqueue(r)
	return r
}

func pickT(t *testing.T, s *Server) *Conn {
	t.Helper()
	c, err := s.Pick(0)
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	return c
}

// TestSetAddr moves a server between two real redis-servers and checks
// what happens to the requests of every kind of connection.
func TestSetAddr(t *testing.T) {
	a, b := testenv.StartRedis(t), testenv.StartRedis(t)
	s := NewServer(Options{Name: "m", Addr: a.Addr, Timeout: 2 * time.Second, RequireMaster: true})
	defer s.Close()

	// A request in flight on the old address gets the old server's reply.
	inflight := enqueue(t, pickT(t, s), "BLPOP", "nokey", "0.3")
	// A dedicated connection (a blocked client) is closed with ErrMoved.
	d, derr := s.Dedicate()
	if derr != nil {
		t.Fatal(derr)
	}
	defer d.Close()
	blocked := NewRequest()
	blocked.Wire = resp.AppendCommand(nil, "BLPOP", "nokey", "1.5")
	blockedDone := make(chan struct{})
	go func() {
		defer close(blockedDone)
		d.DoBlocking(blocked, 1500*time.Millisecond)
	}()
	time.Sleep(50 * time.Millisecond) // both written
	start := time.Now()
	if !s.SetAddr(b.Addr) {
		t.Fatal("SetAddr reported no change")
	}
	if s.SetAddr(b.Addr) {
		t.Fatal("SetAddr to the same address reported a change")
	}
	// New requests go to the new address at once.
	set := enqueue(t, pickT(t, s), "SET", "where", "b")
	set.Wait()
	if set.Err != nil || string(set.Reply) != "+OK\r\n" {
		t.Fatalf("SET after SetAddr: %q %v", set.Reply, set.Err)
	}
	if v, _ := testenv.Do(b.Addr, "GET", "where"); v != "b" {
		t.Fatalf("the new server holds %v, want b", v)
	}
	if v, _ := testenv.Do(a.Addr, "GET", "where"); v != nil {
		t.Fatalf("the old server got the write: %v", v)
	}
	<-blockedDone
	if blocked.Err == nil || !errors.Is(blocked.Err, ErrMoved) || time.Since(start) > time.Second {
		t.Fatalf("blocked request on a dedicated connection: %v after %v, want ErrMoved at once", blocked.Err, time.Since(start))
	}
	inflight.Wait()
	if inflight.Err != nil || string(inflight.Reply) != "*-1\r\n" {
		t.Fatalf("in-flight request on the old address: %q %v, want the old server's null reply", inflight.Reply, inflight.Err)
	}
	if d.Err() == nil {
		t.Fatal("the dedicated connection is still open")
	}

	// A demoted master is refused: point the server at a replica.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := testenv.Do(a.Addr, "REPLICAOF", "127.0.0.1", strings.Split(b.Addr, ":")[1])
	must(err)
	s.SetAddr(a.Addr)
	testenv.WaitFor(t, 5*time.Second, func() bool {
		_, err := s.Pick(0)
		return err != nil && errors.Is(err, ErrNotMaster)
	}, "the server to refuse the replica")
	s.SetAddr(b.Addr)
	testenv.WaitFor(t, 5*time.Second, func() bool { _, err := s.Pick(0); return err == nil }, "the server to reconnect to b")
}

// TestSetAddrOldServerHung: requests in flight on an old master that no
// longer answers fail with the backend error when the timeout passes; they
// are not retried on the new one.
func TestSetAddrOldServerHung(t *testing.T) {
	a, b := testenv.StartRedis(t), testenv.StartRedis(t)
	s := NewServer(Options{Name: "m", Addr: a.Addr, Timeout: 500 * time.Millisecond})
	defer s.Close()
	a.Pause()
	defer a.Resume()
	r := enqueue(t, pickT(t, s), "SET", "k", "old")
	time.Sleep(20 * time.Millisecond)
	s.SetAddr(b.Addr)
	r.Wait()
	if r.Err == nil || r.Err.Kind != KindTimeout {
		t.Fatalf("request on the hung old master: %q %v, want a timeout", r.Reply, r.Err)
	}
	if v, _ := testenv.Do(b.Addr, "GET", "k"); v != nil {
		t.Fatalf("the request was retried on the new master: k = %v", v)
	}
	ok := enqueue(t, pickT(t, s), "PING")
	ok.Wait()
	if ok.Err != nil {
		t.Fatalf("PING on the new master: %v", ok.Err)
	}
}

// TestReadOnlyReplyTriggersRefresh: a -READONLY reply calls NotMaster.
func TestReadOnlyReplyTriggersRefresh(t *testing.T) {
	m := testenv.StartRedis(t)
	r := testenv.StartRedis(t, "--replicaof", "127.0.0.1", strings.Split(m.Addr, ":")[1])
	calls := make(chan struct{}, 10)
	s := NewServer(Options{Addr: r.Addr, NotMaster: func() { calls <- struct{}{} }})
	defer s.Close()
	req := enqueue(t, pickT(t, s), "SET", "k", "v")
	req.Wait()
	if !strings.HasPrefix(string(req.Reply), "-READONLY") {
		t.Fatalf("SET on a replica: %q %v", req.Reply, req.Err)
	}
	select {
	case <-calls:
	case <-time.After(time.Second):
		t.Fatal("NotMaster was not called")
	}
}

// TestEjector: a dead server is ejected after the failure limit, stays out
// for the retry timeout, returns at the first passing check, and Close
// stops every check goroutine.
func TestEjector(t *testing.T) {
	r := testenv.StartRedis(t)
	before := runtime.NumGoroutine()
	s := NewServer(Options{Addr: r.Addr, Timeout: time.Second, MaxBackoff: 50 * time.Millisecond})
	var mu sync.Mutex
	var events []bool
	e := NewEjector([]*Server{s}, EjectOptions{
		Interval: 50 * time.Millisecond, FailureLimit: 3, RetryTimeout: 500 * time.Millisecond,
		Changed: func(i int, ejected bool) { mu.Lock(); events = append(events, ejected); mu.Unlock() },
	})
	time.Sleep(300 * time.Millisecond)
	if e.Ejected(0) {
		t.Fatal("a healthy server was ejected")
	}
	// From before the kill: Kill returns once the process is reaped,
	// which under load comes well after the checks started failing. The
	// third failed check is at least one interval after the kill, not
	// two: the ticker may hold one tick from before it, run late.
	killed := time.Now()
	r.Kill()
	testenv.WaitFor(t, 3*time.Second, func() bool { return e.Ejected(0) }, "the dead server to be ejected")
	if d := time.Since(killed); d < 50*time.Millisecond {
		t.Errorf("ejected after %v, before 3 failed checks could run", d)
	}
	ejectedAt := time.Now()
	time.Sleep(700 * time.Millisecond)
	if !e.Ejected(0) {
		t.Fatal("a server still down came back after the retry timeout")
	}
	r.Restart()
	testenv.WaitFor(t, 3*time.Second, func() bool { return !e.Ejected(0) }, "the server to return")
	if d := time.Since(ejectedAt); d < 500*time.Millisecond {
		t.Errorf("returned %v after the ejection, before the retry timeout", d)
	}
	e.Close()
	s.Close()
	mu.Lock()
	if len(events) != 2 || !events[0] || events[1] {
		t.Errorf("Changed calls %v, want [true false]", events)
	}
	mu.Unlock()
	testenv.WaitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before },
		"goroutines to end after Close (%d, before %d)", runtime.NumGoroutine(), before)
}

// TestFence: a fence lasts its duration or until the address changes.
func TestFence(t *testing.T) {
	a, b := testenv.StartRedis(t), testenv.StartRedis(t)
	s := NewServer(Options{Name: "m", Addr: a.Addr})
	defer s.Close()
	if s.Fenced() {
		t.Fatal("fenced at start")
	}
	if !s.Fence(100 * time.Millisecond) {
		t.Fatal("Fence on an unfenced server reported it fenced already")
	}
	if s.Fence(100*time.Millisecond) || !s.Fenced() {
		t.Fatal("a second Fence: want already fenced, and fenced")
	}
	if e := s.FencedError(); !errors.Is(e, ErrFenced) || e.Kind != KindConnect {
		t.Fatalf("FencedError = %v", e)
	}
	time.Sleep(150 * time.Millisecond)
	if s.Fenced() {
		t.Fatal("still fenced after the duration")
	}
	s.Fence(time.Minute)
	s.SetAddr(b.Addr)
	if s.Fenced() {
		t.Fatal("still fenced after the switch")
	}
}
