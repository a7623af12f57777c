package router

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/metrics"
)

// chunkConn is a net.Conn whose reads return the given chunks one by one
// and whose writes are kept.
type chunkConn struct {
	net.Conn
	chunks [][]byte
	wrote  bytes.Buffer
	// Each chunk arrives after the one before was read to its end: a read
	// that starts a chunk other than the first waited for it.
	started, fresh, waited bool
}

// ReadWaited reports whether the last Read started a new chunk.
func (c *chunkConn) ReadWaited() bool { return c.waited }

func (c *chunkConn) Write(p []byte) (int, error) { return c.wrote.Write(p) }

func (c *chunkConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	c.waited = c.started && c.fresh
	c.started, c.fresh = true, false
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
		c.fresh = true
	}
	return n, nil
}

// The guard delivers the client's multibulk bytes unchanged and in order
// (and its inline commands as multibulk frames), and each read that holds
// a complete command ends at a command boundary, so that redcon never
// keeps a partial command at the end of its buffer.
func TestGuardDeliversWholeCommands(t *testing.T) {
	var stream, want []byte
	for i := 0; i < 200; i++ {
		set := "*3\r\n$3\r\nSET\r\n$6\r\nkey:01\r\n$20\r\n01234567890123456789\r\n"
		stream = append(stream, set...)
		want = append(want, set...)
		if i%50 == 0 {
			stream = append(stream, "PING\r\n"...)
			want = append(want, "*1\r\n$4\r\nPING\r\n"...)
		}
	}
	for _, chunk := range []int{1, 7, 33, 100, 1000} {
		for _, readSize := range []int{16, 64, 4096} {
			var chunks [][]byte
			for i := 0; i < len(stream); i += chunk {
				chunks = append(chunks, bytes.Clone(stream[i:min(i+chunk, len(stream))]))
			}
			g := newTestGuard(t, &chunkConn{chunks: chunks}, testLimits())
			var got []byte
			buf := make([]byte, readSize)
			for {
				n, err := g.Read(buf)
				got = append(got, buf[:n]...)
				if n > 0 && n < readSize && len(got) < len(want) && !boundary(got) {
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
			if !bytes.Equal(got, want) {
				t.Fatalf("chunk %d read %d: delivered %d bytes, want the %d sent, unchanged but for PING", chunk, readSize, len(got), len(want))
			}
		}
	}
}

// boundary reports whether b ends just after a complete command of the
// test stream.
func boundary(b []byte) bool {
	return bytes.HasSuffix(b, []byte("0123456789\r\n")) || bytes.HasSuffix(b, []byte("PING\r\n"))
}

// testLimits are the default limits.
func testLimits() inputLimits {
	return inputLimits{maxBulk: config.DefaultProtoMaxBulkLen, maxQuery: config.DefaultClientQueryBufferLimit, maxLine: config.DefaultProtoInlineMaxSize}
}

// newTestGuard wraps c in a guard with limits lim.
func newTestGuard(t testing.TB, c net.Conn, lim inputLimits) *guardConn {
	t.Helper()
	m, err := metrics.New("test", "go").Pool("guard", metrics.PoolOptions{CommandNames: command.Names()})
	if err != nil {
		t.Fatal(err)
	}
	l := &guardListener{stats: &poolStats{m: m}, m: m, log: slog.New(slog.DiscardHandler), lim: lim}
	g := &guardConn{Conn: c, l: l}
	g.sc.lim = &g.l.lim
	return g
}

// failingListener fails every Accept as a process out of descriptors does.
type failingListener struct {
	net.Listener
	calls atomic.Int64
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.calls.Add(1)
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

// With no descriptor left, Accept backs off (instead of returning the
// error to redcon, which retries at once and spins), counts each failure,
// logs once per interval, and returns when the pool stops.
func TestAcceptBacksOffOnEMFILE(t *testing.T) {
	var logs bytes.Buffer
	g := newTestGuard(t, nil, testLimits())
	l := g.l
	fl := &failingListener{}
	stop := make(chan struct{})
	l.Listener, l.stop, l.log = fl, stop, slog.New(slog.NewTextHandler(&logs, nil))
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	time.Sleep(time.Second)
	close(stop)
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Accept did not return after the pool stopped")
	}
	calls := fl.calls.Load()
	if !errors.Is(err, net.ErrClosed) || calls < 3 || calls > 12 {
		t.Errorf("Accept returned %v after %d attempts in 1 s; want net.ErrClosed after a few, backing off", err, calls)
	}
	var m dto.Metric
	l.m.AcceptErrors.Write(&m)
	if got := m.GetCounter().GetValue(); got != float64(calls) {
		t.Errorf("accept errors counted %v, want %d", got, calls)
	}
	if n := strings.Count(logs.String(), "backing off"); n != 1 {
		t.Errorf("%d log lines in 1 s, want 1:\n%s", n, logs.String())
	}
}
