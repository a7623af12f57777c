package router

import "strconv"

// Inline commands.
//
// A client may send a command as a line of text ("SET k \"a b\"\r\n")
// instead of a multibulk frame. redcon splits such a line by rules of its
// own (no \x escapes, no quote inside an argument, only spaces between
// arguments), so the guard never lets an inline command through: once its
// line is whole it splits it as Redis 7.0 does (processInlineBuffer and
// sdssplitargs) and hands redcon the equivalent multibulk frame. A
// connection that sends no inline command never reaches this file.
//
// What processInlineBuffer does that a client can see, and where it is
// mirrored:
//   - the line ends at the first '\n'; one '\r' before it is dropped
//     (splitInline then treats any other '\r' as a separator);
//   - the '\n' is found with strchr, which stops at a NUL byte: a line with
//     a NUL before its '\n' never ends, and the client gets no reply until
//     the bytes after the line start pass 64 KB at the end of a read,
//     "too big inline request" (scanner, sInlineNUL; judged as below);
//   - a line without '\n' whose bytes pass 64 KB when a read ends gets
//     "too big inline request"; how much a read takes depends on the
//     client's query buffer, which the guard models (querybuf.go), sizing
//     its reads of the line by it (guardConn.inlineRoom) and judging the
//     line where Redis's read would end (guardConn.inlineScanned);
//   - unbalanced quotes get "unbalanced quotes in request" (guardConn.inline);
//   - a line without arguments (empty, or only blanks) is ignored;
//   - a lone '\n' from a replica refreshes its ACK time, and a master may
//     not send inline commands: neither applies to a proxy's client.
// Each error closes the connection after the replies to the commands
// before the line, as for a bad multibulk frame (guard.go).

// splitInline splits an inline command line (without its '\n', and the
// '\r' before that, and with no NUL byte) as Redis 7.0's sdssplitargs
// does, appending the arguments' bytes to buf and each argument's end
// offset in buf to ends. ok is false for unbalanced quotes, and for a
// closing quote followed by something else than a blank or the end.
func splitInline(line, buf []byte, ends []int) (_ []byte, _ []int, ok bool) {
	i, n := 0, len(line)
	for {
		for i < n && isSpace(line[i]) {
			i++
		}
		if i == n {
			return buf, ends, true
		}
		inq, insq := false, false
	token:
		for {
			switch {
			case inq:
				switch {
				case i == n:
					return buf, ends, false // unterminated quotes
				case line[i] == '\\' && i+3 < n && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					buf = append(buf, unhex(line[i+2])<<4|unhex(line[i+3]))
					i += 4
				case line[i] == '\\' && i+1 < n:
					c := line[i+1]
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
					buf = append(buf, c)
					i += 2
				case line[i] == '"':
					// A closing quote must be followed by a blank or
					// nothing at all.
					if i+1 < n && !isSpace(line[i+1]) {
						return buf, ends, false
					}
					i++
					break token
				default:
					buf = append(buf, line[i])
					i++
				}
			case insq:
				switch {
				case i == n:
					return buf, ends, false
				case line[i] == '\\' && i+1 < n && line[i+1] == '\'':
					buf = append(buf, '\'')
					i += 2
				case line[i] == '\'':
					if i+1 < n && !isSpace(line[i+1]) {
						return buf, ends, false
					}
					i++
					break token
				default:
					buf = append(buf, line[i])
					i++
				}
			default:
				if i == n {
					break token
				}
				switch line[i] {
				case ' ', '\n', '\r', '\t':
					// Only these end an unquoted argument; '\v' and '\f'
					// are skipped between arguments but kept inside one.
					i++
					break token
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					buf = append(buf, line[i])
				}
				i++
			}
		}
		ends = append(ends, len(buf))
	}
}

// isSpace is C's isspace in the C locale (Redis sets only LC_COLLATE).
func isSpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// appendMultibulk appends the multibulk frame of the arguments that
// splitInline put in args (ending at ends) to dst.
func appendMultibulk(dst, args []byte, ends []int) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(ends)), 10)
	dst = append(dst, '\r', '\n')
	start := 0
	for _, e := range ends {
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(e-start), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, args[start:e]...)
		dst = append(dst, '\r', '\n')
		start = e
	}
	return dst
}

// inlineScratch is what a connection keeps for its inline commands.
type inlineScratch struct {
	out  []byte // the frame still to deliver
	buf  []byte // out's backing array, reused
	args []byte
	ends []int
	n    int // lines taken (tests tell from it that the stream had some)
}

// inline rewrites the whole inline command line (with its '\n') into the
// multibulk frame redcon gets next, or records the protocol error that
// ends the connection. A line without arguments is dropped, as Redis
// ignores it. It reports whether the line was good.
func (c *guardConn) inline(line []byte) bool {
	line = line[:len(line)-1] // the '\n'
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	x := &c.inl
	x.n++
	var ok bool
	x.args, x.ends, ok = splitInline(line, x.args[:0], x.ends[:0])
	if !ok {
		c.sc.msg = "Protocol error: unbalanced quotes in request"
		c.refuse(vProtocol)
		return false
	}
	if len(x.ends) > 0 {
		x.out = appendMultibulk(x.buf[:0], x.args, x.ends)
		x.buf = x.out
	}
	if cap(x.args) > maxHold {
		x.args, x.ends = nil, nil // a rare long line: let go of its scratch
	}
	return true
}

// takeInline copies what is left of a rewritten inline command into p.
func (c *guardConn) takeInline(p []byte) int {
	x := &c.inl
	n := copy(p, x.out)
	x.out = x.out[n:]
	if len(x.out) == 0 && cap(x.buf) > maxHold {
		x.buf = nil
	}
	return n
}
