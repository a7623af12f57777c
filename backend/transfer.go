package backend

import (
	"bufio"
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
// the extra time it gets: transferTime of its length if it is a bulk
// string whose header has arrived, else 0. A read error is left for the
// reply's reader, which meets it again.
func replyTransferTime(br *bufio.Reader) time.Duration {
	if b, err := br.Peek(1); err != nil || b[0] != '$' {
		return 0
	}
	b, _ := br.Peek(min(br.Buffered(), 16))
	n := 0
	for _, c := range b[1:] {
		switch {
		case c == '\r':
			return transferTime(n)
		case c < '0' || c > '9':
			return 0 // a null, or not for us to judge
		}
		n = n*10 + int(c-'0')
	}
	return 0 // the header is not complete yet: a rare split, no extra time
}
