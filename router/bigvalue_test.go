package router

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/config"
)

// bigFrame is a SET of a value of n bytes with arguments after it.
func bigFrame(key string, n int, fill byte) []byte {
	b := fmt.Appendf(nil, "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", len(key), key, n)
	b = append(b, bytes.Repeat([]byte{fill}, n)...)
	return append(b, "\r\n$2\r\nEX\r\n$3\r\n100\r\n"...)
}

// The guard takes a command with a large payload over from redcon at a
// command boundary: everything sent before it has been delivered when it
// is served, everything after it is delivered after, unchanged, however
// the stream is cut into reads; a protocol error after it is answered after
// it; a client that goes in the middle of it gets nothing served.
func TestGuardAssemblesBigCommands(t *testing.T) {
	small := []byte("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n")
	big := bigFrame("big", 3*bigValue, 'x')
	var before, after []byte
	before = append(append(before, small...), "PING\r\n"...)
	after = append(append(append(after, "*0\r\n"...), small...), "PING\r\n"...)
	stream := append(append(append([]byte{}, before...), big...), after...)
	// Redis ignores "*0": the guard cuts it out; and it rewrites the
	// inline PING into a multibulk frame (inline.go).
	ping := "*1\r\n$4\r\nPING\r\n"
	beforeNorm := append(bytes.Clone(small), ping...)
	afterNorm := append(bytes.Clone(small), ping...)

	for _, chunk := range []int{5, 4096, 100 << 10, len(stream)} {
		for _, readSize := range []int{4096, 64 << 10} {
			var chunks [][]byte
			for i := 0; i < len(stream); i += chunk {
				chunks = append(chunks, bytes.Clone(stream[i:min(i+chunk, len(stream))]))
			}
			g := newTestGuard(t, &chunkConn{chunks: chunks}, testLimits())
			var got []byte
			var served []redcon.Command
			var deliveredBefore []byte
			g.big = func(cmd redcon.Command) {
				served = append(served, cmd)
				deliveredBefore = bytes.Clone(got)
			}
			buf := make([]byte, readSize)
			for {
				n, err := g.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			name := fmt.Sprintf("chunk %d read %d", chunk, readSize)
			if len(served) != 1 {
				t.Fatalf("%s: %d commands served by the guard, want 1", name, len(served))
			}
			if !bytes.Equal(deliveredBefore, beforeNorm) {
				t.Fatalf("%s: delivered before the big command %q, want %q", name, deliveredBefore, beforeNorm)
			}
			if want := append(bytes.Clone(beforeNorm), afterNorm...); !bytes.Equal(got, want) {
				t.Fatalf("%s: delivered %q, want %q", name, got, want)
			}
			cmd := served[0]
			if !bytes.Equal(cmd.Raw, big) {
				t.Fatalf("%s: the big command's bytes differ from those sent", name)
			}
			if len(cmd.Args) != 5 || string(cmd.Args[1]) != "big" || len(cmd.Args[2]) != 3*bigValue ||
				string(cmd.Args[3]) != "EX" || string(cmd.Args[4]) != "100" {
				t.Fatalf("%s: args %d, %q", name, len(cmd.Args), cmd.Args[1])
			}
			if cap(cmd.Raw) != len(cmd.Raw) {
				t.Errorf("%s: raw of capacity %d for %d bytes", name, cap(cmd.Raw), len(cmd.Raw))
			}
		}
	}

	t.Run("protocol error after", func(t *testing.T) {
		s := append(append(bytes.Clone(big), small...), "*+1\r\n$4\r\nPING\r\n"...)
		c := &chunkConn{chunks: [][]byte{s}}
		g := newTestGuard(t, c, testLimits())
		var order []string
		g.big = func(redcon.Command) { order = append(order, "big") }
		buf := make([]byte, 4096)
		var err error
		for err == nil {
			var n int
			n, err = g.Read(buf)
			if n > 0 {
				order = append(order, string(buf[:n]))
			}
		}
		if want := []string{"big", string(small)}; strings.Join(order, "|") != strings.Join(want, "|") {
			t.Fatalf("order %q, want %q", order, want)
		}
		if err != errProtocolGuard || c.wrote.String() != "-ERR Protocol error: invalid multibulk length\r\n" {
			t.Fatalf("err %v, wrote %q", err, c.wrote.String())
		}
	})

	t.Run("client goes mid-payload", func(t *testing.T) {
		c := &chunkConn{chunks: [][]byte{bytes.Clone(small), bytes.Clone(big[:len(big)/2])}}
		g := newTestGuard(t, c, testLimits())
		g.big = func(redcon.Command) { t.Error("an unfinished command was served") }
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := g.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if !bytes.Equal(got, small) {
			t.Fatalf("delivered %q, want %q", got, small)
		}
	})

	t.Run("query buffer limit", func(t *testing.T) {
		lim := testLimits()
		lim.maxQuery = 2 * bigValue
		c := &chunkConn{chunks: [][]byte{bytes.Clone(big)}}
		g := newTestGuard(t, c, lim)
		g.big = func(redcon.Command) { t.Error("a command over the query buffer limit was served") }
		buf := make([]byte, 4096)
		for {
			if _, err := g.Read(buf); err != nil {
				if err != errProtocolGuard {
					t.Fatalf("err %v, want the guard's", err)
				}
				break
			}
		}
	})
}

// Large values through a proxy in front of a real redis-server, mixed with
// small ones in one pipeline, in RESP2 and RESP3, inside MULTI, and to a
// client that reads its replies late: every reply arrives once, in order,
// byte for byte, and the memory of the large ones is returned.
func TestBigValuesThroughProxy(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) {
		pc.Timeout = 30 * time.Second
		pc.OutputLimitNormal = config.OutputLimit{Hard: 1 << 30}
	})
	v1 := strings.Repeat("1", 2*bigValue+7)
	v2 := strings.Repeat("2", 3*bigValue)
	bulk := func(v string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(v), v) }
	cmd := func(args ...string) string {
		s := fmt.Sprintf("*%d\r\n", len(args))
		for _, a := range args {
			s += bulk(a)
		}
		return s
	}

	c := dialRaw(t, p)
	c.send(cmd("SET", "s", "small") + cmd("SET", "b1", v1) + cmd("GET", "s") + cmd("SET", "b2", v2, "EX", "100") +
		cmd("GET", "b1") + cmd("STRLEN", "b2") + cmd("GET", "b2") + cmd("GET", "s"))
	c.mustReply("+OK\r\n")
	c.mustReply("+OK\r\n")
	c.mustReply(bulk("small"))
	c.mustReply("+OK\r\n")
	c.mustReply(bulk(v1))
	c.mustReply(fmt.Sprintf(":%d\r\n", len(v2)))
	c.mustReply(bulk(v2))
	c.mustReply(bulk("small"))

	// RESP3: a bulk string is the same; a null next to it is RESP3's.
	c.send(cmd("HELLO", "3"))
	if r, err := c.reply(); err != nil || r[0] != '%' {
		t.Fatalf("HELLO 3: %q, %v", r, err)
	}
	c.send(cmd("GET", "b1") + cmd("GET", "nosuch"))
	c.mustReply(bulk(v1))
	c.mustReply("_\r\n")

	// A transaction holding a large value.
	c.send(cmd("MULTI") + cmd("SET", "b3", v2) + cmd("GET", "b3") + cmd("EXEC"))
	c.mustReply("+OK\r\n")
	c.mustReply("+QUEUED\r\n")
	c.mustReply("+QUEUED\r\n")
	c.mustReply("*2\r\n+OK\r\n" + bulk(v2))

	// A client that reads late: the large replies wait in the writer.
	late := dialRaw(t, p)
	late.send(cmd("GET", "b2") + cmd("GET", "s") + cmd("GET", "b1"))
	time.Sleep(300 * time.Millisecond)
	late.mustReply(bulk(v2))
	late.mustReply(bulk("small"))
	late.mustReply(bulk(v1))

	// Enough large values gone by for the memReturner to act.
	for i := 0; i < 5; i++ {
		late.send(cmd("GET", "b2"))
		late.mustReply(bulk(v2))
	}
	// waitReturn waits until what was let go after the memReturner's
	// total was before, at least want bytes of it, has been collected.
	waitReturn := func(what string, before int64, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for p.mem.returned.Load() < before+int64(want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the memory of the large values was never returned (%d of %d bytes reported, %d returned)",
					what, p.mem.total.Load()-before, want, p.mem.returned.Load()-before)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitReturn("pipeline", 0, len(v1))

	// Clients that go in the middle of a large value: its buffer is
	// returned too, and nothing is served for the unfinished SET.
	huge := strings.Repeat("h", memReturnAt+bigValue)
	before := p.mem.total.Load()
	up := dialRaw(t, p)
	up.send(cmd("SET", "huge", huge)[:memReturnAt])
	up.nc.Close()
	waitReturn("a client gone mid-SET", before, len(huge))
	if n, err := client(t, p).Exists(ctx(), "huge").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS huge = %d, %v after an unfinished SET", n, err)
	}
	before = p.mem.total.Load()
	c.send(cmd("SET", "huge", huge))
	c.mustReply("+OK\r\n")
	waitReturn("SET huge", before, len(huge))
	// The socket takes part of the reply before the proxy finds the
	// client gone: half of it is enough to see the rest reported.
	before = p.mem.total.Load()
	down := dialRaw(t, p)
	down.send(cmd("GET", "huge"))
	down.nc.Close()
	waitReturn("a client gone mid-GET", before, len(huge)/2)
}

// FuzzGuardBigMatchesRedcon is a differential test of the guard's own
// assembly of large commands (bigcmd.go, here from payloads of a few
// bytes on) against the guard handing everything to redcon: the same
// commands in the same order, the same error text, the same end.
func FuzzGuardBigMatchesRedcon(f *testing.F) {
	for _, s := range []string{
		"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$20\r\n01234567890123456789\r\nPING\r\n",
		"*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n*0\r\n*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$12\r\n0123456789ab\r\n$10\r\n0123456789\r\n*+1\r\n",
		"*2\r\n$4\r\nECHO\r\n$16\r\n0123456789abcdef\r\nGET a\r\n",
		"*2\r\n$4\r\nECHO\r\n$16\r\n0123456789abcdef\r\n$3\r\n",
		"*2\r\n$4\r\nECHO\r\n$16\r\n0123456789abcdefxx",
		"*3\r\n$4\r\nECHO\r\n$16\r\n0123456789abcdef\r\n:3\r\n",
	} {
		f.Add([]byte(s), uint64(1), uint8(8))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, at uint8) {
		run := func(big bool) (cmds [][][]byte, errText, wrote string) {
			rng := rand.New(rand.NewPCG(seed, 7))
			var chunks [][]byte
			for rest := in; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(32))
				chunks = append(chunks, bytes.Clone(rest[:n]))
				rest = rest[n:]
			}
			conn := &chunkConn{chunks: chunks}
			// Small limits: the guard makes room for the announced payload,
			// and a fuzzed "$536870912" must not cost 512 MB per run.
			lim := testLimits()
			lim.maxBulk, lim.maxQuery = 1<<16, 1<<17
			g := newTestGuard(t, conn, lim)
			if big {
				g.bigAt = int64(at%32) + 1
				g.big = func(cmd redcon.Command) { cmds = append(cmds, cmd.Args) }
			}
			rd := newServerReader(g)
			for len(cmds) < 256 {
				cmd, err := rd.ReadCommand()
				if err != nil {
					return cmds, err.Error(), conn.wrote.String()
				}
				cmds = append(cmds, cmd.Args)
			}
			return cmds, "", conn.wrote.String()
		}
		plain, plainErr, plainWrote := run(false)
		big, bigErr, bigWrote := run(true)
		if !equalCommands(plain, big) || plainErr != bigErr || plainWrote != bigWrote {
			t.Fatalf("input %q: through redcon %q, %s, wrote %q; assembled by the guard %q, %s, wrote %q",
				in, plain, plainErr, plainWrote, big, bigErr, bigWrote)
		}
	})
}
