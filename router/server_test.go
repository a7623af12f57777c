package router

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// TestIdleClientHoldsNoReadBuffer checks that a client holds read buffers
// only while it has input: not before its first command, not once a batch
// is answered, but through a command that arrives in pieces, which must
// still be served whole.
func TestIdleClientHoldsNoReadBuffer(t *testing.T) {
	c, s := dialSession(t)
	holding := func() bool { return s.cc.holding.Load() }
	// eventually waits for the connection's goroutine to reach the state:
	// it lends or returns the reader right after reading or answering.
	eventually := func(want bool, when string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); holding() != want; {
			if time.Now().After(deadline) {
				t.Fatalf("%s: holding a reader = %v, want %v", when, !want, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	eventually(false, "connected")

	c.send("PING\r\n*1\r\n$4\r\nPING\r\n")
	c.mustReply("+PONG\r\n")
	c.mustReply("+PONG\r\n")
	eventually(false, "after a batch")

	// Half a command: the guard holds it back, the goroutine reads on
	// with the reader lent, and the rest completes the command.
	c.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva")
	eventually(true, "mid-command")
	c.send("lue\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
	c.mustReply("+OK\r\n")
	c.mustReply("$5\r\nvalue\r\n")
	eventually(false, "after the pieces")

	// An inline command longer than one read goes to redcon in pieces.
	long := make([]byte, 20000)
	for i := range long {
		long[i] = 'x'
	}
	c.send("ECHO " + string(long[:10000]))
	eventually(true, "mid-inline")
	c.send(string(long[10000:]) + "\r\n")
	c.mustReply("$20000\r\n" + string(long) + "\r\n")
	eventually(false, "after the inline command")
}

// TestPooledReadersKeepClientsApart has clients whose commands arrive in
// pieces of every size (inline and multibulk, payloads across redcon's and
// bufio's 4 KB buffers) while the others come and go idle: a reader goes
// from client to client, and no byte of one may reach another.
func TestPooledReadersKeepClientsApart(t *testing.T) {
	p := startProxy(t, []*testenv.Redis{testenv.StartRedis(t)}, nil)
	const clients, rounds = 8, 40
	errs := make(chan error, clients)
	for id := 0; id < clients; id++ {
		go func() {
			errs <- func() error {
				nc, err := net.Dial("tcp", p.Addr())
				if err != nil {
					return err
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(nc)
				rng := rand.New(rand.NewPCG(uint64(id), 1))
				for r := 0; r < rounds; r++ {
					var wire []byte
					var want []string
					for n := 1 + rng.IntN(4); n > 0; n-- {
						v := strings.Repeat(fmt.Sprintf("c%d-r%d.", id, r), 1+rng.IntN(900))
						if rng.IntN(4) == 0 {
							v = v[:min(len(v), 200)]
							wire = fmt.Appendf(wire, "ECHO %s\r\n", v)
						} else {
							wire = resp.AppendCommand(wire, "ECHO", v)
						}
						want = append(want, fmt.Sprintf("$%d\r\n%s\r\n", len(v), v))
					}
					for len(wire) > 0 {
						k := min(len(wire), 1+rng.IntN(6000))
						if _, err := nc.Write(wire[:k]); err != nil {
							return err
						}
						wire = wire[k:]
						if rng.IntN(3) == 0 {
							time.Sleep(time.Millisecond)
						}
					}
					for _, w := range want {
						got, err := resp.ReadReply(br, nil)
						if err != nil {
							return err
						}
						if string(got) != w {
							return fmt.Errorf("client %d round %d: got %.60q..., want %.60q...", id, r, got, w)
						}
					}
				}
				return nil
			}()
		}()
	}
	for i := 0; i < clients; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// dialSession connects a client to a one-shard proxy and returns it with
// the proxy's session for it.
func dialSession(t *testing.T) (*rawConn, *Session) {
	t.Helper()
	px, sessions := hookedProxy(t, []*testenv.Redis{testenv.StartRedis(t)}, nil)
	c := dialRaw(t, px.Pools()[0])
	select {
	case s := <-sessions:
		return c, s
	case <-time.After(5 * time.Second):
		t.Fatal("no session")
	}
	return nil, nil
}
