package router

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
)

// inlineCases are inline inputs with what Redis 7.0 does with them; the
// tests below hold the guard to its reference splitter, and the proxy to a
// live redis-server, byte for byte.
var inlineCases = []struct{ name, in string }{
	{"plain CRLF", "ECHO hello\r\n"},
	{"plain LF only", "ECHO hello\n"},
	{"double quotes", "ECHO \"a b\"\r\n"},
	{"single quotes", "ECHO 'a b'\r\n"},
	{"hex escapes", "ECHO \"\\x41\\x4a\\x7a\\xff\"\r\n"},
	{"not hex", "ECHO \"\\x4g\\x\"\r\n"},
	{"escapes", "ECHO \"<\\n\\r\\t\\b\\a\\\\\\\">\"\r\n"},
	{"unknown escapes", "ECHO \"\\q\\'\\0\"\r\n"},
	{"single quote escape", "ECHO 'it\\'s'\r\n"},
	{"backslashes in single quotes", "ECHO 'a\\nb\\\\x'\r\n"},
	{"quote inside argument", "ECHO foo\"bar baz\"\r\n"},
	{"single quote inside argument", "ECHO foo'bar baz'\r\n"},
	{"text after closing quote", "ECHO \"a\"b\r\n"},
	{"text after closing single quote", "ECHO 'a'b\r\n"},
	{"quote inside then text", "ECHO a\"b\"c\r\n"},
	{"unterminated double", "ECHO \"abc\r\n"},
	{"unterminated single", "ECHO 'abc\r\n"},
	{"escaped closing quote", "ECHO \"a\\\"\r\n"},
	{"backslash at end in quotes", "ECHO \"a\\\r\n"},
	{"lone quote", "ECHO \"\r\n"},
	{"tab separator", "ECHO\ta\r\n"},
	{"extra blanks", "  ECHO   a  \r\n"},
	{"vertical tab inside argument", "ECHO a\vb\r\n"},
	{"leading vertical tab and form feed", "\v\fECHO a\r\n"},
	{"vertical tab after quote", "ECHO \"a\"\vb\r\n"},
	{"empty lines ignored", "\r\n\n\r\nPING\r\n"},
	{"blank line ignored", "   \t\r\nPING\r\n"},
	{"empty quoted argument", "ECHO \"\"\r\n"},
	{"empty single quoted argument", "ECHO ''\r\n"},
	{"two CRs", "ECHO a\r\r\n"},
	{"CR inside quotes", "ECHO \"a\r\"\r\n"},
	{"NUL by escape", "SET inline:k \"v 1\\x00x\"\r\nGET inline:k\r\nDEL inline:k\r\n"},
	{"wrong arity GET", "GET\r\n"},
	{"wrong arity ECHO", "ECHO\r\n"},
	{"wrong arity after split", "ECHO a 'b c'\r\n"},
	{"mixed pipeline", "ECHO a\r\n*2\r\n$4\r\nECHO\r\n$1\r\nb\r\nECHO 'c d'\r\n*1\r\n$4\r\nPING\r\nECHO e\n"},
	{"mixed pipeline ending in bad quotes", "PING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nb\r\nECHO \"x\r\nPING\r\n"},
	{"SET and GET", "SET inline:s \"a\\tb\" \r\nGET inline:s\r\nDEL inline:s\r\n"},
	{"NUL hides the newline", "ECHO a\x00b\r\nPING\r\n"},
	{"line of 65000", "ECHO " + strings.Repeat("a", 65000-7) + "\r\n"},
	{"line of 70000", "ECHO " + strings.Repeat("b", 70000-7) + "\r\n"},
	{"line of 80000 quoted", "ECHO \"" + strings.Repeat("c", 80000-9) + "\"\r\n"},
	{"line of 200000", "PING\r\nECHO " + strings.Repeat("d", 200000) + "\r\n"},
	{"70000 without newline", "PING\r\nECHO " + strings.Repeat("e", 70000)},
	{"NUL then 70000", "ECHO a\x00" + strings.Repeat("f", 70000)},
}

// The guard gives redcon, for every case and however the bytes are cut
// into reads (every single cut point, and reads of 1 to 7 bytes), the
// commands and the error the reference splitter gives, with deliveries
// that end at command boundaries.
func TestInlineMatchesReference(t *testing.T) {
	for _, tc := range inlineCases {
		in := []byte(tc.in)
		if len(in) > 1000 {
			continue // TestInlineLongLines
		}
		for cut := 0; cut <= len(in); cut++ {
			if d := guardMatchesRef(t, in, []int{cut}); d != "" {
				t.Fatalf("%s, cut at %d: %s", tc.name, cut, d)
			}
		}
		for step := 1; step <= 7; step++ {
			cuts := make([]int, len(in)/step+1)
			for i := range cuts {
				cuts[i] = step
			}
			if d := guardMatchesRef(t, in, cuts); d != "" {
				t.Fatalf("%s, reads of %d: %s", tc.name, step, d)
			}
		}
	}
}

// Long inline lines are judged where Redis judges them: a line whose '\n'
// is within the 81,910 bytes Redis has read by its second read is taken
// when it arrives at once, a longer one never; a line that has passed 64
// KB without its '\n' when a read ends is refused (also after a NUL byte).
func TestInlineLongLines(t *testing.T) {
	line := func(n int) string { return "ECHO " + strings.Repeat("a", n-7) + "\r\n" }
	for _, tt := range []struct {
		name string
		in   string
		step int
		ok   bool
	}{
		{"65536 in one read", line(65536), 0, true},
		{"70000 in one read", line(70000), 0, true},
		{"81910 in one read", line(81910), 0, true},
		{"81911 in one read", line(81911), 0, false},
		{"200000 in one read", line(200000), 0, false},
		{"70000 in reads of 40000", line(70000), 40000, true},
		{"81910 in reads of 40000", line(81910), 40000, false},
		{"70000 in reads of 4096", line(70000), 4096, false},
		{"65536 in reads of 4096", line(65536), 4096, true},
		{"NUL then 65500", "ECHO a\x00" + strings.Repeat("f", 65500), 0, true},
		{"NUL then 70000", "ECHO a\x00" + strings.Repeat("f", 70000), 0, false},
	} {
		cmds, wrote, err := guardStream(t, testLimits(), []byte(tt.in), tt.step)
		const tooBig = "-ERR Protocol error: too big inline request\r\n"
		switch {
		case tt.ok && wrote != "":
			t.Errorf("%s: wrote %q, want nothing", tt.name, wrote)
		case tt.ok && strings.Contains(tt.in, "\x00") && len(cmds) != 0:
			t.Errorf("%s: %d commands, want none (the line never ends)", tt.name, len(cmds))
		case tt.ok && !strings.Contains(tt.in, "\x00") && len(cmds) != 1:
			t.Errorf("%s: %d commands, want 1", tt.name, len(cmds))
		case tt.ok && len(cmds) == 1 && cmds[0] != strings.TrimSuffix(tt.in, "\r\n"):
			t.Errorf("%s: command of %d bytes, want %d", tt.name, len(cmds[0]), len(tt.in)-2)
		case !tt.ok && (wrote != tooBig || len(cmds) != 0 || !errors.Is(err, errProtocolGuard)):
			t.Errorf("%s: commands %d, wrote %q, err %v; want none, %q", tt.name, len(cmds), wrote, err, tooBig)
		}
	}
}

// How long a line may be depends on the reads it took, as in Redis: with
// the first bytes of a line arriving alone and the rest at once, a line of
// reach bytes is taken and one byte more is refused. The reaches follow
// Redis's query buffer (querybuf.go); each was checked against
// redis-server 7.0.15, the first bytes sent 50 ms before the rest (the two
// largest only with the rest arriving in one read, which loopback TCP
// does not give Redis for 98 KB or more).
func TestInlineBurstAfterPrefix(t *testing.T) {
	line := func(n int) []byte { return []byte("ECHO " + strings.Repeat("a", n-7) + "\r\n") }
	for _, tt := range []struct{ prefix, reach int }{
		{1, 81910}, {100, 81910}, {4096, 131062}, {7000, 131062}, {7300, 131062},
		{16384, 81910}, {21845, 81910}, {30000, 81910}, {65525, 81910}, {65526, 81910},
		{65527, 163830}, {65536, 196598},
	} {
		for _, n := range []int{tt.reach, tt.reach + 1} {
			in := line(n)
			cc := &chunkConn{chunks: [][]byte{in[:tt.prefix], in[tt.prefix:]}}
			rd := newServerReader(newTestGuard(t, cc, testLimits()))
			cmd, err := rd.ReadCommand()
			switch {
			case n == tt.reach && (err != nil || len(cmd.Args) != 2 || len(cmd.Args[1]) != n-7):
				t.Errorf("prefix %d, line %d: %d args, err %v; want the line taken", tt.prefix, n, len(cmd.Args), err)
			case n > tt.reach && (err == nil || cc.wrote.String() != "-ERR Protocol error: too big inline request\r\n"):
				t.Errorf("prefix %d, line %d: err %v, wrote %q; want it refused", tt.prefix, n, err, cc.wrote.String())
			}
		}
	}
}

// The proxy answers every inline case as redis-server 7.0 does, byte for
// byte, and closes the connection where Redis closes it.
func TestInlineMatchesRedis(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 10 * time.Second })
	for _, tc := range inlineCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits for the servers to fall silent
			wait := 5 * time.Second
			if strings.Contains(tc.name, "NUL hides") {
				wait = time.Second // nothing comes back from either
			}
			want, wantClosed := rawExchange(t, rs[0].Addr, []byte(tc.in), wait)
			if len(want) == 0 && !strings.Contains(tc.name, "NUL hides") {
				t.Fatalf("redis-server sent nothing for %q", tc.in)
			}
			got, closed := rawExchange(t, p.Addr(), []byte(tc.in), wait)
			if !bytes.Equal(got, want) || closed != wantClosed {
				t.Errorf("proxy: %.200q (closed %v)\nredis: %.200q (closed %v)", got, closed, want, wantClosed)
			}
		})
	}
	// The mixed pipelines again, one byte per write.
	for _, tc := range inlineCases {
		if !strings.HasPrefix(tc.name, "mixed") {
			continue
		}
		t.Run(tc.name+"/bytewise", func(t *testing.T) {
			want, wantClosed := trickle(t, rs[0].Addr, []byte(tc.in))
			got, closed := trickle(t, p.Addr(), []byte(tc.in))
			if !bytes.Equal(got, want) || closed != wantClosed {
				t.Errorf("proxy: %q (closed %v)\nredis: %q (closed %v)", got, closed, want, wantClosed)
			}
		})
	}
}

// trickle sends in one byte per write, a millisecond apart, and returns
// what comes back until the server closes the connection or falls silent.
func trickle(t *testing.T, addr string, in []byte) (got []byte, closed bool) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.(*net.TCPConn).SetNoDelay(true)
	for i := range in {
		if _, err := nc.Write(in[i : i+1]); err != nil {
			break // closed by the server: what it sent is read below
		}
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 4096)
	for {
		nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return got, false
			}
			return got, true
		}
	}
}
