package router

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// The reference for inline commands: Redis 7.0's processInputBuffer,
// processInlineBuffer and sdssplitargs transliterated with C's string
// semantics (every string ends at a NUL byte; s[len] is the terminator),
// kept apart from the guard's own splitter (inline.go) so that each checks
// the other. Multibulk frames are taken as well formed (the tests that
// use it build them).

// refResult is what Redis makes of a whole input stream that arrived in
// one read: the commands it runs, the protocol error that ends the
// connection ("" for none), and whether it is left waiting for the end of
// an inline line it will never find (a NUL before the '\n').
type refResult struct {
	cmds  [][][]byte
	err   string
	stuck bool
}

func refProcess(in []byte) refResult {
	var r refResult
	q := append(bytes.Clone(in), 0) // sds: a NUL after the last byte
	n := len(in)
	pos := 0
	for pos < n {
		if q[pos] == '*' {
			args, used := refMultibulk(in[pos:])
			if used == 0 {
				return r // incomplete
			}
			pos += used
			if len(args) > 0 {
				r.cmds = append(r.cmds, args)
			}
			continue
		}
		// processInlineBuffer: newline = strchr(querybuf+qb_pos, '\n').
		nl := -1
		for p := pos; q[p] != 0; p++ {
			if q[p] == '\n' {
				nl = p
				break
			}
		}
		if nl < 0 {
			// "too big inline request" applies from 64 KB; the tests
			// that use this reference stay far below.
			r.stuck = bytes.IndexByte(in[pos:], 0) >= 0
			return r
		}
		linefeed := 1
		if nl != pos && q[nl-1] == '\r' {
			nl--
			linefeed++
		}
		querylen := nl - pos
		argv, ok := refSplitargs(in[pos : pos+querylen])
		if !ok {
			r.err = "Protocol error: unbalanced quotes in request"
			return r
		}
		pos += querylen + linefeed
		if len(argv) > 0 {
			r.cmds = append(r.cmds, argv)
		}
	}
	return r
}

// refMultibulk parses one well-formed multibulk frame at the start of b
// and returns its arguments and length (0 if b holds only part of it).
func refMultibulk(b []byte) ([][]byte, int) {
	line := func(at int) (int64, int) {
		e := bytes.Index(b[at:], []byte("\r\n"))
		if e < 0 {
			return 0, -1
		}
		v, err := strconv.ParseInt(string(b[at+1:at+e]), 10, 64)
		if err != nil {
			panic(fmt.Sprintf("refMultibulk: bad frame %q", b))
		}
		return v, at + e + 2
	}
	count, at := line(0)
	if at < 0 {
		return nil, 0
	}
	args := [][]byte{}
	for range count {
		l, next := line(at)
		if next < 0 || next+int(l)+2 > len(b) {
			return nil, 0
		}
		args = append(args, b[next:next+int(l)])
		at = next + int(l) + 2
	}
	return args, at
}

// refSplitargs is sdssplitargs on the C string line (a NUL ends it).
func refSplitargs(line []byte) ([][]byte, bool) {
	s := append(bytes.Clone(line), 0)
	p := 0
	vector := [][]byte{}
	isspace := func(c byte) bool { return bytes.IndexByte([]byte(" \t\n\v\f\r"), c) >= 0 }
	ishex := func(c byte) bool { return bytes.IndexByte([]byte("0123456789abcdefABCDEF"), c) >= 0 }
	hexval := func(c byte) byte {
		v, _ := strconv.ParseUint(string(c), 16, 8)
		return byte(v)
	}
	for {
		for s[p] != 0 && isspace(s[p]) {
			p++
		}
		if s[p] == 0 {
			return vector, true
		}
		inq, insq, done := false, false, false
		current := []byte{}
		for !done {
			if inq {
				if s[p] == '\\' && s[p+1] == 'x' && ishex(s[p+2]) && ishex(s[p+3]) {
					current = append(current, hexval(s[p+2])*16+hexval(s[p+3]))
					p += 3
				} else if s[p] == '\\' && s[p+1] != 0 {
					p++
					c := s[p]
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					current = append(current, c)
				} else if s[p] == '"' {
					if s[p+1] != 0 && !isspace(s[p+1]) {
						return nil, false
					}
					done = true
				} else if s[p] == 0 {
					return nil, false
				} else {
					current = append(current, s[p])
				}
			} else if insq {
				if s[p] == '\\' && s[p+1] == '\'' {
					p++
					current = append(current, '\'')
				} else if s[p] == '\'' {
					if s[p+1] != 0 && !isspace(s[p+1]) {
						return nil, false
					}
					done = true
				} else if s[p] == 0 {
					return nil, false
				} else {
					current = append(current, s[p])
				}
			} else {
				switch s[p] {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					current = append(current, s[p])
				}
			}
			if s[p] != 0 {
				p++
			}
		}
		vector = append(vector, current)
	}
}

// guardMatchesRef runs in through a guard into redcon, cut into the given
// chunk lengths, and reports how the result differs from refProcess(in)
// ("" when it does not).
func guardMatchesRef(t testing.TB, in []byte, cuts []int) string {
	t.Helper()
	var chunks [][]byte
	rest := in
	for _, c := range cuts {
		c = min(c, len(rest))
		if c > 0 {
			chunks = append(chunks, bytes.Clone(rest[:c]))
			rest = rest[c:]
		}
	}
	if len(rest) > 0 {
		chunks = append(chunks, bytes.Clone(rest))
	}
	cc := &chunkConn{chunks: chunks}
	g := newTestGuard(t, cc, testLimits())
	rec := &deliveries{g: g}
	got, gotErr := readAllCommands(newServerReader(rec))
	want := refProcess(in)
	wantWrote := ""
	if want.err != "" {
		wantWrote = "-ERR " + want.err + "\r\n"
	}
	switch {
	case !equalCommands(got, want.cmds):
		return fmt.Sprintf("commands %q, want %q", got, want.cmds)
	case cc.wrote.String() != wantWrote:
		return fmt.Sprintf("wrote %q, want %q", cc.wrote.String(), wantWrote)
	case (want.err != "") != (errText(gotErr) != "EOF"):
		return fmt.Sprintf("ended with %v, want error %q", gotErr, want.err)
	}
	// Each delivery that holds a whole command ends where a command ends
	// (or after empty lines, which redcon skips).
	bounds := commandEnds(rec.seen)
	for i, e := range rec.ends {
		s := 0
		if i > 0 {
			s = rec.ends[i-1]
		}
		j, found := slices.BinarySearch(bounds, e)
		if !found && j > 0 && bounds[j-1] > s && len(bytes.Trim(rec.seen[bounds[j-1]:e], "\r\n")) > 0 {
			return fmt.Sprintf("delivery %d (bytes %d..%d of %q) ends mid-command", i, s, e, rec.seen)
		}
	}
	return ""
}

// FuzzGuardInline holds the guard's inline commands to Redis's rules: a
// stream of inline lines (the fuzzer's bytes, cut at '\n') and multibulk
// frames between them, arriving in random pieces, gives the commands,
// the error and the waiting that refProcess gives, and every delivery
// that holds a whole command ends at a command boundary.
func FuzzGuardInline(f *testing.F) {
	for _, s := range []string{
		"ECHO \"a b\"\nSET k 'it\\'s'\n",
		"ECHO \"\\x41\\x4g\\n\\r\\t\\b\\a\\\\\\\"\"\n",
		"ECHO foo\"bar baz\"\nECHO \"a\"b\n",
		"ECHO\ta\v\f b \"c\"\vd\r\r\n\n  \n",
		"ECHO 'a\\' \"b\\\"\n",
		"ECHO a\x00b\nPING\n",
		"\"\" ''\n\"\n",
	} {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		if len(in) > 4096 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 11))
		var stream []byte
		for _, line := range bytes.Split(in, []byte("\n")) {
			if rng.IntN(4) == 0 {
				// A multibulk frame between the inline lines.
				stream = fmt.Appendf(stream, "*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n", len(line), line)
			}
			start := len(stream)
			stream = append(stream, line...)
			if len(line) > 0 && line[0] == '*' {
				stream[start] = '+' // an inline line may not start as a frame does
			}
			if rng.IntN(2) == 0 {
				stream = append(stream, '\r')
			}
			stream = append(stream, '\n')
		}
		var cuts []int
		for range 1 + rng.IntN(8) {
			cuts = append(cuts, rng.IntN(len(stream)+1))
		}
		if d := guardMatchesRef(t, stream, cuts); d != "" {
			t.Fatalf("stream %q cut %v: %s", stream, cuts, d)
		}
	})
}
