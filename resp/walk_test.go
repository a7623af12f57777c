package resp

import (
	"bytes"
	"testing"
)

func TestWalkers(t *testing.T) {
	reply := []byte("*4\r\n$1\r\na\r\n:7\r\n*2\r\n+x\r\n$-1\r\n%1\r\n+k\r\n+v\r\n")
	if n := ValueLen(reply); n != len(reply) {
		t.Fatalf("ValueLen = %d, want %d", n, len(reply))
	}
	if n := ValueLen(reply[:len(reply)-1]); n != -1 {
		t.Fatalf("ValueLen of a truncated reply = %d", n)
	}
	elems, ok := ArrayElems(nil, reply)
	want := []string{"$1\r\na\r\n", ":7\r\n", "*2\r\n+x\r\n$-1\r\n", "%1\r\n+k\r\n+v\r\n"}
	if !ok || len(elems) != len(want) {
		t.Fatalf("ArrayElems = %q, %v", elems, ok)
	}
	for i := range want {
		if string(elems[i]) != want[i] {
			t.Errorf("element %d = %q, want %q", i, elems[i], want[i])
		}
	}
	if b, ok := BulkValue(elems[0]); !ok || !bytes.Equal(b, []byte("a")) {
		t.Errorf("BulkValue = %q, %v", b, ok)
	}
	if n, ok := IntValue(elems[1]); !ok || n != 7 {
		t.Errorf("IntValue = %d, %v", n, ok)
	}
	for _, bad := range []string{"", "-ERR x\r\n", "*", "*2\r\n:1\r\n", "*x\r\n"} {
		if _, ok := ArrayElems(nil, []byte(bad)); ok {
			t.Errorf("ArrayElems(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "$5\r\nab\r\n", "+OK\r\n", "$01\r\na\r\n"} {
		if _, ok := BulkValue([]byte(bad)); ok {
			t.Errorf("BulkValue(%q) accepted", bad)
		}
	}
}

func TestAppendRESP3(t *testing.T) {
	var b []byte
	b = AppendMapHeader(b, 1)
	b = AppendSimple(b, "k")
	b = AppendSetHeader(b, 2)
	b = AppendBigNumber(b, "1")
	b = AppendVerbatim(b, "txt", "hi")
	b = AppendPushHeader(b, 1)
	b = AppendNull3(b)
	want := "%1\r\n+k\r\n~2\r\n(1\r\n=6\r\ntxt:hi\r\n>1\r\n_\r\n"
	if string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
	if ValueLen(b) != len("%1\r\n+k\r\n~2\r\n(1\r\n=6\r\ntxt:hi\r\n") {
		t.Fatalf("ValueLen = %d", ValueLen(b))
	}
	if got := string(AppendCommand(nil, "SET", "k", "")); got != "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n" {
		t.Fatalf("AppendCommand = %q", got)
	}
}

func TestTextValue(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"$5\r\nhello\r\n", "hello", true},
		{"=9\r\ntxt:hello\r\n", "hello", true},
		{"=4\r\ntxt:\r\n", "", true},
		{"=3\r\ntxt\r\n", "", false},
		{"=9\r\ntxt:hel", "", false},
		{"_\r\n", "", false},
		{"$-1\r\n", "", false},
	} {
		got, ok := TextValue([]byte(tc.in))
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("TextValue(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
