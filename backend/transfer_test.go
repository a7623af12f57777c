package backend

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

// A large request or bulk reply gets the time it takes at transferRate on
// top of the timeout, also a bulk string inside an array; small ones,
// nulls, other replies and headers not yet complete get nothing.
func TestTransferTime(t *testing.T) {
	if got := transferTime(bigTransfer - 1); got != 0 {
		t.Errorf("transferTime(bigTransfer-1) = %v, want 0", got)
	}
	if got, want := transferTime(512<<20), 512*time.Second/10; got != want {
		t.Errorf("transferTime(512 MB) = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"$536870912\r\nxxxx", transferTime(536870912)},
		{"$1048576\r\n", transferTime(1 << 20)},
		{"$1048575\r\n", 0},
		{"$5\r\nhello\r\n", 0},
		{"$-1\r\n", 0},
		{"+OK\r\n", 0},
		{"*1\r\n$536870912\r\n", transferTime(536870912)}, // EXEC
		{"*2\r\n$4\r\nlist\r\n$268435456\r\nxx", transferTime(268435456)}, // BLPOP
		{"*3\r\n$1\r\nv\r\n*1\r\n$2097152\r\n", transferTime(2 << 20)},
		{"*2\r\n$4\r\nlist\r\n$26843", 0}, // header not complete
		{"*1\r\n$-1\r\n", 0},
		{"*-1\r\n", 0},
		{"*2\r\n:1\r\n$536870912\r\n", 0},
		{"$5368709", 0}, // header not complete
		{"", 0},         // read error: left for the reader
	} {
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 64)
		if got := replyTransferTime(br); got != tc.want {
			t.Errorf("replyTransferTime(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if b, _ := br.Peek(len(tc.in)); string(b) != tc.in {
			t.Errorf("replyTransferTime(%q) consumed input", tc.in)
		}
	}
}
