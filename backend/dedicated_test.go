package backend

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// countingObserver counts failures and replies, to check what a dedicated
// connection reports to metrics and health.
type countingObserver struct {
	nopObserver
	mu      sync.Mutex
	failed  map[ErrorKind]int
	replied int
}

func (o *countingObserver) Failed(k ErrorKind) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed == nil {
		o.failed = map[ErrorKind]int{}
	}
	o.failed[k]++
}

func (o *countingObserver) Replied(time.Duration, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.replied++
}

func (o *countingObserver) failures(k ErrorKind) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failed[k]
}

// passwordRedis starts a redis-server whose default user needs password pw.
func passwordRedis(t *testing.T, pw string) (*testenv.Redis, *redis.Client) {
	t.Helper()
	r := testenv.StartRedis(t)
	if _, err := testenv.Do(r.Addr, "CONFIG", "SET", "requirepass", pw); err != nil {
		t.Fatal(err)
	}
	opts := testenv.ClientOptions(r.Addr)
	opts.Password = pw
	opts.ClientName = "admin"
	opts.PoolSize = 1
	admin := redis.NewClient(opts)
	t.Cleanup(func() { admin.Close() })
	return r, admin
}

// clientLines returns the CLIENT LIST lines of every connection except the
// admin's own.
func clientLines(t *testing.T, admin *redis.Client) []string {
	t.Helper()
	out, err := admin.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" && !strings.Contains(l, " name=admin ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// waitClients waits until the server shows want connections besides the
// admin's, and returns their CLIENT LIST lines.
func waitClients(t *testing.T, admin *redis.Client, want int) []string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		lines := clientLines(t, admin)
		if len(lines) == want {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections on the server, want %d:\n%s", len(lines), want, strings.Join(lines, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDedicatedHandshake(t *testing.T) {
	r, admin := passwordRedis(t, "s3cret")
	s := newTestServer(t, Options{Addr: r.Addr, Auth: "s3cret", DB: 3, Connections: 1, Timeout: time.Second})
	waitClients(t, admin, 1) // the multiplexed connection
	d, err := s.Dedicate()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	req := NewRequest()
	req.Wire = cmd("CLIENT", "SETNAME", "pinned")
	if err := d.Do(req); err != nil || string(req.Reply) != "+OK\r\n" {
		t.Fatalf("CLIENT SETNAME: %q %v", req.Reply, err)
	}
	lines := waitClients(t, admin, 2)
	found := false
	for _, l := range lines {
		if strings.Contains(l, " name=pinned ") {
			found = true
			// AUTH went through (the command ran at all) and SELECT 3 too.
			if !strings.Contains(l, " db=3 ") {
				t.Errorf("dedicated connection not on db 3: %s", l)
			}
		}
	}
	if !found {
		t.Fatalf("no connection named pinned:\n%s", strings.Join(lines, "\n"))
	}
	if n := s.Dedicated(); n != 1 {
		t.Errorf("server tracks %d dedicated connections, want 1", n)
	}
	d.Close()
	waitClients(t, admin, 1)
	if n := s.Dedicated(); n != 0 {
		t.Errorf("server tracks %d dedicated connections after Close, want 0", n)
	}

	// A wrong password fails the handshake, as a connect error.
	bad := newTestServer(t, Options{Addr: r.Addr, Auth: "wrong", Connections: 1, Timeout: time.Second})
	if _, err := bad.Dedicate(); err == nil || err.Kind != KindConnect || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("Dedicate with a wrong password: %v", err)
	}
}

func TestDedicatedBlockingDeadline(t *testing.T) {
	r := testenv.StartRedis(t)
	obs := &countingObserver{}
	s := newTestServer(t, Options{Addr: r.Addr, Connections: 1, Timeout: 200 * time.Millisecond, Observer: obs})
	d, err := s.Dedicate()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	// BLPOP with a 1 s timeout waits far past the request timeout: with the
	// blocking deadline (1 s + 200 ms) it answers nil, and that is neither a
	// timeout nor a failure.
	req := NewRequest()
	req.Wire = cmd("BLPOP", "nolist", "1")
	start := time.Now()
	if err := d.DoBlocking(req, time.Second); err != nil {
		t.Fatalf("BLPOP 1: %v", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("BLPOP 1 took %v", took)
	}
	if string(req.Reply) != "*-1\r\n" {
		t.Fatalf("BLPOP 1 replied %q, want a null array", req.Reply)
	}
	for _, k := range []ErrorKind{KindTimeout, KindClosed, KindProtocol} {
		if n := obs.failures(k); n != 0 {
			t.Errorf("%d %s failures after a BLPOP that blocked legitimately", n, k)
		}
	}
	if !s.Up() {
		t.Error("server not up after a long blocking command")
	}

	// BLPOP 0 blocks forever: no deadline, so it waits for the push.
	go func() {
		time.Sleep(400 * time.Millisecond)
		testenv.Do(r.Addr, "RPUSH", "later", "v")
	}()
	req.Reset()
	req.Wire = cmd("BLPOP", "later", "0")
	if err := d.DoBlocking(req, 0); err != nil {
		t.Fatalf("BLPOP 0: %v", err)
	}
	if want := "*2\r\n$5\r\nlater\r\n$1\r\nv\r\n"; string(req.Reply) != want {
		t.Fatalf("BLPOP 0 replied %q, want %q", req.Reply, want)
	}

	// A plain request gets the 200 ms request timeout: a command that
	// blocks longer times out, counts as a timeout and closes the conn.
	req.Reset()
	req.Wire = cmd("BLPOP", "nolist", "2")
	start = time.Now()
	err = d.Do(req)
	if err == nil || err.Kind != KindTimeout {
		t.Fatalf("BLPOP 2 with the request timeout: %v, want a timeout", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("timeout took %v", took)
	}
	if req.Err != err {
		t.Error("r.Err not set to the returned error")
	}
	if n := obs.failures(KindTimeout); n != 1 {
		t.Errorf("%d timeouts counted, want 1", n)
	}
	if d.Err() == nil {
		t.Fatal("connection still usable after a timeout")
	}
	req.Reset()
	req.Wire = cmd("PING")
	if err := d.Do(req); err == nil {
		t.Fatal("request on a timed-out connection succeeded")
	}
	if n := s.Dedicated(); n != 0 {
		t.Errorf("server tracks %d dedicated connections after the timeout, want 0", n)
	}
	// The server closed its side too: only the multiplexed conn is left.
	waitPlainClients(t, r.Addr, 1)
}

// waitPlainClients is waitClients for a server without a password, counting
// every connection except the one asking.
func waitPlainClients(t *testing.T, addr string, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		v, err := testenv.Do(addr, "CLIENT", "LIST")
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(strings.TrimSpace(v.(string)), "\n") // minus our own
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections on %s, want %d:\n%s", n, addr, want, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerCloseClosesDedicated(t *testing.T) {
	r := testenv.StartRedis(t)
	s := NewServer(Options{Addr: r.Addr, Connections: 1, Timeout: time.Second})
	var ds []*Dedicated
	for i := 0; i < 3; i++ {
		d, err := s.Dedicate()
		if err != nil {
			s.Close()
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	waitPlainClients(t, r.Addr, 4)
	// One of them is blocked in a command: Close must end it at once.
	blocked := make(chan *Error, 1)
	go func() {
		req := NewRequest()
		req.Wire = cmd("BLPOP", "nolist", "0")
		blocked <- ds[0].DoBlocking(req, 0)
	}()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-blocked:
		if err == nil || !errors.Is(err, ErrServerClosed) {
			t.Fatalf("blocked BLPOP after Close: %v, want %v", err, ErrServerClosed)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a blocked request outlived Server.Close")
	}
	for _, d := range ds {
		if d.Err() == nil {
			t.Error("dedicated connection open after Server.Close")
		}
		d.Close() // idempotent, after the server's close
	}
	waitPlainClients(t, r.Addr, 0)
	if _, err := s.Dedicate(); err == nil || !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Dedicate after Close: %v", err)
	}
}

// budgetSink is a ReplySink with a byte budget.
type budgetSink struct {
	mu          sync.Mutex
	used, limit int
}

func (b *budgetSink) Charge(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

func (b *budgetSink) Release(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

func (b *budgetSink) load() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Replies are charged to their request's sink as they are read; a refused
// reply is dropped without disturbing the shared connection.
func TestReplySinkChargesAndDrops(t *testing.T) {
	r := testenv.StartRedis(t)
	if _, err := testenv.Do(r.Addr, "SET", "k", strings.Repeat("x", 1000)); err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, Options{Addr: r.Addr, Connections: 1, Timeout: time.Second})
	sink := &budgetSink{limit: 2500}
	reqs := make([]*Request, 4)
	for i := range reqs {
		reqs[i] = NewRequest()
		reqs[i].Sink = sink
		reqs[i].Wire = cmd("GET", "k")
	}
	c, err := s.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	c.Enqueue(reqs...)
	for _, r := range reqs {
		r.Wait()
	}
	// 1009 bytes each: two fit in 2500, the third and fourth are dropped.
	for i, r := range reqs {
		if i < 2 {
			if r.Err != nil || len(r.Reply) != 1009 {
				t.Fatalf("request %d: %d bytes, %v", i, len(r.Reply), r.Err)
			}
			continue
		}
		if r.Err == nil || !errors.Is(r.Err, ErrReplyDropped) || len(r.Reply) != 0 {
			t.Fatalf("request %d over budget: %d bytes, %v", i, len(r.Reply), r.Err)
		}
	}
	if got := sink.load(); got != 2018 {
		t.Fatalf("sink holds %d bytes, want 2018", got)
	}
	reqs[0].Release()
	reqs[0].Release() // idempotent
	reqs[1].Reset()   // Reset releases too
	if got := sink.load(); got != 0 {
		t.Fatalf("sink holds %d bytes after release, want 0", got)
	}
	// The shared connection is intact: the next request gets its own reply.
	ping := send(t, s, cmd("PING"))[0]
	if ping.Err != nil || string(ping.Reply) != "+PONG\r\n" {
		t.Fatalf("PING after dropped replies: %q %v", ping.Reply, ping.Err)
	}
}
