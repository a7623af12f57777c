package router

import (
	"bufio"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// BenchmarkClientPath measures the whole client path through the proxy on
// 3 real shards, socket to socket: reading and parsing the commands,
// routing, replies, for an unpipelined client (depth 1, redis-benchmark -P
// 1) and a pipelining one (depth 16). allocs/op counts the proxy's (the
// client side allocates nothing per command).
func BenchmarkClientPath(b *testing.B) {
	rs := []*testenv.Redis{testenv.StartRedis(b), testenv.StartRedis(b), testenv.StartRedis(b)}
	p := startProxy(b, rs, nil)
	for _, depth := range []int{1, 16} {
		for _, name := range []string{"SET", "GET"} {
			b.Run(fmt.Sprintf("%s/P%d", name, depth), func(b *testing.B) {
				nc, err := net.Dial("tcp", p.Addr())
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(2 * time.Minute))
				br := bufio.NewReaderSize(nc, 64<<10)
				var wire []byte
				for i := 0; i < depth; i++ {
					key := fmt.Sprintf("key:%04d", i)
					if name == "SET" {
						wire = resp.AppendCommand(wire, "SET", key, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
					} else {
						wire = resp.AppendCommand(wire, "GET", key)
					}
				}
				var buf []byte
				b.ReportAllocs()
				b.ResetTimer()
				for n := 0; n < b.N; n += depth {
					if _, err := nc.Write(wire); err != nil {
						b.Fatal(err)
					}
					for i := 0; i < depth; i++ {
						if buf, err = resp.ReadReply(br, buf[:0]); err != nil || buf[0] == '-' {
							b.Fatalf("%q %v", buf, err)
						}
					}
				}
			})
		}
	}
}

// BenchmarkClientPathParallel is BenchmarkClientPath's unpipelined GET with
// 50 clients at once (redis-benchmark -c 50 -P 1), reporting the process's
// CPU time per command (proxy and clients: the clients' share is the same
// for any proxy change) besides the wall time.
func BenchmarkClientPathParallel(b *testing.B) {
	rs := []*testenv.Redis{testenv.StartRedis(b), testenv.StartRedis(b), testenv.StartRedis(b)}
	p := startProxy(b, rs, nil)
	b.SetParallelism(25) // 50 clients on 2 CPUs
	wire := resp.AppendCommand(nil, "GET", "key:0001")
	var ru0, ru1 syscall.Rusage
	b.ReportAllocs()
	b.ResetTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.RunParallel(func(pb *testing.PB) {
		nc, err := net.Dial("tcp", p.Addr())
		if err != nil {
			b.Error(err)
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(2 * time.Minute))
		br := bufio.NewReaderSize(nc, 4096)
		var buf []byte
		for pb.Next() {
			if _, err := nc.Write(wire); err != nil {
				b.Error(err)
				return
			}
			if buf, err = resp.ReadReply(br, buf[:0]); err != nil || buf[0] == '-' {
				b.Errorf("%q %v", buf, err)
				return
			}
		}
	})
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}
