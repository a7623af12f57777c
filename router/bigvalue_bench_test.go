package router

import (
	"bytes"
	"fmt"
	"net"
	"testing"
)

// loopConn is a net.Conn whose reads return the same stream forever.
type loopConn struct {
	net.Conn
	stream []byte
	off    int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.stream[c.off:])
	c.off = (c.off + n) % len(c.stream)
	return n, nil
}

// BenchmarkGuardRead measures the guard on a pipeline of small SETs, read
// as redcon reads (through a 4 KB bufio.Reader): the path a large-value
// check must not slow.
func BenchmarkGuardRead(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run(fmt.Sprintf("SET/value=%d", size), func(b *testing.B) {
			var stream []byte
			value := bytes.Repeat([]byte{'v'}, size)
			for i := 0; i < 100; i++ {
				stream = fmt.Appendf(stream, "*3\r\n$3\r\nSET\r\n$8\r\nkey:%04d\r\n$%d\r\n%s\r\n", i, size, value)
			}
			g := newTestGuard(b, &loopConn{stream: stream}, testLimits())
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := g.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGuardInline measures a pipeline of inline SETs, each split as
// Redis splits it and handed to redcon as a multibulk frame: the cost per
// command of the inline path (one delivery per command).
func BenchmarkGuardInline(b *testing.B) {
	var stream []byte
	for i := 0; i < 100; i++ {
		stream = fmt.Appendf(stream, "SET key:%04d \"v a l\\x41\" EX 100\r\n", i)
	}
	g := newTestGuard(b, &loopConn{stream: stream}, testLimits())
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
