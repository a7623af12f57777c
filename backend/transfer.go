package backend

import (
	"bufio"
	"math"
	"time"
)

// Large transfers and the request timeout.
//
// Timeout bounds a request from enqueue to reply, which for the usual
// small request is the time the server takes to answer. A 512 MB value
// takes seconds to cross even a loopback connection: with the default
// timeout of one second it could never be stored or read back, and every
// attempt would close the connection, failing the other clients' requests
// on it. So a request or bulk reply of bigTransfer bytes or more gets, on
// top of the timeout, the time it takes at transferRate. A server that
// stops in the middle of one is still found out, only later.

const (
	// bigTransfer is the size from which a transfer gets extra time.
	bigTransfer = 1 << 20
	// transferRate is the slowest transfer, in bytes per second, that a
	// large request or reply is allowed.
	transferRate = 10 << 20
)

// transferTime returns the extra time a transfer of n bytes gets.
func transferTime(n int) time.Duration {
	if n < bigTransfer {
		return 0
	}
	return time.Duration(int64(n) * int64(time.Second) / transferRate)
}

// replyTransferTime waits for the next reply on br to begin and returns
// the extra time it gets: transferTime of the first bulk string in it
// whose header has arrived, also inside an array (EXEC's reply, BLPOP's,
// MGET's), else 0. A read error is left for the reply's reader, which
// meets it again.
func replyTransferTime(br *bufio.Reader) time.Duration {
	if b, err := br.Peek(1); err != nil || b[0] != '$' && b[0] != '*' {
		return 0
	}
	b, _ := br.Peek(min(br.Buffered(), 64))
	return transferTime(firstBulkLen(b))
}

// maxBulkDigits bounds the length firstBulkLen parses before it gives up:
// 1 TB, or less where an int is 32 bits, so that n*10 never overflows.
const maxBulkDigits = min(1<<40, math.MaxInt/10-1)

// firstBulkLen returns the length of the first bulk string in b, the start
// of a reply, after the array headers and small bulk strings before it; 0
// when b ends before one (a rare split: no extra time) or holds anything
// else first.
func firstBulkLen(b []byte) int {
	for len(b) > 0 {
		kind := b[0]
		n, i := 0, 1
		for ; i < len(b) && b[i] != '\r'; i++ {
			c := b[i]
			if c < '0' || c > '9' || n > maxBulkDigits {
				return 0 // a null, or not for us to judge
			}
			n = n*10 + int(c-'0')
		}
		if i+1 >= len(b) {
			return 0 // the header is not complete yet
		}
		b = b[i+2:]
		switch kind {
		case '*':
		case '$':
			if n >= bigTransfer || n+2 > len(b) {
				return n
			}
			b = b[n+2:]
		default:
			return 0
		}
		if len(b) > 0 && b[0] != '$' && b[0] != '*' {
			return 0
		}
	}
	return 0
}
