package router

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
)

// Bad input gets a clear error; the proxy and its other clients go on.
func TestBadInput(t *testing.T) {
	rs := shards(t, 2)
	// 100,000-argument commands take a while under -race on a busy box.
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 5 * time.Second })
	bystander := client(t, p)
	bystander.Set(ctx(), "b", "1", 0)

	t.Run("malformed RESP closes only that connection", func(t *testing.T) {
		c := dialRaw(t, p)
		c.send("*2\r\n$3\r\nGET\r\n:oops\r\n")
		got, _ := c.reply()
		if !strings.HasPrefix(got, "-ERR Protocol error") {
			t.Fatalf("reply %q, want a protocol error", got)
		}
		if _, err := c.reply(); err == nil {
			t.Fatal("connection still open after a protocol error")
		}
	})
	t.Run("declared 1 GB bulk", func(t *testing.T) {
		c := dialRaw(t, p)
		c.send("*2\r\n$3\r\nGET\r\n$1073741824\r\nabc")
		c.mustReply("-ERR Protocol error: invalid bulk length\r\n")
	})
	t.Run("multibulk count over INT_MAX", func(t *testing.T) {
		c := dialRaw(t, p)
		c.send("*2147483648\r\n$3\r\nDEL\r\n")
		c.mustReply("-ERR Protocol error: invalid multibulk length\r\n")
	})
	t.Run("long inline command", func(t *testing.T) {
		c := dialRaw(t, p)
		c.send("GET " + strings.Repeat("x", 70000))
		c.mustReply("-ERR Protocol error: too big inline request\r\n")
	})
	t.Run("100000 arguments", func(t *testing.T) {
		c := client(t, p)
		args := []any{"DEL"}
		for i := 0; i < 100000; i++ {
			args = append(args, fmt.Sprintf("many:%d", i))
		}
		if n, err := c.Do(ctx(), args...).Int(); err != nil || n != 0 {
			t.Fatalf("DEL of 100000 keys = %d, %v", n, err)
		}
		mset := []any{"MSET"}
		for i := 0; i < 50000; i++ {
			mset = append(mset, fmt.Sprintf("many:%d", i), "v")
		}
		if err := c.Do(ctx(), mset...).Err(); err != nil {
			t.Fatalf("MSET of 50000 pairs: %v", err)
		}
		if n := c.DBSize(ctx()).Val(); n < 50000 {
			t.Fatalf("DBSIZE = %d", n)
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		c := dialRaw(t, p)
		c.send("*2\r\n$6\r\nFOOBAR\r\n$1\r\na\r\n")
		c.mustReply("-ERR unknown command 'FOOBAR', with args beginning with: 'a' \r\n")
		c.send("PING\r\n")
		c.mustReply("+PONG\r\n")
	})
	t.Run("wrong arity", func(t *testing.T) {
		c := dialRaw(t, p)
		c.send("*1\r\n$3\r\nGET\r\n")
		c.mustReply("-ERR wrong number of arguments for 'get' command\r\n")
	})
	t.Run("binary key", func(t *testing.T) {
		c := client(t, p)
		key := "bin\r\n\x00key\xff"
		val := "val\x00\r\n"
		if err := c.Set(ctx(), key, val, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got := c.Get(ctx(), key).Val(); got != val {
			t.Fatalf("GET binary key = %q", got)
		}
		owner := owner(t, rs, key)
		if owner != p.pick([]byte(key)) {
			t.Fatalf("binary key on shard %d, ring says %d", owner, p.pick([]byte(key)))
		}
	})
	t.Run("inline commands", func(t *testing.T) {
		c := dialRaw(t, p)
		c.send("SET inl \"a b\"\r\nGET inl\r\n")
		c.mustReply("+OK\r\n")
		c.mustReply("$3\r\na b\r\n")
	})
	t.Run("QUIT answers OK then closes", func(t *testing.T) {
		c := dialRaw(t, p)
		c.send("PING\r\nQUIT\r\nPING\r\n")
		c.mustReply("+PONG\r\n")
		c.mustReply("+OK\r\n")
		if got, err := c.reply(); err == nil {
			t.Fatalf("got %q after QUIT", got)
		}
	})
	if v := bystander.Get(ctx(), "b").Val(); v != "1" {
		t.Fatalf("bystander GET = %q", v)
	}
}

// A client that sends a huge declared bulk is refused before the proxy
// buffers it, so memory stays bounded.
func TestMemoryBoundedOnHugeDeclaredBulk(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, nil)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 20; i++ {
		c := dialRaw(t, p)
		c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n" + strings.Repeat("x", 64<<10))
		c.mustReply("-ERR Protocol error: invalid bulk length\r\n")
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<20 {
		t.Fatalf("heap grew by %d MB", grown>>20)
	}
}

// A client streaming a long pipeline while reading replies is paced by the
// proxy: memory stays flat instead of growing with the pipeline.
func TestLongPipelineBackpressure(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 5 * time.Second })
	const n = 150000
	value := strings.Repeat("v", 200)
	conn := dialRaw(t, p)
	go func() {
		var batch []byte
		for i := 0; i < n; i++ {
			key := fmt.Sprintf("stream:%d", i)
			batch = fmt.Appendf(batch, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(value), value)
			if len(batch) > 64<<10 || i == n-1 {
				if _, err := conn.nc.Write(batch); err != nil {
					return
				}
				batch = batch[:0]
			}
		}
	}()
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var peak uint64
	for i := 0; i < n; i++ {
		if i%5000 == 0 {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
		if got, err := conn.reply(); err != nil || got != "+OK\r\n" {
			t.Fatalf("reply %d = %q, %v", i, got, err)
		}
	}
	grown := int64(peak) - int64(base.HeapInuse)
	t.Logf("streamed %d SETs (%d MB); proxy heap in use grew by at most %.1f MB", n, (n*250)>>20, float64(grown)/(1<<20))
	// The pipeline is ~37 MB; buffering it would show at least that much.
	if grown > 24<<20 {
		t.Fatalf("heap grew by %d MB while streaming: the pipeline is being buffered", grown>>20)
	}
}
