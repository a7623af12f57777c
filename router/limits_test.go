package router

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shardproxy/shardproxy/config"
)

// rawExchange sends in on a new connection to addr and returns every byte
// that comes back until the server closes the connection (closed true) or
// stays silent for quiet after answering (nothing within wait at first).
func rawExchange(t *testing.T, addr string, in []byte, wait time.Duration) (got []byte, closed bool) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	go nc.Write(in) // may fail once the server has closed: that is the test
	const quiet = 500 * time.Millisecond
	buf := make([]byte, 64<<10)
	deadline := wait
	for {
		nc.SetReadDeadline(time.Now().Add(deadline))
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return got, false
			}
			return got, true // EOF or reset
		}
		deadline = quiet
	}
}

// The proxy answers every malformed frame of issue 12 as redis-server 7.0
// does, byte for byte, with the same connection state afterwards, and
// answers the commands before the bad frame first.
func TestProtocolErrorsMatchRedis(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 10 * time.Second })
	digits := strings.Repeat("1", 70000)
	var many bytes.Buffer
	many.WriteString("*1048577\r\n$4\r\nECHO\r\n")
	for i := 1; i < 1048577; i++ {
		many.WriteString("$1\r\na\r\n")
	}
	cases := []struct{ name, in string }{
		{"*+1", "*+1\r\n$4\r\nPING\r\n"},
		{"$+4", "*1\r\n$+4\r\nPING\r\n"},
		{"$-0", "*1\r\n$-0\r\n\r\n"},
		{"*01", "*01\r\n$4\r\nPING\r\n"},
		{"$04", "*1\r\n$04\r\nPING\r\n"},
		{"commands before a bad frame", "PING\r\n*1\r\n$4\r\nPING\r\nECHO hi\r\n*+1\r\n$4\r\nPING\r\n"},
		{"prefix then 1GB bulk", "*+1\r\n$4\r\nPING\r\n*1\r\n$1073741824\r\n"},
		{"1GB bulk", "*1\r\n$1073741824\r\n"},
		{"bulk over 512MB", "*2\r\n$4\r\nECHO\r\n$536870913\r\n"},
		{"count line without CRLF", "*" + digits},
		{"bulk line without CRLF", "*1\r\n$" + digits},
		{"count over INT_MAX", "*2147483648\r\n"},
		{"*-2 ignored", "*-2\r\nPING\r\n"},
		{"*0 and *-1 ignored", "*0\r\n*-1\r\nPING\r\n"},
		{"inline 70KB", "ECHO " + strings.Repeat("a", 70000) + "\r\n"},
		{"inline without LF", "ECHO " + strings.Repeat("a", 100000)},
		{"expected $", "*1\r\n:4\r\nPING\r\n"},
		{"bytes after payload", "*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n"},
		{"unbalanced quotes", "PING\r\nECHO \"a\r\nPING\r\n"},
		{"text after closing quote", "ECHO \"a\"b\r\n"},
		{"CR without LF", "*1\r$4\r\nPING\r\n"},
		{"1048577 arguments", many.String()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wait := 5 * time.Second
			if len(tc.in) > 1<<20 {
				wait = 60 * time.Second
			}
			want, wantClosed := rawExchange(t, rs[0].Addr, []byte(tc.in), wait)
			got, closed := rawExchange(t, p.Addr(), []byte(tc.in), wait)
			if !bytes.Equal(got, want) || closed != wantClosed {
				t.Errorf("proxy: %.120q (closed %v)\nredis: %.120q (closed %v)", got, closed, want, wantClosed)
			}
		})
	}
}

// A length line that never ends costs the proxy 64 KB, not what the
// client sends: the connection is cut with Redis's error long before the
// client has written 16 MB (issue 12, D2: 256 MB of digits were buffered).
func TestUnendingLengthLineIsCut(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, nil)
	for _, tc := range []struct{ head, want string }{
		{"*", "-ERR Protocol error: too big mbulk count string\r\n"},
		{"*1\r\n$", "-ERR Protocol error: too big bulk count string\r\n"},
		{"*+1\r\n$4\r\nPING\r\n*1\r\n$", "-ERR Protocol error: invalid multibulk length\r\n"},
	} {
		sent, reply := stream(t, p.Addr(), tc.head, bytes.Repeat([]byte("1"), 64<<10), 256<<20)
		if sent > 16<<20 || reply != tc.want {
			t.Errorf("%q + digits: the proxy took %d MB, replied %q; want at most 16 MB and %q", tc.head, sent>>20, reply, tc.want)
		}
	}
}

// stream writes head, then chunk until limit bytes or until the server
// stops taking them; it returns the bytes written and what came back.
func stream(t *testing.T, addr, head string, chunk []byte, limit int) (int, string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var reply []byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		reply, _ = io.ReadAll(nc)
	}()
	sent := 0
	nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := nc.Write([]byte(head)); err == nil {
		for sent < limit {
			n, err := nc.Write(chunk)
			sent += n
			if err != nil {
				break
			}
		}
	}
	nc.(*net.TCPConn).CloseWrite()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no end of reply")
	}
	return sent, string(reply)
}

// A command bigger than client_query_buffer_limit closes the connection
// without a reply, after the replies to the commands before it, as Redis
// does; other clients go on.
func TestQueryBufferLimit(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) {
		pc.ClientQueryBufferLimit = 1 << 20
		pc.ProtoMaxBulkLen = 1 << 20
	})
	bystander := client(t, p)
	for _, tc := range []struct {
		name string
		head string
	}{
		{"two 600 KB arguments", "PING\r\n*3\r\n$3\r\nSET\r\n$614400\r\n" + strings.Repeat("k", 614400) + "\r\n$614400\r\n"},
		{"many small arguments", "PING\r\n*1000000\r\n$3\r\nDEL\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunk := []byte(strings.Repeat("$1\r\na\r\n", 8192))
			if strings.Contains(tc.name, "600") {
				chunk = bytes.Repeat([]byte("v"), 64<<10)
			}
			sent, reply := stream(t, p.Addr(), tc.head, chunk, 64<<20)
			if reply != "+PONG\r\n" || sent > 16<<20 {
				t.Errorf("replied %q after taking %d MB; want +PONG only, at most 16 MB", reply, sent>>20)
			}
		})
	}
	if err := bystander.Ping(ctx()).Err(); err != nil {
		t.Fatalf("bystander: %v", err)
	}
	if got := testutilCounter(t, p, "query_buffer"); got != 2 {
		t.Errorf("client_disconnects_total{kind=query_buffer} = %v, want 2", got)
	}
}

// max_clients refuses the client over the limit with Redis's text and
// lets the others be; a freed slot is taken again.
func TestMaxClients(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.ClientConnections = 3 })
	var held []*rawConn
	for i := 0; i < 3; i++ {
		c := dialRaw(t, p)
		c.send("PING\r\n")
		c.mustReply("+PONG\r\n")
		held = append(held, c)
	}
	got, closed := rawExchange(t, p.Addr(), []byte("PING\r\n"), 5*time.Second)
	if string(got) != "-ERR max number of clients reached\r\n" || !closed {
		t.Fatalf("fourth client got %q (closed %v)", got, closed)
	}
	held[0].nc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ = rawExchange(t, p.Addr(), []byte("PING\r\n"), 5*time.Second)
		if string(got) == "+PONG\r\n" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(got) != "+PONG\r\n" {
		t.Fatalf("after a client left, a new one got %q", got)
	}
}

// client_idle_timeout closes a silent client, and only a silent one.
func TestClientIdleTimeout(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.ClientIdleTimeout = 300 * time.Millisecond })
	idle := dialRaw(t, p)
	busy := dialRaw(t, p)
	start := time.Now()
	for time.Since(start) < time.Second {
		busy.send("PING\r\n")
		busy.mustReply("+PONG\r\n")
		time.Sleep(50 * time.Millisecond)
	}
	idle.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := idle.nc.Read(make([]byte, 1)); err == nil || n > 0 || errors.Is(err, net.ErrClosed) {
		t.Fatalf("idle client read %d bytes, %v; want the connection closed", n, err)
	}
	if got := testutilCounter(t, p, "idle"); got != 1 {
		t.Errorf("client_disconnects_total{kind=idle} = %v, want 1", got)
	}
}

// testutilCounter reads the pool's client_disconnects_total of kind.
func testutilCounter(t *testing.T, p *Pool, kind string) float64 {
	t.Helper()
	fams, err := p.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "shardproxy_client_disconnects_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var pool, k string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "pool":
					pool = l.GetValue()
				case "kind":
					k = l.GetValue()
				}
			}
			if pool == p.Name() && k == kind {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Shutdown answers every command a pipelining client sent before it began,
// closes idle clients at once, refuses new ones, and returns.
func TestShutdownDrains(t *testing.T) {
	rs := shards(t, 2)
	pc := ringPool(t, rs, func(pc *config.Pool) { pc.ShutdownTimeout = 5 * time.Second })
	px := serveProxy(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
	p := px.Pools()[0]
	idle := dialRaw(t, p)
	idle.send("PING\r\n")
	idle.mustReply("+PONG\r\n")

	const clients = 5
	// A writer keeps at most window commands unanswered: what the proxy
	// must drain after the signal stays far inside shutdown_timeout even
	// on busy shared cores (unbounded, 5 clients had over 500,000 SETs
	// queued in socket buffers once, which did not drain in 5 s there).
	const window = 5000
	var sentBefore [clients]int
	var answered [clients]atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	shutdownAt := time.Time{}
	for i := 0; i < clients; i++ {
		c := dialRaw(t, p)
		wg.Add(2)
		go func() { // writer: batches of 50 SETs until the shutdown
			defer wg.Done()
			for n := 0; ; {
				for int64(n)-answered[i].Load() >= window {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
				var b []byte
				for j := 0; j < 50; j++ {
					key := fmt.Sprintf("drain:%d:%d", i, n+j)
					b = fmt.Appendf(b, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", len(key), key)
				}
				if _, err := c.nc.Write(b); err != nil {
					return
				}
				n += 50
				mu.Lock()
				if shutdownAt.IsZero() {
					sentBefore[i] = n
				}
				mu.Unlock()
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
		go func() { // reader: counts +OK until the connection ends
			defer wg.Done()
			for {
				got, err := c.reply()
				if err != nil {
					return
				}
				if got != "+OK\r\n" {
					t.Errorf("client %d reply %d = %q", i, answered[i].Load(), got)
					return
				}
				answered[i].Add(1)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	shutdownAt = time.Now()
	mu.Unlock()
	done := make(chan struct{})
	go func() { px.Shutdown(); close(done) }()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	wg.Wait()
	if took := time.Since(shutdownAt); took > 6*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	for i := 0; i < clients; i++ {
		if answered[i].Load() < int64(sentBefore[i]) {
			t.Errorf("client %d: %d commands sent before the shutdown, %d answered", i, sentBefore[i], answered[i].Load())
		}
	}
	var got [clients]int64
	for i := range answered {
		got[i] = answered[i].Load()
	}
	t.Logf("commands sent before the shutdown, per client: %v; answered: %v", sentBefore, got)
	if _, err := idle.reply(); err == nil {
		t.Error("idle client still open after the shutdown")
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("new client accepted after the shutdown")
	}
}

// TestShutdownTimeoutEndsBlockedClient: a client still blocked (BLPOP 0)
// when shutdown_timeout passes is shut down from the draining goroutine
// while its own goroutine waits in the blocked command; the watcher sees
// the socket go, so the blocked command ends on the shard at once instead
// of holding the shutdown for the request timeout.
func TestShutdownTimeoutEndsBlockedClient(t *testing.T) {
	rs := shards(t, 1)
	pc := ringPool(t, rs, func(pc *config.Pool) {
		pc.ShutdownTimeout = 200 * time.Millisecond
		pc.Timeout = 20 * time.Second
	})
	px := serveProxy(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
	p := px.Pools()[0]
	c := dialRaw(t, p)
	c.send("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
	shard := rs[0].Client(t)
	waitFor(t, "BLPOP blocked on the shard", func() bool {
		return strings.Contains(shard.Info(ctx(), "clients").Val(), "blocked_clients:1")
	})
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); px.Shutdown() }()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if r, err := c.reply(); err == nil {
		t.Fatalf("blocked client got %q at shutdown, want its connection closed", r)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the blocked client was closed %v after the shutdown began (shutdown_timeout 200ms)", took)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if n := testutil.ToFloat64(p.m.ClosedShutdown); n != 1 {
		t.Fatalf("clients closed at shutdown_timeout = %v, want 1", n)
	}
	waitFor(t, "the shard to unblock", func() bool {
		return strings.Contains(shard.Info(ctx(), "clients").Val(), "blocked_clients:0")
	})
}
