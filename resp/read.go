package resp

import (
	"bufio"
	"errors"
	"io"
)

// MaxBulk is the largest bulk string a reply may carry (Redis's own
// proto-max-bulk-len default); anything larger is treated as a protocol error.
const MaxBulk = 512 << 20

// Errors of ReadReply. A connection that returns one is out of sync and must
// be closed.
var (
	ErrBadReply  = errors.New("protocol error: malformed reply")
	ErrLongBulk  = errors.New("protocol error: bulk string too large")
	ErrDeepReply = errors.New("protocol error: reply has too many elements")
)

// maxAggregated bounds the elements ReadReply expects at once.
const maxAggregated = int64(1 << 32)

// maxLine bounds a reply line as MaxBulk bounds a bulk string. It is a
// variable so that a test can reach the limit with a small value.
var maxLine = MaxBulk

// ReadReply reads one complete RESP2/RESP3 reply from br and appends its raw
// bytes to dst. Lengths and counts are parsed with ParseInt; a negative bulk
// length is a null. It never recurses, so nesting depth costs nothing on the
// stack; aggregates are walked with a counter of elements still expected.
func ReadReply(br *bufio.Reader, dst []byte) ([]byte, error) {
	pending := int64(1)
	for pending > 0 {
		pending--
		start := len(dst)
		var err error
		dst, err = readLine(br, dst)
		if err != nil {
			return dst, err
		}
		line := dst[start : len(dst)-2]
		switch line[0] {
		case '+', '-', ':', '_', ',', '#', '(':
			// Simple types: the line is the whole value.
		case '$', '=', '!':
			n, ok := ParseInt(line[1:])
			if !ok {
				return dst, ErrBadReply
			}
			if n < 0 {
				continue // null bulk
			}
			if n > MaxBulk {
				return dst, ErrLongBulk
			}
			dst, err = readFull(br, dst, int(n)+2)
			if err != nil {
				return dst, err
			}
			if dst[len(dst)-2] != '\r' || dst[len(dst)-1] != '\n' {
				return dst, ErrBadReply
			}
		case '*', '~', '>', '%', '|':
			n, ok := ParseInt(line[1:])
			if !ok {
				return dst, ErrBadReply
			}
			if n > maxAggregated {
				return dst, ErrDeepReply // before the sum below can overflow
			}
			n = max(n, 0) // a null aggregate (-1) has no elements
			if line[0] == '%' || line[0] == '|' {
				n *= 2 // key/value pairs
			}
			pending += n
		default:
			return dst, ErrBadReply
		}
		if pending > maxAggregated {
			return dst, ErrDeepReply
		}
	}
	return dst, nil
}

// readLine appends one CRLF-terminated line (with its CRLF) to dst. A line
// has at least its type byte; one longer than maxLine is refused.
func readLine(br *bufio.Reader, dst []byte) ([]byte, error) {
	start := len(dst)
	for {
		chunk, err := br.ReadSlice('\n')
		dst = append(dst, chunk...)
		if err == nil {
			if len(dst)-start < 3 || dst[len(dst)-2] != '\r' {
				return dst, ErrBadReply
			}
			return dst, nil
		}
		if err != bufio.ErrBufferFull {
			return dst, err
		}
		if len(dst)-start > maxLine {
			return dst, ErrBadReply
		}
	}
}

// readFull appends exactly n bytes from br to dst.
func readFull(br *bufio.Reader, dst []byte, n int) ([]byte, error) {
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	start := len(dst)
	dst = dst[:start+n]
	_, err := io.ReadFull(br, dst[start:])
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}
