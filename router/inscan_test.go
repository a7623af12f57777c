package router

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tidwall/redcon"
)

// guardStream feeds in, cut into chunks of step bytes (0: one chunk),
// through a guard into redcon's reader, as a client connection does. It
// returns the commands redcon parsed (args joined by spaces), what the
// guard wrote back and the error that ended the stream (nil for EOF).
func guardStream(t testing.TB, lim inputLimits, in []byte, step int) (cmds []string, wrote string, err error) {
	t.Helper()
	all, wrote, err := guardCommands(t, lim, in, step)
	for _, cmd := range all {
		args := make([]string, len(cmd.Args))
		for i, a := range cmd.Args {
			args[i] = string(a)
		}
		cmds = append(cmds, strings.Join(args, " "))
	}
	return cmds, wrote, err
}

// guardCommands is guardStream returning redcon's commands.
func guardCommands(t testing.TB, lim inputLimits, in []byte, step int) (cmds []redcon.Command, wrote string, err error) {
	t.Helper()
	if step <= 0 {
		step = max(len(in), 1)
	}
	var chunks [][]byte
	for i := 0; i < len(in); i += step {
		chunks = append(chunks, bytes.Clone(in[i:min(i+step, len(in))]))
	}
	cc := &chunkConn{chunks: chunks}
	rd := newServerReader(newTestGuard(t, cc, lim))
	for {
		cmd, err := rd.ReadCommand()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return cmds, cc.wrote.String(), err
		}
		cmds = append(cmds, cmd)
	}
}

// Every frame Redis 7.0 refuses is refused with Redis's text, after the
// commands before it; frames Redis accepts and redcon alone would refuse
// are let through. The texts were taken from redis-server 7.0.15
// (TestProtocolErrorsMatchRedis compares with a live one).
func TestGuardRedisRules(t *testing.T) {
	digits := strings.Repeat("1", 70000)
	tests := []struct {
		name string
		in   string
		cmds []string // commands redcon gets
		err  string   // protocol error sent, "" for none
	}{
		{"star plus", "*+1\r\n$4\r\nPING\r\n", nil, "invalid multibulk length"},
		{"dollar plus", "*1\r\n$+4\r\nPING\r\n", nil, "invalid bulk length"},
		{"dollar minus zero", "*1\r\n$-0\r\n\r\n", nil, "invalid bulk length"},
		{"star minus zero", "*-0\r\nPING\r\n", nil, "invalid multibulk length"},
		{"count leading zero", "*01\r\n$4\r\nPING\r\n", nil, "invalid multibulk length"},
		{"bulk leading zero", "*1\r\n$04\r\nPING\r\n", nil, "invalid bulk length"},
		{"count space", "* 1\r\n$4\r\nPING\r\n", nil, "invalid multibulk length"},
		{"count empty", "*\r\n", nil, "invalid multibulk length"},
		{"bulk empty", "*1\r\n$\r\n", nil, "invalid bulk length"},
		{"bulk negative", "*1\r\n$-1\r\n", nil, "invalid bulk length"},
		{"count over int max", "*2147483648\r\n", nil, "invalid multibulk length"},
		{"count int64 overflow", "*99999999999999999999\r\n", nil, "invalid multibulk length"},
		{"bulk over limit", "*1\r\n$536870913\r\n", nil, "invalid bulk length"},
		{"bulk 1GB", "*1\r\n$1073741824\r\n", nil, "invalid bulk length"},
		{"expected dollar", "*1\r\n:4\r\nPING\r\n", nil, "expected '$', got ':'"},
		{"expected dollar CR", "*1\r\n\r\n", nil, "expected '$', got ' '"},
		{"CR without LF", "*1\r$4\r\nPING\r\n", nil, "expected '$', got '4'"},
		{"commands before the bad frame answered", "PING\r\n*1\r\n$4\r\nPING\r\nECHO hi\r\n*+1\r\n$4\r\nPING\r\n",
			[]string{"PING", "PING", "ECHO hi"}, "invalid multibulk length"},
		{"prefix then 1GB", "*+1\r\n$4\r\nPING\r\n*1\r\n$1073741824\r\n", nil, "invalid multibulk length"},
		{"count line without CRLF", "*" + digits, nil, "too big mbulk count string"},
		{"bulk line without CRLF", "*1\r\n$" + digits, nil, "too big bulk count string"},
		{"inline without LF", "ECHO " + strings.Repeat("a", 70000), nil, "too big inline request"},
		{"zero and minus one ignored", "*0\r\n*-1\r\nPING\r\n*-2\r\n", []string{"PING"}, ""},
		{"ignored between commands", "PING\r\n*0\r\nECHO a\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", []string{"PING", "ECHO a", "PING"}, ""},
		{"bytes after payload unchecked", "*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", []string{"PING", "PING"}, ""},
		{"empty bulk", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", []string{"ECHO "}, ""},
		{"negative count int64 min", "*-9223372036854775808\r\nPING\r\n", []string{"PING"}, ""},
		{"empty lines", "\r\n\n\nPING\r\n", []string{"PING"}, ""},
		{"inline 70KB", "ECHO " + strings.Repeat("a", 70000) + "\r\n", []string{"ECHO " + strings.Repeat("a", 70000)}, ""},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 3, 4096} {
			if step > 0 && tt.name == "inline 70KB" {
				// Accepted when it arrives in one read. Redis, too,
				// refuses a line that has passed 64 KB without its end
				// when a read ends: only step 0 applies.
				continue
			}
			if step == 1 && len(tt.in) > 1000 {
				// Redis judges an unfinished line when a read ends:
				// byte-sized reads judge long lines at 64 KB, which the
				// other steps cover.
				continue
			}
			t.Run(fmt.Sprintf("%s/step%d", tt.name, step), func(t *testing.T) {
				cmds, wrote, err := guardStream(t, testLimits(), []byte(tt.in), step)
				if fmt.Sprint(cmds) != fmt.Sprint(tt.cmds) {
					t.Errorf("commands %.200q, want %.200q", cmds, tt.cmds)
				}
				want := ""
				if tt.err != "" {
					want = "-ERR Protocol error: " + tt.err + "\r\n"
				}
				if wrote != want {
					t.Errorf("wrote %q, want %q", wrote, want)
				}
				if (err != nil) != (tt.err != "") {
					t.Errorf("stream ended with %v", err)
				}
			})
		}
	}
}

// A command of 1,048,577 arguments is allowed, as in Redis 7.0.
func TestGuardManyArguments(t *testing.T) {
	var b bytes.Buffer
	const n = 1<<20 + 1
	fmt.Fprintf(&b, "*%d\r\n$4\r\nMGET\r\n", n)
	for i := 1; i < n; i++ {
		b.WriteString("$1\r\na\r\n")
	}
	b.WriteString("PING\r\n")
	for _, step := range []int{0, 65536} {
		cmds, wrote, err := guardStream(t, testLimits(), b.Bytes(), step)
		if err != nil || wrote != "" || len(cmds) != 2 || cmds[1] != "PING" || len(cmds[0]) != 4+2*(n-1) {
			t.Fatalf("step %d: %d commands, wrote %q, err %v", step, len(cmds), wrote, err)
		}
	}
}

// A command bigger than client_query_buffer_limit closes the connection
// without a reply, as Redis does, before the guard holds more than a read
// beyond the limit.
func TestGuardQueryBufferLimit(t *testing.T) {
	lim := testLimits()
	lim.maxQuery = 1 << 20
	for _, tt := range []struct {
		name string
		in   string
	}{
		{"one bulk", "*2\r\n$4\r\nECHO\r\n$2000000\r\n" + strings.Repeat("x", 1100000)},
		{"many small args", "*1000000\r\n" + strings.Repeat("$1\r\na\r\n", 200000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmds, wrote, err := guardStream(t, lim, []byte("PING\r\n"+tt.in), 16384)
			if len(cmds) != 1 || wrote != "" || !errors.Is(err, errProtocolGuard) {
				t.Errorf("commands %q, wrote %q, err %v; want PING, nothing written, the guard's error", cmds, wrote, err)
			}
		})
	}
}

// Inline commands follow Redis's quoting rules (sdssplitargs): a bad line
// is refused after the commands before it.
func TestGuardInlineQuotes(t *testing.T) {
	for _, tt := range []struct {
		in  string
		bad bool
	}{
		{"ECHO \"a b\"\r\n", false},
		{"ECHO 'a b'\r\n", false},
		{"ECHO \"a\\\"b\"\r\n", false},
		{"ECHO 'it\\'s'\r\n", false},
		{"ECHO \"a\r\n", true},
		{"ECHO 'a\r\n", true},
		{"ECHO \"a\"b\r\n", true},
		{"ECHO 'a'b\r\n", true},
		{"ECHO \"a\\\r\n", true},
		{"ECHO 'a\\'\r\n", true},
	} {
		cmds, wrote, _ := guardStream(t, testLimits(), []byte("PING\r\n"+tt.in+"PING\r\n"), 0)
		switch {
		case tt.bad && (len(cmds) != 1 || wrote != "-ERR Protocol error: unbalanced quotes in request\r\n"):
			t.Errorf("%q: commands %q, wrote %q; want PING, then the error", tt.in, cmds, wrote)
		case !tt.bad && (len(cmds) != 3 || wrote != ""):
			t.Errorf("%q: commands %q, wrote %q; want three commands", tt.in, cmds, wrote)
		}
	}
}

// Before AUTH, Redis refuses more than 10 arguments and bulks over 16 KB.
func TestGuardUnauthenticatedLimits(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"*11\r\n", "-ERR Protocol error: unauthenticated multibulk length\r\n"},
		{"*2\r\n$4\r\nAUTH\r\n$16385\r\n", "-ERR Protocol error: unauthenticated bulk length\r\n"},
		{"*10\r\n$4\r\nAUTH\r\n$16384\r\n", ""},
	} {
		cc := &chunkConn{chunks: [][]byte{[]byte(tt.in)}}
		g := newTestGuard(t, cc, testLimits())
		g.unauthed = func() bool { return true }
		rd := newServerReader(g)
		rd.ReadCommand()
		if got := cc.wrote.String(); got != tt.want {
			t.Errorf("%q: wrote %q, want %q", tt.in, got, tt.want)
		}
	}
}
