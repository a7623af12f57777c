package resp

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // "" means the same as in
		err      bool
	}{
		{name: "simple", in: "+OK\r\n"},
		{name: "error", in: "-ERR bad\r\n"},
		{name: "integer", in: ":42\r\n"},
		{name: "bulk", in: "$5\r\nhello\r\n"},
		{name: "bulk with CRLF inside", in: "$4\r\na\r\nb\r\n"},
		{name: "null bulk", in: "$-1\r\n"},
		{name: "null array", in: "*-1\r\n"},
		{name: "empty array", in: "*0\r\n"},
		{name: "nested", in: "*2\r\n*2\r\n:1\r\n$1\r\na\r\n$-1\r\n"},
		{name: "resp3 map", in: "%1\r\n+a\r\n:1\r\n"},
		{name: "resp3 null", in: "_\r\n"},
		{name: "only the first reply", in: "+OK\r\n+NEXT\r\n", want: "+OK\r\n"},
		{name: "bad type", in: "?x\r\n", err: true},
		{name: "bad length", in: "$x\r\n", err: true},
		{name: "missing CR", in: "+OK\n", err: true},
		{name: "bulk without CRLF", in: "$2\r\nabcd", err: true},
		{name: "too large bulk", in: "$999999999999\r\n", err: true},
		{name: "truncated", in: "*2\r\n:1\r\n", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadReply(bufio.NewReaderSize(strings.NewReader(tt.in), 16), nil)
			if tt.err {
				if err == nil {
					t.Fatalf("ReadReply(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadReply(%q): %v", tt.in, err)
			}
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if string(got) != want {
				t.Fatalf("ReadReply(%q) = %q, want %q", tt.in, got, want)
			}
		})
	}
}

func TestReadReplyLongLine(t *testing.T) {
	// A status line longer than the reader's buffer must still be whole.
	line := "+" + strings.Repeat("x", 100) + "\r\n"
	got, err := ReadReply(bufio.NewReaderSize(strings.NewReader(line), 16), nil)
	if err != nil || string(got) != line {
		t.Fatalf("got %q, %v", got, err)
	}
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "$3\r\nabc\r\n", "*2\r\n:1\r\n$-1\r\n", "%1\r\n+a\r\n:1\r\n", "*3\r\n", "$-5\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ReadReply(bufio.NewReaderSize(bytes.NewReader(in), 16), nil)
		if err == nil && !bytes.HasPrefix(in, got) {
			t.Fatalf("reply %q is not a prefix of the input %q", got, in)
		}
	})
}

func BenchmarkReadReply(b *testing.B) {
	for _, tc := range []struct{ name, reply string }{
		{"status", "+OK\r\n"},
		{"bulk16", "$16\r\n0123456789abcdef\r\n"},
		{"array100", "*100\r\n" + strings.Repeat("$3\r\nxxx\r\n", 100)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := []byte(strings.Repeat(tc.reply, 1000))
			rd := bytes.NewReader(in)
			br := bufio.NewReaderSize(rd, 32<<10)
			var dst []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.reply)))
			for i := 0; i < b.N; i++ {
				if i%1000 == 0 {
					rd.Reset(in)
					br.Reset(rd)
				}
				var err error
				dst, err = ReadReply(br, dst[:0])
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
