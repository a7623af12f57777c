package router

import (
	"bytes"
	"math"
)

// inputLimits are a pool's limits on what one client may send, Redis's
// limits under Redis's names (see config.Pool).
type inputLimits struct {
	maxBulk  int64 // proto-max-bulk-len
	maxQuery int64 // client-query-buffer-limit: bytes of one command held
	maxLine  int64 // PROTO_INLINE_MAX_SIZE: an unfinished inline or length line
}

// bigArg is the payload size from which the guard lets a command that is
// still arriving through to redcon (Redis's PROTO_MBULK_BIG_ARG): below it
// the guard holds the command back until it is whole, so that redcon, which
// re-parses an unfinished command from its start on every read, parses a
// command of many small arguments once.
const bigArg = 32 << 10

// Scanner states.
const (
	sStart     = iota // at a command boundary
	sInline           // inside an inline command, until '\n'
	sInlineNUL        // an inline command with a NUL byte before its '\n': never ends
	sCount            // in "*<count>", until '\r'
	sBulkHdr          // expecting the first byte of "$<len>"
	sBulkLen          // in a bulk header line, until '\r'
	sLF               // the byte after a length line's '\r'
	sBulkData         // in a bulk payload
	sBulkCR           // the two bytes after a payload
	sBulkLF
)

// scanVerdict is the outcome of a scan.
type scanVerdict uint8

const (
	vOK        scanVerdict = iota
	vProtocol              // a protocol error: reply with msg, then close
	vQueryBuff             // the query buffer limit: close without a reply, as Redis does
	vInline                // b[:scanned] is one whole inline command, for the guard to rewrite
)

// scanner follows a client's byte stream with the rules of Redis 7.0's
// processInlineBuffer and processMultibulkBuffer, so that every frame Redis
// refuses is refused here with Redis's text, and every frame Redis accepts
// reaches redcon in a form redcon accepts too. It looks at each byte once,
// across reads, and skips bulk payloads without looking at them.
//
// Where redcon is stricter than Redis it rewrites the stream in place:
// Redis takes the byte after a length line's '\r' and the two bytes after
// a payload without checking them, so the scanner writes "\n" and "\r\n"
// there; and it cuts out "*0" and "*-1" frames, which Redis ignores and
// redcon refuses.
type scanner struct {
	lim    *inputLimits
	unauth bool // Redis's stricter limits before AUTH (for client auth)

	state uint8
	after uint8 // state after sLF
	drop  bool  // sLF ends a frame that is cut out

	// The number of a length line, with string2ll's rules.
	num   uint64
	nch   int // characters seen after '*' or '$'
	ndig  int
	neg   bool
	bad   bool
	lead0 bool

	first byte  // first byte of a bulk header line
	line  int64 // bytes of the unfinished line
	args  int64 // bulks left in the multibulk
	count int64 // bulks of the multibulk
	skip  int64 // payload bytes left
	cmd   int64 // bytes of the current command scanned in earlier scans
	// For CLIENT LIST, as Redis counts them: bytes of the current command
	// up to the end of its last whole line or argument (Redis has parsed
	// them out of its query buffer), and the payload bytes of its whole
	// arguments (Redis's argv-mem).
	parsed int64
	argv   int64
	frame  int // where the current multibulk starts in the scanned buffer
	msg    string
	one    bool // stop just after the command being scanned (bigcmd.go)

	// Redis's query buffer, for the length of inline lines (querybuf.go),
	// and whether the read Redis would be making of an unfinished inline
	// line goes on past the bytes scanned (then the line is not judged
	// yet, and qb.left is what that read may still take).
	qb         queryBufModel
	inlineOpen bool
}

// scan scans b[from:] (b[:from] was scanned before and is still held).
// It returns the new end of b (shorter when a frame was cut out), how far
// it scanned, the offset just after the last command that ends in b (0 if
// none), and a scanVerdict; for vProtocol, s.msg is the error text without
// "ERR ".
//
// It stops before an inline command that follows other commands, and just
// after an inline command, with vInline: the guard then rewrites the line,
// which starts b, into a multibulk frame (inline.go); redcon never sees an
// inline command. A bad line is refused after the commands before it.
func (s *scanner) scan(b []byte, from int) (end, scanned, last int, v scanVerdict) {
	end = len(b)
	seg := from // bytes of the current command from here on are not in s.cmd yet
	for i := from; i < end; i++ {
		switch s.state {
		case sStart:
			switch b[i] {
			case '*':
				s.state, s.frame, s.line = sCount, i, 1
				s.resetNum()
			case '\n': // an empty inline line
				last, seg = i+1, i+1
			default:
				if i > 0 {
					return end, i, i, vOK
				}
				s.state, s.line = sInline, 0
				i-- // sInline counts this byte
			}
		case sInline, sInlineNUL:
			i += s.inlineSpan(b[i:end])
			if i == end {
				break
			}
			s.state, s.cmd = sStart, 0
			s.parsed, s.argv = 0, 0
			return end, i + 1, i + 1, vInline
		case sCount:
			if b[i] != '\r' {
				s.digit(b[i])
				s.line++
				break
			}
			n, ok := s.value()
			switch {
			case !ok || n > math.MaxInt32:
				return end, i, last, s.fail("Protocol error: invalid multibulk length")
			case n > 10 && s.unauth:
				return end, i, last, s.fail("Protocol error: unauthenticated multibulk length")
			case n <= 0:
				s.drop = true
			default:
				s.args, s.count, s.after = n, n, sBulkHdr
			}
			s.state = sLF
		case sBulkHdr:
			s.first, s.state, s.line = b[i], sBulkLen, 1
			s.resetNum()
			if b[i] == '\r' {
				i-- // an empty header line: judge it at once
				s.line = 0
			}
		case sBulkLen:
			if b[i] != '\r' {
				s.digit(b[i])
				s.line++
				break
			}
			if s.first != '$' {
				c := s.first
				if c == '\r' || c == '\n' {
					c = ' ' // Redis replaces newlines in error texts
				}
				return end, i, last, s.fail("Protocol error: expected '$', got '" + string(c) + "'")
			}
			n, ok := s.value()
			switch {
			case !ok || n < 0 || n > s.lim.maxBulk:
				return end, i, last, s.fail("Protocol error: invalid bulk length")
			case n > 16384 && s.unauth:
				return end, i, last, s.fail("Protocol error: unauthenticated bulk length")
			}
			s.skip, s.after, s.state = n, sBulkData, sLF
		case sLF:
			b[i] = '\n'
			if s.drop {
				// Cut the frame out: Redis ignores "*0" and "*-1".
				s.drop = false
				cut := i + 1 - s.frame
				copy(b[s.frame:], b[i+1:end])
				end -= cut
				i = s.frame - 1
				s.state, s.cmd = sStart, 0
				s.parsed, s.argv = 0, 0
				last, seg = s.frame, s.frame
				break
			}
			s.state = s.after
			s.parsed = s.cmd + int64(i+1-seg)
		case sBulkData:
			n := min(int64(end-i), s.skip)
			s.skip -= n
			i += int(n) - 1
			if s.skip == 0 {
				s.state = sBulkCR
			}
		case sBulkCR:
			b[i] = '\r'
			s.state = sBulkLF
		case sBulkLF:
			b[i] = '\n'
			s.args--
			if s.num >= bigArg {
				s.qb.bigArg(int64(s.num))
			}
			if s.args == 0 {
				if s.cmd+int64(i+1-seg) > s.lim.maxQuery {
					return end, i, last, vQueryBuff
				}
				s.state, s.cmd = sStart, 0
				s.parsed, s.argv = 0, 0
				last, seg = i+1, i+1
				if s.one {
					return end, last, last, vOK
				}
			} else {
				s.state = sBulkHdr
				s.parsed = s.cmd + int64(i+1-seg)
				s.argv += int64(s.num) // the payload's length, parsed from its header
			}
		}
	}
	if s.state == sStart {
		return end, end, last, vOK
	}
	s.cmd += int64(end - seg)
	if s.cmd > s.lim.maxQuery {
		return end, end, last, vQueryBuff
	}
	if s.line > s.lim.maxLine {
		// Redis judges an unfinished line when a read ends, as here (an
		// inline line when the read Redis would make ends: the guard
		// judges it, guardConn.inlineScanned).
		switch s.state {
		case sCount:
			return end, end, last, s.fail("Protocol error: too big mbulk count string")
		case sBulkLen:
			return end, end, last, s.fail("Protocol error: too big bulk count string")
		}
	}
	return end, end, last, vOK
}

// inlineSpan scans rest, the next bytes of an inline command, and returns
// how many of them come before its '\n' (len(rest) if none). Redis finds
// the line's end with strchr, which stops at a NUL byte: a NUL before the
// '\n' hides it and every byte after it, until the line is too big. (Kept
// out of scan's loop, which the multibulk path runs.)
func (s *scanner) inlineSpan(rest []byte) int {
	n := len(rest)
	if s.state == sInline {
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			n = j
		}
		if bytes.IndexByte(rest[:n], 0) >= 0 {
			s.state, n = sInlineNUL, len(rest)
		}
	}
	s.line += int64(n)
	return n
}

// pending returns, for CLIENT LIST, the bytes of the unfinished command
// that Redis would still hold in its query buffer (qbuf) and the payload
// bytes of its whole arguments (argv-mem); zeros between commands.
func (s *scanner) pending() (qbuf, argv int64) {
	if s.state == sStart {
		return 0, 0
	}
	return s.cmd - s.parsed, s.argv
}

// passThrough reports whether an unfinished command may go to redcon in
// pieces: large payloads of commands with few arguments. redcon walks the
// declared count on every parse of an unfinished command, so
// "*2147483647" is never handed over unfinished: it waits for the rest
// (and meets the query buffer limit). An inline command never goes to
// redcon: the guard rewrites it once its line is whole.
func (s *scanner) passThrough() bool {
	return s.state == sBulkData && s.skip >= bigArg && s.count <= passThroughArgs
}

// inInline reports whether the scan stopped inside an inline command.
func (s *scanner) inInline() bool { return s.state == sInline || s.state == sInlineNUL }

// passThroughArgs is the largest argument count of a command handed to
// redcon unfinished.
const passThroughArgs = 4096

// shift tells the scanner that n bytes before the unscanned ones left the
// buffer.
func (s *scanner) shift(n int) { s.frame -= n }

func (s *scanner) fail(msg string) scanVerdict {
	s.msg = msg
	return vProtocol
}

func (s *scanner) resetNum() {
	s.num, s.nch, s.ndig, s.neg, s.bad, s.lead0 = 0, 0, 0, false, false, false
}

// digit adds one character of a length line's number.
func (s *scanner) digit(c byte) {
	switch {
	case c == '-' && s.nch == 0:
		s.neg = true
	case c >= '0' && c <= '9':
		if s.ndig == 0 && c == '0' {
			s.lead0 = true
		}
		s.ndig++
		if s.num > (math.MaxUint64-9)/10 {
			s.bad = true
		} else {
			s.num = s.num*10 + uint64(c-'0')
		}
	default:
		s.bad = true
	}
	s.nch++
}

// value returns the number of a length line with Redis's string2ll rules:
// an optional '-', digits, no leading zero (so "-0" and "01" fail), no '+',
// no space, within int64.
func (s *scanner) value() (int64, bool) {
	switch {
	case s.bad || s.ndig == 0 || s.lead0 && (s.ndig > 1 || s.neg):
		return 0, false
	case s.neg && s.num <= 1<<63:
		return -int64(s.num), true // -(1<<63) wraps to itself: math.MinInt64
	case !s.neg && s.num <= math.MaxInt64:
		return int64(s.num), true
	}
	return 0, false
}
