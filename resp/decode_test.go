package resp

import (
	"bufio"
	"math"
	"reflect"
	"strings"
	"testing"
)

// encodeValue is the inverse of ReadValue, for round-trip checks; it writes
// every aggregate as an array, as ReadValue returns it.
func encodeValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return AppendNull(dst)
	case string:
		return AppendBulkString(dst, v)
	case int64:
		return AppendInt(dst, v)
	case float64:
		return AppendDouble(dst, v)
	case bool:
		return AppendBool(dst, v)
	case Error:
		return AppendBlobError(dst, string(v))
	case []any:
		dst = AppendArrayHeader(dst, len(v))
		for _, e := range v {
			dst = encodeValue(dst, e)
		}
		return dst
	default:
		panic("cannot encode " + reflect.TypeOf(v).String())
	}
}

func TestReadValue(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    any
		wantErr string
	}{
		{name: "simple string", in: "+PONG\r\n", want: "PONG"},
		{name: "empty simple string", in: "+\r\n", want: ""},
		{name: "error", in: "-ERR unknown command\r\n", want: Error("ERR unknown command")},
		{name: "integer", in: ":-42\r\n", want: int64(-42)},
		{name: "bulk", in: "$5\r\nhe\r\no\r\n", want: "he\r\no"},
		{name: "empty bulk", in: "$0\r\n\r\n", want: ""},
		{name: "null bulk", in: "$-1\r\n", want: nil},
		{name: "null array", in: "*-1\r\n", want: nil},
		{name: "nested array with error element", in: "*3\r\n:1\r\n*1\r\n+a\r\n-ERR x\r\n",
			want: []any{int64(1), []any{"a"}, Error("ERR x")}},
		{name: "resp3 null", in: "_\r\n", want: nil},
		{name: "resp3 booleans", in: "*2\r\n#t\r\n#f\r\n", want: []any{true, false}},
		{name: "resp3 doubles", in: "*3\r\n,1.5\r\n,inf\r\n,-inf\r\n", want: []any{1.5, math.Inf(1), math.Inf(-1)}},
		{name: "resp3 map", in: "%1\r\n+a\r\n:1\r\n", want: []any{"a", int64(1)}},
		{name: "resp3 set and push", in: "~1\r\n>2\r\n+message\r\n$1\r\nx\r\n", want: []any{[]any{"message", "x"}}},
		{name: "resp3 verbatim", in: "=7\r\ntxt:abc\r\n", want: "abc"},
		{name: "resp3 big number", in: "(123456789012345678901234\r\n", want: "123456789012345678901234"},
		{name: "resp3 blob error", in: "!5\r\nERR x\r\n", want: Error("ERR x")},
		{name: "resp3 attribute dropped", in: "|1\r\n+ttl\r\n:3\r\n:7\r\n", want: int64(7)},
		{name: "bulk without CRLF", in: "$2\r\nabcd\r\n", wantErr: "not followed by CRLF"},
		{name: "negative length", in: "$-2\r\n", wantErr: "malformed length"},
		{name: "length with leading zero", in: "$01\r\na\r\n", wantErr: "malformed length"},
		{name: "huge bulk", in: "$999999999999\r\n", wantErr: "too large"},
		{name: "huge array", in: "*999999999\r\n", wantErr: "too large"},
		{name: "short array", in: "*2\r\n:1\r\n", wantErr: "EOF"},
		{name: "unknown type", in: "?1\r\n", wantErr: "unexpected reply type"},
		{name: "bad integer", in: ":+1\r\n", wantErr: "malformed integer"},
		{name: "bad boolean", in: "#x\r\n", wantErr: "malformed boolean"},
		{name: "no CRLF", in: "+OK\n", wantErr: "malformed reply line"},
		{name: "too deep", in: strings.Repeat("*1\r\n", 2000) + ":1\r\n", wantErr: "too deep"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadValue(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ReadValue(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ReadValue(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"+OK\r\n", "OK"},
		{":-3\r\n", int64(-3)},
		{"$-1\r\n", nil},
		{"-ERR x\r\n", Error("ERR x")},
		{"*2\r\n$1\r\na\r\n*0\r\n", []any{"a", []any{}}},
	} {
		got, err := Decode([]byte(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Decode(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "*2\r\n:1\r\n", "$5\r\nab\r\n", "?\r\n", "+OK\r\n+extra\r\n"} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

// hasNaN reports whether v holds a NaN, which never equals itself.
func hasNaN(v any) bool {
	switch v := v.(type) {
	case float64:
		return math.IsNaN(v)
	case []any:
		for _, e := range v {
			if hasNaN(e) {
				return true
			}
		}
	}
	return false
}

// FuzzReadValue checks that ReadValue never panics and that whatever it
// accepts survives an encode/parse round trip unchanged.
func FuzzReadValue(f *testing.F) {
	for _, seed := range []string{
		"+OK\r\n", "-ERR x\r\n", ":12\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*-1\r\n",
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "*1\r\n-MOVED 1 127.0.0.1:7000\r\n",
		"$10\r\nabc\r\n", "*3\r\n", "$99999999999999999999\r\n",
		"%1\r\n+a\r\n,1.5\r\n", "|1\r\n+a\r\n#t\r\n_\r\n", "=7\r\ntxt:abc\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := ReadValue(bufio.NewReader(strings.NewReader(string(in))))
		if err != nil || hasNaN(v) {
			return
		}
		enc := encodeValue(nil, v)
		back, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(back, v) {
			t.Fatalf("round trip of %q: %#v -> %q -> %#v, %v", in, v, enc, back, err)
		}
	})
}
