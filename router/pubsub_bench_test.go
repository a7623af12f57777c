package router

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// BenchmarkPubsubDeliver measures messages delivered per second to 1 and to
// 1,000 subscribers of one channel, through the proxy and directly on
// Redis. One op is one PUBLISH (pipelined by 100) received by every
// subscriber. Run with e.g. -benchtime=2000x; numbers on a busy machine are
// only indicative.
func BenchmarkPubsubDeliver(b *testing.B) {
	rs := []*testenv.Redis{testenv.StartRedis(b), testenv.StartRedis(b), testenv.StartRedis(b)}
	p := startProxy(b, rs, nil)
	direct := rs[p.pick([]byte("bench"))].Addr
	for _, subs := range []int{1, 1000} {
		for _, target := range []struct{ name, addr string }{{"proxy", p.Addr()}, {"direct", direct}} {
			b.Run(fmt.Sprintf("%s/subs=%d", target.name, subs), func(b *testing.B) {
				benchDeliver(b, target.addr, subs)
			})
		}
	}
}

func benchDeliver(b *testing.B, addr string, subs int) {
	const payload = "0123456789abcdef0123456789abcdef" // 32 bytes
	msg := fmt.Sprintf("*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$%d\r\n%s\r\n", len(payload), payload)
	conns := make([]net.Conn, subs)
	for i := range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("SUBSCRIBE bench\r\n"))
		br := bufio.NewReader(nc)
		if _, err := readN(br, len("*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n")); err != nil {
			b.Fatal(err)
		}
		conns[i] = nc
	}
	pub := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer pub.Close()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.CopyN(io.Discard, nc, int64(b.N*len(msg)))
		}()
	}
	for sent := 0; sent < b.N; {
		pipe := pub.Pipeline()
		n := min(100, b.N-sent)
		for i := 0; i < n; i++ {
			pipe.Publish(ctx(), "bench", payload)
		}
		if _, err := pipe.Exec(ctx()); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*subs)/b.Elapsed().Seconds(), "msgs/s")
}

func readN(br *bufio.Reader, n int) ([]byte, error) {
	buf := make([]byte, n)
	_, err := io.ReadFull(br, buf)
	return buf, err
}

// BenchmarkPubsubClientMemory reports the heap per client connection of
// 2,000 clients that sent one PING, and of 2,000 subscribed to one of 10
// channels: the difference is the cost of being subscribed. The clients
// are raw sockets in the same process, their net.Conn included.
func BenchmarkPubsubClientMemory(b *testing.B) {
	rs := []*testenv.Redis{testenv.StartRedis(b), testenv.StartRedis(b), testenv.StartRedis(b)}
	p := startProxy(b, rs, nil)
	b.Run("ping", func(b *testing.B) { clientMemory(b, p, "PING\r\n", "+PONG\r\n") })
	b.Run("subscribe", func(b *testing.B) {
		clientMemory(b, p, "SUBSCRIBE ch%d\r\n", "*3\r\n$9\r\nsubscribe\r\n$3\r\nch0\r\n:1\r\n")
	})
}

func clientMemory(b *testing.B, p *Pool, cmd, reply string) {
	const n = 2000
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, n)
		buf := make([]byte, len(reply))
		for j := range conns {
			nc, err := net.Dial("tcp", p.Addr())
			if err != nil {
				b.Fatal(err)
			}
			c := cmd
			if strings.Contains(c, "%d") {
				c = fmt.Sprintf(cmd, j%10)
			}
			nc.Write([]byte(c))
			if _, err := io.ReadFull(nc, buf); err != nil {
				b.Fatal(err)
			}
			conns[j] = nc
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/client")
		for _, nc := range conns {
			nc.Close()
		}
	}
}
