package router

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/resp"
)

// okServer is a minimal RESP backend for benchmarks: +OK to every command.
func okServer(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// Commands are RESP arrays, so the reply reader frames
				// them without allocating; the fake stays out of the
				// benchmark's allocation count.
				defer c.Close()
				br, bw := bufio.NewReader(c), bufio.NewWriter(c)
				var buf []byte
				for {
					if buf, err = resp.ReadReply(br, buf[:0]); err != nil {
						return
					}
					bw.WriteString("+OK\r\n")
					if br.Buffered() == 0 && bw.Flush() != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// discardConn is the client side of a session for benchmarks; replies go
// to a discardSocket.
type discardConn struct {
	redcon.Conn
}

// discardSocket is a client socket for benchmarks that takes every write
// at once: replies are counted and dropped.
type discardSocket struct{ n int }

func (s *discardSocket) TryWrite(b []byte) (int, error)   { s.n += len(b); return len(b), nil }
func (s *discardSocket) Write(b []byte) (int, error)      { s.n += len(b); return len(b), nil }
func (s *discardSocket) SetWriteDeadline(time.Time) error { return nil }
func (s *discardSocket) Close() error                     { return nil }

// BenchmarkSessionBatch measures the session's batch path (classification,
// routing, grouping, enqueue, waiting and reply writing) for pipelines of
// SETs over three backends, without the client socket.
func BenchmarkSessionBatch(b *testing.B) {
	pc := config.Default("bench")
	pc.Listen = "127.0.0.1:0"
	pc.Timeout = 5 * time.Second
	for i := 0; i < 3; i++ {
		pc.Servers = append(pc.Servers, config.Server{Addr: okServer(b), Weight: 1, Name: fmt.Sprintf("s%d", i)})
	}
	p, err := New(&config.Config{Pools: []*config.Pool{pc}}, Options{Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	pool := p.Pools()[0]
	for _, size := range []int{1, 16, 100} {
		b.Run(fmt.Sprintf("SET/batch=%d", size), func(b *testing.B) {
			cmds := make([]redcon.Command, size)
			for i := range cmds {
				raw := fmt.Sprintf("*3\r\n$3\r\nSET\r\n$8\r\nkey:%04d\r\n$5\r\nvalue\r\n", i)
				cmd, err := redcon.Parse([]byte(raw))
				if err != nil {
					b.Fatal(err)
				}
				cmds[i] = cmd
			}
			s := newSession(pool, 1)
			s.w = newClientWriter(pool, &discardSocket{}, "bench")
			conn := &discardConn{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.serve(conn, cmds[0], cmds[1:])
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
}
