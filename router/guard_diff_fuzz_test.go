package router

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/metrics"
)

// replyConn is a chunkConn that records what is written to it (the
// guard's protocol error).
type replyConn struct {
	chunkConn
	wrote []byte
}

func (c *replyConn) Write(p []byte) (int, error) {
	c.wrote = append(c.wrote, p...)
	return len(p), nil
}

// readAllCommands reads commands until the reader fails (at most 256).
func readAllCommands(rd *redcon.Reader) ([][][]byte, error) {
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

// FuzzGuardMatchesRedcon is a differential test of the client-side guard:
// the same bytes, read by redcon directly and read by redcon through the
// guard (arriving in random pieces), must give the same commands and the
// same protocol error. Where the guard refuses a limit, it says so with
// Redis's text, and the commands before its refusal are the first of
// those redcon alone parsed. (Redis itself runs every complete command
// before the refused one; the guard drops those that arrived in the same
// read as the refused one: see docs/regressions.md, findings.)
func FuzzGuardMatchesRedcon(f *testing.F) {
	m, err := metrics.New("test", "go").Pool("guard", metrics.PoolOptions{CommandNames: command.Names()})
	if err != nil {
		f.Fatal(err)
	}
	stats := &poolStats{m: m}
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$3\r\nb\r\n\r\nPING\r\n",
		"PING\r\nSET a \"b c\"\r\n\r\nGET a\r\n",
		"*1\r\n$4\r\nPING\r\n*1\r\n$1073741824\r\n",
		"PING\r\n*1\r\n$536870913\r\nxyz",
		"*2000000\r\n$3\r\nDEL\r\n",
		"*-1\r\n*0\r\n*1\r\n$4\r\nPING\r\n",
		"*1\r\n$+4\r\nPING\r\n",
		"*1\r\n$04\r\nPING\r\n",
		"*1\r\n:4\r\nPING\r\n",
		"*1\r\n$4\r\nPINGxx",
		"*1\n$4\r\nPING\r\n",
		"GET \"a\r\n",
	} {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		want, wantErr := readAllCommands(redcon.NewReader(bytes.NewReader(in)))
		rng := rand.New(rand.NewPCG(seed, 7))
		var chunks [][]byte
		for rest := in; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(32))
			chunks = append(chunks, bytes.Clone(rest[:n]))
			rest = rest[n:]
		}
		conn := &replyConn{chunkConn: chunkConn{chunks: chunks}}
		g := &guardConn{Conn: conn, l: &guardListener{stats: stats}}
		rec := &deliveries{g: g}
		got, gotErr := readAllCommands(redcon.NewReader(rec))
		// Boundaries: a delivery that holds a complete command ends where
		// one ends (redcon's own boundaries), or after blank lines.
		bounds := commandEnds(in)
		for i, e := range rec.ends {
			s := 0
			if i > 0 {
				s = rec.ends[i-1]
			}
			if rec.invalid[i] || e == len(in) {
				continue // lost sync (redcon decides) or the last bytes
			}
			j, found := slices.BinarySearch(bounds, e)
			if j == len(bounds) && errText(wantErr) != "EOF" {
				continue // past the command redcon refuses: no boundaries there
			}
			if !found && j > 0 && bounds[j-1] > s && len(bytes.Trim(in[bounds[j-1]:e], " \t\r\n")) > 0 {
				t.Fatalf("input %q: delivery %d is bytes %d..%d, which holds a command but ends mid-command (command ends %v)",
					in, i, s, e, bounds)
			}
		}
		if len(conn.wrote) > 0 {
			switch string(conn.wrote) {
			case "-ERR Protocol error: invalid bulk length\r\n",
				"-ERR Protocol error: invalid multibulk length\r\n",
				"-ERR Protocol error: too big inline request\r\n":
			default:
				t.Fatalf("guard wrote %q", conn.wrote)
			}
			if !errors.Is(gotErr, errProtocolGuard) {
				t.Fatalf("guard refused with %q but redcon saw %v", conn.wrote, gotErr)
			}
			// The refused command never completes in these inputs (it
			// announces more than any fuzz input holds), so redcon alone
			// parsed the commands before it and nothing after.
			if len(got) > len(want) || !equalCommands(got, want[:len(got)]) {
				t.Fatalf("input %q: through the guard %q before its refusal %q; redcon alone %q",
					in, got, conn.wrote, want)
			}
			return
		}
		if errText(wantErr) == "EOF" && !equalCommands(got, want) {
			t.Fatalf("input %q: through the guard %q, redcon alone %q", in, got, want)
		}
		// On a protocol error redcon drops the commands it parsed in the
		// same read as the bad one, so how many come before the error
		// depends on how the bytes arrived: one list is a prefix of the
		// other.
		if short := min(len(got), len(want)); !equalCommands(got[:short], want[:short]) {
			t.Fatalf("input %q: through the guard %q, redcon alone %q", in, got, want)
		}
		if errText(gotErr) != errText(wantErr) {
			t.Fatalf("input %q: through the guard error %v, redcon alone %v", in, gotErr, wantErr)
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
	g       *guardConn
	total   int
	ends    []int
	invalid []bool
}

func (d *deliveries) Read(p []byte) (int, error) {
	n, err := d.g.Read(p)
	if n > 0 {
		d.total += n
		d.ends = append(d.ends, d.total)
		d.invalid = append(d.invalid, d.g.invalid)
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
