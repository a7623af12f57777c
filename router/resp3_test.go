package router

import "testing"

func TestAppendRESP3(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"$-1\r\n", "_\r\n"},
		{"*-1\r\n", "_\r\n"},
		{"+OK\r\n", "+OK\r\n"},
		{":-1\r\n", ":-1\r\n"},
		{"*3\r\n$1\r\na\r\n$-1\r\n$4\r\n-1\r\n\r\n", "*3\r\n$1\r\na\r\n_\r\n$4\r\n-1\r\n\r\n"},
		{"*2\r\n*-1\r\n$3\r\n$-1\r\n", "*2\r\n_\r\n$3\r\n$-1\r\n"}, // a bulk holding "$-1" is data
		{"-ERR x -1\r\n", "-ERR x -1\r\n"},
	} {
		if got := string(appendRESP3(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("appendRESP3(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
