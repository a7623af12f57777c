package router

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/metrics"
)

// chunkConn is a net.Conn whose reads return the given chunks one by one.
type chunkConn struct {
	net.Conn
	chunks [][]byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// The guard delivers the client's bytes unchanged and in order, and each
// read that holds a complete command ends at a command boundary, so that
// redcon never keeps a partial command at the end of its buffer.
func TestGuardDeliversWholeCommands(t *testing.T) {
	var stream []byte
	for i := 0; i < 200; i++ {
		stream = append(stream, "*3\r\n$3\r\nSET\r\n$6\r\nkey:01\r\n$20\r\n01234567890123456789\r\n"...)
		if i%50 == 0 {
			stream = append(stream, "PING\r\n"...)
		}
	}
	for _, chunk := range []int{1, 7, 33, 100, 1000} {
		for _, readSize := range []int{16, 64, 4096} {
			var chunks [][]byte
			for i := 0; i < len(stream); i += chunk {
				chunks = append(chunks, bytes.Clone(stream[i:min(i+chunk, len(stream))]))
			}
			g := &guardConn{Conn: &chunkConn{chunks: chunks}, l: &guardListener{stats: newTestStats(t)}}
			var got []byte
			buf := make([]byte, readSize)
			for {
				n, err := g.Read(buf)
				got = append(got, buf[:n]...)
				if n > 0 && n < readSize && len(got) < len(stream) && !boundary(got) {
					// A short delivery that does not end at a boundary
					// must be one holding no complete command at all.
					if strings.Count(string(buf[:n]), "SET") > 1 {
						t.Fatalf("chunk %d read %d: delivery of %d bytes ends mid-command: %q", chunk, readSize, n, buf[:n])
					}
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, stream) {
				t.Fatalf("chunk %d read %d: delivered %d bytes, want the %d sent, unchanged", chunk, readSize, len(got), len(stream))
			}
		}
	}
}

// boundary reports whether b ends just after a complete command of the
// test stream.
func boundary(b []byte) bool {
	return bytes.HasSuffix(b, []byte("0123456789\r\n")) || bytes.HasSuffix(b, []byte("PING\r\n"))
}

func newTestStats(t *testing.T) *poolStats {
	t.Helper()
	m, err := metrics.New("test", "go").Pool("guard", metrics.PoolOptions{CommandNames: command.Names()})
	if err != nil {
		t.Fatal(err)
	}
	return &poolStats{m: m}
}
