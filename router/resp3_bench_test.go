package router

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// BenchmarkRESP3Path compares, through the proxy on 3 real shards, a RESP2
// client with a RESP3 client (served by the HELLO 3 backend connections),
// pipelines of 16 commands per round trip.
func BenchmarkRESP3Path(b *testing.B) {
	rs := []*testenv.Redis{testenv.StartRedis(b), testenv.StartRedis(b), testenv.StartRedis(b)}
	p := startProxy(b, rs, nil)
	setup := resp.AppendCommand(nil, "HSET", "h", "f1", "v1", "f2", "v2", "f3", "v3", "f4", "v4")
	setup = resp.AppendCommand(setup, "MSET", "k1", "v", "k2", "v", "k3", "v", "k4", "v", "k5", "v")
	setup = resp.AppendCommand(setup, "ZADD", "z", "1.5", "m")
	cmds := map[string][]byte{
		"GET":     resp.AppendCommand(nil, "GET", "k1"),
		"HGETALL": resp.AppendCommand(nil, "HGETALL", "h"),
		"ZSCORE":  resp.AppendCommand(nil, "ZSCORE", "z", "m"),
		"MGET":    resp.AppendCommand(nil, "MGET", "k1", "k2", "k3", "k4", "k5", "nokey"),
	}
	const depth = 16
	for _, name := range []string{"GET", "HGETALL", "ZSCORE", "MGET"} {
		for _, proto := range []string{"2", "3"} {
			b.Run(name+"/resp"+proto, func(b *testing.B) {
				nc, err := net.Dial("tcp", p.Addr())
				if err != nil {
					b.Fatal(err)
				}
				defer nc.Close()
				br := bufio.NewReaderSize(nc, 64<<10)
				nc.SetDeadline(time.Now().Add(time.Minute))
				hello := append(resp.AppendCommand(nil, "HELLO", proto), setup...)
				nc.Write(hello)
				var buf []byte
				for i := 0; i < 4; i++ {
					if buf, err = resp.ReadReply(br, buf[:0]); err != nil {
						b.Fatal(err)
					}
				}
				var wire []byte
				for i := 0; i < depth; i++ {
					wire = append(wire, cmds[name]...)
				}
				b.ResetTimer()
				for n := 0; n < b.N; n += depth {
					nc.Write(wire)
					for i := 0; i < depth; i++ {
						if buf, err = resp.ReadReply(br, buf[:0]); err != nil || buf[0] == '-' {
							b.Fatal(fmt.Sprintf("%q %v", buf, err))
						}
					}
				}
			})
		}
	}
}

// BenchmarkAppendRESP3 is the per-reply cost of the null rewrite the proxy
// applied to RESP2 backend replies before RESP3 connections (still applied
// to replies it makes itself), vs the plain copy RESP3 replies now get.
func BenchmarkAppendRESP3(b *testing.B) {
	reply := []byte("*6\r\n$1\r\nv\r\n$1\r\nv\r\n$-1\r\n$1\r\nv\r\n$1\r\nv\r\n$-1\r\n")
	var dst []byte
	b.Run("rewrite", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dst = appendRESP3(dst[:0], reply)
		}
	})
	b.Run("copy", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dst = append(dst[:0], reply...)
		}
	})
}
