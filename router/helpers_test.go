package router

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// shards starts n redis-server processes.
func shards(t *testing.T, n int) []*testenv.Redis {
	t.Helper()
	rs := make([]*testenv.Redis, n)
	for i := range rs {
		rs[i] = testenv.StartRedis(t)
	}
	return rs
}

// startProxy serves one ring pool over the given shards on a free port.
// edit, when not nil, adjusts the pool before it starts.
func startProxy(t testing.TB, rs []*testenv.Redis, edit func(*config.Pool)) *Pool {
	t.Helper()
	return serve(t, ringPool(t, rs, edit), Options{Version: "test", Logger: testLogger(t)}, nil)
}

// ringPool is the test pool over rs: a free port, a 500 ms timeout, servers
// named shard1, shard2, ... and then edit's changes, validated.
func ringPool(t testing.TB, rs []*testenv.Redis, edit func(*config.Pool)) *config.Pool {
	t.Helper()
	pc := config.Default("test")
	pc.Listen = "127.0.0.1:0"
	pc.Timeout = 500 * time.Millisecond
	for i, r := range rs {
		pc.Servers = append(pc.Servers, config.Server{Addr: r.Addr, Weight: 1, Name: fmt.Sprintf("shard%d", i+1)})
	}
	if edit != nil {
		edit(pc)
	}
	if err := pc.Validate(); err != nil {
		t.Fatalf("pool config: %v", err)
	}
	return pc
}

// serve runs a proxy of the one pool pc until the test ends; onClose, when
// not nil, runs after the proxy has stopped.
func serve(t testing.TB, pc *config.Pool, opts Options, onClose func()) *Pool {
	t.Helper()
	return serveProxy(t, pc, opts, onClose).Pools()[0]
}

// serveProxy is serve returning the proxy itself.
func serveProxy(t testing.TB, pc *config.Pool, opts Options, onClose func()) *Proxy {
	t.Helper()
	p, err := New(&config.Config{Pools: []*config.Pool{pc}}, opts)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Serve()
	}()
	t.Cleanup(func() {
		p.Close()
		<-done
		if onClose != nil {
			onClose()
		}
	})
	return p
}

// client returns a go-redis client of the proxy (no retries: every error
// must be seen by the test).
func client(t testing.TB, p *Pool) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: p.Addr(), MaxRetries: -1, DialTimeout: 2 * time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		PoolSize: 4, Protocol: 2, DisableIdentity: true,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// rawConn is a plain TCP client speaking raw RESP, for what go-redis
// cannot send (malformed input, inline commands).
type rawConn struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, p *Pool) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// reply reads one raw reply; "" and the error when the connection ends.
func (c *rawConn) reply() (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := resp.ReadReply(c.br, nil)
	return string(b), err
}

func (c *rawConn) mustReply(want string) {
	c.t.Helper()
	got, err := c.reply()
	if err != nil || got != want {
		c.t.Fatalf("reply = %q, %v; want %q", got, err, want)
	}
}

// testLogger sends the proxy's logs to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ctx() context.Context { return context.Background() }

// owner returns the index of the shard that holds key, asking every shard.
func owner(t testing.TB, rs []*testenv.Redis, key string) int {
	t.Helper()
	found := -1
	for i, r := range rs {
		n, err := r.Client(t).Exists(ctx(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			if found >= 0 {
				t.Fatalf("key %q on shards %d and %d", key, found, i)
			}
			found = i
		}
	}
	return found
}

// pick returns the index of the ring server that owns key now.
func (p *Pool) pick(key []byte) int { return p.topology().(*ringTopo).ring.Pick(key) }

// backendCluster returns the slot map of a cluster pool.
func (p *Pool) backendCluster() *backend.Cluster { return p.topology().(*clusterTopo).c }
