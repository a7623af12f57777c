package router

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/metrics"
)

// readAllCommands reads commands until the reader fails (at most 256):
// redcon's Reader (the reference) or the server's (serverReader).
func readAllCommands(rd interface {
	ReadCommand() (redcon.Command, error)
}) ([][][]byte, error) {
	var cmds [][][]byte
	for len(cmds) < 256 {
		cmd, err := rd.ReadCommand()
		if err != nil {
			return cmds, err
		}
		cmds = append(cmds, cmd.Args)
	}
	return cmds, nil
}

// FuzzGuardMatchesRedcon is a differential test of the client-side guard
// against redcon's parser: redcon reading through the guard (the bytes
// arriving in random pieces) must see exactly what redcon alone sees when
// given the bytes the guard let through: the same commands, the same
// error. When the guard refuses a frame it says so with one of Redis's
// texts, after every command before the frame. And each delivery that
// holds a complete command ends where one ends (redcon's own boundaries)
// or after blank lines, so redcon never keeps half a command.
func FuzzGuardMatchesRedcon(f *testing.F) {
	m, err := metrics.New("test", "go").Pool("guard", metrics.PoolOptions{CommandNames: command.Names()})
	if err != nil {
		f.Fatal(err)
	}
	l := &guardListener{stats: &poolStats{m: m}, m: m, log: slog.New(slog.DiscardHandler), lim: testLimits()}
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$3\r\nb\r\n\r\nPING\r\n",
		"PING\r\nSET a \"b c\"\r\n\r\nGET a\r\n",
		"*1\r\n$4\r\nPING\r\n*1\r\n$1073741824\r\n",
		"PING\r\n*1\r\n$536870913\r\nxyz",
		"*2000000\r\n$3\r\nDEL\r\n",
		"*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n",
		"PING\r\n*1\r\n$+4\r\nPING\r\n",
		"*1\r\n$04\r\nPING\r\n",
		"*1\r\n:4\r\nPING\r\n",
		"*1\r\n$4\r\nPINGxx",
		"*1\n$4\r\nPING\r\n",
		"GET \"a\r\n",
		"000\n00\r\n000\r\n00\"00000000000000\n00000000000",
	} {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var chunks [][]byte
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(32))
			chunks = append(chunks, bytes.Clone(rest[:n]))
			rest = rest[n:]
		}
		conn := &chunkConn{chunks: chunks}
		g := &guardConn{Conn: conn, l: l}
		g.sc.lim = &l.lim
		rec := &deliveries{g: g}
		got, gotErr := readAllCommands(newServerReader(rec))
		// Where Redis ignores a byte that redcon checks (the one after a
		// length line's CR, the two after a payload), the guard rewrites it
		// in place before redcon sees it; TestProtocolErrorsMatchRedis holds
		// those rewrites to Redis. So the reference is redcon on the stream
		// as the
		// guard normalised it (it also cuts out "*0" and "*-1" frames, which
		// Redis ignores): what it delivered, wherever that differs from the
		// input's own bytes.
		ref := in
		if len(rec.seen) > len(in) || !bytes.Equal(rec.seen, in[:len(rec.seen)]) {
			ref = rec.seen
		}
		if hasInline(in) {
			// Inline commands reach redcon rewritten as Redis splits
			// them, which redcon alone does not: FuzzGuardInline holds
			// those to Redis's rules, and here the reference is what the
			// guard delivered. Whether the input has an inline line
			// is read from the input, not from the guard's own state, so
			// a guard that loses its place cannot excuse itself.
			ref = rec.seen
		}
		all, allErr := readAllCommands(redcon.NewReader(bytes.NewReader(ref)))
		// Never other commands than redcon alone reads. (On a protocol
		// error redcon drops the commands it parsed in the same read as
		// the bad frame, so one list may be shorter.)
		if short := min(len(got), len(all)); !equalCommands(got[:short], all[:short]) {
			t.Fatalf("input %q: through the guard %q, redcon alone %q", in, got, all)
		}
		if wrote := conn.wrote.String(); wrote != "" {
			if !strings.HasPrefix(wrote, "-ERR Protocol error: ") || !strings.HasSuffix(wrote, "\r\n") {
				t.Fatalf("input %q: the guard wrote %q", in, wrote)
			}
			if !errors.Is(gotErr, errProtocolGuard) {
				t.Fatalf("input %q: the guard refused with %q but redcon saw %v", in, wrote, gotErr)
			}
			// Every command before the refused frame reached redcon: the
			// same as redcon alone on the bytes the guard let through.
			want, wantErr := readAllCommands(redcon.NewReader(bytes.NewReader(rec.seen)))
			if !equalCommands(got, want) || errText(wantErr) != "EOF" {
				t.Fatalf("input %q: through the guard %q before its refusal %q; redcon alone on the %d bytes let through: %q, %v",
					in, got, wrote, len(rec.seen), want, wantErr)
			}
			return
		}
		if errText(gotErr) != "EOF" {
			// The guard answers every malformed frame itself, in Redis's
			// words; a frame that fails in redcon got past it.
			t.Fatalf("input %q: redcon failed on what the guard let through (%q): %v", in, rec.seen, gotErr)
		}
		if errText(gotErr) == "EOF" && errText(allErr) == "EOF" && !equalCommands(got, all) {
			t.Fatalf("input %q: through the guard %q, redcon alone %q", in, got, all)
		}
		wantErr := allErr
		// Boundaries, in the stream redcon got (inline commands are
		// rewritten: FuzzGuardInline holds them to Redis's rules).
		bounds := commandEnds(ref)
		for i, e := range rec.ends {
			s := 0
			if i > 0 {
				s = rec.ends[i-1]
			}
			if e == len(ref) {
				continue // the last bytes
			}
			j, found := slices.BinarySearch(bounds, e)
			if j == len(bounds) && errText(wantErr) != "EOF" {
				continue // past the command redcon refuses: no boundaries there
			}
			if !found && j > 0 && bounds[j-1] > s && len(bytes.Trim(ref[bounds[j-1]:e], " \t\r\n")) > 0 {
				t.Fatalf("input %q: delivery %d is bytes %d..%d, which holds a command but ends mid-command (command ends %v)",
					in, i, s, e, bounds)
			}
		}
	})
}

func equalCommands(a, b [][][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y [][]byte) bool { return slices.EqualFunc(x, y, bytes.Equal) })
}

func errText(err error) string {
	if err == nil || errors.Is(err, io.EOF) {
		return "EOF"
	}
	return err.Error()
}

// deliveries records where each read of the guard ended.
type deliveries struct {
	g     *guardConn
	total int
	ends  []int
	seen  []byte // the bytes delivered, after the guard's rewrites
}

func (d *deliveries) Read(p []byte) (int, error) {
	n, err := d.g.Read(p)
	if n > 0 {
		d.total += n
		d.ends = append(d.ends, d.total)
		d.seen = append(d.seen, p[:n]...)
	}
	return n, err
}

// oneByteReader returns its bytes one per Read.
type oneByteReader struct {
	b   []byte
	pos int
}

func (o *oneByteReader) Read(p []byte) (int, error) {
	if o.pos >= len(o.b) {
		return 0, io.EOF
	}
	p[0] = o.b[o.pos]
	o.pos++
	return 1, nil
}

// commandEnds returns the offset just after each command redcon parses
// from in: fed one byte at a time, redcon returns each command as soon as
// its last byte arrives.
// hasInline reports whether a command of in, as redcon frames it, is an
// inline line: whether the input itself has one, whatever the guard made
// of it.
func hasInline(in []byte) bool {
	start := 0
	for _, e := range append(commandEnds(in), -1) {
		if start < len(in) && in[start] != '*' {
			return true
		}
		start = e
	}
	return false
}

func commandEnds(in []byte) []int {
	o := &oneByteReader{b: in}
	rd := redcon.NewReader(o)
	var ends []int
	for len(ends) < 256 {
		cmds, err := rd.ReadCommands()
		if err != nil {
			break
		}
		for range cmds {
			ends = append(ends, o.pos)
		}
	}
	return ends
}
