package backend

import (
	"strings"
	"testing"
)

func TestSplitPush(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind string
		args []string
	}{
		{"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nhi!\r\n", "message", []string{"ch", "hi!"}},
		{">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$0\r\n\r\n", "pmessage", []string{"c*", "ch", ""}},
		{"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", "subscribe", []string{"ch", "1"}},
		{"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n", "unsubscribe", []string{"", "0"}},
		{"+PONG\r\n", "", nil},
		{"*1\r\n*0\r\n", "", nil},
		{"*2\r\n$7\r\nmessage\r\n$9\r\nshort\r\n", "", nil},
	} {
		kind, args := SplitPush([]byte(tc.in), nil)
		var got []string
		for _, a := range args {
			got = append(got, string(a))
		}
		if string(kind) != tc.kind || (kind != nil && strings.Join(got, "|") != strings.Join(tc.args, "|")) {
			t.Errorf("SplitPush(%q) = %q %q, want %q %q", tc.in, kind, got, tc.kind, tc.args)
		}
	}
}
