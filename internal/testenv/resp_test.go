package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// encodeReply is the inverse of readReply, for round-trip checks.
func encodeReply(v any) string {
	switch v := v.(type) {
	case nil:
		return "$-1\r\n"
	case string:
		return "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
	case int64:
		return ":" + strconv.FormatInt(v, 10) + "\r\n"
	case RespError:
		return "-" + string(v) + "\r\n"
	case []any:
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(v))
		for _, e := range v {
			b.WriteString(encodeReply(e))
		}
		return b.String()
	default:
		panic(fmt.Sprintf("cannot encode %T", v))
	}
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    any
		wantErr string
	}{
		{name: "simple string", in: "+PONG\r\n", want: "PONG"},
		{name: "empty simple string", in: "+\r\n", want: ""},
		{name: "error", in: "-ERR unknown command\r\n", wantErr: "ERR unknown command"},
		{name: "integer", in: ":-42\r\n", want: int64(-42)},
		{name: "bulk", in: "$5\r\nhe\r\no\r\n", want: "he\r\no"},
		{name: "empty bulk", in: "$0\r\n\r\n", want: ""},
		{name: "null bulk", in: "$-1\r\n", want: nil},
		{name: "null array", in: "*-1\r\n", want: nil},
		{name: "nested array with error element", in: "*3\r\n:1\r\n*1\r\n+a\r\n-ERR x\r\n",
			want: []any{int64(1), []any{"a"}, RespError("ERR x")}},
		{name: "bulk without CRLF", in: "$2\r\nabcd\r\n", wantErr: "not followed by CRLF"},
		{name: "negative length", in: "$-2\r\n", wantErr: "malformed length"},
		{name: "huge bulk", in: "$999999999999\r\n", wantErr: "too large"},
		{name: "huge array", in: "*999999999\r\n", wantErr: "too large"},
		{name: "short array", in: "*2\r\n:1\r\n", wantErr: "EOF"},
		{name: "unknown type", in: "%1\r\n", wantErr: "unexpected reply type"},
		{name: "no CRLF", in: "+OK\n", wantErr: "malformed reply line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("readReply(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("readReply(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestInfoField(t *testing.T) {
	info := "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nempty:\r\n"
	for key, want := range map[string]string{
		"role": "slave", "master_link_status": "up", "empty": "", "missing": "", "rol": "",
	} {
		t.Run(key, func(t *testing.T) {
			if got := infoField(info, key); got != want {
				t.Errorf("infoField(%q) = %q, want %q", key, got, want)
			}
		})
	}
}

// FuzzReadReply checks that readReply never panics and that whatever it
// accepts survives an encode/parse round trip unchanged.
func FuzzReadReply(f *testing.F) {
	for _, seed := range []string{
		"+OK\r\n", "-ERR x\r\n", ":12\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*-1\r\n",
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "*1\r\n-MOVED 1 127.0.0.1:7000\r\n",
		"$10\r\nabc\r\n", "*3\r\n", "$99999999999999999999\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := readReply(bufio.NewReader(strings.NewReader(string(in))))
		var re RespError
		if errors.As(err, &re) {
			v, err = re, nil
		}
		if err != nil {
			return
		}
		enc := encodeReply(v)
		back, err := readReply(bufio.NewReader(strings.NewReader(enc)))
		if errors.As(err, &re) {
			back, err = re, nil
		}
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("round trip of %q: %#v -> %q -> %#v, %v", in, v, enc, back, err)
		}
	})
}
