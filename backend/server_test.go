package backend

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/resp"
)

// fakeRedis is a scripted RESP server on 127.0.0.1:0: ECHO-like "GET k"
// replies "$len\r\nk\r\n", "SLEEP ms" sleeps then replies +OK, "DROP" closes
// the connection without a reply, "AUTH"/"SELECT" reply +OK and are logged.
type fakeRedis struct {
	ln       net.Listener
	mu       sync.Mutex
	closed   bool
	conns    []net.Conn
	seen     []string
	answered []string // commands whose reply was written (or failed to be)
	accepted atomic.Int32
	done     chan struct{}  // closed by close: cuts SLEEP short
	wg       sync.WaitGroup // acceptLoop and serve; close waits for them
}

func startFake(t *testing.T) *fakeRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := serveFake(ln)
	t.Cleanup(f.close)
	return f
}

// serveFake serves ln until close.
func serveFake(ln net.Listener) *fakeRedis {
	f := &fakeRedis{ln: ln, done: make(chan struct{})}
	f.wg.Add(1)
	go f.acceptLoop()
	return f
}

func (f *fakeRedis) addr() string { return f.ln.Addr().String() }

func (f *fakeRedis) acceptLoop() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.accepted.Add(1)
		f.mu.Lock()
		if f.closed { // accepted while close ran: close it too
			f.mu.Unlock()
			c.Close()
			continue
		}
		f.conns = append(f.conns, c)
		f.wg.Add(1) // under mu, before close can Wait
		f.mu.Unlock()
		go f.serve(c)
	}
}

func (f *fakeRedis) serve(c net.Conn) {
	defer f.wg.Done()
	defer c.Close()
	rd := redcon.NewReader(c)
	for {
		cmd, err := rd.ReadCommand()
		if err != nil {
			return
		}
		name := strings.ToUpper(string(cmd.Args[0]))
		f.mu.Lock()
		f.seen = append(f.seen, name)
		f.mu.Unlock()
		var reply string
		switch name {
		case "GET":
			reply = fmt.Sprintf("$%d\r\n%s\r\n", len(cmd.Args[1]), cmd.Args[1])
		case "SLEEP":
			ms, _ := strconv.Atoi(string(cmd.Args[1]))
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-f.done:
				return
			}
			reply = "+OK\r\n"
		case "DROP":
			return
		case "GARBAGE":
			reply = "?what\r\n"
		case "AUTH":
			if len(cmd.Args) == 3 && string(cmd.Args[1]) != "proxy" || string(cmd.Args[len(cmd.Args)-1]) != "secret" {
				reply = "-WRONGPASS invalid username-password pair\r\n"
			} else {
				reply = "+OK\r\n"
			}
		default:
			reply = "+OK\r\n"
		}
		_, err = c.Write([]byte(reply))
		f.mu.Lock()
		f.answered = append(f.answered, name)
		f.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// dropAll closes every accepted connection from the server side.
func (f *fakeRedis) dropAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func (f *fakeRedis) close() {
	f.mu.Lock()
	if !f.closed {
		close(f.done)
	}
	f.closed = true
	f.mu.Unlock()
	f.ln.Close()
	f.dropAll()
	f.wg.Wait()
}

// replied returns how many replies to name the fake has written.
func (f *fakeRedis) replied(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.answered {
		if a == name {
			n++
		}
	}
	return n
}

func (f *fakeRedis) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func newTestServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

func cmd(args ...string) []byte { return resp.AppendCommand(nil, args...) }

// send enqueues one request per wire on one connection and waits for all.
func send(t *testing.T, s *Server, wires ...[]byte) []*Request {
	t.Helper()
	reqs := make([]*Request, len(wires))
	for i, w := range wires {
		reqs[i] = NewRequest()
		reqs[i].Wire = w
	}
	c, err := s.Pick(0)
	if err != nil {
		for _, r := range reqs {
			r.Fail(err)
		}
	} else {
		c.Enqueue(reqs...)
	}
	for _, r := range reqs {
		r.Wait()
	}
	return reqs
}

func TestPipelineOrder(t *testing.T) {
	f := startFake(t)
	s := newTestServer(t, Options{Addr: f.addr(), Timeout: 2 * time.Second})
	// Many goroutines share the connection; each must get its own replies
	// in its own order.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				wires := make([][]byte, 50)
				for i := range wires {
					wires[i] = cmd("GET", fmt.Sprintf("g%d-r%d-%d", g, round, i))
				}
				for i, r := range send(t, s, wires...) {
					want := fmt.Sprintf("g%d-r%d-%d", g, round, i)
					if r.Err != nil || string(r.Reply) != fmt.Sprintf("$%d\r\n%s\r\n", len(want), want) {
						t.Errorf("reply %d = %q, %v; want %s", i, r.Reply, r.Err, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestTimeoutFailsInflightAndReconnects(t *testing.T) {
	f := startFake(t)
	s := newTestServer(t, Options{Name: "fake", Addr: f.addr(), Timeout: 200 * time.Millisecond})
	start := time.Now()
	reqs := send(t, s, cmd("SLEEP", "600"), cmd("GET", "late"))
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("timeout took %v", d)
	}
	for i, r := range reqs {
		if r.Err == nil || r.Err.Kind != KindTimeout {
			t.Fatalf("request %d: got %q, %v; want a timeout", i, r.Reply, r.Err)
		}
		if got, want := r.Err.Error(), "backend fake timed out after 200ms"; got != want {
			t.Fatalf("error text %q, want %q", got, want)
		}
	}
	// The late reply of SLEEP must never reach a later request: the next
	// request goes over a new connection and gets its own reply.
	waitUp(t, s)
	// Wait until the fake has answered SLEEP (on the old connection), so
	// that the late reply exists before the next request is sent.
	deadline := time.Now().Add(5 * time.Second)
	for f.replied("SLEEP") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the fake never answered SLEEP")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := send(t, s, cmd("GET", "fresh"))[0]
	if r.Err != nil || string(r.Reply) != "$5\r\nfresh\r\n" {
		t.Fatalf("after timeout: %q, %v", r.Reply, r.Err)
	}
	if f.accepted.Load() < 2 {
		t.Fatalf("connection was not replaced (accepted %d)", f.accepted.Load())
	}
}

func TestConnectionDropFailsRequests(t *testing.T) {
	f := startFake(t)
	s := newTestServer(t, Options{Name: "fake", Addr: f.addr(), Timeout: time.Second})
	reqs := send(t, s, cmd("GET", "a"), cmd("DROP"), cmd("GET", "b"))
	if reqs[0].Err != nil || string(reqs[0].Reply) != "$1\r\na\r\n" {
		t.Fatalf("first: %q %v", reqs[0].Reply, reqs[0].Err)
	}
	for _, r := range reqs[1:] {
		if r.Err == nil || r.Err.Kind != KindClosed {
			t.Fatalf("got %q, %v; want closed", r.Reply, r.Err)
		}
		if !strings.HasPrefix(r.Err.Error(), "backend fake unavailable: ") {
			t.Fatalf("error text %q", r.Err.Error())
		}
	}
	waitUp(t, s)
	if r := send(t, s, cmd("GET", "c"))[0]; r.Err != nil {
		t.Fatalf("after reconnect: %v", r.Err)
	}
}

func TestProtocolErrorClosesConnection(t *testing.T) {
	f := startFake(t)
	s := newTestServer(t, Options{Name: "fake", Addr: f.addr()})
	reqs := send(t, s, cmd("GARBAGE"), cmd("GET", "x"))
	for _, r := range reqs {
		if r.Err == nil {
			t.Fatalf("got %q, want an error", r.Reply)
		}
	}
	if reqs[0].Err.Kind != KindProtocol {
		t.Fatalf("kind %v, want protocol", reqs[0].Err.Kind)
	}
	// The connection that lost sync is replaced by a new one, which
	// serves the next request with its own reply.
	waitUp(t, s)
	if r := send(t, s, cmd("GET", "after"))[0]; r.Err != nil || string(r.Reply) != "$5\r\nafter\r\n" {
		t.Fatalf("after the protocol error: %q, %v", r.Reply, r.Err)
	}
	if n := f.accepted.Load(); n != 2 {
		t.Fatalf("%d connections accepted, want 2: the broken one replaced once", n)
	}
}

func TestServerDownAndBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s := newTestServer(t, Options{Name: "gone", Addr: addr, Timeout: 200 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if s.Up() {
		t.Fatal("server reported up with nothing listening")
	}
	r := send(t, s, cmd("GET", "a"))[0]
	if r.Err == nil || r.Err.Kind != KindConnect || !strings.Contains(r.Err.Error(), "backend gone unavailable: ") {
		t.Fatalf("got %q, %v; want a connect error", r.Reply, r.Err)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		// Another process took the freed port in the instant it was free:
		// the server would come back up on that process, not this test's.
		t.Fatalf("port %s was taken meanwhile: %v", addr, err)
	}
	f := serveFake(ln2)
	t.Cleanup(f.close)
	waitUp(t, s)
	if r := send(t, s, cmd("GET", "a"))[0]; r.Err != nil {
		t.Fatalf("after the server came back: %v", r.Err)
	}
}

func TestHandshake(t *testing.T) {
	f := startFake(t)
	s := newTestServer(t, Options{Addr: f.addr(), Auth: "secret", DB: 3, ReadOnly: true})
	waitUp(t, s)
	if r := send(t, s, cmd("PING"))[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	got := strings.Join(f.commands(), " ")
	if got != "AUTH SELECT READONLY PING" {
		t.Fatalf("commands seen %q", got)
	}
	// An ACL user: AUTH <user> <password>.
	user := newTestServer(t, Options{Name: "user", Addr: f.addr(), Username: "proxy", Auth: "secret", Timeout: 200 * time.Millisecond})
	if r := send(t, user, cmd("PING"))[0]; r.Err != nil {
		t.Fatalf("AUTH proxy secret: %v", r.Err)
	}
	other := newTestServer(t, Options{Name: "other", Addr: f.addr(), Username: "nobody", Auth: "secret", Timeout: 200 * time.Millisecond})
	if r := send(t, other, cmd("PING"))[0]; r.Err == nil || !strings.Contains(r.Err.Error(), "WRONGPASS") {
		t.Fatalf("AUTH nobody secret: %v, want the AUTH failure", r.Err)
	}
	bad := newTestServer(t, Options{Name: "bad", Addr: f.addr(), Auth: "wrong", Timeout: 200 * time.Millisecond})
	r := send(t, bad, cmd("PING"))[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "WRONGPASS") {
		t.Fatalf("got %v, want the AUTH failure", r.Err)
	}
}

func TestQueueLimit(t *testing.T) {
	f := startFake(t)
	s := newTestServer(t, Options{Addr: f.addr(), QueueLimit: 2})
	wires := [][]byte{cmd("GET", "a"), cmd("GET", "b"), cmd("GET", "c")}
	for _, r := range send(t, s, wires...) {
		if r.Err == nil || r.Err.Kind != KindOverload {
			t.Fatalf("got %q, %v; want overload for a batch over the limit", r.Reply, r.Err)
		}
	}
}

func TestCloseFailsEverything(t *testing.T) {
	f := startFake(t)
	s := NewServer(Options{Addr: f.addr(), Timeout: 5 * time.Second})
	c, err := s.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRequest()
	r.Wire = cmd("SLEEP", "2000")
	c.Enqueue(r)
	time.Sleep(50 * time.Millisecond)
	s.Close()
	r.Wait()
	if r.Err == nil {
		t.Fatal("request survived Close")
	}
	s.Close() // idempotent
}

// waitUp waits until the server has a usable connection.
func waitUp(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := s.Pick(0); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not come up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkPipeline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	f := serveFake(ln)
	defer f.close()
	s := NewServer(Options{Addr: f.addr()})
	defer s.Close()
	for _, batch := range []int{1, 16} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			reqs := make([]*Request, batch)
			for i := range reqs {
				reqs[i] = NewRequest()
			}
			wire := cmd("GET", "key:000000000001")
			b.ReportAllocs()
			for i := 0; i < b.N; i += batch {
				c, e := s.Pick(0)
				if e != nil {
					b.Fatal(e)
				}
				for _, r := range reqs {
					r.Reset()
					r.Wire = wire
				}
				c.Enqueue(reqs...)
				for _, r := range reqs {
					r.Wait()
				}
			}
		})
	}
}

// A server that dies while its connections are idle is noticed by the
// health check, without any client traffic.
func TestIdleServerDeathNoticed(t *testing.T) {
	f := startFake(t)
	s := newTestServer(t, Options{Addr: f.addr(), Connections: 2, HealthInterval: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	waitUp(t, s)
	f.close()
	deadline := time.Now().Add(3 * time.Second)
	for s.Up() {
		if time.Now().After(deadline) {
			t.Fatal("server still up 3s after it died with idle connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
